"""Briefings: what CHANGED for a brand (the delta, not the state), the period against its baseline.

Period: `day` = yesterday, `week` = the last 7 full days. Baseline = the brand's 4 periods of the same
length just before it; "previous" = the one period just before it. Every figure is a ratio of raw
counts summed per ad over its window (`per_ad_sums_sql`); a zero denominator is n/a.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel

from core.errors import NoData
from db.pool import Conn, Database
from services.analytics import briefing_text as wording
from services.analytics.congruence import dimension_checks
from services.analytics.fatigue import (
    DROP,
    FREQUENCY_FORMULA,
    FREQUENCY_RISE,
    fatigued_by,
    per_ad_sums,
    primary_hook,
    reach_by_ad,
    trend,
)
from services.brands import brand_by_id
from services.calendar_days import local_today
from services.metrics import compute_ratio, formula
from services.models import BrandRef, WindowInfo, latest_classification_sql
from services.money import Money, format_money, shown_in
from services.platform.slack_channels import post
from services.platform.slack_out import SlackNotConfigured, slack_configured
from services.windows import Window
from settings import Settings

Period = Literal["day", "week"]
BASELINE_PERIODS = 4
WINNER_RATIO = 1.25
"""A winner's ROAS is at least 1.25x the brand's baseline ROAS; a loser's at most LOSER_RATIO x."""
LOSER_RATIO = 0.75
HOOK_CHANGE = DROP
"""Hook rate moving by 15 % or more (relative) against the previous period (fatigue: services.analytics.fatigue)."""
SHARE_SHIFT = 0.05
"""A spend shift: the share of the brand's spend moved by 5 percentage points or more."""
SCALING = 0.5
"""Scaling: period spend at least 50 % above the ad's average baseline period (or new spend)."""
LOW_CONGRUENCE = 0.6
MIN_SPEND = {"day": 20.0, "week": 100.0}
MIN_IMPRESSIONS = {"day": 1_000, "week": 5_000}

SHARE_FORMULA = "share of spend = ad spend / brand spend in the window; shift in percentage points"
SCALING_FORMULA = f"spend change = period spend / (baseline spend / {BASELINE_PERIODS}) - 1"
CONGRUENCE_FORMULA = "congruence score = (aligned + 0.5 x weak) / 7 dimensions (latest classification)"


class Thresholds(BaseModel):
    min_spend: float
    min_impressions: int
    winner_vs_baseline_roas: float = WINNER_RATIO
    loser_vs_baseline_roas: float = LOSER_RATIO
    hook_rate_change: float = HOOK_CHANGE
    frequency_rise: float = FREQUENCY_RISE
    share_shift_points: float = SHARE_SHIFT
    scaling_spend_change: float = SCALING
    low_congruence: float = LOW_CONGRUENCE

    def described(self) -> str:
        return (
            f"winner = ROAS >= {self.winner_vs_baseline_roas:g}x the baseline ROAS, loser <="
            f" {self.loser_vs_baseline_roas:g}x, with >= {format_money(self.min_spend, whole=True)} spend in the period; hooks:"
            f" >= {self.min_impressions:,} impressions in both periods, hook rate moved >="
            f" {self.hook_rate_change:.0%} (fatigue: and frequency up >= {self.frequency_rise:.0%});"
            f" spend shift >= {self.share_shift_points * 100:g} points; scaling = spend up >="
            f" {self.scaling_spend_change:.0%} with congruence < {self.low_congruence:g} or a dimension missing"
        )


class AdChange(BaseModel):
    """A new winner or loser: the period against the baseline, and where it stood the period before."""

    meta_ad_id: str
    ad_name: str
    spend: float
    roas: float | None
    cpa: float | None
    vs_baseline_roas: float | None
    previous_roas: float | None
    previous_spend: float


class HookChange(BaseModel):
    meta_ad_id: str
    ad_name: str
    hook: str | None
    trend: Literal["fatiguing", "gaining"]
    hook_rate: float | None
    previous_hook_rate: float | None
    hook_rate_change: float
    frequency: float | None
    previous_frequency: float | None
    frequency_change: float | None


class SpendShift(BaseModel):
    level: Literal["ad", "campaign"]
    name: str
    spend: float
    share: float
    baseline_share: float
    shift_points: float


class ScalingCongruence(BaseModel):
    meta_ad_id: str
    ad_name: str
    spend: float
    baseline_period_spend: float
    spend_change: float | None
    """None: no spend in the baseline (a new ad)."""
    congruence_score: float | None
    problems: str


