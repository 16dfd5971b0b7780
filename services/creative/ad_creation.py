"""Ad creation runs: N ad images for a product, each made from a reference — a template of the scraped
library (chosen by the product's recommendations) or one of the brand's own stored ads.

Every generated ad records where it came from (`source_template_id`, or `reference_meta_ad_id`) and,
for a job run, its run and slot: running the same run again fills only the slots still missing.
Each has a tracking id, shown in a suggested ad name and link, by which a sync finds the live Meta ad it
became (`services.meta.generated_links`).
Runs as the service role (jobs, or a tool that has already resolved the caller's product).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, Field

from core.errors import ConfigurationError, InvalidArgument, NoData, NotFound, UserFacingError
from db.pool import Conn, Database
from services.creative.ad_previews import AdBrief, ImageGenerator, generator_for
from services.meta.generated_links import suggested_name, tracked_link
from services.platform.storage import Storage, storage_for
from services.products import ProductRef, product_by_id, resolve_product
from settings import Settings

log = logging.getLogger(__name__)

TemplateSource = Literal["library", "uploaded"]
TemplateFilter = Literal["recommended", "unused_recommended", "all"]
Progress = Callable[[str, float], None]
MAX_COUNT = 20


class Reference(BaseModel):
    """What one ad is made from."""

    template_id: UUID | None = None
    meta_ad_id: str | None = None
    name: str
    image_path: str
    score: float | None = None
    """The template's ai_match score for the product, when it has one."""


class GeneratedAd(BaseModel):
    id: UUID
    position: int
    source_template_id: UUID | None
    reference_meta_ad_id: str | None
    reference: str
    headline: str
    image_path: str
    status: str
    """'preview' (an offline mock-up) or 'generated' (a model's image)."""
    tracking_id: str
    """What links the live Meta ad back to this one: in `ad_name`, or as utm_content in `link`."""
    ad_name: str
    link: str | None = None
    """The product's page with utm_content=<tracking id> (None: the product has no page)."""


class AdCreationResult(BaseModel):
    brand: str
    product: str
    template_source: TemplateSource
    filter: TemplateFilter
    requested: int
    created: int
    already_there: int
    failed: int = 0
    generator: str
    ads: list[GeneratedAd] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    summary: str = ""


async def plan_references(
    conn: Conn, *, product: ProductRef, count: int, source: TemplateSource, filter: TemplateFilter,
    exclude: set[str] | None = None,
) -> list[Reference]:  # fmt: skip
    """Up to `count` references for the product, best first: library templates by the filter (the
    product's ai_match scores; 'recommended' = the scorer's bar, or auto-recommended to it), or the
    brand's stored ad images, those matched to the product first. `exclude`: image paths already used."""
    if not 1 <= count <= MAX_COUNT:
        raise InvalidArgument(f"count must be between 1 and {MAX_COUNT} (got {count}).")
    from services.templates.scoring import RECOMMENDED_SCORE

    query = _LIBRARY if source == "library" else _UPLOADED
    cur = await conn.execute(
        query,
        {
            "product": product.id, "brand": product.brand_id, "filter": filter,
            "recommended": RECOMMENDED_SCORE, "limit": count + len(exclude or ()),
        },
    )  # fmt: skip
    found = [Reference(**row) for row in await cur.fetchall()]
    return [r for r in found if r.image_path not in (exclude or set())][:count]


_LIBRARY = """
select t.id as template_id, coalesce(t.name, 'template ' || left(t.id::text, 8)) as name, t.image_path,
  r.score
from scraped_templates t
join products p on p.id = %(product)s
left join template_recommendations r
  on r.template_id = t.id and r.product_id = p.id and r.methodology = 'ai_match'
where t.status = 'approved' and t.image_path is not null
  and (%(filter)s = 'all' or r.score >= %(recommended)s or r.auto_recommended_at is not null)
  and (%(filter)s <> 'unused_recommended' or (not coalesce(r.used, false) and not exists (
    select 1 from generated_ads g where g.product_id = p.id and g.source_template_id = t.id)))
order by r.score desc nulls last, t.created_at, t.id
limit %(limit)s
"""

# The brand's own ads, as stored by asset downloads: those sold to this product first, then by spend.
_UPLOADED = """
select a.meta_ad_id, coalesce(m.name, a.meta_ad_id) as name, a.path as image_path, null::real as score
from ad_assets a
join meta_ads m on m.meta_ad_id = a.meta_ad_id
left join lateral (select sum(spend) as spend from meta_ads_performance f where f.meta_ad_id = a.meta_ad_id) s
  on true
where a.brand_id = %(brand)s and a.kind = 'image'
  and (%(filter)s <> 'unused_recommended' or not exists (
    select 1 from generated_ads g where g.product_id = %(product)s and g.reference_meta_ad_id = a.meta_ad_id))
order by exists (select 1 from meta_ad_product_matches x where x.meta_ad_id = a.meta_ad_id
  and x.product_id = %(product)s) desc, s.spend desc nulls last, a.meta_ad_id
limit %(limit)s
"""


