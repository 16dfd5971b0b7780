"""The model gets the period rules: through the Anthropic and Gemini fakes, the request carries today's date,
the caller's timezone and brands and the rules, and a tool call for "in October" with since/until runs the
tool on that window."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from pydantic_ai import models

from agent.runner import run_turn
from db.pool import Caller, Database
from tests.test_provider_path import Provider

TODAY = date(2026, 12, 5)  # a Saturday

RULES = (
    '"last N days" / "past N days" is days:N: the N full days before today, today not counted',
    'Weeks start on Monday: "this week" is Monday to today; "last week" is the previous Monday to Sunday.',
    'A month without a year ("in October") is the most recent such month that has begun',
    "A period you cannot read, or one in the future, is never replaced silently",
)


@pytest.fixture(params=["anthropic", "gemini"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    side = Provider(request.param)
    with models.override_allow_model_requests(True), side.start():
        yield side


async def test_the_model_reads_the_rules_and_its_october_window_reaches_the_tool(
    provider: Provider, db: Database, maya: Caller
) -> None:
    october = {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31"}

    def script(request: Any) -> Any:
        if not provider.results(request):
            return provider.calls(("top_hooks", october))
        return provider.say("Here are October's top hooks.")

    provider.script = script
    turn = await run_turn(
        db=db, caller=maya, message="top hooks for Acme Pets in October", model=provider.model(), today=TODAY
    )
    first = provider.fake.requests[0]
    assert "Today is 2026-12-05 (Saturday) in the person's timezone, UTC." in first.text
    assert "their brands: Acme Pets, Bloom Botanicals." in first.text
    for rule in RULES:
        assert rule in first.text
    [call] = turn.tool_calls
    assert (call.tool, call.args) == ("top_hooks", october)
    assert call.result is not None
    assert call.result["window"] == {
        "since": "2026-10-01",
        "until": "2026-10-31",
        "days": 31,
        "label": "October 2026",
    }
    assert turn.text == "Here are October's top hooks."
