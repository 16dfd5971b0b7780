"""What a brand's research says about its customers, as evidence items traced to their rows.

Each source (ad copy analyses, or ad classifications when a brand has none; Amazon review analyses
and reviews; landing pages and their analyses; offer variants; brand-wide: Reddit discussions,
competitors' ads and competitors' landing pages) is read into `Evidence` items, one
per signal, each naming its table and row id and the persona field it speaks to. Both the persona
synthesis and the content-gap suggestions rank these the same way (`rank`): a signal said by more
sources, then more often, comes first; the text stays verbatim.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

from pydantic import BaseModel, Field

from db.pool import Conn

Source = Literal[
    "ads", "ad_classifications", "reviews", "landing_pages", "offer_variants", "reddit", "competitor_ads",
    "competitor_pages",
]  # fmt: skip
Category = Literal[
    "demographics", "psychographics", "pains", "desires", "benefits", "objections", "language",
    "awareness", "voice", "mechanism", "hooks", "site", "page",
]  # fmt: skip
SOURCE_LABELS: dict[str, str] = {
    "ads": "ad copy analyses",
    "ad_classifications": "ad creative classifications",
    "reviews": "Amazon reviews",
    "landing_pages": "landing pages",
    "offer_variants": "offer variants",
    "reddit": "Reddit discussions",
    "competitor_ads": "competitor ads",
    "competitor_pages": "competitor landing pages",
}
MAX_REVIEW_QUOTES = 40
MAX_REDDIT_ROWS = 200  # the highest-scored posts and comments
MAX_COMPETITOR_ADS = 200  # the most recently started
MAX_TEXT = 400


class Evidence(BaseModel):
    source: Source
    table: str
    row_id: str
    category: Category
    text: str


class Signal(BaseModel):
    """One recurring signal: its verbatim text (the first wording seen), how often and where."""

    text: str
    count: int
    sources: list[Source]
    refs: list[Evidence] = Field(default_factory=list, exclude=True)


class SourceCounts(BaseModel):
    """Rows per source for a brand (and product): what a persona or a gap fill could draw on."""

    ads: int = 0
    ad_classifications: int = 0
    reviews: int = 0
    review_analyses: int = 0
    landing_pages: int = 0
    landing_page_analyses: int = 0
    offer_variants: int = 0


def _texts(value: Any) -> list[str]:
    """Strings in a JSON value: a string, a list of strings, or dicts with a text-like key."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [t for v in value for t in _texts(v)]
    if isinstance(value, dict):
        for key in ("quote", "text", "objection", "signal", "name", "pain", "desire"):
            if isinstance(value.get(key), str):
                return _texts(value[key])
    return []


def _add(
    out: list[Evidence], source: Source, table: str, row_id: Any, category: Category, value: Any
) -> None:
    for text in _texts(value):
        out.append(Evidence(source=source, table=table, row_id=str(row_id), category=category,
                            text=text[:MAX_TEXT]))  # fmt: skip


# What each JSON key of an analysis speaks to (ad copy analyses, review analyses, LP analysis sections).
_ANALYSIS_KEYS: dict[str, Category] = {
    "pain_points": "pains", "pains": "pains", "desires": "desires", "benefits": "benefits",
    "themes": "benefits", "objections": "objections", "objection_handling": "objections",
    "persona_signals": "demographics", "target_audience": "demographics", "audience": "demographics",
    "demographics": "demographics", "psychographics": "psychographics", "values": "psychographics",
    "copy_patterns": "voice", "tone": "voice", "voice_tone": "voice", "hooks": "hooks",
    "quotes": "language", "testimonials": "language", "language": "language",
    "awareness_level": "awareness",
}  # fmt: skip


def _read_analysis(out: list[Evidence], source: Source, table: str, row_id: Any, data: Any) -> None:
    if not isinstance(data, dict):
        return
    for key, category in _ANALYSIS_KEYS.items():
        _add(out, source, table, row_id, category, data.get(key))
    belief = data.get("belief_first") or data.get("belief_first_analysis")
    if isinstance(belief, dict):
        _add(out, source, table, row_id, "desires", belief.get("desires"))
        _add(out, source, table, row_id, "mechanism", belief.get("mechanism") or belief.get("ums"))
        _add(out, source, table, row_id, "pains", belief.get("ump"))
        _add(out, source, table, row_id, "hooks", belief.get("sample_hooks"))


_AD_PRODUCT = """(%(product)s::uuid is null or a.product_id = %(product)s or (a.product_id is null and exists
  (select 1 from meta_ad_product_matches m where m.meta_ad_id = a.meta_ad_id and m.product_id = %(product)s)))"""
