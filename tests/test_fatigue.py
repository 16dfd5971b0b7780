"""Creative fatigue (/fatigue, and "which ads are burning out?"): planted ads whose frequency rises while
hook rate or CTR falls are flagged, and only those; figures checked against a plain-Python computation
over the raw daily rows; the offline router sends fatigue questions there with the period asked for."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from agent.runner import TurnResult, run_turn
from db.pool import Caller, Database
from services.analytics.fatigue import FatigueResult
from tests.chat_helpers import Team, make_team
from tests.oracle import ratio, raw_ads
from tests.test_briefings import reach_by_ad
from tests.test_offline_router import call

TODAY = datetime.now(UTC).date()
FIRST = (TODAY - timedelta(days=14), TODAY - timedelta(days=8))  # days:14 = the 7 days before the last 7
SECOND = (TODAY - timedelta(days=7), TODAY - timedelta(days=1))


@dataclasses.dataclass(frozen=True)
class Ad:
    """A planted ad's daily figures: (first half, second half) of the last 14 days."""

    key: str
    name: str
    format: str
    reach: tuple[int, int]
    views: tuple[int, int] = (0, 0)
    clicks: tuple[int, int] = (200, 200)
    spend: tuple[float, float] = (100, 100)
    impressions: tuple[int, int] = (10_000, 10_000)
    hook: str | None = None


PLANTED = [
    Ad("steady", "Steady S", "video", (5_000, 5_000), (3_000, 3_000), hook="Meet the chew vets love"),
    # Frequency 2.00 -> 2.50 (+25 %), hook rate 30 % -> 20 % (-33 %): fatiguing on hook rate.
    Ad("hook_drop", "Hook Drop H", "video", (5_000, 4_000), (3_000, 2_000), hook="Is your dog limping?"),
    # Frequency 2.00 -> 2.27 (+14 %), CTR 2.00 % -> 1.50 % (-25 %): fatiguing on CTR (an image: no hook rate).
    Ad("ctr_drop", "CTR Drop C", "image", (5_000, 4_400), clicks=(200, 150)),
    # Frequency +25 %, hook rate only -10 %: not enough to flag.
    Ad(
        "mild",
        "Mild M",
        "video",
        (5_000, 4_000),
        (3_000, 2_700),
        spend=(90, 90),
        hook="is your dog  LIMPING?",
    ),
    # Hook rate -33 % with frequency flat: the audience isn't saturating, the ad just got worse.
    Ad("flat_freq", "Flat Frequency F", "video", (5_000, 5_000), (3_000, 2_000), hook="Vets hate this"),
    # A fatiguing pattern below the floors: $5 a day ($35 a half), or 100 impressions a day (700 a half).
    Ad("cheap", "Cheap X", "video", (5_000, 4_000), (3_000, 2_000), spend=(5, 5)),
    Ad("thin", "Thin T", "video", (50, 40), (30, 20), impressions=(100, 100)),
    # No reach reported: frequency n/a, never flagged.
    Ad("no_reach", "No Reach N", "video", (0, 0), (3_000, 2_000)),
]


@dataclasses.dataclass
class Shop:
    team: Team
    brand: str
    brand_id: UUID
    ids: dict[str, str]


@pytest.fixture(scope="module")
async def shop(db: Database) -> Shop:
    team = await make_team(db, "Fatigue Co")
    tag = uuid.uuid4().hex[:6]
    name = f"Tired Pets {tag}"
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (team.org, name)
        )
        row = await cur.fetchone()
        assert row is not None
        brand_id: UUID = row["id"]
        ids = {}
        for ad in PLANTED:
            ad_id = ids[ad.key] = f"tp{tag}_{ad.key}"
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, campaign, format)"
                " values (%s, %s, %s, %s, 'Evergreen', %s)",
                (ad_id, brand_id, team.org, ad.name, ad.format),
            )
            rows = []
            for back in range(1, 22):  # 3 weeks: the week before the window must not count
                i = 1 if back <= 7 else 0
                spend = 1_000.0 if back > 14 else ad.spend[i]  # big spend outside the window: ignored
                rows.append(
                    (ad_id, TODAY - timedelta(days=back), brand_id, team.org, spend, ad.impressions[i],
                     ad.reach[i], ad.clicks[i], 2, 2 * spend, ad.views[i])
                )  # fmt: skip
            await conn.cursor().executemany(
                "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend,"
                " impressions, reach, link_clicks, purchases, purchase_value, video_3s_views) values"
                " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows,
            )
            if ad.hook:
                await conn.execute(
                    "insert into ad_creative_classifications (meta_ad_id, brand_id, organization_id,"
                    " input_hash, prompt_version, hooks) values (%s, %s, %s, %s, 'test-1', %s::jsonb)",
                    (ad_id, brand_id, team.org, uuid.uuid4().hex,
                     json.dumps({"spoken": {"text": ad.hook, "category": "question"}})),
                )  # fmt: skip
    return Shop(team, name, brand_id, ids)


