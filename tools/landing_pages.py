"""Landing pages in chat: analyse a page, list past analyses, promote a page (or the ads pointing at a
URL) to a draft offer variant shown as a card, edited by re-calling with changes and written only on
confirmation."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services import brands as brand_service
from services.presentable import Presentable, Table, table_of, with_rows
from services.research import landing_pages as pages
from services.research import offer_variants as variants
from tools.actions import ActionButton, confirmation
from tools.common import Limit
from tools.deps import Deps
from tools.registry import tool


class AnalyzeAnswer(pages.LandingPageAnalysis, Presentable):
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        columns = ["section", "status", "found", "sample", "error"]
        return with_rows(table_of(f"Landing page — {self.title or self.url}", self.sections, columns))


@tool(
    example='/analyze_landing_page url:https://acmepets.example/products/calming-bites brand:"Acme Pets"',
    step=("Analysing the landing page {url}", "Analysing a landing page for {brand}"),
    help="""The page is stored once per distinct content; each section is reported done or failed on its own. A
    competitor's page is kept as the brand's research (pattern discovery compares it), not as one of
    the brand's own pages.""",
)
async def analyze_landing_page(
    deps: Deps, brand: str, url: str | None = None, product: str | None = None,
    competitor: str | None = None,
) -> AnalyzeAnswer:  # fmt: skip
    """Fetch a landing page and analyse it for a brand: benefits, persona signals, copy patterns, objection
    handling, belief-first (mechanism, desires, sample hooks) and testimonials.

    Args:
        product: The product it sells (links the page to it).
        competitor: The competitor's name, when it is their page (kept as research).
    """
    result = await pages.analyze_landing_page(
        deps.db, deps.caller, url=url, brand=brand, product=product, settings=deps.settings,
        progress=lambda message: deps.report(message), competitor=competitor,
    )  # fmt: skip
    actions = []
    if result.landing_page_id is not None and result.competitor is None:
        args: dict[str, str | int | bool] = {"url": str(result.landing_page_id)[:8]}
        if product:
            args["product"] = product
        actions.append(
            ActionButton(label="Promote to an offer variant", tool="promote_lp_to_variant", args=args)
        )
    return AnalyzeAnswer(**result.model_dump(), actions=actions)


class AnalysesResult(BaseModel, Presentable):
    summary: str
    analyses: list[pages.AnalysisRow] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        columns = ["brand", "url", "method", "sections_done", "sections_failed", "created_at"]
        return with_rows(table_of("Landing page analyses", self.analyses, columns))


@tool(
    example='/landing_page_analyses brand:"Acme Pets"',
    step="Listing landing page analyses",
    help="Each says how many sections it filled.",
)
async def landing_page_analyses(
    deps: Deps, brand: str | None = None, url: str | None = None, limit: Limit = 20
) -> AnalysesResult:
    """Past landing page analyses of your brands, newest first.

    Args:
        brand: Only this brand (default all).
        url: Only this exact page address.
    """
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand) if brand else None
        rows = await pages.list_analyses(
            conn, brand_id=brand_ref.id if brand_ref else None, url=url, limit=limit
        )
    scope = f" for {brand_ref.name}" if brand_ref else ""
    if not rows:
        return AnalysesResult(summary=f"No landing page analyses{scope} yet: try /analyze_landing_page.")
    return AnalysesResult(
        summary=f"{len(rows)} landing page analysis(es){scope}, newest first.", analyses=rows
    )


class VariantField(BaseModel):
    field: str
    value: str


class VariantCard(BaseModel, Presentable):
    summary: str
    created_id: str | None = None
    fields: list[VariantField] = Field(default_factory=list)
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        title = "Offer variant created" if self.created_id else "Draft offer variant (not saved)"
        return with_rows(table_of(title, self.fields, ["field", "value"]))


