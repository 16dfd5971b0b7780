"""Brands the caller can see: resolving a name a person typed, and what data each has."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from core.errors import Ambiguous, NotFound
from db.pool import Conn
from services.models import BrandRef
from services.presentable import Column, Presentable, Table, table_of


async def visible_brands(conn: Conn) -> list[BrandRef]:
    """Every brand the caller's organizations own (RLS decides), by name."""
    cur = await conn.execute("select id, name, organization_id from brands order by name")
    return [BrandRef(**row) for row in await cur.fetchall()]


async def brand_by_id(conn: Conn, brand_id: UUID) -> BrandRef:
    """A brand by its id (jobs name brands by id: names repeat across organizations)."""
    cur = await conn.execute("select id, name, organization_id from brands where id = %s", (brand_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"The brand {brand_id} no longer exists.")
    return BrandRef(**row)


def _quote_list(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


async def resolve_brand(conn: Conn, *, name: str) -> BrandRef:
    """The brand a person meant: an exact name (any case, any spacing); otherwise 'did you mean'."""
    wanted = " ".join(name.split()).casefold()
    brands = await visible_brands(conn)
    if not wanted:
        raise NotFound(f"Which brand? Your brands: {_quote_list([b.name for b in brands])}.")
    exact = [b for b in brands if b.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise Ambiguous(
            f"'{name}' is the name of brands in several of your organizations. "
            "Ask an admin to rename one of them."
        )
    # Names containing what was typed come first, then close spellings.
    best = [b.name for b in brands if wanted in b.name.casefold()]
    close = process.extract(
        wanted, {b.name: b.name.casefold() for b in brands}, scorer=fuzz.WRatio, limit=3, score_cutoff=70
    )
    best += [str(match[2]) for match in close if str(match[2]) not in best]
    best = best[:3]
    if best:
        if len(best) == 1:
            raise NotFound(f"No brand named '{name}'. Did you mean '{best[0]}'?")
        raise NotFound(f"No brand named '{name}'. Did you mean one of {_quote_list(best)}?")
    if not brands:
        raise NotFound(f"No brand named '{name}'. You have no brands yet.")
    raise NotFound(f"No brand named '{name}'. Your brands: {_quote_list([b.name for b in brands])}.")


class ToolReadiness(BaseModel):
    tool: str
    ready: bool
    note: str


class BrandOverview(BaseModel):
    name: str
    ads: int
    video_ads: int
    classified_ads: int
    products: int
    landing_pages: int
    reviews: int
    first_day: date | None
    last_day: date | None
    spend_last_30_days: float
    tools: list[ToolReadiness]


class BrandsResult(BaseModel, Presentable):
    brands: list[BrandOverview]
    summary: str

    def as_tables(self) -> list[Table]:
        columns = ("name", "ads", "video_ads", "classified_ads", "products", "landing_pages", "reviews",
                   "first_day", "last_day", Column("spend_last_30_days", "integer"))  # fmt: skip
        return [table_of("Brands", self.brands, columns)]


_OVERVIEW_SQL = """
select b.id, b.name,
  (select count(*) from meta_ads a where a.brand_id = b.id) as ads,
  (select count(*) from meta_ads a where a.brand_id = b.id and a.format = 'video') as video_ads,
  (select count(distinct c.meta_ad_id) from ad_creative_classifications c where c.brand_id = b.id)
    as classified_ads,
  (select count(*) from products p where p.brand_id = b.id) as products,
  (select count(*) from brand_landing_pages l where l.brand_id = b.id) as landing_pages,
  (select count(*) from amazon_reviews r where r.brand_id = b.id) as reviews,
  (select min(p.date) from meta_ads_performance p where p.brand_id = b.id) as first_day,
  (select max(p.date) from meta_ads_performance p where p.brand_id = b.id) as last_day,
  (select coalesce(sum(p.spend), 0) from meta_ads_performance p
    where p.brand_id = b.id and p.date between %(since)s and %(until)s) as spend_last_30_days
from brands b
order by b.name
"""


async def brand_overview(conn: Conn, *, since: date, until: date) -> BrandsResult:
    """The caller's brands, what data each has, and which tools can answer for it."""
    cur = await conn.execute(_OVERVIEW_SQL, {"since": since, "until": until})
    brands: list[BrandOverview] = []
    for row in await cur.fetchall():
        has_perf = row["last_day"] is not None
        classified = int(row["classified_ads"])
        ads = int(row["ads"])
        tools = [
            ToolReadiness(
                tool="ad_performance",
                ready=has_perf,
                note="daily performance present" if has_perf else "needs ad performance (import or sync)",
            ),
            ToolReadiness(
                tool="top_hooks / hook_analysis",
                ready=has_perf and classified > 0,
                note=f"{classified} of {ads} ads classified"
                if classified
                else "needs classified ads (hooks come from classification)",
            ),
            ToolReadiness(
                tool="congruence_check / congruence_summary",
                ready=classified > 0,
                note=f"{classified} of {ads} ads have congruence components"
                if classified
                else "needs classified ads with a landing page",
            ),
            ToolReadiness(
                tool="deep_analysis",
                ready=ads > 0,
                note=f"{ads} ads" if ads else "needs ads",
            ),
        ]
        brands.append(
            BrandOverview(
                name=row["name"],
                ads=ads,
                video_ads=int(row["video_ads"]),
                classified_ads=classified,
                products=int(row["products"]),
                landing_pages=int(row["landing_pages"]),
                reviews=int(row["reviews"]),
                first_day=row["first_day"],
                last_day=row["last_day"],
                spend_last_30_days=round(float(row["spend_last_30_days"]), 2),
                tools=tools,
            )
        )
    if not brands:
        summary = "You have no brands yet. Import an Ads Manager export: viraltracker import meta-csv FILE --brand NAME"
    else:
        summary = f"You have {len(brands)} brand{'s' if len(brands) != 1 else ''}: " + ", ".join(
            f"{b.name} ({b.ads} ads, {b.classified_ads} classified)" for b in brands
        )
    return BrandsResult(brands=brands, summary=summary)
