"""Creative fatigue: ads (or hooks) whose frequency rises while hook rate or CTR falls.

One rule serves the `fatigue` tool (a period's second half against its first: frequency builds inside
the period asked about, so nothing outside it is read) and the briefing (its period against the one
before): frequency up >= 10 % while hook rate (or CTR) falls >= 15 %. Every figure is a ratio of raw
counts summed over its half; a zero denominator is n/a and never flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel

from core.errors import InvalidArgument, NoData
from db.pool import Conn
from services.metrics import compute_ratio, format_metric, format_number, formula
from services.models import BrandRef, WindowInfo, latest_classification_sql, per_ad_sums_sql, window_scan
from services.money import InCurrency, format_money
from services.presentable import Column, Presentable, Table
from services.windows import Window

FREQUENCY_RISE = 0.10
"""Fatigue: frequency up 10 % or more ..."""
DROP = 0.15
"""... while hook rate (or CTR) is down 15 % or more (relative)."""
MIN_IMPRESSIONS = 1_000
"""The fatigue tool judges an ad or hook only with this many impressions (and min_spend) in each half."""
FREQUENCY_FORMULA = (
    "frequency = impressions / reach (reach summed over the daily rows: a person reached on two days"
    " counts twice)"
)
Signal = Literal["hook_rate", "ctr"]
By = Literal["ad", "hook"]
_SIGNAL_WORDS = {"hook_rate": "hook rate", "ctr": "CTR"}


class Trend(BaseModel):
    """Frequency, hook rate and CTR in a later period against an earlier one; changes are relative."""

    previous_frequency: float | None
    frequency: float | None
    frequency_change: float | None
    previous_hook_rate: float | None
    hook_rate: float | None
    hook_rate_change: float | None
    previous_ctr: float | None
    ctr: float | None
    ctr_change: float | None


def change(now: float | None, before: float | None) -> float | None:
    """now / before - 1; None when either is n/a or before is zero."""
    return now / before - 1 if now is not None and before else None


def _video(sums: Mapping[str, Any]) -> dict[str, Any]:
    # Hook rate is over video impressions: a hook's sums carry them; an ad's are its own if it is a video.
    default = sums["impressions"] if sums.get("format", "video") == "video" else 0
    return {"impressions": sums.get("video_impressions", default), "video_3s_views": sums["video_3s_views"]}


def trend(now: Mapping[str, Any], before: Mapping[str, Any], *, reach: int, previous_reach: int) -> Trend:
    """The trend between two rows of summed counts (`reach`: daily reach summed over each period)."""
    freq = int(now["impressions"]) / reach if reach else None
    prev_freq = int(before["impressions"]) / previous_reach if previous_reach else None
    rate, prev_rate = compute_ratio("hook_rate", _video(now)), compute_ratio("hook_rate", _video(before))
    ctr, prev_ctr = compute_ratio("ctr", now), compute_ratio("ctr", before)
    return Trend(
        previous_frequency=prev_freq,
        frequency=freq,
        frequency_change=change(freq, prev_freq),
        previous_hook_rate=prev_rate,
        hook_rate=rate,
        hook_rate_change=change(rate, prev_rate),
        previous_ctr=prev_ctr,
        ctr=ctr,
        ctr_change=change(ctr, prev_ctr),
    )


def fatigued_by(t: Trend, *, signals: tuple[Signal, ...] = ("hook_rate", "ctr")) -> list[Signal]:
    """The signals that fell by DROP or more while frequency rose by FREQUENCY_RISE or more (none: no fatigue)."""
    if t.frequency_change is None or t.frequency_change < FREQUENCY_RISE:
        return []
    changes: dict[Signal, float | None] = {"hook_rate": t.hook_rate_change, "ctr": t.ctr_change}
    return [s for s in signals if (c := changes[s]) is not None and c <= -DROP]


def thresholds_text(signals: tuple[Signal, ...] = ("hook_rate", "ctr")) -> str:
    """'frequency up ≥ 10 % and hook rate or CTR down ≥ 15 %'."""
    falling = " or ".join(_SIGNAL_WORDS[s] for s in signals)
    return f"frequency up ≥ {FREQUENCY_RISE:.0%} and {falling} down ≥ {DROP:.0%}".replace("%", " %")


def primary_hook(cls_hooks: Mapping[str, Any] | None) -> str | None:
    """An ad's primary hook text: spoken, else overlay, else visual (as services.analytics.hooks ranks them)."""
    for kind in ("spoken", "overlay", "visual"):
        hook = (cls_hooks or {}).get(kind)
        if isinstance(hook, dict) and hook.get("text"):
            return str(hook["text"])
    return None