@tool(
    example='/promote_lp_to_variant url:https://acmepets.example/products/calming-bites name:"Calming Bites for rescues"',
    step="Drafting an offer variant from {url}",
    aliases={"set": "edits", "id": "url", "page": "url"},
    help="""The draft carries the page's benefits, pains from persona signals, objections, mechanism, desires
    and sample hooks. Each call rebuilds the card from the page and all the changes given. For
    example edits:"benefits=Calmer walks | Better sleep".""",
)
async def promote_lp_to_variant(
    deps: Deps,
    url: str,
    product: str | None = None,
    name: str | None = None,
    edits: str | None = None,
    confirm: bool = False,
) -> VariantCard:
    """Draft an offer variant of a product from an analysed landing page (or a URL's ads' copy); saved only
    with confirm:true. To revise, call again with the same url and product plus name and/or edits,
    passing every change so far.

    Args:
        url: The page's address or id.
        product: Default: the page's product.
        name: The variant's name.
        edits: `field=value` separated by ';', list items by '|', `field+=value` appends; fields:
            benefits, pain_points, objections, desires, sample_hooks, mechanism, ump, ums,
            voice_tone_override, landing_page_url.
        confirm: true to create it.
    """
    async with deps.db.as_user(deps.caller) as conn:
        draft = await variants.promote_draft(conn, ref=url, product=product, name=name, edits=edits)
        created = await variants.create_variant(conn, draft=draft) if confirm else None
    fields = [VariantField(field=f, value=v) for f, v in draft.rows()]
    if created is not None:
        linked = f", linked to {draft.landing_page_url}" if draft.source_landing_page_id else ""
        return VariantCard(
            summary=f"Created the offer variant '{draft.name}' for {draft.product}{linked}.",
            created_id=str(created)[:8],
            fields=fields,
        )
    args: dict[str, str | int | bool] = {"url": url, "product": draft.product}
    if name:
        args["name"] = name
    if edits:
        args["edits"] = edits
    return VariantCard(
        summary=(
            f"Draft offer variant '{draft.name}' for {draft.product}, from {draft.source}. Nothing is saved "
            'yet: confirm to create it, or say what to change (e.g. "change the name to …").'
        ),
        fields=fields,
        actions=confirmation(tool="promote_lp_to_variant", args=args, label="Create variant"),
    )


class DiscoveredRow(BaseModel):
    url: str
    ads: int
    scraped: bool
    product: str | None
    benefits: str
    pain_points: str
    sample_hooks: str
    note: str | None = None


class DiscoverResult(BaseModel, Presentable):
    summary: str
    brand: str
    variants: list[DiscoveredRow] = Field(default_factory=list)
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        columns = ["url", "ads", "scraped", "product", "benefits", "pain_points", "sample_hooks", "note"]
        return with_rows(table_of(f"Discovered variants — {self.brand}", self.variants, columns))


MOST_BUTTONS = 5


@tool(
    example='/discover_variants brand:"Acme Pets"',
    step="Discovering offer variants for {brand}",
    help="For brands with ads but no scraped landing pages; Promote previews the draft as a variant.",
)
async def discover_variants(deps: Deps, brand: str) -> DiscoverResult:
    """Draft offer variants from where a brand's Meta ads send people: one per landing URL, from those ads'
    copy, each with a Promote button.
    """
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
        found = await variants.discover_variants(conn, brand_id=brand_ref.id)
    if not found:
        return DiscoverResult(
            summary=f"None of {brand_ref.name}'s ads have a landing URL with copy yet: sync Meta first (/sync_meta).",
            brand=brand_ref.name,
        )
    rows: list[DiscoveredRow] = []
    actions: list[ActionButton] = []
    for item in found:
        d = item.draft
        rows.append(
            DiscoveredRow(
                url=item.url, ads=item.ads, scraped=item.scraped, product=d.product if d else None,
                benefits=" | ".join(d.benefits) if d else "", pain_points=" | ".join(d.pain_points) if d else "",
                sample_hooks=" | ".join(d.sample_hooks) if d else "", note=item.problem,
            )
        )  # fmt: skip
        if d is not None and len(actions) < MOST_BUTTONS:
            actions.append(
                ActionButton(
                    label=f"Promote {item.url.split('://')[-1]}",
                    tool="promote_lp_to_variant",
                    args={"url": item.url, "product": d.product},
                )
            )
    text = (
        f"{len(found)} landing URL(s) in {brand_ref.name}'s ads, each with a draft variant from the ads' copy"
    )
    text += " (extractive, offline). Promote one to review it as an offer variant."
    return DiscoverResult(summary=text, brand=brand_ref.name, variants=rows, actions=actions)
