"""Result models shared by several services."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any
from uuid import UUID

from psycopg import AsyncCursor
from psycopg.rows import DictRow
from pydantic import BaseModel

from db.pool import Conn
from services.metrics import all_ratios
from services.money import DEFAULT_CURRENCY, DEFAULT_LOCALE, Money
from services.windows import Window


class BrandRef(BaseModel):
    id: UUID
    name: str
    organization_id: UUID
    currency: str | None = None
    """The brand's reporting currency, from its accounts (None before any data came in: dollars shown)."""
    timezone: str | None = None
    """The IANA timezone its accounts report days in (None: UTC)."""
    locale: str = DEFAULT_LOCALE
    """Its organization's locale, for separators."""

    @property
    def money(self) -> Money:
        return Money(self.currency or DEFAULT_CURRENCY, self.locale)


class WindowInfo(BaseModel):
    since: date
    until: date
    days: int
    label: str

    @classmethod
    def of(cls, window: Window) -> WindowInfo:
        return cls(since=window.since, until=window.until, days=window.days, label=window.label)


class AdMetrics(BaseModel):
    """One ad's figures over the window: summed raw counts and the ratios built from them."""

    meta_ad_id: str
    ad_name: str
    format: str
    spend: float
    impressions: int
    link_clicks: int
    purchases: int
    purchase_value: float
    video_3s_views: int
    video_thruplays: int
    ctr: float | None
    cpc: float | None
    cpm: float | None
    cpa: float | None
    roas: float | None
    hook_rate: float | None
    hold_rate: float | None
    thruplay_rate: float | None

    @classmethod
    def from_sums(cls, row: dict[str, Any]) -> AdMetrics:
        """Build from a row of summed counts (SQL `sum` results, possibly via JSON)."""
        return cls(
            meta_ad_id=str(row["meta_ad_id"]),
            ad_name=str(row.get("ad_name") or row.get("name") or ""),
            format=str(row.get("format") or "image"),
            spend=round(float(row["spend"] or 0), 2),
            impressions=int(row["impressions"] or 0),
            link_clicks=int(row["link_clicks"] or 0),
            purchases=int(row["purchases"] or 0),
            purchase_value=round(float(row["purchase_value"] or 0), 2),
            video_3s_views=int(row["video_3s_views"] or 0),
            video_thruplays=int(row["video_thruplays"] or 0),
            **all_ratios(row, is_video=row.get("format") == "video"),
        )


# Memory for a transaction's per-ad work: the joins, rankings and roll-ups over one row per ad
# (20,000 for a large brand) stay in memory rather than spilling to disk in batches.
WINDOW_SCAN_WORK_MEM = "64MB"


async def window_scan(conn: Conn, sql: str, params: Mapping[str, Any]) -> AsyncCursor[DictRow]:
    """Run a window query with room for its per-ad work (`set local work_mem`): both statements in
    one round trip (a pipeline), the cursor's rows ready to fetch."""
    async with conn.pipeline():
        await conn.execute(f"set local work_mem = '{WINDOW_SCAN_WORK_MEM}'")
        cur = await conn.execute(sql, params)
    return cur


_TOTALS = (
    "spend_cents",
    "impressions",
    "link_clicks",
    "purchases",
    "purchase_value_cents",
    "video_3s_views",
    "video_thruplays",
)


def _totals_at(alias: str, exact: str, bound: str) -> str:
    """LATERAL: an ad's running totals at its last day `bound` (e.g. `<= until`), looked up only
    when the row `exact` (the ad's row on the boundary day itself) is missing."""
    return f"""left join lateral (
        select c.date, {", ".join(f"c.{t}" for t in _TOTALS)}
        from meta_ads_cumulative c
        where {exact}.meta_ad_id is null and c.meta_ad_id = a.meta_ad_id and c.date {bound}
        order by c.date desc
        limit 1) {alias} on true"""


def per_ad_sums_sql(
    *,
    brand_param: str = "brand_id",
    since_param: str = "since",
    until_param: str = "until",
    ad_columns: bool = False,
) -> str:
    """A CTE body: raw counts summed per ad over [since, until] for one brand, one row per ad with
    a daily row in the window: meta_ad_id, spend, impressions, link_clicks, purchases,
    purchase_value, video_3s_views, video_thruplays (and, with `ad_columns`, the ad's `ad_name`
    and `format`, from the meta_ads row it starts from: no second join for them).

    From the running totals in `meta_ads_cumulative` (kept by triggers on meta_ads_performance):
    an ad's sums are its totals at its last day <= until minus those at its last day < since (none:
    zero), and it has delivery in the window iff that last day <= until is >= since. Most ads of a
    live brand have rows on the boundary days themselves (`until`, `since - 1`): those come from
    two range scans of the (brand_id, date) index; only the others need a lookup of their own
    (primary key, backwards from the boundary). Either way the reads are index-only and do not
    grow with the window. Money is in whole cents, so `cents * 0.01` is exactly the sum of the
    amounts, scale 2 included (numeric); counts are bigint (a sum over the daily rows would be
    numeric: the same integers, in JSON and in every ratio, which casts to float8).
    """
    b, since, until = f"%({brand_param})s", f"%({since_param})s", f"%({until_param})s"

    def diff(total: str) -> str:
        return f"coalesce(he.{total}, hl.{total}) - coalesce(le.{total}, ll.{total}, 0)"

    extra = ",\n             a.name as ad_name, a.format, a.status" if ad_columns else ""
    return f"""
      select a.meta_ad_id,
             ({diff("spend_cents")}) * 0.01 as spend,
             {diff("impressions")} as impressions,
             {diff("link_clicks")} as link_clicks,
             {diff("purchases")} as purchases,
             ({diff("purchase_value_cents")}) * 0.01 as purchase_value,
             {diff("video_3s_views")} as video_3s_views,
             {diff("video_thruplays")} as video_thruplays{extra}
      from meta_ads a
      left join meta_ads_cumulative he
        on he.brand_id = {b} and he.date = {until} and he.meta_ad_id = a.meta_ad_id
      left join meta_ads_cumulative le
        on le.brand_id = {b} and le.date = {since}::date - 1 and le.meta_ad_id = a.meta_ad_id
      {_totals_at("hl", "he", f"<= {until}")}
      {_totals_at("ll", "le", f"< {since}")}
      where a.brand_id = {b} and coalesce(he.date, hl.date) >= {since}
    """


def latest_classification_sql(columns: str = "c.*") -> str:
    """A CTE body: each ad's latest classification for one brand, only the `columns` asked for.

    Naming the columns keeps the DISTINCT ON and the hash built from it narrow (a classification
    row carries a transcript, a storyboard and more JSON than most callers read).
    """
    return f"""
      select distinct on (c.meta_ad_id) {columns}
      from ad_creative_classifications c
      where c.brand_id = %(brand_id)s
      order by c.meta_ad_id, c.classified_at desc
"""


LATEST_CLASSIFICATION_SQL = latest_classification_sql()