async def per_ad_sums(conn: Conn, *, brand_id: Any, window: Window) -> dict[str, dict[str, Any]]:
    """Each ad's raw counts summed over the window (with its name and format), by Meta ad id."""
    params = {"brand_id": brand_id, "since": window.since, "until": window.until}
    cur = await window_scan(conn, per_ad_sums_sql(ad_columns=True), params)
    return {str(r["meta_ad_id"]): dict(r) for r in await cur.fetchall()}


async def reach_by_ad(
    conn: Conn, *, brand_id: Any, current: Window, previous: Window
) -> dict[str, tuple[int, int]]:
    """Each ad's daily reach summed over (current, previous): reach is not in the running totals (it
    does not add up across days)."""
    cur = await conn.execute(
        "select meta_ad_id, coalesce(sum(reach) filter (where date between %(c_since)s and %(c_until)s), 0)"
        " as current, coalesce(sum(reach) filter (where date between %(p_since)s and %(p_until)s), 0) as previous"
        " from meta_ads_performance where brand_id = %(brand_id)s"
        " and date between least(%(p_since)s, %(c_since)s) and greatest(%(p_until)s, %(c_until)s)"
        " group by meta_ad_id",
        {
            "brand_id": brand_id,
            "c_since": current.since,
            "c_until": current.until,
            "p_since": previous.since,
            "p_until": previous.until,
        },
    )
    return {str(r["meta_ad_id"]): (int(r["current"]), int(r["previous"])) for r in await cur.fetchall()}


# -- the fatigue tool ------------------------------------------------------------------------------


class FatigueRow(Trend):
    name: str
    """The ad's name, or the hook's text."""
    meta_ad_id: str | None
    hook: str | None
    """By ad: the ad's primary hook."""
    ads: int
    spend: float
    """Over the whole period."""
    falling: str
    """What fell: 'hook rate', 'CTR' or 'hook rate and CTR'."""


class FatigueResult(InCurrency, Presentable):
    brand: str
    by: By
    window: WindowInfo
    period: str
    """The window as the answer says it: 'last 14 days (2026-11-21 to 2026-12-04)'."""
    first_half: WindowInfo
    second_half: WindowInfo
    thresholds: str
    min_spend: float
    min_impressions: int
    judged: int
    below_floor: int
    without_hook: int
    rows: list[FatigueRow]
    formulas: list[str]
    summary: str

    def as_tables(self) -> list[Table]:
        first = "Ad" if self.by == "ad" else "Hook"
        ids = Column("Ad ID", "ad_id") if self.by == "ad" else Column("Ads", "integer")
        columns = [Column(first), ids, Column("Spend", "money")]
        if self.by == "ad":
            columns.insert(1, Column("Hook"))
        columns += [
            Column("Frequency before", "decimal"), Column("Frequency after", "decimal"),
            Column("Frequency change", "change"),
            Column("Hook rate before", "percent"), Column("Hook rate after", "percent"),
            Column("Hook rate change", "change"),
            Column("CTR before", "percent"), Column("CTR after", "percent"), Column("CTR change", "change"),
            Column("Falling"),
        ]  # fmt: skip
        values = []
        for r in self.rows:
            lead: list[Any] = [r.name, r.hook, r.meta_ad_id] if self.by == "ad" else [r.name, r.ads]
            values.append(
                [
                    *lead, r.spend,
                    r.previous_frequency, r.frequency, r.frequency_change,
                    r.previous_hook_rate, r.hook_rate, r.hook_rate_change,
                    r.previous_ctr, r.ctr, r.ctr_change,
                    r.falling,
                ]
            )  # fmt: skip
        title = f"Fatiguing {self.by}s — {self.brand}, {self.second_half.label} vs {self.first_half.label}"
        return [Table(title, columns, values)]


