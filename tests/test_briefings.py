"""Briefings (what changed for a brand) with planted changes checked against a plain-Python computation
over the raw daily rows; schedules that post them to Slack (the fake Web API); an organization's
notifications posted to its Slack channel once, whatever the number of workers, and after an outage."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from agent.runner import TurnResult, run_turn
from core.errors import NoData
from db.pool import Caller, Database
from fakes.slack_api import BOT_TOKEN, FakeSlack
from jobs import api
from jobs.registry import REGISTRY
from jobs.schedules import tick
from services.analytics import briefings
from services.brands import resolve_brand
from services.platform import notifications
from settings import Settings, get_settings
from tests.chat_helpers import Team, make_team
from tests.oracle import ratio, raw_ads
from tests.test_jobs import fast_settings, scheduled_runs, wait_for, worker

TODAY = datetime.now(UTC).date()
DIMENSIONS = ("product", "offer", "angle", "benefits", "claims", "audience", "voice_tone")


@dataclasses.dataclass(frozen=True)
class Ad:
    """A planted ad: its daily figures in the baseline weeks and in the current week."""

    key: str
    name: str
    format: str
    campaign: str
    spend: tuple[float, float]
    value: tuple[float, float]
    reach: tuple[int, int] = (5_000, 5_000)
    views: tuple[int, int] = (0, 0)
    """3-second plays a day: (before the current week, in it)."""


PLANTED = [
    Ad("steady_a", "Steady A", "image", "Evergreen", (100, 100), (200, 200)),
    Ad("steady_b", "Steady B", "video", "Evergreen", (100, 100), (200, 200), views=(3_000, 3_000)),
    Ad("winner", "Winner W", "image", "Prospecting", (50, 50), (100, 200)),
    Ad("loser", "Loser L", "image", "Prospecting", (100, 100), (200, 40)),
    Ad("fatigue", "Fatigue F", "video", "Evergreen", (100, 100), (200, 200), (5_000, 4_000), (3_000, 2_000)),
    Ad("scaler", "Scaler S", "image", "Scale Test", (20, 80), (40, 160)),
]
QUIET = [
    Ad("calm_a", "Calm A", "image", "Evergreen", (100, 100), (250, 250)),
    Ad("calm_b", "Calm B", "video", "Evergreen", (60, 60), (90, 90), views=(2_500, 2_500)),
]


@dataclasses.dataclass
class Shop:
    team: Team
    brand: str
    quiet: str
    ids: dict[str, str]
    brand_id: UUID


async def _brand(conn: Any, org: UUID, name: str, ads: list[Ad], tag: str) -> tuple[UUID, dict[str, str]]:
    cur = await conn.execute(
        "insert into brands (organization_id, name) values (%s, %s) returning id", (org, name)
    )
    row = await cur.fetchone()
    brand_id: UUID = row["id"]
    ids = {}
    for ad in ads:
        ad_id = f"{tag}_{ad.key}"
        ids[ad.key] = ad_id
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, campaign, format)"
            " values (%s, %s, %s, %s, %s, %s)",
            (ad_id, brand_id, org, ad.name, ad.campaign, ad.format),
        )
        rows = []
        for back in range(1, 36):  # 35 days: the current week and the 4 weeks of the baseline
            i = 1 if back <= 7 else 0
            rows.append(
                (ad_id, TODAY - timedelta(days=back), brand_id, org, ad.spend[i], 10_000, ad.reach[i], 200,
                 2, ad.value[i], ad.views[i])
            )  # fmt: skip
        await conn.cursor().executemany(
            "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend, impressions,"
            " reach, link_clicks, purchases, purchase_value, video_3s_views) values"
            " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return brand_id, ids


async def _classify(conn: Any, shop: Shop, key: str, statuses: dict[str, str], hook: str | None) -> None:
    components = [
        {"dimension": d, "status": s, "ad": "", "landing_page": "", "note": ""} for d, s in statuses.items()
    ]
    score = sum(1 if s == "aligned" else 0.5 if s == "weak" else 0 for s in statuses.values()) / 7
    hooks = {"spoken": {"text": hook, "category": "question"}} if hook else {}
    await conn.execute(
        "insert into ad_creative_classifications (meta_ad_id, brand_id, organization_id, input_hash,"
        " prompt_version, congruence_score, congruence_components, hooks) values (%s, %s, %s, %s, 'test-1', %s,"
        " %s::jsonb, %s::jsonb)",
        (shop.ids[key], shop.brand_id, shop.team.org, uuid.uuid4().hex, score, json.dumps(components), json.dumps(hooks)),
    )  # fmt: skip


@pytest.fixture(scope="module")
async def shop(db: Database) -> Shop:
    team = await make_team(db, "Brief Co")
    tag = uuid.uuid4().hex[:6]
    async with db.as_owner() as conn:
        brand_id, ids = await _brand(conn, team.org, f"Brief Pets {tag}", PLANTED, f"bp{tag}")
        await _brand(conn, team.org, f"Calm Pets {tag}", QUIET, f"cp{tag}")
        found = Shop(team, f"Brief Pets {tag}", f"Calm Pets {tag}", ids, brand_id)
        await _classify(
            conn, found, "steady_b", dict.fromkeys(DIMENSIONS, "aligned"), "Meet the chew vets love"
        )
        await _classify(
            conn, found, "fatigue", {"product": "aligned", "offer": "weak"}, "Is your dog limping?"
        )
        await _classify(
            conn, found, "scaler", {"product": "aligned", "offer": "weak", "angle": "missing"}, None
        )
    return found


async def ask(db: Database, caller: Caller, message: str) -> TurnResult:
    return await run_turn(db=db, caller=caller, message=message, today=TODAY)


def result_of(turn: TurnResult) -> dict[str, Any]:
    [call] = turn.tool_calls
    assert call.error is None, call.error
    assert call.result is not None
    return call.result


# -- the independent computation -----------------------------------------------------------------


async def reach_by_ad(db: Database, brand: str, since: date, until: date) -> dict[str, int]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select p.meta_ad_id, p.date, p.reach from meta_ads_performance p join brands b on b.id = p.brand_id"
            " where b.name = %s",
            (brand,),
        )
        rows = await cur.fetchall()
    out: dict[str, int] = {}
    for row in rows:
        if since <= row["date"] <= until:
            out[row["meta_ad_id"]] = out.get(row["meta_ad_id"], 0) + int(row["reach"])
    return out


async def expected(db: Database, brand: str) -> dict[str, Any]:
    """The rules of services/analytics/briefings.py, done again by hand over the raw daily rows (week)."""
    cur_s, cur_u = TODAY - timedelta(days=7), TODAY - timedelta(days=1)
    prev_s, prev_u = TODAY - timedelta(days=14), TODAY - timedelta(days=8)
    base_s = TODAY - timedelta(days=35)
    now = {k: a for k, a in (await raw_ads(db, brand, cur_s, cur_u)).items() if a["days"]}
    before = {k: a for k, a in (await raw_ads(db, brand, prev_s, prev_u)).items() if a["days"]}
    base = {k: a for k, a in (await raw_ads(db, brand, base_s, prev_u)).items() if a["days"]}
    base_roas = ratio(sum(a["purchase_value"] for a in base.values()), sum(a["spend"] for a in base.values()))
    assert base_roas is not None

    def kind(ad: dict[str, Any] | None) -> str | None:
        if ad is None or ad["spend"] < 100:
            return None
        roas = ad["purchase_value"] / ad["spend"]
        return "winner" if roas >= 1.25 * base_roas else "loser" if roas <= 0.75 * base_roas else None

    changed = {k: kind(a) for k, a in now.items() if kind(a) and kind(a) != kind(before.get(k))}
    reach_now = await reach_by_ad(db, brand, cur_s, cur_u)
    reach_before = await reach_by_ad(db, brand, prev_s, prev_u)
    hooks = {}
    for k, a in now.items():
        b = before.get(k)
        if a["format"] != "video" or b is None or min(a["impressions"], b["impressions"]) < 5_000:
            continue
        rate, prev_rate = a["video_3s_views"] / a["impressions"], b["video_3s_views"] / b["impressions"]
        freq, prev_freq = a["impressions"] / reach_now[k], b["impressions"] / reach_before[k]
        if rate / prev_rate - 1 <= -0.15 and freq / prev_freq - 1 >= 0.10:
            hooks[k] = ("fatiguing", rate, prev_rate, freq, prev_freq)
        elif rate / prev_rate - 1 >= 0.15:
            hooks[k] = ("gaining", rate, prev_rate, freq, prev_freq)
    total_now, total_base = sum(a["spend"] for a in now.values()), sum(a["spend"] for a in base.values())
    shifts = {}
    for k, a in now.items():
        share, base_share = a["spend"] / total_now, base[k]["spend"] / total_base
        if abs(share - base_share) >= 0.05:
            shifts[a["name"]] = (share, base_share)
    campaigns: dict[str, list[float]] = {}
    for i, rows in enumerate((now, base)):
        for k, a in rows.items():
            campaign = next(ad.campaign for ad in PLANTED + QUIET if k.endswith("_" + ad.key))
            campaigns.setdefault(campaign, [0.0, 0.0])[i] += a["spend"]
    for name, (s_now, s_base) in campaigns.items():
        if abs(s_now / total_now - s_base / total_base) >= 0.05:
            shifts[name] = (s_now / total_now, s_base / total_base)
    scaling = {}
    for k, a in now.items():
        per_week = base[k]["spend"] / 4
        cls = a["cls"]
        if a["spend"] < 100 or a["spend"] / per_week - 1 < 0.5 or cls is None:
            continue
        named = {c["dimension"] for c in cls["congruence_components"]}
        if cls["congruence_score"] < 0.6 or len(named) < 7:
            scaling[k] = (a["spend"] / per_week - 1, cls["congruence_score"])
    return {
        "base_roas": base_roas,
        "changed": changed,
        "now": now,
        "before": before,
        "hooks": hooks,
        "shifts": shifts,
        "scaling": scaling,
    }


# -- the briefing in chat ------------------------------------------------------------------------


async def test_week_briefing_finds_each_planted_change_with_its_figures(db: Database, shop: Shop) -> None:
    turn = await ask(db, shop.team.member, f'/briefing brand:"{shop.brand}" period:week')
    result = result_of(turn)["briefing"]
    want = await expected(db, shop.brand)
    ids = shop.ids
    assert result["baseline_roas"] == pytest.approx(want["base_roas"])
    assert want["changed"] == {ids["winner"]: "winner", ids["loser"]: "loser"}  # the plant took
    assert [w["meta_ad_id"] for w in result["winners"]] == [ids["winner"]]
    assert [w["meta_ad_id"] for w in result["losers"]] == [ids["loser"]]
    for row in result["winners"] + result["losers"]:
        ad, prev = want["now"][row["meta_ad_id"]], want["before"][row["meta_ad_id"]]
        assert row["roas"] == pytest.approx(ad["purchase_value"] / ad["spend"])
        assert row["cpa"] == pytest.approx(ad["spend"] / ad["purchases"])
        assert row["vs_baseline_roas"] == pytest.approx(row["roas"] / want["base_roas"])
        assert row["previous_roas"] == pytest.approx(prev["purchase_value"] / prev["spend"])
        assert row["spend"] == pytest.approx(ad["spend"], abs=0.01)

    assert set(want["hooks"]) == {ids["fatigue"]}
    [hook] = result["hooks"]
    trend, rate, prev_rate, freq, prev_freq = want["hooks"][ids["fatigue"]]
    assert (hook["meta_ad_id"], hook["trend"], hook["hook"]) == (
        ids["fatigue"],
        trend,
        "Is your dog limping?",
    )
    assert hook["hook_rate"] == pytest.approx(rate) and hook["previous_hook_rate"] == pytest.approx(prev_rate)
    assert hook["frequency"] == pytest.approx(freq) and hook["previous_frequency"] == pytest.approx(prev_freq)
    assert hook["hook_rate_change"] == pytest.approx(rate / prev_rate - 1)

    shown = {s["name"]: (s["share"], s["baseline_share"]) for s in result["spend_shifts"]}
    assert set(shown) == set(want["shifts"]) and "Scaler S" in shown and "Scale Test" in shown
    for name, (share, base_share) in want["shifts"].items():
        assert shown[name] == pytest.approx((share, base_share))
    top = result["spend_shifts"][0]
    assert top["shift_points"] == pytest.approx((top["share"] - top["baseline_share"]) * 100)

    assert set(want["scaling"]) == {ids["scaler"]}  # Fatigue F is poorly congruent too, but not scaling
    [scaling] = result["congruence"]
    change, score = want["scaling"][ids["scaler"]]
    assert scaling["meta_ad_id"] == ids["scaler"]
    assert scaling["spend_change"] == pytest.approx(change)
    assert scaling["congruence_score"] == pytest.approx(score)
    assert scaling["problems"].startswith("offer weak, angle missing, benefits missing")

    assert not result["nothing_changed"]
    text = turn.text
    assert (
        "1 new winner, 1 new loser, 1 fatiguing hook" in text
        and "1 scaling ad with congruence problems" in text
    )
    assert "previous 4 weeks" in text
    formulas = " ".join(result["formulas"])
    for needle in ("ROAS = purchase value / spend", "hook rate = 3-second video plays / impressions",
                   "frequency = impressions / reach", "winner = ROAS >= 1.25x the baseline ROAS"):  # fmt: skip
        assert needle in formulas
    for steady in ("Steady A", "Steady B"):
        assert steady not in json.dumps(result)


async def test_a_quiet_brand_says_nothing_changed(db: Database, shop: Shop) -> None:
    for period in ("week", "day"):
        result = result_of(await ask(db, shop.team.admin, f'/briefing brand:"{shop.quiet}" period:{period}'))
        b = result["briefing"]
        assert b["nothing_changed"] is True
        assert (b["winners"], b["losers"], b["hooks"], b["spend_shifts"], b["congruence"]) == (
            [],
            [],
            [],
            [],
            [],
        )
        assert "Nothing changed beyond the thresholds" in result["summary"]
    assert b["current"]["since"] == b["current"]["until"] == str(TODAY - timedelta(days=1))
    assert b["baseline"]["since"] == str(TODAY - timedelta(days=5))


async def test_bad_brand_gets_did_you_mean_and_another_org_gets_nothing(db: Database, shop: Shop) -> None:
    turn = await ask(db, shop.team.member, f'/briefing brand:"{shop.brand[:-1]}" period:week')
    assert turn.tool_calls[0].error is not None
    assert f"Did you mean '{shop.brand}'?" in turn.tool_calls[0].error
    other = await ask(db, shop.team.outsider, f'/briefing brand:"{shop.brand}" period:week')
    assert other.tool_calls[0].result is None and "No brand named" in str(other.tool_calls[0].error)
    assert "Winner W" not in other.text
    # And under RLS directly: the outsider's connection sees none of the brand's rows.
    async with db.as_user(shop.team.member) as conn:
        brand = await resolve_brand(conn, name=shop.brand)
    async with db.as_user(shop.team.outsider) as conn:
        with pytest.raises(NoData):
            await briefings.briefing(conn, brand=brand, period="week", today=TODAY)


# -- schedules and Slack -------------------------------------------------------------------------


@pytest.fixture
def no_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def _schedules(db: Database, brand_id: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select job_type, cron, params from scheduled_jobs where brand_id = %s and job_type = 'briefing'",
            (brand_id,),
        )
        return [dict(r) for r in await cur.fetchall()]


async def test_scheduling_needs_an_admin_and_a_confirmation(db: Database, shop: Shop, no_slack: None) -> None:
    command = f'/briefing brand:"{shop.brand}" period:day schedule:"0 8 * * *" channel:"#growth"'
    refused = await ask(db, shop.team.member, command)
    assert "Only admins of" in str(refused.tool_calls[0].error)
    preview = result_of(await ask(db, shop.team.admin, command))
    assert preview["summary"].startswith(
        f"Post the {shop.brand} briefing (day) to #growth on '0 8 * * *' (UTC)?"
    )
    assert "Slack is not connected here (SLACK_BOT_TOKEN is not set)" in preview["summary"]
    assert await _schedules(db, shop.brand_id) == []
    [confirm, _cancel] = preview["actions"]
    assert confirm["args"] == {"brand": shop.brand, "period": "day", "channel": "#growth",
                               "schedule": "0 8 * * *", "confirm": True}  # fmt: skip
    bad = await ask(db, shop.team.admin, command.replace('"#growth"', '"#Growth Team!"'))
    assert "is not a Slack channel" in str(bad.tool_calls[0].error)
    done = result_of(await ask(db, shop.team.admin, command + " confirm:true"))
    assert done["summary"].startswith("Scheduled:") and done["schedule_id"]
    assert await _schedules(db, shop.brand_id) == [
        {"job_type": "briefing", "cron": "0 8 * * *", "params": {"period": "day", "channel": "#growth"}}
    ]


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def slack_settings(tmp_path: Path, slack: FakeSlack | None) -> Settings:
    extra = (
        {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url} if slack else {"SLACK_BOT_TOKEN": None}
    )
    return fast_settings(tmp_path, **extra)


async def test_the_briefing_job_posts_blocks_to_the_channel(
    db: Database, shop: Shop, slack: FakeSlack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    get_settings.cache_clear()
    try:
        command = f'/briefing brand:"{shop.brand}" period:week channel:"#growth" confirm:true'
        posting = result_of(await ask(db, shop.team.admin, command))
    finally:
        get_settings.cache_clear()
    assert (
        posting["summary"]
        == f"Posting the {shop.brand} briefing (week) to #growth now (run {posting['run_id'][:8]})."
    )
    assert slack.posted() == []  # the job posts, not the chat turn
    run_id = UUID(posting["run_id"])
    async with worker(db, slack_settings(tmp_path, slack)):
        row = await wait_for(db, run_id, {"succeeded", "failed"})
    assert row["status"] == "succeeded", row["error"]
    [posted] = slack.posted("#growth")
    assert posted.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": f"Briefing: {shop.brand}, last 7 days"},
    }
    sections = [b["text"]["text"] for b in posted.blocks if b["type"] == "section"]
    assert sections[0].startswith(f"{shop.brand}, last 7 days")
    assert any(s.startswith("*New winners*\n• Winner W: ROAS 4.00x") for s in sections)
    assert any(s.startswith("*Hooks*\n• Fatigue F ('Is your dog limping?') fatiguing") for s in sections)
    assert (
        posted.blocks[-1]["type"] == "context"
        and "ROAS = purchase value / spend" in posted.blocks[-1]["elements"][0]["text"]
    )
    assert "Winner W" in posted.text  # the notification/fallback text
    assert row["result"]["channel"] == "#growth" and row["result"]["ts"] == posted.ts


async def test_without_slack_the_briefing_job_fails_at_once_with_a_clear_message(
    db: Database, shop: Shop, tmp_path: Path
) -> None:
    run_id = await api.run_now(
        db, job_type="briefing", params={"period": "day", "channel": "#growth"},
        organization_id=shop.team.org, brand_id=shop.brand_id,
    )  # fmt: skip
    async with worker(db, slack_settings(tmp_path, None)):
        row = await wait_for(db, run_id, {"succeeded", "failed"})
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"].startswith("Slack is not connected: set SLACK_BOT_TOKEN")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Slack job types retry within a second (production waits 30-60 s and more)."""
    for name in ("briefing", "slack_notification"):
        monkeypatch.setitem(
            REGISTRY, name, dataclasses.replace(REGISTRY[name], backoff_base=0.2, backoff_cap=0.4)
        )


