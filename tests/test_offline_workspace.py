"""The offline router on the workspace tools: an optional brand is never asked for, a required argument it
can't find is asked for with the tool's example, and a brand's near miss is a new brand's name."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic_ai.messages import ModelRequest, TextPart, ToolCallPart, UserPromptPart

from agent.offline import RouterContext, route
from agent.runner import run_turn
from db.pool import Caller, Database

CONTEXT = RouterContext(brand_names=["Acme Pets", "Bloom Botanicals"], today=date(2026, 12, 5))


def call(text: str) -> tuple[str, dict[str, Any]] | str:
    part = route(text, context=CONTEXT, history=[ModelRequest(parts=[UserPromptPart(text)])]).parts[0]
    if isinstance(part, ToolCallPart):
        return part.tool_name, part.args_as_dict()
    assert isinstance(part, TextPart)
    return part.content


def test_a_tool_whose_brand_is_optional_runs_without_asking_which_brand() -> None:
    assert call("show failed jobs") == ("jobs", {"view": "failed"})
    assert call("is our meta account connected?") == ("meta_status", {})
    assert call("when did bloom last sync from Meta?") == ("meta_status", {"brand": "Bloom Botanicals"})


def test_a_required_argument_it_cannot_read_is_asked_for_with_the_example() -> None:
    assert call("make some ads") == (
        'I need the product for that; for example `/create_ads product:"Joint Chews" count:3 from:library filter:all`.'
    )
    assert call("approve the template") == (
        "I need the ids for that; for example `/review_templates ids:74111e55 decision:approve`."
    )


def test_a_new_brand_named_like_an_existing_one_keeps_its_own_name() -> None:
    assert call('add a brand called "Acme Petz"') == ("brand", {"name": "Acme Petz"})
    assert call("archive the brand Bloom Botanicals") == (
        "brand",
        {"name": "Bloom Botanicals", "action": "archive"},
    )


async def test_the_arguments_it_reads_are_ones_the_tools_take(db: Database, maya: Caller) -> None:
    """Read-only workspace questions run end to end offline: the tool accepts what the router passed."""
    asked = {
        "show failed jobs": "jobs",
        "what products does Acme Pets have?": "products",
        "is our meta account connected?": "meta_status",
        "which templates are pending review?": "templates",
        "list the schedules for Acme Pets": "schedules",
        "any unread notifications?": "notifications",
        "which landing pages have we analysed for Acme Pets?": "landing_page_analyses",
        "content gaps for Bloom Botanicals": "content_gaps",
    }
    for message, tool in asked.items():
        turn = await run_turn(db=db, caller=maya, message=message)
        [record] = turn.tool_calls
        assert (record.tool, record.error) == (tool, None), message