async def ask(db: Database, caller: Caller, message: str) -> TurnResult:
    return await run_turn(db=db, caller=caller, message=message, today=TODAY)


def result_of(turn: TurnResult) -> dict[str, Any]:
    [tool_call] = turn.tool_calls
    assert tool_call.error is None, tool_call.error
    assert tool_call.result is not None
    return tool_call.result


# -- the independent computation -----------------------------------------------------------------


async def expected(db: Database, brand: str, by: str) -> dict[str, dict[str, Any]]:
    """The fatigue rule done again by hand over the raw daily rows: per ad (or hook, by its words in any
    case), frequency up >= 10 % and hook rate or CTR down >= 15 %, with >= $50 and 1,000 impressions a half."""
    halves = []
    for since, until in (FIRST, SECOND):
        ads, reach = await raw_ads(db, brand, since, until), await reach_by_ad(db, brand, since, until)
        units: dict[str, dict[str, Any]] = {}
        for ad_id, ad in ads.items():
            hooks = (ad["cls"] or {}).get("hooks") or {}
            hook = (hooks.get("spoken") or {}).get("text")
            if by == "hook" and hook is None:
                continue
            key = ad_id if by == "ad" else " ".join(str(hook).split()).lower()
            u = units.setdefault(
                key, {"spend": 0.0, "impr": 0, "video_impr": 0, "views": 0, "clicks": 0, "reach": 0}
            )
            u["spend"] += ad["spend"]
            u["impr"] += ad["impressions"]
            u["video_impr"] += ad["impressions"] if ad["format"] == "video" else 0
            u["views"] += ad["video_3s_views"]
            u["clicks"] += ad["link_clicks"]
            u["reach"] += reach.get(ad_id, 0)
        halves.append(units)
    flagged = {}
    for key, a in halves[0].items():
        b = halves[1][key]
        if min(a["spend"], b["spend"]) < 50 or min(a["impr"], b["impr"]) < 1_000:
            continue
        fa, fb = ratio(a["impr"], a["reach"]), ratio(b["impr"], b["reach"])
        ha, hb = ratio(a["views"], a["video_impr"]), ratio(b["views"], b["video_impr"])
        ca, cb = ratio(a["clicks"], a["impr"]), ratio(b["clicks"], b["impr"])
        if fa is None or fb is None or fb / fa - 1 < 0.10:
            continue
        falling = [
            n
            for n, x, y in (("hook rate", ha, hb), ("CTR", ca, cb))
            if x and y is not None and y / x - 1 <= -0.15
        ]
        if falling:
            flagged[key] = {
                "freq": (fa, fb),
                "hook_rate": (ha, hb),
                "ctr": (ca, cb),
                "falling": " and ".join(falling),
            }
    return flagged


# -- by ad ------------------------------------------------------------------------------------------


