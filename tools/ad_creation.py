"""Ad creation in chat: make ads for a product from library templates (or the brand's own ads) now, or
schedule a recurring run; link one launched by hand to its live Meta ad. Each previewed first and done
only on confirmation."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import NoData
from jobs import api as jobs_api
from jobs.schedules import check_cron
from services.creative import ad_creation as service
from services.meta import generated_links as links
from services.platform.accounts import memberships
from services.platform.server_files import ServerFile
from services.platform.storage import storage_for
from services.presentable import Column, Presentable, Table, table_of
from services.products import resolve_product
from tools.actions import ActionButton, admin_of, ask_first, confirmation
from tools.deps import Deps
from tools.registry import tool


class PlannedAd(BaseModel):
    position: int
    reference: str
    score: float | None
    """The template's ai_match score for the product (library templates)."""


class CreatedAd(BaseModel):
    position: int
    reference: str
    source_template_id: UUID | None
    headline: str
    status: str
    image_path: str
    tracking_id: str
    """Carried into Meta (in the ad name, or utm_content in the link): the sync links the live ad back."""
    ad_name: str
    link: str | None = None
    image_file: ServerFile | None = None
    """Where the image can be opened (a local file in the embedded default; answers name it)."""


class CreateAdsResult(BaseModel, Presentable):
    summary: str
    product: str
    brand: str
    planned: list[PlannedAd] = Field(default_factory=list)
    ads: list[CreatedAd] = Field(default_factory=list)
    schedule_id: UUID | None = None
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        if self.ads:
            columns = ["position", "reference", "headline", "ad_name", "link", "status", "image_path"]
            return [table_of(f"Ads made — {self.product}", self.ads, columns)]
        if self.planned:  # numbered from 1 as people count; a score only where the templates have one
            scored = any(p.score is not None for p in self.planned)
            planned = [
                Column("Ad", "integer"),
                Column("reference"),
                *([Column("score", "integer")] if scored else []),
            ]
            values = [[p.position + 1, p.reference, *([p.score] if scored else [])] for p in self.planned]
            return [Table(f"Planned — {self.product}", planned, values)]
        return []

    def as_images(self) -> list[tuple[str, str]]:
        return [(f"Ad {a.position + 1} · {a.reference}", a.image_file) for a in self.ads if a.image_file]


@tool(
    example='/create_ads product:"Joint Chews" count:3 from:library filter:all',
    step="Creating {count} ads for {product}",
    aliases={"from": "source"},
    help="""Every ad records the template it came from. With a Gemini key an image model makes them; without one
    they are labelled previews (the template with the product name and a headline). source:library
    is from:library in a slash command; uploaded uses the brand's downloaded ads. filter:recommended
    takes templates scored a good fit. A schedule such as "0 9 * * 1" makes ads on Mondays at 09:00
    UTC.""",
)
async def create_ads(
    deps: Deps,
    product: str,
    count: Annotated[int, Field(ge=1, le=service.MAX_COUNT)] = 3,
    source: service.TemplateSource = "library",
    filter: service.TemplateFilter = "recommended",
    schedule: str | None = None,
    confirm: bool = False,
) -> CreateAdsResult:
    """Make ad images for a product from references: library templates (recommended first) or the brand's
    own ads. With schedule, a recurring run instead (admins). Previews unless confirm:true; ask first.

    Args:
        source: library (templates) or uploaded (the brand's own ads).
        filter: recommended, unused_recommended (not used for this product yet) or all approved.
        schedule: A cron in UTC to make ads on a schedule.
        confirm: true to go ahead after the person agreed.
    """
    caller = deps.caller
    async with deps.db.as_user(caller) as conn:
        found = await resolve_product(conn, name=product)
        planned = await service.plan_references(
            conn, product=found, count=count, source=source, filter=filter
        )
        roles = await memberships(conn, user_id=caller.user_id)
    what = f"{count} ad(s) for {found.name} ({found.brand}) {service.source_phrase(source)}, filter {filter}"
    args: dict[str, str | int | bool] = {
        "product": found.name,
        "count": count,
        "source": source,
        "filter": filter,
    }
    rows = [PlannedAd(position=i, reference=r.name, score=r.score) for i, r in enumerate(planned)]
    if schedule is not None:
        cron = check_cron(schedule)
        admin_of(
            roles, found.organization_id, organization=f"{found.brand}'s organization", to="schedule ad runs"
        )
        if not confirm:
            return ask_first(
                CreateAdsResult, f"Make {what} on the schedule '{cron}' (UTC)?",
                tool="create_ads", args={**args, "schedule": cron}, label="Schedule",
                product=found.name, brand=found.brand, planned=rows,
            )  # fmt: skip
        schedule_id = await jobs_api.create_schedule(
            deps.db, job_type="ad_creation", cron=cron,
            params={"product": str(found.id), "count": count, "template_source": source, "filter": filter},
            organization_id=found.organization_id, brand_id=found.brand_id,
        )  # fmt: skip
        return CreateAdsResult(
            summary=f"Scheduled: {what}, on '{cron}' (UTC). Each run notifies your organization; see it in"
            " /jobs view:schedules.",
            product=found.name, brand=found.brand, planned=rows, schedule_id=schedule_id,
        )  # fmt: skip
    if not planned:
        raise NoData(service.nothing_to_use(found, source, filter))
    if not confirm:
        listed = "; ".join(
            f"{r.reference}" + (f" ({r.score:.0f})" if r.score is not None else "") for r in rows
        )
        short = f" Only {len(rows)} match." if len(rows) < count else ""
        return CreateAdsResult(
            summary=f"Make {what}? From: {listed}.{short} Nothing has been made yet: confirm to go ahead.",
            product=found.name, brand=found.brand, planned=rows,
            actions=confirmation(tool="create_ads", args=args, label="Create"),
        )  # fmt: skip
    settings = deps.settings
    made = await service.create_ads(
        deps.db, product_id=found.id, count=count, template_source=source, filter=filter,
        settings=settings, progress=lambda message, _fraction: deps.report(message),
    )  # fmt: skip
    storage = storage_for(settings)
    return CreateAdsResult(
        summary=f"{made.summary} {service.tracking_instruction(made.ads)}" if made.ads else made.summary,
        product=found.name, brand=found.brand,
        ads=[
            CreatedAd(
                position=a.position, reference=a.reference, source_template_id=a.source_template_id,
                headline=a.headline, status=a.status, image_path=a.image_path, tracking_id=a.tracking_id,
                ad_name=a.ad_name, link=a.link, image_file=storage.locate(a.image_path),
            )
            for a in made.ads
        ],
    )  # fmt: skip