def _decimal(value: float | None) -> str:
    return format_number("decimal", value)


def _signed(value: float | None) -> str:
    return format_number("change", value)


def _days(n: int) -> str:
    return "day" if n == 1 else f"{n} days"


def halves(window: Window) -> tuple[Window, Window]:
    """The window's first and second half (the second gets the odd day: it is the latest news)."""
    if window.days < 2:
        raise InvalidArgument(
            "Fatigue compares the first half of a period with the second, so it needs at least 2 days;"
            f" {window.since} is one. Try days:14."
        )
    first_days = window.days // 2
    middle = window.since + timedelta(days=first_days)
    first = Window(since=window.since, until=middle - timedelta(days=1), label=f"first {_days(first_days)}")
    second = Window(since=middle, until=window.until, label=f"last {_days(window.days - first_days)}")
    return first, second


_SUMMED = ("spend", "impressions", "link_clicks", "video_impressions", "video_3s_views", "reach")


def _empty() -> dict[str, Any]:
    return dict.fromkeys(_SUMMED, 0)


def _add(into: dict[str, Any], row: Mapping[str, Any] | None, reach: int) -> None:
    if row is not None:
        into["spend"] += float(row["spend"] or 0)
        into["impressions"] += int(row["impressions"])
        into["link_clicks"] += int(row["link_clicks"])
        into["video_3s_views"] += int(row["video_3s_views"])
        into["video_impressions"] += int(row["impressions"]) if row["format"] == "video" else 0
    into["reach"] += reach


async def _hooks_of(conn: Conn, brand: BrandRef, ids: list[str]) -> dict[str, str]:
    cur = await conn.execute(
        f"with cls as ({latest_classification_sql('c.meta_ad_id, c.hooks')})"
        " select meta_ad_id, hooks from cls where meta_ad_id = any(%(ids)s)",
        {"brand_id": brand.id, "ids": ids},
    )
    found = {str(r["meta_ad_id"]): primary_hook(r["hooks"]) for r in await cur.fetchall()}
    return {ad: hook for ad, hook in found.items() if hook}