async def test_only_the_ads_planted_to_fatigue_are_flagged(db: Database, shop: Shop) -> None:
    turn = await ask(db, shop.team.admin, f'/fatigue brand:"{shop.brand}" days:14')
    result = result_of(turn)
    want = await expected(db, shop.brand, "ad")
    assert set(want) == {shop.ids["hook_drop"], shop.ids["ctr_drop"]}
    rows = {r["meta_ad_id"]: r for r in result["rows"]}
    assert set(rows) == set(want)
    for ad_id, w in want.items():
        r = rows[ad_id]
        assert (r["previous_frequency"], r["frequency"]) == pytest.approx(w["freq"])
        assert (r["previous_ctr"], r["ctr"]) == pytest.approx(w["ctr"])
        assert r["falling"] == w["falling"]
    assert rows[shop.ids["ctr_drop"]]["hook_rate"] is None  # an image: hook rate n/a
    assert rows[shop.ids["hook_drop"]]["hook"] == "Is your dog limping?"
    assert result["judged"] == 6 and result["below_floor"] == 2  # cheap and thin
    (a, b), (c, d) = FIRST, SECOND
    assert turn.text == (
        f"2 of 6 ads for {shop.brand} are fatiguing in last 14 days ({a} to {d}), comparing the"
        f" last 7 days ({c} to {d}) with the 7 days before ({a} to {b}): 'CTR Drop C' (frequency 2.00 → 2.27"
        " (+14%), CTR 2.00% → 1.50% (-25%)); 'Hook Drop H' (frequency 2.00 → 2.50 (+25%), hook rate 30.00% →"
        " 20.00% (-33%)). Flagged when frequency up ≥ 10 % and hook rate or CTR down ≥ 15 %; only ads with at"
        " least $50 spend and 1,000 impressions in each half are judged (2 below that)."
    )


async def test_the_table_reads_as_a_marketer_would(db: Database, shop: Shop) -> None:
    result = FatigueResult.model_validate(
        result_of(await ask(db, shop.team.admin, f'/fatigue brand:"{shop.brand}" days:14'))
    )
    [table] = result.as_tables()
    assert table.columns[:6] == ["Ad", "Hook", "Ad ID", "Spend", "Frequency before", "Frequency after"]
    assert table.rows[1][3:] == [
        "$1,400.00", "2.00", "2.50", "+25%", "30.00%", "20.00%", "-33%", "2.00%", "2.00%", "+0%", "hook rate",
    ]  # fmt: skip
    assert table.rows[0][:2] == ["CTR Drop C", ""] and table.rows[0][7:10] == ["n/a", "n/a", "n/a"]


# -- by hook ----------------------------------------------------------------------------------------


async def test_by_hook_sums_the_ads_of_each_primary_hook(db: Database, shop: Shop) -> None:
    """'Is your dog limping?' runs on two ads (in two spellings): one fatiguing, one mild; summed, the
    hook fatigues. The image without a classified hook is counted, not judged."""
    turn = await ask(db, shop.team.admin, f'/fatigue brand:"{shop.brand}" days:14 by:hook')
    result = result_of(turn)
    want = await expected(db, shop.brand, "hook")
    assert set(want) == {"is your dog limping?"}
    [row] = result["rows"]
    w = want["is your dog limping?"]
    assert row["name"] == "Is your dog limping?" and row["ads"] == 2
    assert (row["previous_frequency"], row["frequency"]) == pytest.approx(w["freq"])
    assert (row["previous_hook_rate"], row["hook_rate"]) == pytest.approx(w["hook_rate"])
    assert result["without_hook"] == 4  # ctr_drop, cheap, thin, no_reach
    assert "1 of 3 hooks for" in turn.text and turn.text.endswith(
        "(0 below that). 4 ads without a classified hook are left out."
    )


# -- bad input and other people's brands ------------------------------------------------------------


async def test_a_one_day_period_is_refused_with_a_reason(db: Database, shop: Shop) -> None:
    turn = await ask(db, shop.team.admin, f'/fatigue brand:"{shop.brand}" days:1')
    yesterday = TODAY - timedelta(days=1)
    assert turn.text == (
        "Fatigue compares the first half of a period with the second, so it needs at least 2 days;"
        f" {yesterday} is one. Try days:14."
    )


async def test_another_organizations_brand_is_not_found(db: Database, shop: Shop) -> None:
    turn = await ask(db, shop.team.outsider, f'/fatigue brand:"{shop.brand}" days:14')
    assert turn.text.startswith(f"No brand named '{shop.brand}'.")