class Briefing(BaseModel):
    brand: str
    period: Period
    current: WindowInfo
    previous: WindowInfo
    baseline: WindowInfo
    spend: float
    baseline_period_spend: float
    baseline_roas: float | None
    baseline_cpa: float | None
    thresholds: Thresholds
    winners: list[AdChange]
    losers: list[AdChange]
    hooks: list[HookChange]
    spend_shifts: list[SpendShift]
    congruence: list[ScalingCongruence]
    formulas: list[str]
    nothing_changed: bool
    summary: str

    def as_text(self) -> str:
        """Plain text (Slack's fallback, logs): the summary and each change, one line each."""
        lines = [self.summary]
        for title, items in self._sections():
            if items:
                lines += [f"{title}:", *(f"- {item}" for item in items)]
        return "\n".join(lines)

    def as_slack_blocks(self) -> list[dict[str, Any]]:
        """Block Kit: a header, the summary, one section per kind of change, the formulas as context."""
        blocks: list[dict[str, Any]] = [
            wording.header(f"Briefing: {self.brand}, {self.current.label}"),
            wording.section(self.summary),
        ]
        for title, items in self._sections():
            if items:
                blocks.append(wording.section(f"*{title}*\n" + "\n".join(f"• {item}" for item in items)))
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": wording.cut("; ".join(self.formulas))}],
            }
        )
        return blocks

    def _sections(self) -> list[tuple[str, list[str]]]:
        """Each kind of change as lines, the first MOST of each (and how many more)."""
        sections = [
            ("New winners", [wording.ad_line(a) for a in self.winners]),
            ("New losers", [wording.ad_line(a) for a in self.losers]),
            ("Hooks", [wording.hook_line(h) for h in self.hooks]),
            ("Spend shifts", [wording.shift_line(s) for s in self.spend_shifts]),
            ("Scaling ads with congruence problems", [wording.congruence_line(c) for c in self.congruence]),
        ]
        return [(title, lines[: wording.MOST] + wording.more(lines)) for title, lines in sections]


def periods(period: Period, today: date) -> tuple[Window, Window, Window]:
    """(current, previous, baseline) windows, all ending before today."""
    length = 1 if period == "day" else 7
    until = today - timedelta(days=1)
    since = until - timedelta(days=length - 1)
    label = "yesterday" if period == "day" else "last 7 days"
    current = Window(since=since, until=until, label=label)
    prev_until = since - timedelta(days=1)
    previous = Window(
        since=prev_until - timedelta(days=length - 1), until=prev_until, label=f"previous {period}"
    )
    baseline = Window(
        since=prev_until - timedelta(days=BASELINE_PERIODS * length - 1),
        until=prev_until,
        label=f"previous {BASELINE_PERIODS} {period}s",
    )
    return current, previous, baseline


async def _ads(conn: Conn, brand: BrandRef, ids: list[str]) -> dict[str, dict[str, Any]]:
    cols = "c.meta_ad_id, c.congruence_score, c.congruence_components, c.hooks"
    cur = await conn.execute(
        f"with cls as ({latest_classification_sql(cols)})"
        " select a.meta_ad_id, a.campaign, cls.meta_ad_id is not null as classified, cls.congruence_score,"
        " cls.congruence_components, cls.hooks from meta_ads a left join cls on cls.meta_ad_id = a.meta_ad_id"
        " where a.brand_id = %(brand_id)s and a.meta_ad_id = any(%(ids)s)",
        {"brand_id": brand.id, "ids": ids},
    )
    return {str(r["meta_ad_id"]): dict(r) for r in await cur.fetchall()}


def _total(rows: dict[str, dict[str, Any]]) -> dict[str, float]:
    keys = ("spend", "impressions", "purchases", "purchase_value")
    return {k: sum(float(r[k] or 0) for r in rows.values()) for k in keys}


def _roas(row: dict[str, Any] | None) -> float | None:
    return compute_ratio("roas", row) if row else None