class LinkAnswer(BaseModel, Presentable):
    summary: str
    tracking_id: str | None = None
    meta_ad_id: str | None = None
    linked: bool = False
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        return []


@tool(
    example="/link_generated_ad ad:vt-7f3a9c2e meta_ad:120210796649755270",
    step="Linking {ad} to Meta ad {meta_ad}",
    help="""The sync links an ad by itself when its tracking id (like vt-7f3a9c2e) is in the ad name or the
    link's utm_content. The Meta ad id is Ads Manager's Ad ID column.""",
)
async def link_generated_ad(
    deps: Deps,
    ad: Annotated[str, Field(max_length=40)],
    meta_ad: Annotated[str, Field(max_length=40)],
    confirm: bool = False,
) -> LinkAnswer:
    """Link an ad made by create_ads to the live Meta ad it became, when the sync could not (no tracking id
    in its name or utm_content), so its results count for its template. Admins; previews unless
    confirm:true.

    Args:
        ad: Its tracking id (vt-…) or the start of its id.
        meta_ad: The Meta ad id (same brand, already synced).
        confirm: true to link them.
    """
    meta_ad = meta_ad.strip()
    async with deps.db.as_user(deps.caller) as conn:
        generated = await links.find_generated_ad(conn, reference=ad)
        roles = await memberships(conn, user_id=deps.caller.user_id)
        admin_of(roles, generated.organization_id, organization=f"{generated.brand}'s organization",
                 to="link ads made here to Meta ads")  # fmt: skip
        answer = {"tracking_id": generated.tracking_id, "meta_ad_id": meta_ad}
        if not confirm:
            check = await links.check_link(conn, generated=generated, meta_ad_id=meta_ad)
            if check.already is not None:
                return LinkAnswer(summary=check.already, linked=True, **answer)
            return ask_first(
                LinkAnswer, f"Link {generated.tracking_id} ({generated.product or generated.brand}) to Meta ad"
                f" {meta_ad} ('{check.meta_ad_name}')?", tool="link_generated_ad",
                args={"ad": str(generated.id), "meta_ad": meta_ad}, label="Link", **answer,
            )  # fmt: skip
        done = await links.link_by_hand(conn, generated=generated, meta_ad_id=meta_ad)
    return LinkAnswer(summary=done.summary, linked=True, **answer)