async def test_slack_down_the_briefing_is_retried_then_posted_once(
    db: Database, shop: Shop, slack: FakeSlack, tmp_path: Path, quick_retries: None
) -> None:
    slack.fail("chat.postMessage", "fatal_error", times=2)
    run_id = await api.run_now(
        db, job_type="briefing", params={"period": "week", "channel": "C0GROWTH01"},
        organization_id=shop.team.org, brand_id=shop.brand_id,
    )  # fmt: skip
    async with worker(db, slack_settings(tmp_path, slack)):
        row = await wait_for(db, run_id, {"succeeded", "failed"})
    assert (row["status"], row["attempts"]) == ("succeeded", 3)
    assert len(slack.calls_to("chat.postMessage")) == 3
    assert len(slack.posted("C0GROWTH01")) == 1


# -- org notifications to Slack ------------------------------------------------------------------


async def _slack_runs(db: Database, org: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select id, status, params from job_runs where organization_id = %s and job_type = 'slack_notification'",
            (org,),
        )
        return [dict(r) for r in await cur.fetchall()]


async def _notify(db: Database, team: Team, title: str, *, user: Caller | None = None) -> UUID:
    async with db.as_service() as conn:
        return await notifications.create(
            conn, organization_id=team.org, user_id=user.user_id if user else None,
            type="sync_finished", category="meta", title=title, message="12 new ads, 340 ad-days.",
        )  # fmt: skip


