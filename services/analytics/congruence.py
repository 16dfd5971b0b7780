"""Ad ↔ landing page congruence: per ad and per dimension, and across the brand."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from core.errors import NoData, NotFound
from db.pool import Conn
from services.models import (
    BrandRef,
    WindowInfo,
    latest_classification_sql,
    per_ad_sums_sql,
    window_scan,
)
from services.money import InCurrency
from services.presentable import Column, Figure, Presentable, Table, hover_value, layout, table_of
from services.windows import Window

DIMENSIONS = ("product", "offer", "angle", "benefits", "claims", "audience", "voice_tone")
Status = Literal["aligned", "weak", "missing"]


class DimensionCheck(BaseModel):
    dimension: str
    status: Status
    ad: str
    landing_page: str
    note: str


class AdCongruence(BaseModel):
    meta_ad_id: str
    ad_name: str
    format: str
    spend: float
    congruence_score: float | None
    landing_page_url: str | None
    dimensions: list[DimensionCheck]


class CongruenceCheckResult(InCurrency, Presentable):
    brand: str
    window: WindowInfo
    ads: list[AdCongruence]
    unclassified_ads: list[str]
    summary: str

    def as_tables(self) -> list[Table]:
        dims = [d.dimension for d in self.ads[0].dimensions] if self.ads else []
        rows = [[a.ad_name, a.meta_ad_id, a.spend, a.congruence_score, *(d.status for d in a.dimensions)]
                for a in self.ads]  # fmt: skip
        columns = ["ad_name", "meta_ad_id", "spend", "score", *dims]
        tables = [Table(f"Congruence per ad — {self.brand}", columns, rows)]
        if len(self.ads) == 1:
            fields = ["dimension", "status", "ad", "landing_page", "note"]
            tables.append(table_of("Per dimension", self.ads[0].dimensions, fields))
        return tables


_ADS_SQL = f"""
with per_ad as ({per_ad_sums_sql()}),
cls as ({latest_classification_sql("c.meta_ad_id, c.congruence_score, c.congruence_components, c.landing_page_id")})
select a.meta_ad_id, a.name as ad_name, a.format, coalesce(pa.spend, 0) as spend,
       cls.meta_ad_id is not null as classified, cls.congruence_score, cls.congruence_components,
       lp.url as landing_page_url
from meta_ads a
left join per_ad pa on pa.meta_ad_id = a.meta_ad_id
left join cls on cls.meta_ad_id = a.meta_ad_id
left join brand_landing_pages lp on lp.id = cls.landing_page_id
where a.brand_id = %(brand_id)s
"""


def dimension_checks(components: list[dict[str, Any]] | None) -> list[DimensionCheck]:
    by_name = {c.get("dimension"): c for c in components or []}
    checks = []
    for name in DIMENSIONS:
        c = by_name.get(name)
        if c is None:
            checks.append(
                DimensionCheck(dimension=name, status="missing", ad="", landing_page="", note="not assessed")
            )
        else:
            checks.append(
                DimensionCheck(
                    dimension=name,
                    status=c.get("status", "missing"),
                    ad=str(c.get("ad") or ""),
                    landing_page=str(c.get("landing_page") or ""),
                    note=str(c.get("note") or ""),
                )
            )
    return checks


def _ad(row: dict[str, Any]) -> AdCongruence:
    return AdCongruence(
        meta_ad_id=row["meta_ad_id"],
        ad_name=row["ad_name"],
        format=row["format"],
        spend=round(float(row["spend"]), 2),
        congruence_score=row["congruence_score"],
        landing_page_url=row["landing_page_url"],
        dimensions=dimension_checks(row["congruence_components"]),
    )


async def congruence_check(
    conn: Conn, *, brand: BrandRef, window: Window, ad: str | None = None, limit: int = 10
) -> CongruenceCheckResult:
    """Per-dimension congruence for one ad, or for the brand's top spenders in the window."""
    params = {"brand_id": brand.id, "since": window.since, "until": window.until}
    if ad:
        cur = await window_scan(
            conn,
            _ADS_SQL + " and (a.meta_ad_id = %(ad)s or lower(a.name) = lower(%(ad)s))",
            {**params, "ad": ad.strip()},
        )
        rows = await cur.fetchall()
        if not rows:
            raise NotFound(f"No ad '{ad}' for {brand.name}. Use the ad's Meta ID or its exact name.")
    else:
        cur = await window_scan(
            conn,
            _ADS_SQL + " and pa.spend > 0 order by pa.spend desc, a.meta_ad_id limit %(limit)s",
            {**params, "limit": limit},
        )
        rows = await cur.fetchall()
        if not rows:
            raise NoData(f"No spend for {brand.name} in {window.described}.")
    checked = [_ad(r) for r in rows if r["classified"]]
    unclassified = [f"{r['ad_name']} ({r['meta_ad_id']})" for r in rows if not r["classified"]]
    if ad and not checked:
        summary = f"'{rows[0]['ad_name']}' is not classified yet, so there is no congruence to check."
    else:
        weak_spots = [
            f"{a.ad_name}: {', '.join(d.dimension + ' ' + d.status for d in a.dimensions if d.status != 'aligned')}"
            for a in checked
            if any(d.status != "aligned" for d in a.dimensions)
        ]
        scope = f"'{checked[0].ad_name}'" if ad else f"the top {len(rows)} ads by spend in {window.label}"
        summary = f"Congruence of {scope} for {brand.name} with their landing pages. "
        summary += (
            ("Gaps — " + "; ".join(weak_spots[:5]) + ".") if weak_spots else "Every dimension is aligned."
        )
        if unclassified:
            summary += f" Not classified yet (no congruence data): {', '.join(unclassified)}."
    return CongruenceCheckResult(
        brand=brand.name,
        window=WindowInfo.of(window),
        ads=checked,
        unclassified_ads=unclassified,
        summary=summary,
    )


