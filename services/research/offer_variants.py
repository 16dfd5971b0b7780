"""Offer variants drafted from research: from a landing page's analysis (`promote_lp_to_variant`), or,
for a brand with Meta ads but no scraped pages, from the copy of the ads that send people to each URL
("discover variants"). A draft is deterministic from its source and the edits; nothing is written
until the person confirms."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotFound
from db.pool import Conn
from services.meta.rows import canonical_url
from services.products import ProductRef, resolve_product
from services.research.lp_extract import offline_section
from services.research.page_fetch import Chunk, chunk_markdown, normalize_url

LIST_FIELDS = ("benefits", "pain_points", "objections", "desires", "sample_hooks")
TEXT_FIELDS = ("name", "landing_page_url", "voice_tone_override")
MECHANISM_KEYS = ("mechanism", "ump", "ums")
EDITABLE = (*TEXT_FIELDS, *LIST_FIELDS, *MECHANISM_KEYS)
ALIASES = {"pains": "pain_points", "hooks": "sample_hooks", "voice_tone": "voice_tone_override",
           "voice": "voice_tone_override", "url": "landing_page_url", "title": "name"}  # fmt: skip
_PAIN = re.compile(
    r"tired of|fed up|struggl|dealing with|pain|problem|no more|sick of|worr|can't|cannot", re.I
)
_ID = re.compile(r"^[0-9a-f]{8}(?:[0-9a-f-]{0,28})$", re.I)


class VariantDraft(BaseModel):
    product_id: UUID
    product: str
    brand: str
    name: str
    landing_page_url: str | None = None
    benefits: list[str] = Field(default_factory=list)
    pain_points: list[str] = Field(default_factory=list)
    objections: list[str] = Field(default_factory=list)
    mechanism: dict[str, str] = Field(default_factory=dict)
    desires: list[str] = Field(default_factory=list)
    sample_hooks: list[str] = Field(default_factory=list)
    voice_tone_override: str | None = None
    source_landing_page_id: UUID | None = None
    source: str = ""
    """Where the draft came from, in words: 'the analysis of … (3 Nov)' or '4 ads' copy'."""

    def rows(self) -> list[tuple[str, str]]:
        """The card: one (field, value) per column, lists joined with ' | '."""
        out = [
            ("name", self.name),
            ("product", self.product),
            ("landing_page_url", self.landing_page_url or ""),
        ]
        for key in LIST_FIELDS:
            out.append((key, " | ".join(getattr(self, key))))
        out += [(f"mechanism.{k}", v) for k, v in self.mechanism.items()]
        out.append(("voice_tone_override", self.voice_tone_override or ""))
        return out


class PageSource(BaseModel):
    id: UUID
    brand_id: UUID
    brand: str
    product_id: UUID | None
    url: str
    title: str | None
    data: dict[str, Any]


_PAGE_SQL = """
select p.id, p.brand_id, b.name as brand, p.product_id, p.url, p.title, p.benefits, p.persona_signals,
       p.objection_handling, p.belief_first_analysis, p.testimonials, p.copy_patterns,
       (select a.sections from landing_page_analyses a where a.landing_page_id = p.id
         order by a.created_at desc limit 1) as sections
from brand_landing_pages p join brands b on b.id = p.brand_id
"""


async def find_page(conn: Conn, *, ref: str) -> PageSource | None:
    """The newest stored scrape of a page, by id (8+ characters) or URL; None when never stored."""
    if _ID.match(ref.strip()):
        cur = await conn.execute(
            _PAGE_SQL + " where p.id::text like %s order by p.scraped_at desc limit 2",
            (ref.strip().lower() + "%",),
        )
        rows = await cur.fetchall()
    else:
        wanted = canonical_url(normalize_url(ref))
        host = wanted.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
        cur = await conn.execute(
            _PAGE_SQL + " where p.url ilike %s order by p.scraped_at desc", ("%" + host + "%",)
        )
        rows = [r for r in await cur.fetchall() if canonical_url(r["url"]) == wanted][:1]
    if len(rows) > 1:
        raise InvalidArgument(f"'{ref}' starts more than one landing page id: give more of it.")
    if not rows:
        return None
    row = rows[0]
    data = {k: row[k] for k in ("benefits", "persona_signals", "objection_handling", "belief_first_analysis")}
    data.update({k: v for k, v in (row["sections"] or {}).items() if v})  # the latest analysis wins
    return PageSource(
        id=row["id"], brand_id=row["brand_id"], brand=row["brand"], product_id=row["product_id"],
        url=row["url"], title=row["title"], data=data,
    )  # fmt: skip


