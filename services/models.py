"""Result models shared by several services."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from db.pool import Conn
from services.metrics import all_ratios
from services.windows import Window


class BrandRef(BaseModel):
    id: UUID
    name: str
    organization_id: UUID


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


# Memory for the per-ad HashAggregate of a window scan: one group of seven sums per ad, about
# 1.3 kB with numeric states, so ~25 MB for a 20,000-ad brand. With less (the server default is
# 4 MB) it spills to disk in batches and runs ~1.4x slower.
WINDOW_SCAN_WORK_MEM = "64MB"


async def prepare_window_scan(conn: Conn) -> None:
    """Give this transaction's per-ad aggregation room to stay in memory (`set local`)."""
    await conn.execute(f"set local work_mem = '{WINDOW_SCAN_WORK_MEM}'")


def per_ad_sums_sql(*, brand_param: str = "brand_id") -> str:
    """A CTE body: raw counts summed per ad over [since, until] for one brand.

    Reads only the covering index (brand_id, date) INCLUDE (...): an index-only scan once the
    table is vacuumed. Money is summed in whole cents (generated columns): sum(cents) * 0.01 is
    exactly sum(amount), scale 2 included, at a fraction of numeric aggregation's cost. Reference
    it once and unmaterialized where possible, so its rows stream straight into the join.
    """
    return f"""
      select p.meta_ad_id,
             sum(p.spend_cents) * 0.01 as spend, sum(p.impressions) as impressions,
             sum(p.link_clicks) as link_clicks, sum(p.purchases) as purchases,
             sum(p.purchase_value_cents) * 0.01 as purchase_value, sum(p.video_3s_views) as video_3s_views,
             sum(p.video_thruplays) as video_thruplays
      from meta_ads_performance p
      where p.brand_id = %({brand_param})s and p.date between %(since)s and %(until)s
      group by p.meta_ad_id
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