_COUNTS = f"""
select
  (select count(*) from brand_ad_analysis a where a.brand_id = %(brand)s and {_AD_PRODUCT}) as ads,
  (select count(*) from ad_creative_classifications a where a.brand_id = %(brand)s and
    (%(product)s::uuid is null or exists (select 1 from meta_ad_product_matches m
      where m.meta_ad_id = a.meta_ad_id and m.product_id = %(product)s))) as ad_classifications,
  (select count(*) from amazon_reviews r where r.brand_id = %(brand)s
    and (%(product)s::uuid is null or r.product_id = %(product)s)) as reviews,
  (select count(*) from amazon_review_analysis r where r.brand_id = %(brand)s
    and (%(product)s::uuid is null or r.product_id = %(product)s)) as review_analyses,
  (select count(*) from brand_landing_pages l where l.brand_id = %(brand)s
    and (%(product)s::uuid is null or l.product_id = %(product)s)) as landing_pages,
  (select count(*) from landing_page_analyses x join brand_landing_pages l on l.id = x.landing_page_id
    where l.brand_id = %(brand)s and (%(product)s::uuid is null or l.product_id = %(product)s))
    as landing_page_analyses,
  (select count(*) from product_offer_variants v join products p on p.id = v.product_id
    where p.brand_id = %(brand)s and p.archived_at is null
      and (%(product)s::uuid is null or v.product_id = %(product)s))
    as offer_variants
"""


async def check_available_sources(conn: Conn, *, brand_id: UUID, product_id: UUID | None) -> SourceCounts:
    """How many rows each source has for the brand (and product): ad analyses are matched to a product
    by their own product_id, else by their ad's product match."""
    cur = await conn.execute(_COUNTS, {"brand": brand_id, "product": product_id})
    row = await cur.fetchone()
    return SourceCounts(**(row or {}))


async def ad_source(conn: Conn, *, brand_id: UUID) -> Source:
    """Where a brand's ad evidence comes from: its ad copy analyses when it has any (brand-wide), else
    the ad creative classifications that stand in for them."""
    brand_wide = await check_available_sources(conn, brand_id=brand_id, product_id=None)
    return "ads" if brand_wide.ads else "ad_classifications"


