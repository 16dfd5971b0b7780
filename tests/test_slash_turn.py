"""A slash command answered without the agent (`viraltracker ask '/…'`) says exactly what the agent says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from agent.build import build_agent
from agent.runner import run_turn
from agent.slash_turn import TurnAnswer, answer_slash
from cli.base import _print_turn, console
from db.pool import Caller, Database
from tools import registry
from tools.deps import Deps
from tools.registry import TOOL_MODULES, all_specs

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def printed(turn: TurnAnswer) -> str:
    """What `viraltracker ask` prints: the text, the tables, the hints; and what `--json` prints."""
    with console.capture() as captured:
        _print_turn(turn)
    return captured.get() + turn.model_dump_json(include={"text", "tool_calls", "refused"})


@pytest.mark.parametrize(
    "command",
    [
        "/brands",
        '/top_hooks brand:"Acme Pets" days:30',
        '/ad_performance "Bloom Botanicals" since:2026-11-01 until:2026-11-30',
        "/top_hooks brand:Nowhere",  # the tool refuses: no such brand
        '/top_hooks brand:"Acme Pets" days:0',  # the grammar refuses: out of range
        "/top_hook",  # no such command (with a suggestion)
        '/brand name:"Acme Pets" action:archive',  # a change: its preview, with Confirm's hint
        "/help top_hooks",
        "/brands \x00",
    ],
)
async def test_a_slash_command_answers_as_the_agent_does(db: Database, maya: Caller, command: str) -> None:
    through_agent = await run_turn(db=db, caller=maya, message=command, now=NOW)
    direct = await answer_slash(db=db, caller=maya, message=command, now=NOW)
    assert printed(direct) == printed(through_agent)
    assert direct.text  # never an empty answer


async def test_the_direct_answers_read_as_a_person_expects(db: Database, maya: Caller) -> None:
    unknown = await answer_slash(db=db, caller=maya, message="/top_hooks brand:Nowhere", now=NOW)
    assert (unknown.text, unknown.refused) == (
        "No brand named 'Nowhere'. Your brands: 'Acme Pets', 'Bloom Botanicals'.",
        True,
    )
    bad = await answer_slash(db=db, caller=maya, message='/top_hooks brand:"Acme Pets" days:0', now=NOW)
    assert (bad.text, bad.refused, bad.tool_calls) == ("days must be between 1 and 730 (got 0).", True, [])
    preview = await answer_slash(
        db=db, caller=maya, message='/brand name:"Acme Pets" action:archive', now=NOW
    )
    assert preview.text.startswith("Archive 'Acme Pets' (Northwind Growth)?"), preview.text
    assert not preview.refused


def test_the_index_of_tool_modules_is_the_registry() -> None:
    # get_spec imports the one module the index names: a tool missing from it would load them all.
    registered = [(s.name, s.function.__module__) for s in all_specs() if s.function.__module__ != __name__]
    assert registered == list(TOOL_MODULES.items()), "update tools.registry.TOOL_MODULES"


class Counted(BaseModel):
    count: int


async def count_things(deps: Deps, brand: str) -> Counted:
    """Counts the brand's things (a result with no summary).

    Args:
        brand: The brand's name.
    """
    return Counted(count=len(brand))


async def break_down(deps: Deps, brand: str) -> Counted:
    """Fails (a bug in a tool).

    Args:
        brand: The brand's name.
    """
    raise RuntimeError("a bug")


@pytest.fixture
def odd_tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry.all_specs()  # every real tool registered first, in the registry kept after this test
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    registry.tool(example="/count_things brand:X", step="Counting")(count_things)
    registry.tool(example="/break_down brand:X", step="Breaking")(break_down)
    build_agent.cache_clear()
    yield
    build_agent.cache_clear()


async def test_a_result_without_summary_and_a_broken_tool_answer_as_through_the_agent(
    db: Database, maya: Caller, odd_tools: None
) -> None:
    for command, text in [
        ('/count_things brand:"Acme Pets"', "{'count': 9}"),
        ('/break_down brand:"Acme Pets"', "Something went wrong on our side and has been logged. Nothing was changed; please try again."),
    ]:  # fmt: skip
        direct = await answer_slash(db=db, caller=maya, message=command, now=NOW)
        assert direct.text == text
        assert printed(direct) == printed(await run_turn(db=db, caller=maya, message=command, now=NOW))
