"""Tools over ad performance: the caller's brands, top and bottom performers, totals and comparisons,
fatigue."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Literal

from core.errors import InvalidArgument
from jobs.schedules import next_run
from services import brands as brand_service
from services import readiness
from services.analytics import fatigue as fatigue_service
from services.analytics import performance as performance_service
from services.analytics import totals as totals_service
from services.metrics import MetricName
from services.windows import resolve_window
from tools.common import Days, Limit, MinSpend, window_of
from tools.deps import Deps
from tools.registry import tool


@tool(
    example="/brands",
    step="Listing your brands and their data",
    help="""The data: ads, ads with spend in the last 30 days, creatives downloaded, classified ads, products,
    landing pages, reviews, dates.""",
)
async def brands(deps: Deps) -> readiness.BrandsResult:
    """Your brands: what data each has, its ad accounts' health, last and next sync, the next step (the
    exact command), and which analyses it has the data for.
    """
    async with deps.db.as_user(deps.caller) as conn:
        until = deps.today - timedelta(days=1)
        found = await readiness.brand_overview(
            conn, since=until - timedelta(days=29), until=until, now=datetime.now(UTC), next_fire=next_run
        )
        if not found.brands:
            checklist = await readiness.first_brand_checklist(conn, caller=deps.caller, shown=readiness.code)
            found.summary = checklist or found.summary
    return found


@tool(
    example='/ad_performance brand:"Acme Pets" days:30 sort:roas order:top',
    step="Ranking {order} ads by {sort} for {brand}, {window}",
    help="""Metrics are computed from raw counts summed per ad over the window. Ads under `min_spend` are
    left out of the ranking (the answer says how many).""",
)
async def ad_performance(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    sort: MetricName = "roas",
    order: Literal["top", "bottom"] = "top",
    min_spend: MinSpend = 50.0,
    limit: Limit = 10,
) -> performance_service.AdPerformanceResult:
    """Rank a brand's ads (top or bottom performers) by a metric, against the brand's baseline per format.

    Args:
        days: Last N full days (default 30); or since/until.
        order: top = best (lowest for cost metrics).
        min_spend: Minimum spend for an ad to be ranked (default 50, in the brand's currency).
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
        return await performance_service.ad_performance(
            conn, brand=brand_ref, window=window, sort=sort, order=order, min_spend=min_spend, limit=limit
        )


@tool(
    example='/summary brand:"Acme Pets" since:2026-10-01 until:2026-10-31',
    step="Adding up {brand}'s totals, {window}, against the period before",
    help="""Figures are summed raw counts over the period, ratios built from the sums (hook and hold rates
    over video ads only); a change against 0 is n/a. The previous period is the calendar month, quarter
    or year before a whole one, otherwise the same number of days just before.""",
)
async def summary(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
) -> totals_service.TotalsResult:
    """A brand's totals for a period against the previous one (spend, impressions, link clicks, purchases,
    revenue, ROAS, CPA, CTR, hook and hold rates), with the change in each.

    Args:
        days: Last N full days (default 30); or since/until.
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
        return await totals_service.brand_summary(conn, brand=brand_ref, window=window, today=deps.today)


@tool(
    example='/compare brand:"Acme Pets" since:2026-11-01 until:2026-11-30 vs_since:2026-10-01 vs_until:2026-10-31',
    step="Comparing {brand}, {window}",
    help="""Spend, impressions, link clicks, purchases, revenue, ROAS, CPA, CTR, hook and hold rates, with
    the changes; for two periods of one brand, also the 5 ads whose spend moved most and the 5 whose ROAS
    moved most. With neither vs_since/vs_until nor vs_brand, the second period is the one before (as
    /summary).""",
)
async def compare(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    vs_since: date | None = None,
    vs_until: date | None = None,
    vs_brand: str | None = None,
    min_spend: MinSpend = 50.0,
) -> totals_service.TotalsResult:
    """Compare a brand's totals over two periods, or two brands over one, with the changes and the ads that
    moved most. The second period is vs_since/vs_until, else the same for vs_brand, else the one before.

    Args:
        days: First period: last N full days (default 30); or since/until.
        vs_since: Second period's first day.
        vs_until: Its last day (default: as long as the first).
        vs_brand: Another of your brands.
        min_spend: Spend an ad needs in both periods to rank by ROAS change (default 50, in the brand's currency).
    """
    window = window_of(deps, days, since, until)
    if vs_since is None and vs_until is not None:
        raise InvalidArgument("vs_until needs a vs_since date too (vs_since:YYYY-MM-DD vs_until:YYYY-MM-DD).")
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
        other = await brand_service.resolve_brand(conn, name=vs_brand) if vs_brand else brand_ref
        if vs_since is not None:
            end = vs_until or min(vs_since + timedelta(days=window.days - 1), deps.today)
            vs_window = resolve_window(today=deps.today, since=vs_since, until=end)
        elif vs_brand:
            vs_window = window
        else:
            vs_window = totals_service.previous_period(window, today=deps.today)
        return await totals_service.compare(
            conn, brand=brand_ref, window=window, vs_brand=other, vs_window=vs_window, min_spend=min_spend
        )


@tool(
    example='/fatigue brand:"Acme Pets" days:14 by:ad',
    step="Looking for fatiguing {by}s for {brand}, {window}",
    help="""Fatiguing: frequency up 10 % or more while hook rate or CTR is down 15 % or more, from the
    period's first half to its second half (ratios of summed raw counts). Only ads (or hooks) with at
    least `min_spend` spend and 1,000 impressions in each half are judged; the answer says how many were
    left out. by:hook groups ads by their primary hook (classified ads).""",
)
async def fatigue(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    by: fatigue_service.By = "ad",
    min_spend: MinSpend = 50.0,
) -> fatigue_service.FatigueResult:
    """Which ads (or hooks) are fatiguing: frequency up while hook rate or CTR is down, from the period's
    first half to its second.

    Args:
        days: Last N full days (default 30: 15 against 15); or since/until.
        by: hook groups ads by primary hook.
        min_spend: Minimum spend in each half to be judged (default 50, in the brand's currency).
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
        return await fatigue_service.fatigue(conn, brand=brand_ref, window=window, by=by, min_spend=min_spend)
