"""A turn streams its text and reports each tool call as it starts and ends."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

from agent.runner import run_turn
from db.pool import Caller, Database


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    async def on_text(self, delta: str) -> None:
        self.events.append(("text", delta))

    async def on_tool_start(self, call_id: str, tool: str, args: dict[str, Any]) -> None:
        self.events.append(("start", (tool, args)))

    async def on_tool_end(self, call_id: str, tool: str, result: BaseModel | None, error: str | None) -> None:
        self.events.append(("end", (tool, type(result).__name__ if result else None, error)))

    @property
    def text(self) -> str:
        return "".join(d for kind, d in self.events if kind == "text")


async def scripted(messages: list[ModelMessage], info: AgentInfo) -> Any:
    """A model that says a sentence, calls top_hooks, then streams a closing answer from the result."""
    last = messages[-1]
    assert isinstance(last, ModelRequest)
    returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
    if not returns:
        yield "Let me rank "
        yield "the hooks."
        yield {0: DeltaToolCall(name="top_hooks", json_args='{"brand": "Acme Pets", "days": 30, "limit": 3}')}
    else:
        yield "The best hook is "
        yield f'"{returns[0].content["rows"][0]["hook_text"]}".'


async def test_streamed_text_and_tool_call_turn(db: Database, maya: Caller) -> None:
    recorder = Recorder()
    model = FunctionModel(stream_function=scripted)
    turn = await run_turn(
        db=db, caller=maya, message="which hooks won for acme?", model=model, listener=recorder
    )
    kinds = [kind for kind, _ in recorder.events]
    assert kinds.index("start") < kinds.index("end")
    assert recorder.events[kinds.index("start")][1] == (
        "top_hooks",
        {"brand": "Acme Pets", "days": 30, "limit": 3},
    )
    assert recorder.events[kinds.index("end")][1] == ("top_hooks", "TopHooksResult", None)
    best = turn.tool_calls[0].result["rows"][0]["hook_text"]  # type: ignore[index]
    assert recorder.text.endswith(f'The best hook is "{best}".')
    assert recorder.text.startswith("Let me rank the hooks.")
    assert turn.text == f'The best hook is "{best}".'


async def test_offline_slash_command_streams_too(db: Database, maya: Caller) -> None:
    recorder = Recorder()
    turn = await run_turn(
        db=db, caller=maya, message='/congruence_summary brand:"Acme Pets"', listener=recorder
    )
    assert recorder.text == turn.text
    assert sum(1 for kind, _ in recorder.events if kind == "text") > 3  # in chunks, not one lump
    assert ("end", ("congruence_summary", "CongruenceSummaryResult", None)) in recorder.events


async def test_refused_command_and_help_reach_the_listener(db: Database, maya: Caller) -> None:
    recorder = Recorder()
    turn = await run_turn(db=db, caller=maya, message="/top_hooks brand:Nope", listener=recorder)
    assert recorder.text == turn.text
    assert ("end", ("top_hooks", None, turn.text)) in recorder.events
    recorder = Recorder()
    turn = await run_turn(db=db, caller=maya, message="/help", listener=recorder)
    assert recorder.text == turn.text and turn.text.startswith("Commands")


async def test_the_model_reads_top_rows_and_the_person_gets_all(db: Database, maya: Caller) -> None:
    seen: dict[str, Any] = {}

    async def model_fn(messages: list[ModelMessage], info: AgentInfo) -> Any:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        returns = [p for p in last.parts if isinstance(p, ToolReturnPart)]
        if not returns:
            yield {
                0: DeltaToolCall(
                    name="top_hooks", json_args='{"brand": "Acme Pets", "days": 90, "limit": 25}'
                )
            }
        else:
            seen.update(returns[0].content)
            yield "ok"

    turn = await run_turn(
        db=db,
        caller=maya,
        message="hooks?",
        model=FunctionModel(stream_function=model_fn),
        listener=Recorder(),
    )
    assert len(turn.tool_calls[0].result["rows"]) == 25  # type: ignore[index]
    assert len(seen["rows"]) == 10
    assert seen["rows_note"] == "showing the top 10 of 25; the person sees them all"
    assert seen["summary"] == turn.tool_calls[0].result["summary"]  # type: ignore[index]