async def _product(conn: Conn, *, name: str | None, product_id: UUID | None, brand_id: UUID) -> ProductRef:
    if name:
        return await resolve_product(conn, name=name, brand_id=brand_id)
    cur = await conn.execute(
        "select p.id, p.name, p.brand_id, b.name as brand, p.organization_id from products p"
        " join brands b on b.id = p.brand_id where p.brand_id = %s and p.archived_at is null"
        " order by (p.id = %s) desc, p.name",
        (brand_id, product_id),
    )
    rows = await cur.fetchall()
    if (product_id is not None and rows and rows[0]["id"] == product_id) or len(rows) == 1:
        return ProductRef(**rows[0])  # the page's product, or the brand's only one
    names = ", ".join(f"'{r['name']}'" for r in rows) or "none yet"
    raise InvalidArgument(
        f"Which product is this variant for? Add product:… (this brand's products: {names})."
    )


def draft_from_page(page: PageSource, product: ProductRef) -> VariantDraft:
    data = page.data
    belief = data.get("belief_first_analysis") or {}
    signals = [str(s) for s in data.get("persona_signals") or []]
    pains = [s for s in signals if _PAIN.search(s)] or signals
    objections = [
        str(o.get("objection", "")) if isinstance(o, dict) else str(o)
        for o in data.get("objection_handling") or []
    ]
    mechanism = {k: str(belief.get(k) or "") for k in MECHANISM_KEYS if belief.get(k)}
    label = page.title or page.url
    return VariantDraft(
        product_id=product.id, product=product.name, brand=product.brand, name=f"{product.name} — {label}"[:120],
        landing_page_url=page.url, benefits=[str(b) for b in data.get("benefits") or []], pain_points=pains,
        objections=[o for o in objections if o], mechanism=mechanism,
        desires=[str(d) for d in belief.get("desires") or []],
        sample_hooks=[str(h) for h in belief.get("sample_hooks") or []],
        source_landing_page_id=page.id, source=f"the landing page {page.url} ({str(page.id)[:8]})",
    )  # fmt: skip


def draft_from_ads(url: str, copies: list[str], product: ProductRef) -> VariantDraft:
    """A draft read from the ads' own copy (extractive): hooks are the ads' opening lines."""
    chunks = [Chunk(index=i, heading=None, text=text) for i, text in enumerate(dict.fromkeys(copies)) if text]
    every = [c for text in copies for c in chunk_markdown(text)] or chunks
    benefits = offline_section("benefits", chunks, every).model_dump()["benefits"]
    signals = offline_section("persona_signals", chunks, every).model_dump()["persona_signals"]
    belief = offline_section("belief_first_analysis", chunks, every).model_dump()
    sentences = [
        s.strip() for c in chunks for s in re.split(r"(?<=[.!?])\s+|\n+", c.text) if len(s.strip()) > 8
    ]
    hooks = list(dict.fromkeys(re.split(r"(?<=[.!?])\s+|\n", c.text.strip())[0] for c in chunks))[:5]
    return VariantDraft(
        product_id=product.id, product=product.name, brand=product.brand,
        name=f"{product.name} — {url.split('://')[-1]}"[:120], landing_page_url=url,
        benefits=benefits or [s for s in sentences if not _PAIN.search(s)][:3],
        pain_points=[s for s in sentences if _PAIN.search(s)][:5] or signals[:5],
        mechanism={k: belief[k] for k in MECHANISM_KEYS if belief.get(k)}, desires=belief["desires"],
        sample_hooks=hooks, source=f"{len(copies)} ad(s)' copy pointing at {url}",
    )  # fmt: skip


def apply_edits(draft: VariantDraft, *, name: str | None = None, edits: str | None = None) -> VariantDraft:
    """The draft with the person's changes. `edits`: `field=value` pairs separated by ';', list items by
    '|'; `field+=value` adds to a list. E.g. `benefits=Calmer dogs | Better sleep; ump=Cortisol spikes`."""
    changed = draft.model_copy(deep=True)
    for part in [p for p in (edits or "").split(";") if p.strip()]:
        if "=" not in part:
            raise InvalidArgument(
                f"'{part.strip()}' is not a change: write field=value, e.g. name=Calm Chews."
            )
        key, value = part.split("=", 1)
        append = key.endswith("+")
        key = key.rstrip("+").strip().lower().replace(" ", "_")
        key = ALIASES.get(key, key)
        value = value.strip()
        if key not in EDITABLE:
            raise InvalidArgument(f"'{key}' is not a field of an offer variant: use {', '.join(EDITABLE)}.")
        if key in LIST_FIELDS:
            items = [v.strip() for v in value.split("|") if v.strip()]
            setattr(changed, key, [*getattr(changed, key), *items] if append else items)
        elif key in MECHANISM_KEYS:
            changed.mechanism = {**changed.mechanism, key: value} if value else {
                k: v for k, v in changed.mechanism.items() if k != key
            }  # fmt: skip
        else:
            setattr(changed, key, value or None)
    if name is not None:
        changed.name = name.strip()
    if not changed.name:
        raise InvalidArgument('An offer variant needs a name: name:"…".')
    return changed


