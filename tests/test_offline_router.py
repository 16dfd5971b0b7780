"""The offline model on a table of phrasings: which tool and arguments each plain-English question becomes."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic_ai.messages import ModelRequest, ModelResponse, TextPart, ToolCallPart, UserPromptPart

from agent.offline import WINDOW_TOOLS, RouterContext, route
from agent.runner import run_turn
from agent.slash import parse_slash
from db.pool import Caller, Database
from tools.registry import all_specs

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


DECEMBER = RouterContext(brand_names=["Acme Pets", "Bloom Botanicals"], today=date(2026, 12, 5))  # a Saturday


def call_on(
    context: RouterContext, text: str, history: list[Any] | None = None
) -> tuple[str, dict[str, Any]] | str:
    messages = [*(history or []), ModelRequest(parts=[UserPromptPart(text)])]
    part = route(text, context=context, history=messages).parts[0]
    if isinstance(part, ToolCallPart):
        return part.tool_name, part.args_as_dict()
    assert isinstance(part, TextPart)
    return part.content


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("congruence for Acme Pets in October", "congruence_summary",
         {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31"}),
        ("best ads for Acme Pets from 2026-10-01 to 2026-10-15", "ad_performance",
         {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-15"}),
        ("top hooks for Acme Pets since Black Friday", "top_hooks",
         {"brand": "Acme Pets", "since": "2026-11-27", "until": "2026-12-05"}),
        ("hook categories for Bloom Botanicals in Q3", "hook_analysis",
         {"brand": "Bloom Botanicals", "since": "2026-07-01", "until": "2026-09-30"}),
        ("check congruence of ad 120210123456789 for Acme Pets between nov 3 and nov 10", "congruence_check",
         {"brand": "Acme Pets", "ad": "120210123456789", "since": "2026-11-03", "until": "2026-11-10"}),
        ("deep analysis of ad 120210123456789 for Acme Pets last week", "deep_analysis",
         {"brand": "Acme Pets", "ad": "120210123456789", "since": "2026-11-23", "until": "2026-11-29"}),
        ("worst ads by cpa for Acme Pets on Cyber Monday", "ad_performance",
         {"brand": "Acme Pets", "sort": "cpa", "order": "bottom", "since": "2026-11-30", "until": "2026-11-30"}),
        ("top hooks for Acme Pets last quarter", "top_hooks",
         {"brand": "Acme Pets", "since": "2026-07-01", "until": "2026-09-30"}),
        ("best ads for Acme Pets month to date", "ad_performance",
         {"brand": "Acme Pets", "since": "2026-12-01", "until": "2026-12-05"}),
        ("top hooks for Acme Pets past 3 months", "top_hooks", {"brand": "Acme Pets", "days": 91}),
    ],
)  # fmt: skip
def test_every_window_tool_gets_the_period_asked_for(text: str, tool: str, args: dict[str, Any]) -> None:
    assert call_on(DECEMBER, text) == (tool, args)


def test_the_window_tools_the_router_names_take_a_period() -> None:
    """The router passes since/until only to these: each must take them, or the period would be lost."""
    specs = {spec.name: spec for spec in all_specs()}
    for name in WINDOW_TOOLS:
        assert {"days", "since", "until"} <= set(specs[name].arguments), name


def test_a_follow_up_naming_only_a_period_keeps_the_question() -> None:
    history: list[Any] = [
        ModelRequest(parts=[UserPromptPart("congruence for Acme Pets")]),
        ModelResponse(parts=[ToolCallPart("congruence_summary", {"brand": "Acme Pets"})]),
    ]
    assert call_on(DECEMBER, "and in September?", history) == (
        "congruence_summary",
        {"brand": "Acme Pets", "since": "2026-09-01", "until": "2026-09-30"},
    )
    # Words it can't place still make a follow-up: the answer then says what it used (see below).
    assert call_on(DECEMBER, "and since the launch?", history) == (
        "congruence_summary",
        {"brand": "Acme Pets"},
    )


def test_a_brand_named_in_the_message_wins_over_the_threads() -> None:
    history: list[Any] = [
        ModelRequest(parts=[UserPromptPart("top hooks for Acme Pets last 30 days")]),
        ModelResponse(parts=[ToolCallPart("top_hooks", {"brand": "Acme Pets", "days": 30})]),
    ]
    # A name the caller can't see goes to the tool as typed (which answers "No brand named …").
    assert call_on(DECEMBER, "what about Peak Fuel?", history) == (
        "top_hooks",
        {"brand": "Peak Fuel", "days": 30},
    )
    assert call_on(DECEMBER, "what about peak fuel in October?", history) == (
        "top_hooks",
        {"brand": "peak fuel", "since": "2026-10-01", "until": "2026-10-31"},
    )
    assert call_on(DECEMBER, "top hooks for Peak Fuel by hold rate", history) == (
        "top_hooks",
        {"brand": "Peak Fuel", "metric": "hold_rate"},
    )
    assert call_on(DECEMBER, "best ads for Bloom Botanicals last week", history) == (
        "ad_performance",
        {"brand": "Bloom Botanicals", "since": "2026-11-23", "until": "2026-11-29"},
    )
    # Words after "for" that name no brand leave the thread's brand in place.
    assert call_on(DECEMBER, "top hooks for Instagram Reels", history) == (
        "top_hooks",
        {"brand": "Acme Pets"},
    )
    assert call_on(DECEMBER, "top hooks for ROAS in October", history) == (
        "top_hooks",
        {"brand": "Acme Pets", "metric": "roas", "since": "2026-10-01", "until": "2026-10-31"},
    )


def _black_friday(year: int) -> date:
    """Independently of the parser: walk November for its fourth Thursday, then one day on."""
    thursdays = [date(year, 11, d) for d in range(1, 31) if date(year, 11, d).weekday() == 3]
    return thursdays[3] + timedelta(days=1)


async def test_periods_reach_the_tools_and_the_answer_shows_the_window(db: Database, maya: Caller) -> None:
    today = date.today()  # the demo's 90 days end yesterday
    last_month_end = today.replace(day=1) - timedelta(days=1)
    month = last_month_end.replace(day=1)
    turn = await run_turn(db=db, caller=maya, message=f"congruence for Acme Pets in {month:%B}", today=today)
    assert turn.tool_calls[0].tool == "congruence_summary"
    assert turn.tool_calls[0].args == {
        "brand": "Acme Pets",
        "since": str(month),
        "until": str(last_month_end),
    }
    assert f"in {month:%B %Y} ({month} to {last_month_end})" in turn.text

    since, until = today - timedelta(days=20), today - timedelta(days=10)
    turn = await run_turn(
        db=db, caller=maya, message=f"best ads for Acme Pets from {since} to {until}", today=today
    )
    assert turn.tool_calls[0].tool == "ad_performance"
    assert turn.tool_calls[0].args == {"brand": "Acme Pets", "since": str(since), "until": str(until)}
    assert f"Top 10 ads for Acme Pets by roas in {since} to {until}" in turn.text

    black_friday = (
        _black_friday(today.year) if _black_friday(today.year) <= today else _black_friday(today.year - 1)
    )
    turn = await run_turn(
        db=db, caller=maya, message="top hooks for Acme Pets since Black Friday", today=today
    )
    assert turn.tool_calls[0].args == {"brand": "Acme Pets", "since": str(black_friday), "until": str(today)}
    assert f"{black_friday} to {today}" in turn.text


async def test_time_words_it_cannot_place_are_said_with_the_window_used(db: Database, maya: Caller) -> None:
    today = date.today()
    turn = await run_turn(db=db, caller=maya, message="top hooks for Acme Pets since the launch", today=today)
    assert turn.tool_calls[0].args == {"brand": "Acme Pets"}
    since, until = today - timedelta(days=30), today - timedelta(days=1)
    assert turn.text.startswith(
        f"I couldn't read 'since the launch' as dates, so this answer covers last 30 days ({since} to {until}).\n\n"
        "Top 10 hooks for Acme Pets"
    )


async def test_another_organizations_brand_never_answers_with_the_threads_brand(
    db: Database, maya: Caller, leo: Caller
) -> None:
    first = await run_turn(db=db, caller=maya, message="top hooks for Acme Pets last 30 days")
    assert first.text.startswith("Top 10 hooks for Acme Pets")
    for follow_up in ("what about Peak Fuel?", "top hooks for Peak Fuel last 7 days"):
        turn = await run_turn(db=db, caller=maya, message=follow_up, history=first.messages)
        assert turn.tool_calls[0].args["brand"] == "Peak Fuel"
        assert turn.tool_calls[0].result is None
        assert turn.text == "No brand named 'Peak Fuel'. Your brands: 'Acme Pets', 'Bloom Botanicals'."
    # The same words from Peak Fuel's own organization answer with its data.
    own = await run_turn(db=db, caller=leo, message="top hooks for Peak Fuel last 7 days")
    assert own.text.startswith("Top 10 hooks for Peak Fuel by hook_rate in last 7 days")


async def test_a_period_a_briefing_cannot_cover_is_said(db: Database, maya: Caller) -> None:
    turn = await run_turn(db=db, caller=maya, message="what changed for Acme Pets in October?")
    assert turn.tool_calls[0].tool == "briefing"
    assert turn.text.startswith(
        "A briefing covers yesterday or the last 7 days, not 'in October'.\n\nAcme Pets, yesterday ("
    )


async def test_a_future_period_is_said_with_the_window_used(db: Database, maya: Caller) -> None:
    today = date.today()
    turn = await run_turn(db=db, caller=maya, message="best ads for Acme Pets next week", today=today)
    assert turn.tool_calls[0].args == {"brand": "Acme Pets"}
    since, until = today - timedelta(days=30), today - timedelta(days=1)
    assert turn.text.startswith(
        f"'next week' is in the future, so this answer covers last 30 days ({since} to {until}).\n\nTop 10 ads"
    )