async def headlines(conn: Conn, product: ProductRef) -> list[str]:
    """Headlines for the product's ads: its offer variants' sample hooks and benefits, then the
    variant's and the product's name."""
    cur = await conn.execute(
        "select name, sample_hooks, benefits from product_offer_variants where product_id = %s"
        " order by created_at, id",
        (product.id,),
    )
    found: list[str] = []
    names: list[str] = []
    for row in await cur.fetchall():
        found += [_text(h) for h in row["sample_hooks"] or []]
        found += [_text(b) for b in row["benefits"] or []]
        names.append(row["name"])
    return [h for h in dict.fromkeys([*found, *names, product.name]) if h]


def _text(item: Any) -> str:
    if isinstance(item, dict):
        for key in ("text", "hook", "benefit", "name"):
            if isinstance(item.get(key), str):
                return " ".join(item[key].split())
        return ""
    return " ".join(str(item).split())


async def create_ads(
    db: Database,
    *,
    product_id: UUID,
    count: int,
    template_source: TemplateSource = "library",
    filter: TemplateFilter = "recommended",
    settings: Settings,
    run_id: UUID | None = None,
    progress: Progress | None = None,
    generator: ImageGenerator | None = None,
) -> AdCreationResult:
    """Make `count` ads for the product. With `run_id` (a job run), slots already made by that run are
    kept and only the missing ones are made. One reference that fails is counted and described; the
    others go on. Raises `NoData` when the filter leaves no reference at all."""
    if not 1 <= count <= MAX_COUNT:
        raise InvalidArgument(f"count must be between 1 and {MAX_COUNT} (got {count}).")
    generator = generator or generator_for(settings)
    storage = storage_for(settings)
    async with db.as_service() as conn:
        product = await product_by_id(conn, product_id)
        page = await _product_page(conn, product)
        existing = await _existing(conn, run_id, product, page) if run_id is not None else []
        missing = [slot for slot in range(count) if slot not in {ad.position for ad in existing}]
        used = set(await _reference_paths(conn, run_id))
        references = (
            await plan_references(
                conn, product=product, count=len(missing), source=template_source, filter=filter,
                exclude=used,
            )
            if missing else []
        )  # fmt: skip
        lines = await headlines(conn, product)
    result = AdCreationResult(
        brand=product.brand, product=product.name, template_source=template_source, filter=filter,
        requested=count, created=0, already_there=len(existing), generator=generator.name, ads=existing,
    )  # fmt: skip
    if missing and not references:
        raise NoData(nothing_to_use(product, template_source, filter))
    run_key = run_id or uuid4()
    for done, (slot, reference) in enumerate(zip(missing, references, strict=False), start=1):
        headline = lines[slot % len(lines)]
        try:
            ad = await _make_one(
                db, storage, generator, product, reference, headline,
                slot=slot, run_id=run_id, run_key=run_key, source=template_source, page=page,
            )  # fmt: skip
        except (UserFacingError, OSError) as error:
            result.failed += 1
            result.errors.append(f"{reference.name}: {error}")
            log.warning("ad %s of run %s from %s failed: %s", slot, run_key, reference.name, error)
            if isinstance(error, ConfigurationError):  # a refused key fails every ad alike: stop calling
                if left := len(references) - done:
                    result.errors.append(f"{left} more not attempted")
                break
            continue
        if ad is None:  # another attempt of the same run made this slot meanwhile
            continue
        result.ads.append(ad)
        result.created += 1
        if progress is not None:
            progress(f"Made {done} of {len(missing)} ads for {product.name}", done / len(missing))
    result.ads.sort(key=lambda ad: ad.position)
    result.summary = _summary(result, len(references) < len(missing))
    return result


async def _make_one(
    db: Database, storage: Storage, generator: ImageGenerator, product: ProductRef, reference: Reference,
    headline: str, *, slot: int, run_id: UUID | None, run_key: UUID, source: TemplateSource, page: str | None,
) -> GeneratedAd | None:  # fmt: skip
    try:
        image = await storage.read(reference.image_path)
    except FileNotFoundError:
        raise InvalidArgument(f"its image is missing from storage ({reference.image_path})") from None
    brief = AdBrief(
        brand=product.brand, product=product.name, headline=headline, reference_name=reference.name
    )
    png = await generator.generate(image, brief)
    path = f"generated/{product.organization_id}/{product.brand_id}/{product.id}/{run_key}/{slot}.png"
    with tempfile.NamedTemporaryFile(dir=storage.staging, suffix=".png", delete=False) as staged:
        staged.write(png)
    await storage.put(path, Path(staged.name), "image/png")
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into generated_ads (brand_id, organization_id, product_id, source_template_id,"
            " reference_meta_ad_id, image_path, headline, job_run_id, position, template_source, generator, status)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (job_run_id, position) where job_run_id is not null do nothing returning id, tracking_id",
            (
                product.brand_id, product.organization_id, product.id, reference.template_id,
                reference.meta_ad_id, path, headline, run_id, slot, source, generator.name, generator.status,
            ),
        )  # fmt: skip
        row = await cur.fetchone()
        if row is None:
            return None
        if reference.template_id is not None:
            await conn.execute(
                "update template_recommendations set used = true where product_id = %s and template_id = %s",
                (product.id, reference.template_id),
            )
    return GeneratedAd(
        id=row["id"], position=slot, source_template_id=reference.template_id,
        reference_meta_ad_id=reference.meta_ad_id, reference=reference.name, headline=headline,
        image_path=path, status=generator.status, tracking_id=row["tracking_id"],
        ad_name=suggested_name(product.name, reference.name, row["tracking_id"]),
        link=tracked_link(page, row["tracking_id"]) if page else None,
    )  # fmt: skip