async def test_slack_channel_is_set_by_admins_after_a_preview(db: Database, no_slack: None) -> None:
    team = await make_team(db, "Channel Co")
    refused = await ask(db, team.member, '/slack_channel channel:"#alerts" confirm:true')
    assert "Only admins of" in str(refused.tool_calls[0].error)
    preview = result_of(await ask(db, team.admin, '/slack_channel channel:"#alerts"'))
    assert preview["summary"].startswith(f"Change to: {team.name}'s notifications are posted to #alerts")
    assert "SLACK_BOT_TOKEN is not set" in preview["summary"]
    shown = result_of(await ask(db, team.member, "/slack_channel"))
    assert shown["channels"] == [{"organization": team.name, "channel": None, "role": "member"}]
    await ask(db, team.admin, '/slack_channel channel:"#alerts" confirm:true')
    shown = result_of(await ask(db, team.member, "/slack_channel"))
    assert shown["channels"][0]["channel"] == "#alerts"
    # The outsider's organization is untouched, and they can't see this one's channel.
    theirs = result_of(await ask(db, team.outsider, "/slack_channel"))
    assert [c["channel"] for c in theirs["channels"]] == [None]
    # RLS backs the admin check: a member's own connection can't write it.
    async with db.as_user(team.member) as conn:
        cur = await conn.execute("update organization_slack_channels set channel = '#oops' returning 1")
        assert await cur.fetchall() == []
    await ask(db, team.admin, "/slack_channel clear:true confirm:true")
    shown = result_of(await ask(db, team.member, "/slack_channel"))
    assert shown["channels"][0]["channel"] is None