async def gather(
    conn: Conn, *, brand_id: UUID, product_id: UUID | None, sources: Iterable[Source]
) -> list[Evidence]:
    """Every evidence item of the chosen sources for the brand (and product), in a stable order."""
    wanted = set(sources)
    args = {"brand": brand_id, "product": product_id}
    out: list[Evidence] = []
    if "ads" in wanted:
        cur = await conn.execute(
            f"select a.id, a.analysis from brand_ad_analysis a where a.brand_id = %(brand)s and {_AD_PRODUCT}"
            " order by a.created_at, a.id",
            args,
        )
        for row in await cur.fetchall():
            _read_analysis(out, "ads", "brand_ad_analysis", row["id"], row["analysis"])
    if "ad_classifications" in wanted:
        cur = await conn.execute(
            "select c.id, c.awareness_level, c.hooks, c.benefits, c.angles, c.claims"
            " from ad_creative_classifications c where c.brand_id = %(brand)s and (%(product)s::uuid is null"
            " or exists (select 1 from meta_ad_product_matches m where m.meta_ad_id = c.meta_ad_id"
            " and m.product_id = %(product)s)) order by c.classified_at, c.id",
            args,
        )
        for row in await cur.fetchall():
            table, rid = "ad_creative_classifications", row["id"]
            _add(out, "ad_classifications", table, rid, "awareness", row["awareness_level"])
            hooks = row["hooks"] or {}
            for kind in ("spoken", "overlay"):
                hook = hooks.get(kind) or {}
                category: Category = "pains" if hook.get("category") == "problem_callout" else "hooks"
                _add(out, "ad_classifications", table, rid, category, hook.get("text"))
            _add(out, "ad_classifications", table, rid, "benefits", row["benefits"])
            _add(out, "ad_classifications", table, rid, "psychographics", row["angles"])
            _add(out, "ad_classifications", table, rid, "desires", row["claims"])
    if "reviews" in wanted:
        cur = await conn.execute(
            "select id, analysis from amazon_review_analysis where brand_id = %(brand)s"
            " and (%(product)s::uuid is null or product_id = %(product)s) order by created_at, id",
            args,
        )
        for row in await cur.fetchall():
            _read_analysis(out, "reviews", "amazon_review_analysis", row["id"], row["analysis"])
        # Verbatim voice of the customer: the most telling reviews (best and worst ratings, longest first).
        cur = await conn.execute(
            "select id, body from amazon_reviews where brand_id = %(brand)s"
            " and (%(product)s::uuid is null or product_id = %(product)s)"
            " order by abs(coalesce(rating, 3) - 3) desc, length(body) desc, id limit %(most)s",
            {**args, "most": MAX_REVIEW_QUOTES},
        )
        for row in await cur.fetchall():
            _add(out, "reviews", "amazon_reviews", row["id"], "language", row["body"])
    if "landing_pages" in wanted:
        cur = await conn.execute(
            "select id, url, benefits, persona_signals, copy_patterns, belief_first_analysis,"
            " objection_handling, testimonials from brand_landing_pages where brand_id = %(brand)s"
            " and (%(product)s::uuid is null or product_id = %(product)s) order by scraped_at, id",
            args,
        )
        for row in await cur.fetchall():
            data = dict(row)
            _read_analysis(out, "landing_pages", "brand_landing_pages", row["id"], data)
            parts = urlsplit(row["url"])
            if parts.scheme and parts.netloc:
                _add(out, "landing_pages", "brand_landing_pages", row["id"], "page", row["url"])
                _add(out, "landing_pages", "brand_landing_pages", row["id"], "site",
                     f"{parts.scheme}://{parts.netloc}")  # fmt: skip
        cur = await conn.execute(
            "select x.id, x.sections from landing_page_analyses x join brand_landing_pages l"
            " on l.id = x.landing_page_id where l.brand_id = %(brand)s"
            " and (%(product)s::uuid is null or l.product_id = %(product)s) order by x.created_at, x.id",
            args,
        )
        for row in await cur.fetchall():
            sections = row["sections"] or {}
            _read_analysis(out, "landing_pages", "landing_page_analyses", row["id"], sections)
            for value in sections.values() if isinstance(sections, dict) else ():
                _read_analysis(out, "landing_pages", "landing_page_analyses", row["id"], value)
    if "offer_variants" in wanted:
        cur = await conn.execute(
            "select v.id, v.benefits, v.pain_points, v.objections, v.mechanism, v.desires, v.sample_hooks,"
            " v.voice_tone_override from product_offer_variants v join products p on p.id = v.product_id"
            " where p.brand_id = %(brand)s and p.archived_at is null"
            " and (%(product)s::uuid is null or v.product_id = %(product)s)"
            " order by v.created_at, v.id",
            args,
        )
        for row in await cur.fetchall():
            table, rid = "product_offer_variants", row["id"]
            for column, category in (("benefits", "benefits"), ("pain_points", "pains"),
                                     ("objections", "objections"), ("desires", "desires"),
                                     ("sample_hooks", "hooks"), ("voice_tone_override", "voice")):  # fmt: skip
                _add(out, "offer_variants", table, rid, category, row[column])
            mechanism = row["mechanism"] or {}
            _add(out, "offer_variants", table, rid, "mechanism", mechanism.get("name"))
    # Brand-wide research (not tied to a product): what people and competitors say about the theme.
    if "reddit" in wanted:
        cur = await conn.execute(
            "select id, title, body from reddit_posts where brand_id = %(brand)s"
            " order by score desc nulls last, id limit %(most)s",
            {**args, "most": MAX_REDDIT_ROWS},
        )
        for row in await cur.fetchall():  # verbatim: titles and comments in people's own words
            _add(out, "reddit", "reddit_posts", row["id"], "language", row["title"])
            _add(out, "reddit", "reddit_posts", row["id"], "language", row["body"])
    if "competitor_ads" in wanted:
        cur = await conn.execute(
            "select id, bodies, link_titles from competitor_ads where brand_id = %(brand)s"
            " order by delivery_start desc nulls last, id limit %(most)s",
            {**args, "most": MAX_COMPETITOR_ADS},
        )
        for row in await cur.fetchall():
            _add(out, "competitor_ads", "competitor_ads", row["id"], "hooks", row["link_titles"])
            _add(out, "competitor_ads", "competitor_ads", row["id"], "language", row["bodies"])
    if "competitor_pages" in wanted:
        cur = await conn.execute(
            "select id, analysis from competitor_landing_pages where brand_id = %(brand)s order by scraped_at, id",
            args,
        )
        for row in await cur.fetchall():
            sections = (row["analysis"] or {}).get("sections") or {}
            _read_analysis(out, "competitor_pages", "competitor_landing_pages", row["id"], sections)
            for value in sections.values() if isinstance(sections, dict) else ():
                _read_analysis(out, "competitor_pages", "competitor_landing_pages", row["id"], value)
    return out


_NOISE = re.compile(r"[^\w\s]")


def _key(text: str) -> str:
    return " ".join(_NOISE.sub(" ", text.casefold()).split())


def rank(items: Iterable[Evidence], category: Category, *, most: int = 6) -> list[Signal]:
    """The category's signals, grouped by wording (case and punctuation aside): said by more sources
    first, then more often, then first seen; each keeps the rows that said it."""
    groups: dict[str, list[Evidence]] = {}
    for item in items:
        if item.category == category and _key(item.text):
            groups.setdefault(_key(item.text), []).append(item)
    ordered = sorted(
        enumerate(groups.values()),
        key=lambda pair: (-len({e.source for e in pair[1]}), -len(pair[1]), pair[0]),
    )
    return [
        Signal(text=refs[0].text, count=len(refs), sources=sorted({e.source for e in refs}), refs=refs)
        for _, refs in ordered[:most]
    ]


def most_common(items: Iterable[Evidence], category: Category) -> str | None:
    counts = Counter(e.text for e in items if e.category == category)
    return counts.most_common(1)[0][0] if counts else None