async def briefing(conn: Conn, *, brand: BrandRef, period: Period, today: date) -> Briefing:
    """What changed for the brand in the period against its baseline (the caller's connection: RLS)."""
    current, previous, baseline = periods(period, today)
    now, before, base = [
        await per_ad_sums(conn, brand_id=brand.id, window=w) for w in (current, previous, baseline)
    ]
    if not any(float(r["spend"] or 0) > 0 for r in now.values()):
        raise NoData(f"No spend for {brand.name} {current.described}: nothing to brief on.")
    reach = await reach_by_ad(conn, brand_id=brand.id, current=current, previous=previous)
    ads = await _ads(conn, brand, sorted(set(now) | set(base)))
    limits = Thresholds(min_spend=MIN_SPEND[period], min_impressions=MIN_IMPRESSIONS[period])
    base_total, now_total = _total(base), _total(now)
    base_roas, base_cpa = compute_ratio("roas", base_total), compute_ratio("cpa", base_total)

    winners, losers = _winners_and_losers(now, before, base_roas, limits)
    hooks = _hooks(now, before, reach, ads, limits)
    shifts = _shifts(now, base, ads, now_total["spend"], base_total["spend"])
    scaling = _scaling(now, base, ads, limits)
    b = Briefing(
        brand=brand.name,
        period=period,
        current=WindowInfo.of(current),
        previous=WindowInfo.of(previous),
        baseline=WindowInfo.of(baseline),
        spend=round(now_total["spend"], 2),
        baseline_period_spend=round(base_total["spend"] / BASELINE_PERIODS, 2),
        baseline_roas=base_roas,
        baseline_cpa=base_cpa,
        thresholds=limits,
        winners=winners,
        losers=losers,
        hooks=hooks,
        spend_shifts=shifts,
        congruence=scaling,
        formulas=[
            formula("roas"),
            formula("cpa"),
            formula("hook_rate"),
            FREQUENCY_FORMULA,
            SHARE_FORMULA,
            SCALING_FORMULA,
            CONGRUENCE_FORMULA,
            "Thresholds: " + limits.described(),
        ],
        nothing_changed=not (winners or losers or hooks or shifts or scaling),
        summary="",
    )
    b.summary = wording.summary(b)
    return b


def _winners_and_losers(
    now: dict[str, dict[str, Any]],
    before: dict[str, dict[str, Any]],
    base_roas: float | None,
    limits: Thresholds,
) -> tuple[list[AdChange], list[AdChange]]:
    if not base_roas:
        return [], []

    def kind(row: dict[str, Any] | None) -> str | None:
        roas = _roas(row)
        if row is None or roas is None or float(row["spend"]) < limits.min_spend:
            return None
        assert base_roas is not None
        if roas >= WINNER_RATIO * base_roas:
            return "winner"
        return "loser" if roas <= LOSER_RATIO * base_roas else None

    winners: list[AdChange] = []
    losers: list[AdChange] = []
    for ad_id, row in now.items():
        now_kind = kind(row)
        if now_kind is None or kind(before.get(ad_id)) == now_kind:
            continue  # not one now, or already one the period before: not news
        roas, prev = _roas(row), before.get(ad_id)
        change = AdChange(
            meta_ad_id=ad_id,
            ad_name=str(row["ad_name"]),
            spend=round(float(row["spend"]), 2),
            roas=roas,
            cpa=compute_ratio("cpa", row),
            vs_baseline_roas=None if roas is None else roas / base_roas,
            previous_roas=_roas(prev),
            previous_spend=round(float(prev["spend"]), 2) if prev else 0.0,
        )
        (winners if now_kind == "winner" else losers).append(change)
    winners.sort(key=lambda a: (-(a.roas or 0), -a.spend, a.meta_ad_id))
    losers.sort(key=lambda a: (a.roas or 0, -a.spend, a.meta_ad_id))
    return winners, losers


def _hooks(
    now: dict[str, dict[str, Any]],
    before: dict[str, dict[str, Any]],
    reach: dict[str, tuple[int, int]],
    ads: dict[str, dict[str, Any]],
    limits: Thresholds,
) -> list[HookChange]:
    found = []
    for ad_id, row in now.items():
        prev = before.get(ad_id)
        if row["format"] != "video" or prev is None:
            continue
        if min(int(row["impressions"]), int(prev["impressions"])) < limits.min_impressions:
            continue
        reach_now, reach_before = reach.get(ad_id, (0, 0))
        t = trend(row, prev, reach=reach_now, previous_reach=reach_before)
        if t.hook_rate_change is None:
            continue
        if fatigued_by(t, signals=("hook_rate",)):
            kind: Literal["fatiguing", "gaining"] = "fatiguing"
        elif t.hook_rate_change >= HOOK_CHANGE:
            kind = "gaining"
        else:
            continue
        found.append(
            HookChange(
                meta_ad_id=ad_id,
                ad_name=str(row["ad_name"]),
                hook=primary_hook(ads.get(ad_id, {}).get("hooks")),
                trend=kind,
                hook_rate=t.hook_rate,
                previous_hook_rate=t.previous_hook_rate,
                hook_rate_change=t.hook_rate_change,
                frequency=t.frequency,
                previous_frequency=t.previous_frequency,
                frequency_change=t.frequency_change,
            )
        )
    found.sort(key=lambda h: (h.trend != "fatiguing", -abs(h.hook_rate_change), h.meta_ad_id))
    return found


