"""Bad input gets a specific message, changes nothing, and never shows a traceback."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from chainlit.server import sio
from mcp.types import TextContent
from pydantic import BaseModel
from pydantic_ai.messages import ModelRequest, UserPromptPart

import app  # noqa: F401  (its Chainlit tuning raises the socket's frame cap)
from agent.input_checks import MAX_MESSAGE_CHARS, SOCKET_MAX_CHARS
from agent.mcp_server import call_tool
from agent.runner import run_turn
from db.pool import Caller, Database


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('/top_hooks brand:"Acme Pet" days:30', "No brand named 'Acme Pet'. Did you mean 'Acme Pets'?"),
        (
            "/top_hook brand:Acme",
            "Unknown command '/top_hook'. Did you mean /top_hooks? Type /help for the list.",
        ),
        (
            '/top_hooks brand:"Acme Pets" colour:blue',
            "Unknown argument 'colour' for /top_hooks. It takes: brand, days, since, until, metric, hook_type, min_spend, limit.",
        ),
        ('/top_hooks brand:"Acme Pets" days:thirty', "days must be a whole number (got 'thirty')."),
        (
            '/top_hooks brand:"Acme Pets" days:' + "9" * 5000,
            f"days must be a whole number (got '{'9' * 40}… (5,000 characters)').",
        ),
        ('/top_hooks brand:"Acme Pets" days:0', "days must be between 1 and 730 (got 0)."),
        ('/top_hooks brand:"Acme Pets" days:1000', "days must be between 1 and 730 (got 1000)."),
        (
            '/top_hooks brand:"Acme Pets" metric:hookrate',
            "metric must be one of: hook_rate, hold_rate, thruplay_rate, ctr, cpa, roas (got 'hookrate').",
        ),
        (
            "/top_hooks days:30",
            '/top_hooks needs brand. Example: /top_hooks brand:"Acme Pets" days:30 metric:hook_rate',
        ),
        (
            '/top_hooks brand:"Acme Pets',
            "Couldn't read that command: No closing quotation (check the quotes).",
        ),
        (
            '/top_hooks brand:"Acme Pets" since:2026-02-30',
            "since must be a date like 2026-01-31 (got '2026-02-30').",
        ),
        ('/ad_performance brand:"Acme Pets" limit:0', "limit must be between 1 and 100 (got 0)."),
        (
            '/ad_performance brand:"Acme Pets" days:7 since:2026-01-01',
            "Give either days or since/until, not both.",
        ),
        (
            '/top_hooks brand:"Acme Pets" min_spend:' + "9" * 40,
            "min_spend must be between 0 and 999,999,999,999.99 (got 1e+40).",
        ),
        (
            '/hook_analysis brand:"Acme Pets" min_spend:1e400',
            "min_spend must be between 0 and 999,999,999,999.99 (got inf).",
        ),
        ('/ad_performance brand:"Acme Pets" min_spend:nan', "min_spend must be a number (got nan)."),
        (
            '/deep_analysis brand:"Acme Pets" ad:999999999',
            "No ad '999999999' for Acme Pets. Use the ad's Meta ID or part of its name.",
        ),
    ],
)
async def test_refused_with_a_specific_message(
    db: Database, maya: Caller, message: str, expected: str
) -> None:
    turn = await run_turn(db=db, caller=maya, message=message)
    assert turn.refused
    assert turn.text == expected
    assert "Traceback" not in turn.text


async def test_another_organizations_brand_reads_as_unknown(db: Database, maya: Caller) -> None:
    """Same message as a brand that doesn't exist: no leak that it does."""
    turn = await run_turn(db=db, caller=maya, message='/top_hooks brand:"Peak Fuel" days:30')
    assert turn.refused
    assert turn.text.startswith("No brand named 'Peak Fuel'.")
    assert "Peak Fuel'?" not in turn.text


async def test_empty_window_says_no_spend(db: Database, maya: Caller) -> None:
    since = date.today() - timedelta(days=400)
    until = since + timedelta(days=6)
    turn = await run_turn(
        db=db, caller=maya, message=f'/ad_performance brand:"Acme Pets" since:{since} until:{until}'
    )
    assert turn.refused
    assert turn.text == f"No spend for Acme Pets in {since} to {until}."