async def _existing(conn: Conn, run_id: UUID, product: ProductRef, page: str | None) -> list[GeneratedAd]:
    cur = await conn.execute(
        "select g.id, g.position, g.source_template_id, g.reference_meta_ad_id,"
        " coalesce(t.name, g.reference_meta_ad_id, 'template') as reference, g.headline, g.image_path, g.status,"
        " g.tracking_id from generated_ads g left join scraped_templates t on t.id = g.source_template_id"
        " where g.job_run_id = %s order by g.position",
        (run_id,),
    )
    return [
        GeneratedAd(
            **row,
            ad_name=suggested_name(product.name, row["reference"], row["tracking_id"]),
            link=tracked_link(page, row["tracking_id"]) if page else None,
        )
        for row in await cur.fetchall()
    ]


async def _product_page(conn: Conn, product: ProductRef) -> str | None:
    """Where the product's ads send people: its first product page."""
    cur = await conn.execute("select product_url from products where id = %s", (product.id,))
    row = await cur.fetchone()
    return row["product_url"] if row else None


async def _reference_paths(conn: Conn, run_id: UUID | None) -> list[str]:
    """Images of the references a run already used (a re-run picks other ones for the missing slots)."""
    if run_id is None:
        return []
    cur = await conn.execute(
        "select coalesce(t.image_path, a.path) as path from generated_ads g"
        " left join scraped_templates t on t.id = g.source_template_id"
        " left join ad_assets a on a.meta_ad_id = g.reference_meta_ad_id and a.kind = 'image'"
        " where g.job_run_id = %s",
        (run_id,),
    )
    return [row["path"] for row in await cur.fetchall() if row["path"]]


def nothing_to_use(product: ProductRef, source: TemplateSource, filter: TemplateFilter) -> str:
    if source == "uploaded":
        return (
            f"No stored ad images for {product.brand} to use as references: download them first"
            " (asset_download), or use from:library."
        )
    if filter == "all":
        return "The template library has no approved templates yet."
    unused = "unused " if filter == "unused_recommended" else ""
    return (
        f"No {unused}recommended templates for {product.name} yet: score the library for it"
        " (/recommend_templates), or use filter:all."
    )


def source_phrase(source: TemplateSource) -> str:
    return "from the template library" if source == "library" else "from your own ads"


def _summary(result: AdCreationResult, short: bool) -> str:
    kind = ("ad preview" if result.generator == "offline-preview" else "ad") + "s" * (result.created != 1)
    text = f"{result.created} {kind} created for {result.product} {source_phrase(result.template_source)}"
    if result.already_there:
        text += f" ({result.already_there} already made by this run)"
    text += "."
    if short:
        text += f" Only {result.created + result.already_there} of {result.requested} could be made: not enough references match filter {result.filter}."
    if result.failed:
        text += f" {result.failed} failed: {'; '.join(e.rstrip('.') for e in result.errors[:3])}."
    if result.generator == "offline-preview":
        text += " Offline previews: the template with your product and headline, labelled PREVIEW."
    return text


def tracking_instruction(ads: list[GeneratedAd]) -> str:
    """The one line that tells the marketer how a live ad's results find their way back here."""
    first = ads[0]
    if len(ads) == 1:
        keep = f"Name the ad '{first.ad_name}' in Ads Manager or keep utm_content={first.tracking_id} in its link"
    else:
        keep = (
            f"Name each ad as listed in Ads Manager (e.g. '{first.ad_name}') or keep its utm_content in its"
            f" link (utm_content={first.tracking_id} for the first)"
        )
    return f"{keep} so results come back here (launched otherwise: /link_generated_ad)."


async def product_in_brand(conn: Conn, *, brand_id: UUID, product: str) -> ProductRef:
    """A job's product: its id, or its name within the brand."""
    try:
        product_id = UUID(product)
    except ValueError:
        return await resolve_product(conn, name=product, brand_id=brand_id)
    found = await product_by_id(conn, product_id)
    if found.brand_id != brand_id:
        raise NotFound(f"The product {product_id} is not one of this brand's.")
    return found
