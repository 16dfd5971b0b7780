"""/summary and /compare: a brand's totals against another period or brand, checked against the raw rows;
and the plain-English questions that reach them."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from pydantic_ai.messages import ModelRequest, TextPart, ToolCallPart, UserPromptPart

from agent.offline import RouterContext, route
from agent.runner import TurnResult, run_turn
from db.pool import Caller, Database
from services.analytics.totals import TotalsResult
from services.demo.catalogue import WINDOW_DAYS
from tests.oracle import ratio, raw_ads

BRAND = "Acme Pets"
NO_PEAK_FUEL = "No brand named 'Peak Fuel'. Your brands: 'Acme Pets', 'Bloom Botanicals'."


def result_of(turn: TurnResult) -> dict[str, Any]:
    assert len(turn.tool_calls) == 1, turn.text
    assert turn.tool_calls[0].error is None, turn.tool_calls[0].error
    result = turn.tool_calls[0].result
    assert result is not None
    return result


async def oracle(db: Database, brand: str, since: date, until: date) -> dict[str, Any]:
    """Totals over the raw daily rows, independently of the service's SQL: sums, then ratios of sums
    (hook and hold rates over video ads only)."""
    ads = list((await raw_ads(db, brand, since, until)).values())
    total = {
        c: sum(a[c] for a in ads)
        for c in ("spend", "impressions", "link_clicks", "purchases", "purchase_value")
    }
    video = [a for a in ads if a["format"] == "video"]
    video_impressions = sum(a["impressions"] for a in video)
    views, thruplays = sum(a["video_3s_views"] for a in video), sum(a["video_thruplays"] for a in video)
    return {
        **total,
        "roas": ratio(total["purchase_value"], total["spend"]),
        "cpa": ratio(total["spend"], total["purchases"]),
        "ctr": ratio(total["link_clicks"], total["impressions"]),
        "hook_rate": ratio(views, video_impressions),
        "hold_rate": ratio(thruplays, views),
        "ads": {a["meta_ad_id"]: a for a in ads},
    }


FIGURES = ("spend", "impressions", "link_clicks", "purchases", "purchase_value", "roas", "cpa", "ctr",
           "hook_rate", "hold_rate")  # fmt: skip


def assert_totals(found: dict[str, Any], expected: dict[str, Any]) -> None:
    for name in FIGURES:
        assert found[name] == pytest.approx(expected[name], abs=0.006), name


def money(value: float) -> str:
    return f"${value:,.0f}"


def trend(value: float, base: float) -> str:
    pct = round((value - base) / base * 100)
    return "flat" if pct == 0 else f"{'up' if pct > 0 else 'down'} {abs(pct)}%"


async def test_summary_adds_up_the_raw_rows_against_the_previous_30_days(db: Database, maya: Caller) -> None:
    today = date.today()
    until, since = today - timedelta(days=1), today - timedelta(days=30)
    vs_until, vs_since = since - timedelta(days=1), since - timedelta(days=30)
    turn = await run_turn(db=db, caller=maya, message=f'/summary brand:"{BRAND}" days:30', today=today)
    result = result_of(turn)
    now, before = await oracle(db, BRAND, since, until), await oracle(db, BRAND, vs_since, vs_until)
    assert_totals(result["totals"], now)
    assert_totals(result["vs_totals"], before)
    changes = {c["metric"]: c for c in result["changes"]}
    for name in FIGURES:
        assert changes[name]["change"] == pytest.approx(now[name] - before[name], abs=0.006), name
        assert changes[name]["change_pct"] == pytest.approx(
            (now[name] - before[name]) / before[name], abs=1e-4
        )
    assert changes["hold_rate"]["formula"] == "hold rate = ThruPlays / 3-second video plays (video ads only)"
    assert "ROAS = purchase value / spend" in result["formulas"]
    assert turn.text.startswith(
        f"{BRAND} spent {money(now['spend'])} in the last 30 days ({since} to {until}), "
        f"{trend(now['spend'], before['spend'])} on the previous 30 days ({vs_since} to {vs_until}) "
        f"({money(before['spend'])}); ROAS {now['roas']:.2f}x (was {before['roas']:.2f}x), "
        f"CPA ${now['cpa']:,.2f} (was ${before['cpa']:,.2f}), CTR {now['ctr'] * 100:.2f}% (was {before['ctr'] * 100:.2f}%), "
        f"hook rate {now['hook_rate'] * 100:.2f}% (was {before['hook_rate'] * 100:.2f}%), "
        f"hold rate {now['hold_rate'] * 100:.2f}% (was {before['hold_rate'] * 100:.2f}%); "
        f"{now['purchases']:,.0f} purchases (was {before['purchases']:,.0f}) for {money(now['purchase_value'])} revenue"
        f" (was {money(before['purchase_value'])})."
    )
    table = TotalsResult.model_validate(result).as_tables()[0]
    assert table.columns == [
        "Metric",
        "last 30 days",
        f"{vs_since} to {vs_until}",
        "Change",
        "Change %",
        "Formula",
    ]
    assert table.rows[0][:3] == ["Spend", f"${now['spend']:,.2f}", f"${before['spend']:,.2f}"]


async def test_a_calendar_month_is_summed_against_the_month_before(db: Database, maya: Caller) -> None:
    today = date.today()
    until = today.replace(day=1) - timedelta(days=1)
    since = until.replace(day=1)
    vs_until = since - timedelta(days=1)
    vs_since = vs_until.replace(day=1)
    turn = await run_turn(
        db=db, caller=maya, message=f'/summary brand:"{BRAND}" since:{since} until:{until}', today=today
    )
    result = result_of(turn)
    assert (result["vs_window"]["since"], result["vs_window"]["until"]) == (str(vs_since), str(vs_until))
    now, before = await oracle(db, BRAND, since, until), await oracle(db, BRAND, vs_since, vs_until)
    assert_totals(result["totals"], now)
    assert_totals(result["vs_totals"], before)
    assert turn.text.startswith(
        f"{BRAND} spent {money(now['spend'])} in {since:%B %Y} ({since} to {until}), "
        f"{trend(now['spend'], before['spend'])} on {vs_since:%B %Y} ({vs_since} to {vs_until})"
    )


async def test_a_previous_period_without_spend_gives_n_a(db: Database, maya: Caller) -> None:
    today = date.today()
    since = today - timedelta(days=WINDOW_DAYS)  # the demo's first day: nothing before it
    until = since + timedelta(days=9)
    turn = await run_turn(
        db=db, caller=maya, message=f'/summary brand:"{BRAND}" since:{since} until:{until}', today=today
    )
    result = result_of(turn)
    now = await oracle(db, BRAND, since, until)
    assert now["spend"] > 0
    assert_totals(result["totals"], now)
    assert result["vs_totals"]["spend"] == 0
    assert all(c["change_pct"] is None for c in result["changes"])
    assert {c["metric"]: c["change"] for c in result["changes"]}["roas"] is None
    before = f"{since - timedelta(days=10)} to {since - timedelta(days=1)}"
    assert turn.text.startswith(
        f"{BRAND} spent {money(now['spend'])} from {since} to {until}; the previous 10 days ({before}) had no "
        f"spend (change n/a); ROAS {now['roas']:.2f}x (was n/a), CPA ${now['cpa']:,.2f} (was n/a)"
    )
    roas_row = next(r for r in TotalsResult.model_validate(result).as_tables()[0].rows if r[0] == "ROAS")
    assert roas_row[2:5] == ["n/a", "n/a", "n/a"]


async def test_compare_two_periods_names_the_ads_that_moved_most(db: Database, maya: Caller) -> None:
    today = date.today()
    since, until = today - timedelta(days=14), today - timedelta(days=1)
    vs_since, vs_until = today - timedelta(days=42), today - timedelta(days=29)
    turn = await run_turn(
        db=db,
        caller=maya,
        message=f'/compare brand:"{BRAND}" since:{since} until:{until} vs_since:{vs_since} min_spend:100',
        today=today,
    )
    result = result_of(turn)
    assert (result["vs_window"]["since"], result["vs_window"]["until"]) == (str(vs_since), str(vs_until))
    now, before = await oracle(db, BRAND, since, until), await oracle(db, BRAND, vs_since, vs_until)
    assert_totals(result["totals"], now)
    assert_totals(result["vs_totals"], before)
    ids = set(now["ads"]) | set(before["ads"])

    def spend(side: dict[str, Any], ad: str) -> float:
        return float(side["ads"][ad]["spend"]) if ad in side["ads"] else 0.0

    moved = sorted((a for a in ids if spend(now, a) != spend(before, a)),
                   key=lambda a: (-abs(spend(now, a) - spend(before, a)), a))[:5]  # fmt: skip
    assert [m["meta_ad_id"] for m in result["spend_movers"]] == moved
    for row in result["spend_movers"]:
        ad = row["meta_ad_id"]
        assert row["spend_change"] == pytest.approx(spend(now, ad) - spend(before, ad), abs=0.01)

    def roas(side: dict[str, Any], ad: str) -> float:
        return side["ads"][ad]["purchase_value"] / side["ads"][ad]["spend"]

    both = [a for a in ids if spend(now, a) >= 100 and spend(before, a) >= 100]
    by_roas = sorted(both, key=lambda a: (-abs(roas(now, a) - roas(before, a)), a))[:5]
    assert [m["meta_ad_id"] for m in result["roas_movers"]] == by_roas
    top = result["roas_movers"][0]
    assert top["roas_change"] == pytest.approx(roas(now, by_roas[0]) - roas(before, by_roas[0]))
    assert f"Biggest ROAS move among ads with $100+ spend in both: '{top['ad_name']}'" in turn.text
    assert turn.text.startswith(
        f"{BRAND} spent {money(now['spend'])} from {since} to {until}, {trend(now['spend'], before['spend'])} on "
        f"{vs_since} to {vs_until} ({money(before['spend'])}); ROAS {now['roas']:.2f}x (was {before['roas']:.2f}x)"
    )
    tables = TotalsResult.model_validate(result).as_tables()
    assert [t.title for t in tables[1:]] == [
        f"Ads that moved most by spend ({since} to {until} vs {vs_since} to {vs_until})",
        "Ads that moved most by ROAS (spend ≥ $100 in both)",
    ]


async def test_compare_two_brands_over_one_period(db: Database, maya: Caller) -> None:
    today = date.today()
    since, until = today - timedelta(days=7), today - timedelta(days=1)
    turn = await run_turn(
        db=db,
        caller=maya,
        message=f'/compare brand:"{BRAND}" vs_brand:"bloom botanicals" days:7',
        today=today,
    )
    result = result_of(turn)
    assert_totals(result["totals"], await oracle(db, BRAND, since, until))
    bloom = await oracle(db, "Bloom Botanicals", since, until)
    assert_totals(result["vs_totals"], bloom)
    assert result["spend_movers"] == [] and result["roas_movers"] == []
    assert f"on Bloom Botanicals ({money(bloom['spend'])}); ROAS" in turn.text
    assert f"(Bloom Botanicals {bloom['roas']:.2f}x)" in turn.text
    assert "Ads that moved are listed for two periods of one brand." in turn.text


@pytest.mark.parametrize(
    "message",
    ['/compare brand:"Acme Pets" vs_brand:"Peak Fuel" days:7', '/summary brand:"Peak Fuel"',
     "compare Acme Pets and Peak Fuel last 30 days"],
)  # fmt: skip
async def test_another_organizations_brand_is_refused(db: Database, maya: Caller, message: str) -> None:
    turn = await run_turn(db=db, caller=maya, message=message)
    assert turn.tool_calls[0].result is None
    assert turn.text == NO_PEAK_FUEL


async def test_compare_refuses_a_second_period_with_only_its_end(db: Database, maya: Caller) -> None:
    turn = await run_turn(db=db, caller=maya, message=f'/compare brand:"{BRAND}" vs_until:2026-10-31')
    assert turn.text == "vs_until needs a vs_since date too (vs_since:YYYY-MM-DD vs_until:YYYY-MM-DD)."


DECEMBER = RouterContext(brand_names=["Acme Pets", "Bloom Botanicals"], today=date(2026, 12, 5))  # a Saturday


@pytest.mark.parametrize(
    ("text", "tool", "args"),
    [
        ("How much did we spend on Acme Pets last week?", "summary",
         {"brand": "Acme Pets", "since": "2026-11-23", "until": "2026-11-29"}),
        ("what was our ROAS for Acme Pets in October", "summary",
         {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31"}),
        ("totals for Acme Pets this month", "summary", {"brand": "Acme Pets", "since": "2026-12-01", "until": "2026-12-05"}),
        ("Compare Acme Pets this week vs last week", "compare",
         {"brand": "Acme Pets", "since": "2026-11-30", "until": "2026-12-05", "vs_since": "2026-11-23", "vs_until": "2026-11-29"}),
        ("Acme Pets October vs September", "compare",
         {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31", "vs_since": "2026-09-01", "vs_until": "2026-09-30"}),
        ("Compare this week with last week for Acme Pets", "compare",
         {"brand": "Acme Pets", "since": "2026-11-30", "until": "2026-12-05", "vs_since": "2026-11-23", "vs_until": "2026-11-29"}),
        ("compare Acme Pets and Peak Fuel last 30 days", "compare", {"brand": "Acme Pets", "days": 30, "vs_brand": "Peak Fuel"}),
        ("compare acme pets versus bloom botanicals in october", "compare",
         {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31", "vs_brand": "Bloom Botanicals"}),
        ("compare Acme Pets last 7 days", "compare", {"brand": "Acme Pets", "days": 7}),
        ("Acme Pets spend this month against last month", "compare",
         {"brand": "Acme Pets", "since": "2026-12-01", "until": "2026-12-05", "vs_since": "2026-11-01", "vs_until": "2026-11-30"}),
        ("top ads by roas for Acme Pets", "ad_performance", {"brand": "Acme Pets", "sort": "roas"}),
        ("best ads overall for Acme Pets", "ad_performance", {"brand": "Acme Pets"}),
        ("which ads had the most total spend for Acme Pets", "ad_performance", {"brand": "Acme Pets", "sort": "spend"}),
    ],
)  # fmt: skip
def test_totals_and_comparison_questions_route_with_their_periods(
    text: str, tool: str, args: dict[str, Any]
) -> None:
    part = route(text, context=DECEMBER, history=[ModelRequest(parts=[UserPromptPart(text)])]).parts[0]
    assert isinstance(part, ToolCallPart), part.content if isinstance(part, TextPart) else part
    assert (part.tool_name, part.args_as_dict()) == (tool, args)


def _range(since: date, until: date) -> str:
    return f"{since} to {until}" if since != until else str(since)


async def test_questions_reach_summary_and_compare_and_show_the_window(db: Database, maya: Caller) -> None:
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    last_monday, last_sunday = monday - timedelta(days=7), monday - timedelta(days=1)
    turn = await run_turn(
        db=db, caller=maya, message="How much did we spend on Acme Pets last week?", today=today
    )
    assert (turn.tool_calls[0].tool, turn.tool_calls[0].args) == (
        "summary", {"brand": BRAND, "since": str(last_monday), "until": str(last_sunday)}
    )  # fmt: skip
    assert turn.text.startswith(f"{BRAND} spent $")
    assert f"in the last week (Monday to Sunday, {last_monday} to {last_sunday})" in turn.text

    month_end = today.replace(day=1) - timedelta(days=1)
    month = month_end.replace(day=1)
    turn = await run_turn(
        db=db, caller=maya, message=f"what was our ROAS for Acme Pets in {month:%B}", today=today
    )
    assert (turn.tool_calls[0].tool, turn.tool_calls[0].args) == (
        "summary", {"brand": BRAND, "since": str(month), "until": str(month_end)}
    )  # fmt: skip
    assert f"in {month:%B %Y} ({month} to {month_end})" in turn.text

    turn = await run_turn(db=db, caller=maya, message="totals for Acme Pets this month", today=today)
    assert turn.tool_calls[0].args == {
        "brand": BRAND,
        "since": str(today.replace(day=1)),
        "until": str(today),
    }
    assert _range(today.replace(day=1), today) in turn.text

    turn = await run_turn(db=db, caller=maya, message="Compare Acme Pets this week vs last week", today=today)
    assert (turn.tool_calls[0].tool, turn.tool_calls[0].args) == (
        "compare",
        {"brand": BRAND, "since": str(monday), "until": str(today),
         "vs_since": str(last_monday), "vs_until": str(last_sunday)},
    )  # fmt: skip
    assert result_of(turn)["vs_window"]["label"] == "last week (Monday to Sunday)"
    assert (
        _range(monday, today) in turn.text
        and f"last week (Monday to Sunday, {last_monday} to {last_sunday})" in turn.text
    )
    assert not turn.text.startswith("'")  # no note that a period was left out

    before_end = month - timedelta(days=1)
    before = before_end.replace(day=1)
    turn = await run_turn(db=db, caller=maya, message=f"Acme Pets {month:%B} vs {before:%B}", today=today)
    assert turn.tool_calls[0].args == {
        "brand": BRAND, "since": str(month), "until": str(month_end), "vs_since": str(before), "vs_until": str(before_end),
    }  # fmt: skip
    assert turn.text.startswith(f"{BRAND} spent $")
    assert f"on {before:%B %Y} ({before} to {before_end})" in turn.text

    turn = await run_turn(
        db=db, caller=maya, message="compare Acme Pets and Bloom Botanicals last 30 days", today=today
    )
    assert turn.tool_calls[0].args == {"brand": BRAND, "days": 30, "vs_brand": "Bloom Botanicals"}
    assert f"in the last 30 days ({today - timedelta(days=30)} to {today - timedelta(days=1)})" in turn.text
    assert "on Bloom Botanicals ($" in turn.text


async def test_a_side_it_cannot_place_is_said_and_the_period_before_used(db: Database, maya: Caller) -> None:
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    last_monday, last_sunday = monday - timedelta(days=7), monday - timedelta(days=1)
    turn = await run_turn(
        db=db, caller=maya, message="compare Acme Pets last week vs since the launch", today=today
    )
    assert turn.tool_calls[0].args == {"brand": BRAND, "since": str(last_monday), "until": str(last_sunday)}
    before = f"{last_monday - timedelta(days=7)} to {last_monday - timedelta(days=1)}"
    assert turn.text.startswith(f"I couldn't read 'since the launch' as dates.\n\n{BRAND} spent $")
    assert f"on the previous 7 days ({before})" in turn.text


async def test_no_spend_on_either_side_is_said(db: Database, maya: Caller) -> None:
    today = date.today()
    since, until = today - timedelta(days=300), today - timedelta(days=291)  # long before the demo's 90 days
    turn = await run_turn(
        db=db, caller=maya, message=f'/summary brand:"{BRAND}" since:{since} until:{until}', today=today
    )
    before = f"{since - timedelta(days=10)} to {since - timedelta(days=1)}"
    assert turn.text == f"No spend for {BRAND} in {since} to {until} nor in {before}."


async def test_a_zero_spend_floor_ranks_only_ads_with_spend_in_both(db: Database, maya: Caller) -> None:
    turn = await run_turn(db=db, caller=maya, message=f'/compare brand:"{BRAND}" days:7 min_spend:0')
    result = result_of(turn)
    assert result["roas_movers"] and all(m["spend"] > 0 and m["vs_spend"] > 0 for m in result["roas_movers"])


@pytest.mark.parametrize(
    "names", [["Lumen Sleep", "Peak Fuel"], ["Acme Pets", "Bloom Botanicals", "Peak Fuel"], ["Peak Fuel"]]
)
def test_a_side_naming_only_a_period_never_becomes_another_brand(names: list[str]) -> None:
    """'… vs last week' has no brand on its right: once the period is read there is nothing left, and
    nothing must match one of the caller's other brands (leo's Lumen Sleep was once compared)."""
    context = RouterContext(brand_names=names, today=date(2026, 12, 5))
    text = "compare Peak Fuel this week vs last week"
    part = route(text, context=context, history=[ModelRequest(parts=[UserPromptPart(text)])]).parts[0]
    assert isinstance(part, ToolCallPart) and part.tool_name == "compare"
    assert part.args_as_dict() == {
        "brand": "Peak Fuel", "since": "2026-11-30", "until": "2026-12-05",
        "vs_since": "2026-11-23", "vs_until": "2026-11-29",
    }  # fmt: skip