# -- the offline router -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("which hooks are fatiguing for Acme Pets?", {"brand": "Acme Pets", "by": "hook"}),
        ("what ads are burning out for Acme Pets last month?",
         {"brand": "Acme Pets", "by": "ad", "since": "2026-10-01", "until": "2026-10-31"}),
        ("which ads are wearing out for Bloom Botanicals in the last 30 days", {"brand": "Bloom Botanicals", "by": "ad", "days": 30}),
        ("are any of our ads tired? Acme Pets", {"brand": "Acme Pets", "by": "ad"}),
        ("creative fatigue for Acme Pets since Nov 1", {"brand": "Acme Pets", "by": "ad", "since": "2026-11-01", "until": "2026-11-25"}),
        ("is frequency too high on Acme Pets ads this week?",
         {"brand": "Acme Pets", "by": "ad", "since": "2026-11-23", "until": "2026-11-25"}),
        ("which types of hooks are fatiguing for Acme Pets", {"brand": "Acme Pets", "by": "hook"}),
    ],
)  # fmt: skip
def test_fatigue_phrasings_route_to_the_fatigue_tool(text: str, args: dict[str, Any]) -> None:
    assert call(text) == ("fatigue", args)  # today is CONTEXT's, Wednesday 2026-11-25


async def test_which_hooks_are_fatiguing_no_longer_ranks_the_best_hooks(db: Database, maya: Caller) -> None:
    today = date.today()
    turn = await run_turn(db=db, caller=maya, message="Which hooks are fatiguing for Acme Pets?", today=today)
    [tool_call] = turn.tool_calls
    assert (tool_call.tool, tool_call.args) == ("fatigue", {"brand": "Acme Pets", "by": "hook"})
    assert tool_call.error is None
    since, until = today - timedelta(days=30), today - timedelta(days=1)
    assert f"last 30 days ({since} to {until})" in turn.text
    assert not turn.text.startswith("Top") and "hooks for Acme Pets" in turn.text


async def test_a_period_in_a_fatigue_question_is_the_window_answered(db: Database, maya: Caller) -> None:
    today = date.today()
    last_month_end = today.replace(day=1) - timedelta(days=1)
    turn = await run_turn(
        db=db, caller=maya, message="what ads are burning out for Acme Pets last month?", today=today
    )
    [tool_call] = turn.tool_calls
    since = last_month_end.replace(day=1)
    assert tool_call.args == {
        "brand": "Acme Pets",
        "since": str(since),
        "until": str(last_month_end),
        "by": "ad",
    }
    assert f"({since} to {last_month_end})" in turn.text


async def test_the_weekly_briefing_reads_fatigue_with_the_same_rule(db: Database, shop: Shop) -> None:
    """The briefing's week against the week before is /fatigue days:14's second half against its first:
    the ad fatiguing on hook rate carries the same figures in both. (The briefing floors hooks on
    impressions only, so the $5-a-day ad shows there too; /fatigue also reads CTR.)"""
    briefing = result_of(await ask(db, shop.team.admin, f'/briefing brand:"{shop.brand}" period:week'))
    fatiguing = {h["meta_ad_id"]: h for h in briefing["briefing"]["hooks"] if h["trend"] == "fatiguing"}
    assert set(fatiguing) == {shop.ids["hook_drop"], shop.ids["cheap"]}
    tool = result_of(await ask(db, shop.team.admin, f'/fatigue brand:"{shop.brand}" days:14'))
    [row] = [r for r in tool["rows"] if r["meta_ad_id"] == shop.ids["hook_drop"]]
    for field in ("previous_frequency", "frequency", "previous_hook_rate", "hook_rate", "hook_rate_change"):
        assert fatiguing[shop.ids["hook_drop"]][field] == pytest.approx(row[field]), field


async def test_a_period_it_cannot_read_is_named_with_the_window_used(db: Database, maya: Caller) -> None:
    today = date.today()
    turn = await run_turn(
        db=db, caller=maya, message="which ads are wearing out for Acme Pets since the launch?", today=today
    )
    assert turn.tool_calls[0].args == {"brand": "Acme Pets", "by": "ad"}
    since, until = today - timedelta(days=30), today - timedelta(days=1)
    assert turn.text.startswith(
        f"I couldn't read 'since the launch' as dates, so this answer covers last 30 days ({since} to {until})."
    )
    assert f"ads for Acme Pets are fatiguing in last 30 days ({since} to {until})" in turn.text