def _shifts(
    now: dict[str, dict[str, Any]],
    base: dict[str, dict[str, Any]],
    ads: dict[str, dict[str, Any]],
    now_spend: float,
    base_spend: float,
) -> list[SpendShift]:
    if not now_spend or not base_spend:
        return []
    names: dict[tuple[str, str], str] = {}
    spend: dict[tuple[str, str], list[float]] = {}
    for i, rows in enumerate((now, base)):
        for ad_id, row in rows.items():
            campaign = ads.get(ad_id, {}).get("campaign") or "(no campaign)"
            for key, name in ((("ad", ad_id), str(row["ad_name"])), (("campaign", campaign), campaign)):
                names[key] = name
                spend.setdefault(key, [0.0, 0.0])[i] += float(row["spend"] or 0)
    shifts = []
    for key, (s_now, s_base) in spend.items():
        level = key[0]
        share, base_share = s_now / now_spend, s_base / base_spend
        if abs(share - base_share) >= SHARE_SHIFT:
            shifts.append(
                SpendShift(
                    level=level,
                    name=names[key],
                    spend=round(s_now, 2),
                    share=share,
                    baseline_share=base_share,
                    shift_points=(share - base_share) * 100,
                )
            )
    shifts.sort(key=lambda s: (-abs(s.shift_points), s.level, s.name))
    return shifts


def _scaling(
    now: dict[str, dict[str, Any]],
    base: dict[str, dict[str, Any]],
    ads: dict[str, dict[str, Any]],
    limits: Thresholds,
) -> list[ScalingCongruence]:
    found = []
    for ad_id, row in now.items():
        spend = float(row["spend"] or 0)
        per_period = float(base[ad_id]["spend"] or 0) / BASELINE_PERIODS if ad_id in base else 0.0
        change = spend / per_period - 1 if per_period else None
        ad = ads.get(ad_id, {})
        if spend < limits.min_spend or (change is not None and change < SCALING) or not ad.get("classified"):
            continue
        checks = dimension_checks(ad.get("congruence_components"))
        problems = [f"{c.dimension} {c.status}" for c in checks if c.status != "aligned"]
        score = ad.get("congruence_score")
        missing = any(c.status == "missing" for c in checks)
        if not missing and (score is None or score >= LOW_CONGRUENCE):
            continue
        found.append(
            ScalingCongruence(
                meta_ad_id=ad_id,
                ad_name=str(row["ad_name"]),
                spend=round(spend, 2),
                baseline_period_spend=round(per_period, 2),
                spend_change=change,
                congruence_score=None if score is None else float(score),
                problems=", ".join(problems),
            )
        )
    found.sort(key=lambda c: (-(c.spend_change if c.spend_change is not None else 1e9), c.meta_ad_id))
    return found


# -- pushed to Slack (the `briefing` job) --------------------------------------------------------


class BriefingPosted(BaseModel):
    brand: str
    period: Period
    channel: str
    ts: str
    nothing_changed: bool
    summary: str


async def post_briefing(
    db: Database,
    settings: Settings,
    *,
    brand_id: UUID,
    period: Period,
    channel: str,
    today: date | None = None,
) -> BriefingPosted:
    """Compute the brand's briefing as the service role and post it to `channel` (Block Kit). Without
    Slack configured this fails at once; a brand with no spend in the period gets a one-line post.
    `today` defaults to the brand's, in its accounts' timezone."""
    if not slack_configured(settings):
        raise SlackNotConfigured()
    with shown_in(Money()):  # the brand's currency, for this briefing only (brand_by_id sets it)
        async with db.as_service() as conn:
            brand = await brand_by_id(conn, brand_id)
            today = today or local_today(datetime.now(UTC), brand.timezone)
            try:
                found: Briefing | None = await briefing(conn, brand=brand, period=period, today=today)
            except NoData as quiet:
                found, text, blocks = None, quiet.message, [wording.section(quiet.message)]
        if found is not None:
            text, blocks = found.as_text(), found.as_slack_blocks()
    ts = await post(settings, channel=channel, text=text, blocks=blocks)
    return BriefingPosted(
        brand=brand.name,
        period=period,
        channel=channel,
        ts=ts,
        nothing_changed=found is None or found.nothing_changed,
        summary=f"Posted the {brand.name} briefing ({'yesterday' if period == 'day' else 'last 7 days'}) to"
        f" {channel}.",
    )