async def test_future_until_is_refused(db: Database, maya: Caller) -> None:
    today = date.today()
    turn = await run_turn(
        db=db,
        caller=maya,
        message=f'/top_hooks brand:"Acme Pets" since:{today} until:{today + timedelta(days=3)}',
    )
    assert turn.text == f"until ({today + timedelta(days=3)}) is in the future; today is {today}."


async def test_help_lists_every_tool_and_one_tools_arguments(db: Database, maya: Caller) -> None:
    listing = await run_turn(db=db, caller=maya, message="/help")
    for name in (
        "brands",
        "ad_performance",
        "top_hooks",
        "hook_analysis",
        "congruence_check",
        "congruence_summary",
        "deep_analysis",
    ):
        assert f"/{name} — " in listing.text
    one = await run_turn(db=db, caller=maya, message="/help top_hooks")
    assert "metric (default 'hook_rate')" in one.text
    assert one.text.endswith('Example: /top_hooks brand:"Acme Pets" days:30 metric:hook_rate')


NUL_REFUSED = "That message contains a NUL byte (\\x00), which can't be stored; remove it and send again."


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('/deep_analysis brand:"Acme Pets" ad:12\x0034', NUL_REFUSED),
        (
            '/blueprint brand:"Acme Pets" landing_page:https://acmepets.example/\x00 format:docx',
            NUL_REFUSED,
        ),
        ("which hooks work best for Acme Pets?\x00", NUL_REFUSED),
        (
            "which hooks work \ud800 best?",
            "That message contains \\ud800 (half of a character), which can't be stored; remove it and send again.",
        ),
        (
            "/top_hooks " + "x" * 100_000,
            "That message is 100,011 characters; the limit is 100,000. Nothing was changed; send a shorter one.",
        ),
        (
            "a" * 1_100_000,
            "That message is 1,100,000 characters; the limit is 100,000. Nothing was changed; send a shorter one.",
        ),
    ],
)
async def test_a_message_postgres_cant_keep_or_over_the_limit_is_refused_before_anything_runs(
    db: Database, maya: Caller, message: str, expected: str
) -> None:
    history = [ModelRequest(parts=[UserPromptPart(content="earlier question")])]
    heard = _Heard()
    turn = await run_turn(db=db, caller=maya, message=message, history=history, listener=heard)
    assert (turn.text, turn.refused, turn.tool_calls) == (expected, True, [])
    assert turn.messages == history  # nothing added to the conversation that is stored
    assert heard.text == [expected]  # the chat hears it as its answer


class _Heard:
    """What a chat surface hears of a turn (agent.runner.TurnListener)."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tools: list[str] = []

    async def on_text(self, delta: str) -> None:
        self.text.append(delta)

    async def on_tool_start(self, call_id: str, tool: str, args: dict[str, Any]) -> None:
        self.tools.append(tool)

    async def on_tool_end(self, call_id: str, tool: str, result: BaseModel | None, error: str | None) -> None:
        return None


def test_the_chat_socket_carries_a_message_over_the_limit_so_the_limit_can_be_told() -> None:
    """Chainlit's socket drops frames over 1,000,000 characters (the person would see nothing):
    app.py's Chainlit tuning raises the cap above our limit (tests/test_browser.py sends one)."""
    assert sio.eio.max_http_buffer_size == SOCKET_MAX_CHARS > 1_100_000 > MAX_MESSAGE_CHARS


async def test_an_mcp_argument_with_a_nul_byte_is_refused_with_its_name(db: Database, maya: Caller) -> None:
    """MCP clients call the registry without the chat's message check: each tool's text arguments are
    checked before it runs."""
    answer = await call_tool(
        db=db, caller=maya, name="deep_analysis", arguments={"brand": "Acme Pets", "ad": "12\x0034"}
    )
    assert answer.isError
    assert [c.text for c in answer.content if isinstance(c, TextContent)] == [
        "ad contains a NUL byte (\\x00), which can't be stored; remove it and try again."
    ]