class DimensionSummary(BaseModel):
    dimension: str
    aligned: int
    weak: int
    missing: int
    aligned_pct: float | None


class CongruenceSummaryResult(InCurrency, Presentable):
    brand: str
    window: WindowInfo
    classified_ads: int
    unclassified_ads: int
    average_score: float | None
    dimensions: list[DimensionSummary]
    summary: str

    def as_tables(self) -> list[Table]:
        columns = ("dimension", "aligned", "weak", "missing", Column("aligned_pct", "whole_percent"))
        title = f"Congruence by dimension — {self.brand}, {self.window.label}"
        return [table_of(title, self.dimensions, columns)]

    def as_charts(self) -> list[Figure]:
        return [congruence_chart(self)] if self.classified_ads else []


_STATUS_COLOURS = {"aligned": "#2e7d32", "weak": "#f9a825", "missing": "#c62828"}


def congruence_chart(result: CongruenceSummaryResult) -> Figure:
    """Aligned / weak / missing per dimension, stacked."""
    names = [d.dimension for d in result.dimensions]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": [getattr(d, status) for d in result.dimensions],
                "name": status,
                "marker": {"color": colour},
                "hovertemplate": f"%{{x}}<br>{status}: {hover_value('integer', 'y')} ads<extra></extra>",
            }
            for status, colour in _STATUS_COLOURS.items()
        ],
        "layout": layout(
            f"Congruence by dimension — {result.brand}, {result.window.label}",
            barmode="stack",
            yaxis={"title": {"text": "Ads"}},
        ),
    }


async def congruence_summary(conn: Conn, *, brand: BrandRef, window: Window) -> CongruenceSummaryResult:
    """Aligned / weak / missing counts per dimension across the brand's ads with spend in the window."""
    # congruence_pairs: each classification's components as [[dimension, status], ...] (generated;
    # the brand index covers it). Ads sharing a pattern are counted once per pattern, then the
    # patterns are taken apart: the same counts as taking every ad's components apart.
    sql = f"""
    with per_ad as ({per_ad_sums_sql()}),
    cls as ({latest_classification_sql("c.meta_ad_id, c.congruence_pairs, c.congruence_score")}),
    live as materialized (
      select pa.meta_ad_id, cls.congruence_pairs, cls.congruence_score, cls.meta_ad_id is not null as classified
      from per_ad pa left join cls on cls.meta_ad_id = pa.meta_ad_id
      where pa.spend > 0
    ),
    patterns as (
      select live.congruence_pairs, count(*) as ads from live where live.classified group by 1
    ),
    comps as (
      select c->>0 as dimension, c->>1 as status, patterns.ads
      from patterns, jsonb_array_elements(patterns.congruence_pairs::jsonb) c
    ),
    totals as (
      select count(*) filter (where classified) as classified_ads,
             count(*) filter (where not classified) as unclassified_ads,
             avg(congruence_score) filter (where classified) as average_score
      from live
    )
    select totals.*,
           (select coalesce(json_agg(x), '[]') from (
              select dimension, status, sum(ads) as n from comps group by 1, 2) x) as counts
    from totals
    """
    cur = await window_scan(conn, sql, {"brand_id": brand.id, "since": window.since, "until": window.until})
    row = await cur.fetchone()
    assert row is not None
    classified, unclassified = int(row["classified_ads"]), int(row["unclassified_ads"])
    if classified + unclassified == 0:
        raise NoData(f"No spend for {brand.name} in {window.described}.")
    counts: dict[tuple[str, str], int] = {(c["dimension"], c["status"]): int(c["n"]) for c in row["counts"]}
    dims = []
    for name in DIMENSIONS:
        aligned, weak = counts.get((name, "aligned"), 0), counts.get((name, "weak"), 0)
        # An ad whose classification lacks this dimension counts as missing.
        missing = classified - aligned - weak
        dims.append(
            DimensionSummary(
                dimension=name,
                aligned=aligned,
                weak=weak,
                missing=missing,
                aligned_pct=aligned / classified if classified else None,
            )
        )
    avg = float(row["average_score"]) if row["average_score"] is not None else None
    worst = sorted(dims, key=lambda d: d.aligned_pct if d.aligned_pct is not None else 1.0)[:2]
    if classified:
        summary = (
            f"Congruence for {brand.name} across {classified} classified ads with spend in {window.described}"
            f": average score {'n/a' if avg is None else f'{avg:.2f}'} (aligned = 1, weak = 0.5, missing = 0, "
            f"averaged over {len(DIMENSIONS)} dimensions). Weakest: "
            + ", ".join(
                f"{d.dimension} ({d.aligned} aligned, {d.weak} weak, {d.missing} missing)" for d in worst
            )
            + "."
        )
    else:
        summary = (
            f"None of the {unclassified} ads with spend for {brand.name} in {window.label} is classified yet."
        )
    if unclassified:
        summary += f" {unclassified} ads with spend are not classified yet and are not counted."
    return CongruenceSummaryResult(
        brand=brand.name,
        window=WindowInfo.of(window),
        classified_ads=classified,
        unclassified_ads=unclassified,
        average_score=avg,
        dimensions=dims,
        summary=summary,
    )
