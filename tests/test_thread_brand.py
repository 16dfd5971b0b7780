"""The thread's brand (the chat's brand picker): what a message that names no brand is about."""

from __future__ import annotations

from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.runner import run_turn
from db.pool import Caller, Database

NEEDS_BRAND = '/top_hooks needs brand. Example: /top_hooks brand:"Acme Pets" days:30 metric:hook_rate'


async def test_a_command_without_brand_runs_for_the_threads_brand(db: Database, maya: Caller) -> None:
    # Maya has two brands: without a thread brand the command says what it needs.
    before = await run_turn(db=db, caller=maya, message="/top_hooks days:30")
    assert before.refused and before.text == NEEDS_BRAND
    turn = await run_turn(db=db, caller=maya, message="/top_hooks days:30", brand="Bloom Botanicals")
    assert not turn.refused
    assert turn.tool_calls[0].args["brand"] == "Bloom Botanicals"
    assert turn.text.startswith("Top 10 hooks for Bloom Botanicals")
    # A brand the command names wins over the thread's.
    named = await run_turn(
        db=db, caller=maya, message='/top_hooks brand:"Acme Pets"', brand="Bloom Botanicals"
    )
    assert named.tool_calls[0].args["brand"] == "Acme Pets"


async def test_a_question_without_brand_is_about_the_threads_brand(db: Database, maya: Caller) -> None:
    before = await run_turn(db=db, caller=maya, message="top hooks last 30 days")
    assert before.text == "Which brand? Your brands: Acme Pets, Bloom Botanicals."
    first = await run_turn(db=db, caller=maya, message="top hooks last 30 days", brand="Bloom Botanicals")
    assert first.tool_calls[0].args == {"brand": "Bloom Botanicals", "days": 30}
    # The picker switched to Acme Pets: a new question is about it, not the previous answer's brand ...
    second = await run_turn(
        db=db, caller=maya, message="worst ads last 14 days", history=first.messages, brand="Acme Pets"
    )
    assert second.tool_calls[0].args["brand"] == "Acme Pets"
    # ... while a follow-up keeps the question it follows.
    third = await run_turn(
        db=db, caller=maya, message="and the last 60 days?", history=first.messages, brand="Acme Pets"
    )
    assert third.tool_calls[0].args == {"brand": "Bloom Botanicals", "days": 60}


async def test_a_thread_brand_of_someone_elses_shows_nothing_of_theirs(db: Database, maya: Caller) -> None:
    """The picker's value is only a default argument: the tool still answers as the caller."""
    turn = await run_turn(db=db, caller=maya, message="/top_hooks days:30", brand="Peak Fuel")
    assert turn.refused and turn.tool_calls[0].result is None
    assert turn.text == "No brand named 'Peak Fuel'. Your brands: 'Acme Pets', 'Bloom Botanicals'."


async def test_the_model_is_told_the_threads_brand(db: Database, maya: Caller) -> None:
    seen: list[str] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info.instructions or "")
        return ModelResponse(parts=[TextPart("ok")])

    await run_turn(
        db=db, caller=maya, message="how are we doing?", model=FunctionModel(model), brand="Acme Pets"
    )
    assert "This chat's brand is Acme Pets: use it when the person names no brand." in seen[0]
    await run_turn(db=db, caller=maya, message="how are we doing?", model=FunctionModel(model))
    assert "This chat's brand" not in seen[1]
