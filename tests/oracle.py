"""An independent computation of the figures, in plain Python over raw rows, for tests to check against."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from db.pool import Database

COUNTS = (
    "spend",
    "impressions",
    "link_clicks",
    "purchases",
    "purchase_value",
    "video_3s_views",
    "video_thruplays",
)


def last_days(n: int, today: date | None = None) -> tuple[date, date]:
    today = today or date.today()
    return today - timedelta(days=n), today - timedelta(days=1)


async def raw_ads(db: Database, brand: str, since: date, until: date) -> dict[str, dict[str, Any]]:
    """Per ad: name, format, latest classification and the counts summed over the days in range."""
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select a.meta_ad_id, a.name, a.format from meta_ads a join brands b on b.id = a.brand_id where b.name = %s",
            (brand,),
        )
        ads = {
            r["meta_ad_id"]: {**r, **dict.fromkeys(COUNTS, 0), "days": 0, "cls": None}
            for r in await cur.fetchall()
        }
        cur = await conn.execute(
            "select p.* from meta_ads_performance p join brands b on b.id = p.brand_id where b.name = %s",
            (brand,),
        )
        for row in await cur.fetchall():
            if since <= row["date"] <= until:
                ad = ads[row["meta_ad_id"]]
                ad["days"] += 1
                for c in COUNTS:
                    ad[c] += float(row[c])
        cur = await conn.execute(
            "select c.meta_ad_id, c.hooks, c.congruence_components, c.congruence_score, c.classified_at"
            " from ad_creative_classifications c join brands b on b.id = c.brand_id where b.name = %s",
            (brand,),
        )
        for row in await cur.fetchall():
            ad = ads[row["meta_ad_id"]]
            if ad["cls"] is None or row["classified_at"] > ad["cls"]["classified_at"]:
                ad["cls"] = row
    return ads


def ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return None if den == 0 else scale * num / den


def metric(ad: dict[str, Any], name: str) -> float | None:
    video = ad["format"] == "video"
    return {
        "hook_rate": lambda: ratio(ad["video_3s_views"], ad["impressions"]) if video else None,
        "hold_rate": lambda: ratio(ad["video_thruplays"], ad["video_3s_views"]) if video else None,
        "thruplay_rate": lambda: ratio(ad["video_thruplays"], ad["impressions"]) if video else None,
        "ctr": lambda: ratio(ad["link_clicks"], ad["impressions"]),
        "cpc": lambda: ratio(ad["spend"], ad["link_clicks"]),
        "cpm": lambda: ratio(ad["spend"], ad["impressions"], 1000),
        "cpa": lambda: ratio(ad["spend"], ad["purchases"]),
        "roas": lambda: ratio(ad["purchase_value"], ad["spend"]),
    }[name]()


def primary_hook(cls: dict[str, Any] | None, hook_type: str = "any") -> dict[str, Any] | None:
    if cls is None:
        return None
    hooks = cls["hooks"] or {}
    if hook_type != "any":
        return hooks.get(hook_type)
    return hooks.get("spoken") or hooks.get("overlay") or hooks.get("visual")


def sums_by(ads: list[dict[str, Any]]) -> dict[str, float]:
    total: dict[str, float] = defaultdict(float)
    for ad in ads:
        for c in COUNTS:
            total[c] += ad[c]
    return total
