"""The offline model on a table of phrasings: which tool and arguments each plain-English question becomes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart

from agent.offline import RouterContext, route
from agent.runner import run_turn
from agent.slash import parse_slash
from db.pool import Caller, Database

TODAY = date(2026, 11, 25)  # a Wednesday
CONTEXT = RouterContext(brand_names=["Acme Pets", "Bloom Botanicals"], today=TODAY)


def call(text: str, history: list[Any] | None = None) -> tuple[str, dict[str, Any]] | str:
    messages = [*(history or []), ModelRequest(parts=[UserPromptPart(text)])]
    response = route(text, context=CONTEXT, history=messages)
    part = response.parts[0]
    if isinstance(part, ToolCallPart):
        return part.tool_name, part.args_as_dict()
    assert isinstance(part, TextPart)
    return part.content


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("which hooks worked best for Acme Pets last month?", "top_hooks",
         {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31"}),
        ("Which hooks held attention best last 30 days for acme pets", "top_hooks",
         {"brand": "Acme Pets", "days": 30, "metric": "hold_rate"}),
        ("top hooks by hook rate for Acme Pets this week", "top_hooks",
         {"brand": "Acme Pets", "metric": "hook_rate", "since": "2026-11-23", "until": "2026-11-25"}),
        ("best thumb-stopping openings for Bloom Botanicals past 14 days", "top_hooks",
         {"brand": "Bloom Botanicals", "metric": "hook_rate", "days": 14}),
        ("what kinds of hooks work for acme pets?", "hook_analysis", {"brand": "Acme Pets"}),
        ("hook categories for Bloom Botanicals last 90 days", "hook_analysis", {"brand": "Bloom Botanicals", "days": 90}),
        ("worst ads by cpa for Acme Pets last week", "ad_performance",
         {"brand": "Acme Pets", "sort": "cpa", "order": "bottom", "since": "2026-11-16", "until": "2026-11-22"}),
        ("top performers for Acme Pets by roas last 7 days", "ad_performance",
         {"brand": "Acme Pets", "sort": "roas", "days": 7}),
        ("congruence summary for Acme Pets", "congruence_summary", {"brand": "Acme Pets"}),
        ("do my ads match their landing pages? Bloom Botanicals", "congruence_summary", {"brand": "Bloom Botanicals"}),
        ("check congruence of ad 120210123456789 for Acme Pets", "congruence_check",
         {"brand": "Acme Pets", "ad": "120210123456789"}),
        ("deep analysis of ad 120210123456789 for Acme Pets", "deep_analysis",
         {"brand": "Acme Pets", "ad": "120210123456789"}),
        ("what brands do I have?", "brands", {}),
        ("top hooks for acme pet yesterday", "top_hooks",
         {"brand": "Acme Pets", "since": "2026-11-24", "until": "2026-11-24"}),
        ("what changed for Acme Pets this week?", "briefing", {"brand": "Acme Pets", "period": "week"}),
        ("brief me on Bloom Botanicals", "briefing", {"brand": "Bloom Botanicals", "period": "day"}),
        ("anything new with acme pets yesterday?", "briefing", {"brand": "Acme Pets", "period": "day"}),
    ],
)  # fmt: skip
def test_phrasings_route_to_the_right_tool(text: str, tool: str, args: dict[str, Any]) -> None:
    assert call(text) == (tool, args)


def test_missing_brand_is_asked_for() -> None:
    assert call("top hooks last 30 days") == "Which brand? Your brands: Acme Pets, Bloom Botanicals."


def test_gibberish_says_what_it_understands_and_how_to_get_more() -> None:
    answer = call("write me a poem about dogs")
    assert isinstance(answer, str)
    assert "slash commands (type /help)" in answer and "ANTHROPIC_API_KEY" in answer


def test_a_follow_up_reuses_the_previous_question() -> None:
    first = ModelResponse(
        parts=[ToolCallPart("top_hooks", {"brand": "Acme Pets", "metric": "hold_rate", "days": 30})]
    )
    history: list[Any] = [ModelRequest(parts=[UserPromptPart("top hooks for acme by hold rate")]), first]
    assert call("and for the last 90 days?", history) == (
        "top_hooks",
        {"brand": "Acme Pets", "metric": "hold_rate", "days": 90},
    )
    assert call("what about Bloom Botanicals?", history) == (
        "top_hooks",
        {"brand": "Bloom Botanicals", "metric": "hold_rate", "days": 30},
    )


async def test_plain_english_runs_end_to_end_with_history(db: Database, maya: Caller) -> None:
    first = await run_turn(
        db=db, caller=maya, message="which hooks worked best for Acme Pets in the last 30 days?"
    )
    assert first.tool_calls[0].tool == "top_hooks"
    assert first.tool_calls[0].result is not None
    assert first.text.startswith("Top 10 hooks for Acme Pets by hook_rate in last 30 days")
    second = await run_turn(db=db, caller=maya, message="and the last 60 days?", history=first.messages)
    assert second.tool_calls[0].args == {"brand": "Acme Pets", "days": 60}
    assert "last 60 days" in second.text


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ('/schedules create brand:"Acme Pets"', {"action": "create", "brand": "Acme Pets"}),
        ('/products add brand:"Acme Pets" name:Chews', {"action": "add", "brand": "Acme Pets"}),
        ('/top_hooks "Acme Pets"', {"brand": "Acme Pets"}),
        ("/jobs failed", {"view": "failed"}),
    ],
)
def test_a_bare_first_word_fills_the_argument_it_names(command: str, expected: dict[str, str]) -> None:
    """A choice word (create, add, failed) fills the argument that offers it; anything else the first
    required argument, as before."""
    args = parse_slash(command).args
    assert {key: args.get(key) for key in expected} == expected
