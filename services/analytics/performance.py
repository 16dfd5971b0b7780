"""Top and bottom performers, with the brand's own baseline per format."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from core.errors import NoData
from db.pool import Conn
from services.metrics import RATIOS, all_ratios, format_metric, formula, is_higher_better, ratio_sql
from services.models import AdMetrics, BrandRef, WindowInfo, per_ad_sums_sql, window_scan
from services.money import InCurrency, format_money
from services.presentable import Column, Presentable, Table, in_words, table_of
from services.windows import Window


class FormatBaseline(BaseModel):
    """The brand's cohort figures for one format: ratios of the sums over all its ads in the window."""

    format: str
    ads: int
    spend: float
    ctr: float | None
    cpc: float | None
    cpm: float | None
    cpa: float | None
    roas: float | None
    hook_rate: float | None
    hold_rate: float | None
    thruplay_rate: float | None


class PerformerRow(AdMetrics):
    vs_baseline: float | None
    """The ad's sort metric divided by its format's baseline (1.0 = on par); None when n/a."""
    status: str | None = None
    """Meta's status as last stored: 'active', 'paused' (changed here at once by /pause_ads), …"""


class AdPerformanceResult(InCurrency, Presentable):
    brand: str
    window: WindowInfo
    sort: str
    order: Literal["top", "bottom"]
    formula: str
    min_spend: float
    ads_with_spend: int
    excluded_below_min_spend: int
    total_spend: float
    baselines: list[FormatBaseline]
    rows: list[PerformerRow]
    summary: str

    def as_tables(self) -> list[Table]:
        metric = [self.sort] if self.sort not in ("spend", "roas", "cpa", "ctr") else []
        columns: list[str | Column] = ["ad_name", "meta_ad_id", "format", "spend", *metric,
                                       Column("vs_baseline", "ratio"), "roas", "cpa", "ctr", "hook_rate", "purchases", "status"]  # fmt: skip
        title = f"{self.order.title()} ads by {in_words(self.sort)} — {self.brand}, {self.window.label}"
        baseline = ["format", "ads", "spend", "roas", "cpa", "ctr", "hook_rate", "hold_rate"]
        return [
            table_of(title, self.rows, columns),
            table_of("Brand baseline per format", self.baselines, baseline),
        ]


def _sort_sql(sort: str, order: str) -> str:
    better_desc = is_higher_better(sort)
    descending = better_desc if order == "top" else not better_desc
    direction = "desc" if descending else "asc"
    return f"{ratio_sql(sort, alias='j')} {direction} nulls last, j.spend desc, j.meta_ad_id"


async def ad_performance(
    conn: Conn,
    *,
    brand: BrandRef,
    window: Window,
    sort: str = "roas",
    order: Literal["top", "bottom"] = "top",
    min_spend: float = 50.0,
    limit: int = 10,
) -> AdPerformanceResult:
    """Rank the brand's ads by `sort` over the window, gated by a minimum spend."""
    video_only = sort in RATIOS and RATIOS[sort].video_only
    sql = f"""
    with per_ad as ({per_ad_sums_sql(ad_columns=True)}),
    j as materialized (
      select pa.*, pa.spend >= %(min_spend)s as eligible
      from per_ad pa
    ),
    base as (
      select j.format, count(*) as ads, sum(j.spend) as spend, sum(j.impressions) as impressions,
             sum(j.link_clicks) as link_clicks, sum(j.purchases) as purchases,
             sum(j.purchase_value) as purchase_value, sum(j.video_3s_views) as video_3s_views,
             sum(j.video_thruplays) as video_thruplays,
             count(*) filter (where not j.eligible) as below_min
      from j group by j.format
    ),
    ranked as (
      select j.* from j
      where j.eligible {"and j.format = 'video'" if video_only else ""}
      order by {_sort_sql(sort, order)}
      limit %(limit)s
    )
    select (select coalesce(json_agg(base), '[]') from base) as baselines,
           (select coalesce(json_agg(ranked), '[]') from ranked) as rows
    """
    params = {
        "brand_id": brand.id,
        "since": window.since,
        "until": window.until,
        "min_spend": min_spend,
        "limit": limit,
    }
    cur = await window_scan(conn, sql, params)
    result = await cur.fetchone()
    assert result is not None
    base_rows: list[dict[str, Any]] = result["baselines"]
    total_spend = round(sum(float(b["spend"] or 0) for b in base_rows), 2)
    ads_with_spend = sum(int(b["ads"]) for b in base_rows)
    if not base_rows or total_spend == 0:
        raise NoData(f"No spend for {brand.name} in {window.described}.")
    baselines = [
        FormatBaseline(
            format=b["format"],
            ads=int(b["ads"]),
            spend=round(float(b["spend"]), 2),
            **all_ratios(b, is_video=b["format"] == "video"),
        )
        for b in sorted(base_rows, key=lambda b: (-float(b["spend"]), b["format"]))
    ]
    by_format = {b.format: b for b in baselines}
    rows: list[PerformerRow] = []
    for raw in result["rows"]:
        ad = AdMetrics.from_sums(raw)
        value = getattr(ad, sort) if sort in RATIOS else float(raw[sort])
        base_value = getattr(by_format[ad.format], sort, None) if sort in RATIOS else None
        vs = value / base_value if value is not None and base_value else None
        rows.append(PerformerRow(**ad.model_dump(), vs_baseline=vs, status=raw.get("status")))
    excluded = sum(int(b["below_min"]) for b in base_rows)
    summary = _summary(brand, window, sort, order, min_spend, rows, excluded, by_format, video_only)
    return AdPerformanceResult(
        brand=brand.name,
        window=WindowInfo.of(window),
        sort=sort,
        order=order,
        formula=formula(sort),
        min_spend=min_spend,
        ads_with_spend=ads_with_spend,
        excluded_below_min_spend=excluded,
        total_spend=total_spend,
        baselines=baselines,
        rows=rows,
        summary=summary,
    )


def _summary(
    brand: BrandRef,
    window: Window,
    sort: str,
    order: str,
    min_spend: float,
    rows: list[PerformerRow],
    excluded: int,
    by_format: dict[str, FormatBaseline],
    video_only: bool,
) -> str:
    scope = "video ads" if video_only else "ads"
    gate = f"{excluded} ad{'s' if excluded != 1 else ''} under {format_money(min_spend, whole=True)} spend left out."
    if not rows:
        return (
            f"No {scope} for {brand.name} reached {format_money(min_spend, whole=True)} spend in {window.label}. {gate} "
            "Lower min_spend to see them."
        )
    best = rows[0]
    value = getattr(best, sort) if sort in RATIOS else getattr(best, sort, None)
    base = by_format.get(best.format)
    base_text = ""
    if base is not None and sort in RATIOS:
        base_text = f" vs the brand's {best.format} baseline of {format_metric(sort, getattr(base, sort))}"
    word = "Top" if order == "top" else "Bottom"
    return (
        f"{word} {len(rows)} {scope} for {brand.name} by {sort} in {window.described}"
        f". #1 is '{best.ad_name}' at {format_metric(sort, value)}"
        f"{base_text} on {format_money(best.spend)} spend. {gate} Formula: {formula(sort)}."
    )
