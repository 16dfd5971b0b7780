"""Bad input gets a specific message, changes nothing, and never shows a traceback."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

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