async def test_an_org_notification_is_posted_once_with_two_workers(
    db: Database, slack: FakeSlack, tmp_path: Path
) -> None:
    team = await make_team(db, "Posted Co")
    await _notify(db, team, "Before any channel")
    assert await _slack_runs(db, team.org) == []
    result_of(await ask(db, team.admin, '/slack_channel channel:"#alerts" confirm:true'))
    await _notify(db, team, "Just for Bob", user=team.member)  # personal: never to a channel
    nid = await _notify(db, team, "Meta sync finished for Fern & Co")
    [queued] = await _slack_runs(db, team.org)
    assert queued["params"] == {"notification_id": str(nid)}
    settings = slack_settings(tmp_path, slack)
    async with worker(db, settings, name="one"), worker(db, settings, name="two"):
        row = await wait_for(db, queued["id"], {"succeeded", "failed"})
        # A later notification, posted too: by then a second post of the first would have been made.
        later = await _notify(db, team, "Weekly briefing ready")
        [marker] = [
            r for r in await _slack_runs(db, team.org) if r["params"] == {"notification_id": str(later)}
        ]
        assert (await wait_for(db, marker["id"], {"succeeded", "failed"}))["status"] == "succeeded"
    assert row["status"] == "succeeded", row["error"]
    assert [p.text.split("\n")[0] for p in slack.posted("#alerts")] == [
        "Meta sync finished for Fern & Co",
        "Weekly briefing ready",
    ]
    posted = slack.posted("#alerts")[0]
    assert posted.text == "Meta sync finished for Fern & Co\n12 new ads, 340 ad-days."
    assert posted.blocks[0]["text"]["text"].startswith("*Meta sync finished for Fern & Co*")
    assert len(slack.calls_to("chat.postMessage")) == 2


