"""Ads matched to the brand's products by landing page: an ad whose destination (canonical URL) is one
of a product's pages. Run after every sync and CSV import, and when a product's pages change, so the
order a customer does things in (products first or ads first) doesn't matter."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel

from db.pool import Conn
from services.meta.rows import canonical_url


class ProductMatches(BaseModel):
    with_destination: int
    """The brand's ads with a landing page."""
    matched: int
    """Of those, the ads whose landing page is a product page."""
    top_unmatched: list[str]
    """The most used landing pages that are no product's (at most 3)."""


_MATCH_PRODUCTS = """
with product as (
  select p.id, p.organization_id, c.canonical
  from products p join unnest(%(ids)s::uuid[], %(pages)s::text[]) as c(id, canonical) on c.id = p.id
), inserted as (
  insert into meta_ad_product_matches (meta_ad_id, product_id, organization_id, match_method, confidence)
  select distinct d.meta_ad_id, pr.id, pr.organization_id, 'url', 1.0
  from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
  join product pr on pr.canonical = d.canonical_url
  where a.brand_id = %(brand)s
  on conflict (meta_ad_id, product_id) do nothing
)
select count(distinct d.meta_ad_id) as with_destination,
       count(distinct d.meta_ad_id) filter (where pr.id is not null) as matched
from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
left join product pr on pr.canonical = d.canonical_url
where a.brand_id = %(brand)s
"""

_TOP_UNMATCHED = """
select d.canonical_url, count(distinct d.meta_ad_id) as ads
from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
where a.brand_id = %(brand)s and d.canonical_url <> all(%(pages)s::text[])
group by d.canonical_url order by ads desc, d.canonical_url limit 3
"""


async def match_products(conn: Conn, *, brand_id: UUID) -> ProductMatches:
    """Match the brand's ads whose landing page is one of its (not archived) products' pages, canonical
    URLs equal, in SQL over the stored destinations (matches made before stay); the counts."""
    cur = await conn.execute(
        "select id, product_url, product_pages from products where brand_id = %s and archived_at is null",
        (brand_id,),
    )
    products = [
        (row["id"], page)
        for row in await cur.fetchall()
        for page in dict.fromkeys(
            [*row["product_pages"], *([canonical_url(row["product_url"])] if row["product_url"] else [])]
        )
    ]
    params = {"brand": brand_id, "ids": [p[0] for p in products], "pages": [p[1] for p in products]}
    cur = await conn.execute(_MATCH_PRODUCTS, params)
    stats = await cur.fetchone()
    cur = await conn.execute(_TOP_UNMATCHED, params)
    return ProductMatches(
        with_destination=int(stats["with_destination"]) if stats else 0,
        matched=int(stats["matched"]) if stats else 0,
        top_unmatched=[row["canonical_url"] for row in await cur.fetchall()],
    )