async def promote_draft(
    conn: Conn, *, ref: str, product: str | None, name: str | None, edits: str | None
) -> VariantDraft:
    """The draft for a stored page (by id or URL) or, when the URL was never scraped, from its ads."""
    page = await find_page(conn, ref=ref)
    if page is not None:
        product_ref = await _product(conn, name=product, product_id=page.product_id, brand_id=page.brand_id)
        return apply_edits(draft_from_page(page, product_ref), name=name, edits=edits)
    if _ID.match(ref.strip()):
        raise NotFound(f"No landing page with id {ref} among your brands.")
    url = canonical_url(normalize_url(ref))
    ads = await _ads_for(conn, url=url)
    if not ads:
        raise NotFound(
            f"{url} has not been analysed and none of your ads link to it: run /analyze_landing_page url:{url} first."
        )
    brand_id = ads[0]["brand_id"]
    product_ref = await _product(conn, name=product, product_id=ads[0]["product_id"], brand_id=brand_id)
    return apply_edits(draft_from_ads(url, [a["copy"] for a in ads], product_ref), name=name, edits=edits)


async def create_variant(conn: Conn, *, draft: VariantDraft) -> UUID:
    cur = await conn.execute(
        "select 1 from product_offer_variants where product_id = %s and lower(name) = lower(%s)",
        (draft.product_id, draft.name),
    )
    if await cur.fetchone():
        raise InvalidArgument(
            f"{draft.product} already has an offer variant named '{draft.name}': choose another with name:\"…\"."
        )
    cur = await conn.execute(
        """
        insert into product_offer_variants (product_id, organization_id, name, landing_page_url, benefits,
          pain_points, objections, mechanism, desires, sample_hooks, voice_tone_override, source_landing_page_id)
        select %s, p.organization_id, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s from products p where p.id = %s
        returning id
        """,
        (
            draft.product_id, draft.name, draft.landing_page_url, Jsonb(draft.benefits), Jsonb(draft.pain_points),
            Jsonb(draft.objections), Jsonb(draft.mechanism), Jsonb(draft.desires), Jsonb(draft.sample_hooks),
            draft.voice_tone_override, draft.source_landing_page_id, draft.product_id,
        ),
    )  # fmt: skip
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"The product {draft.product} no longer exists.")
    return row["id"]


_ADS_SQL = """
select d.canonical_url as url, a.brand_id, concat_ws(E'\n', a.headline, a.ad_copy) as copy,
       (select m.product_id from meta_ad_product_matches m where m.meta_ad_id = a.meta_ad_id limit 1) as product_id,
       exists (select 1 from brand_landing_pages p where p.brand_id = a.brand_id
               and rtrim(p.url, '/') = d.canonical_url) as scraped
from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
where (%(brand)s::uuid is null or a.brand_id = %(brand)s) and (%(url)s::text is null or d.canonical_url = %(url)s)
  and coalesce(a.ad_copy, a.headline, '') <> ''
order by d.canonical_url, a.meta_ad_id
"""


async def _ads_for(
    conn: Conn, *, url: str | None = None, brand_id: UUID | None = None
) -> list[dict[str, Any]]:
    cur = await conn.execute(_ADS_SQL, {"brand": brand_id, "url": url})
    return list(await cur.fetchall())


class DiscoveredVariant(BaseModel):
    url: str
    ads: int
    scraped: bool
    draft: VariantDraft | None = None
    problem: str | None = None


async def discover_variants(conn: Conn, *, brand_id: UUID) -> list[DiscoveredVariant]:
    """One draft per landing URL the brand's ads send people to, from those ads' copy, most ads first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for ad in await _ads_for(conn, brand_id=brand_id):
        groups.setdefault(ad["url"], []).append(ad)
    found = []
    for url, ads in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        product_id = next((a["product_id"] for a in ads if a["product_id"]), None)
        item = DiscoveredVariant(url=url, ads=len(ads), scraped=any(a["scraped"] for a in ads))
        try:
            product = await _product(conn, name=None, product_id=product_id, brand_id=brand_id)
            item.draft = draft_from_ads(url, [a["copy"] for a in ads], product)
        except InvalidArgument:
            item.problem = "no product matched: name one when promoting"
        found.append(item)
    return found