async def test_a_notification_posted_after_slack_comes_back_and_none_if_rolled_back(
    db: Database, slack: FakeSlack, tmp_path: Path, quick_retries: None
) -> None:
    team = await make_team(db, "Outage Co")
    await ask(db, team.admin, '/slack_channel channel:"#alerts" confirm:true')
    with pytest.raises(RuntimeError):
        async with db.as_service() as conn:
            await notifications.create(conn, organization_id=team.org, type="x", title="Never kept")
            raise RuntimeError("the writer's transaction failed")
    assert await _slack_runs(db, team.org) == []
    slack.fail("chat.postMessage", "fatal_error", times=2)
    await _notify(db, team, "Token expires soon")
    [queued] = await _slack_runs(db, team.org)
    async with worker(db, slack_settings(tmp_path, slack)):
        row = await wait_for(db, queued["id"], {"succeeded", "failed"})
    assert row["status"] == "succeeded" and row["attempts"] == 3
    assert [p.text.split("\n")[0] for p in slack.posted("#alerts")] == ["Token expires soon"]


async def test_a_failed_slack_post_is_not_posted_to_slack_again(
    db: Database, slack: FakeSlack, tmp_path: Path
) -> None:
    team = await make_team(db, "Archived Co")
    await ask(db, team.admin, '/slack_channel channel:"#old" confirm:true')
    slack.fail("chat.postMessage", "is_archived")
    await _notify(db, team, "Sync finished")
    [queued] = await _slack_runs(db, team.org)
    async with worker(db, slack_settings(tmp_path, slack)):
        row = await wait_for(db, queued["id"], {"succeeded", "failed"})
    assert (row["status"], row["attempts"]) == ("failed", 1)  # a refusal no retry can fix
    assert "is archived" in row["error"]
    # Its job_failed notification (written with the failure) is there, and queued no post of itself.
    async with db.as_owner() as conn:
        cur = await conn.execute("select type from notifications where organization_id = %s", (team.org,))
        assert sorted(r["type"] for r in await cur.fetchall()) == ["job_failed", "sync_finished"]
    assert len(await _slack_runs(db, team.org)) == 1


async def test_a_due_briefing_schedule_posts_to_its_channel(
    db: Database, shop: Shop, slack: FakeSlack, tmp_path: Path
) -> None:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    schedule_id = await api.create_schedule(
        db, job_type="briefing", cron="0 8 * * *", params={"period": "day", "channel": "#mornings"},
        organization_id=shop.team.org, brand_id=shop.brand_id, now=an_hour_ago - timedelta(days=1),
    )  # fmt: skip
    await tick(db, now=datetime.now(UTC))  # the slot is due: one run
    await tick(db, now=datetime.now(UTC))  # and only one
    [run_id] = await scheduled_runs(db, schedule_id)
    async with worker(db, slack_settings(tmp_path, slack)):
        row = await wait_for(db, run_id, {"succeeded", "failed"})
    assert row["status"] == "succeeded", row["error"]
    assert row["scheduled_job_id"] == schedule_id
    [posted] = slack.posted("#mornings")
    assert posted.blocks[0]["text"]["text"] == f"Briefing: {shop.brand}, yesterday"