async def fatigue(
    conn: Conn,
    *,
    brand: BrandRef,
    window: Window,
    by: By = "ad",
    min_spend: float = 50.0,
    min_impressions: int = MIN_IMPRESSIONS,
) -> FatigueResult:
    """The brand's ads (or primary hooks) whose frequency rose while hook rate or CTR fell, from the
    window's first half to its second (the caller's connection: RLS)."""
    first, second = halves(window)
    before, now = [await per_ad_sums(conn, brand_id=brand.id, window=w) for w in (first, second)]
    if not any(float(r["spend"] or 0) > 0 for r in (*before.values(), *now.values())):
        raise NoData(f"No spend for {brand.name} in {window.described}: nothing to check for fatigue.")
    reach = await reach_by_ad(conn, brand_id=brand.id, current=second, previous=first)
    ids = sorted(set(before) | set(now))
    hooks = await _hooks_of(conn, brand, ids)
    # One unit per ad, or per primary hook (its ads' counts summed; the same words in any case).
    units: dict[str, tuple[dict[str, Any], dict[str, Any], list[str]]] = {}
    without_hook = 0
    for ad_id in ids:
        hook = hooks.get(ad_id)
        if by == "hook" and hook is None:
            without_hook += 1
            continue
        key = ad_id if by == "ad" else " ".join(str(hook).split()).casefold()
        a, b, members = units.setdefault(key, (_empty(), _empty(), []))
        members.append(ad_id)
        reach_now, reach_before = reach.get(ad_id, (0, 0))
        _add(a, before.get(ad_id), reach_before)
        _add(b, now.get(ad_id), reach_now)
    rows, judged = [], 0
    for a, b, members in units.values():
        if (
            min(a["spend"], b["spend"]) < min_spend
            or min(a["impressions"], b["impressions"]) < min_impressions
        ):
            continue
        judged += 1
        t = trend(b, a, reach=b["reach"], previous_reach=a["reach"])
        falling = fatigued_by(t)
        if not falling:
            continue
        lead = max(members, key=lambda m: (float((now.get(m) or {}).get("spend") or 0), m))
        name = str((now.get(lead) or before[lead])["ad_name"])
        rows.append(
            FatigueRow(
                **t.model_dump(),
                name=name if by == "ad" else hooks[lead],
                meta_ad_id=lead if by == "ad" else None,
                hook=hooks.get(lead) if by == "ad" else None,
                ads=len(members),
                spend=round(a["spend"] + b["spend"], 2),
                falling=" and ".join(_SIGNAL_WORDS[s] for s in falling),
            )
        )
    rows.sort(key=lambda r: (-r.spend, r.name))
    result = FatigueResult(
        brand=brand.name,
        by=by,
        window=WindowInfo.of(window),
        period=window.described,
        first_half=WindowInfo.of(first),
        second_half=WindowInfo.of(second),
        thresholds=thresholds_text(),
        min_spend=min_spend,
        min_impressions=min_impressions,
        judged=judged,
        below_floor=len(units) - judged,
        without_hook=without_hook,
        rows=rows,
        formulas=[FREQUENCY_FORMULA, formula("hook_rate"), formula("ctr")],
        summary="",
    )
    result.summary = _summary(result)
    return result


def _one(r: FatigueRow) -> str:
    said = [
        f"frequency {_decimal(r.previous_frequency)} → {_decimal(r.frequency)} ({_signed(r.frequency_change)})"
    ]
    if r.hook_rate_change is not None and r.hook_rate_change <= -DROP:
        said.append(
            f"hook rate {format_metric('hook_rate', r.previous_hook_rate)} → {format_metric('hook_rate', r.hook_rate)}"
            f" ({_signed(r.hook_rate_change)})"
        )
    if r.ctr_change is not None and r.ctr_change <= -DROP:
        said.append(
            f"CTR {format_metric('ctr', r.previous_ctr)} → {format_metric('ctr', r.ctr)} ({_signed(r.ctr_change)})"
        )
    return f"'{r.name}' ({', '.join(said)})"


def _summary(r: FatigueResult) -> str:
    unit = r.by
    second, first = r.second_half, r.first_half
    compared = (
        f"comparing the {second.label} ({second.since} to {second.until}) with the {_days(first.days)} before"
        f" ({first.since} to {first.until})"
    )
    floor = (
        f"Flagged when {r.thresholds}; only {unit}s with at least {format_money(r.min_spend, whole=True)} spend and"
        f" {r.min_impressions:,} impressions in each half are judged ({r.below_floor} below that)."
        + (f" {r.without_hook} ads without a classified hook are left out." if r.without_hook else "")
    )
    if r.judged == 0:
        return (
            f"No {unit} for {r.brand} had enough delivery in both halves of {r.period} to judge"
            f" fatigue. {floor} Try a longer period or a lower min_spend."
        )
    if not r.rows:
        return (
            f"No {unit}s for {r.brand} are fatiguing in {r.period}, {compared}: none of the"
            f" {r.judged} judged had frequency rising while hook rate or CTR fell. {floor}"
        )
    named = "; ".join(_one(row) for row in r.rows[:3])
    more = f"; and {len(r.rows) - 3} more" if len(r.rows) > 3 else ""
    verb = "is" if len(r.rows) == 1 else "are"
    return (
        f"{len(r.rows)} of {r.judged} {unit}s for {r.brand} {verb} fatiguing in {r.period}, {compared}:"
        f" {named}{more}. {floor}"
    )
