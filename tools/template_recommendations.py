"""The `recommend_templates` tool: which library templates to use for a product, and marking one used."""

from __future__ import annotations

from datetime import date

from services.brands import resolve_brand
from services.platform.storage import storage_for
from services.products import resolve_product
from services.templates.library import template_file
from services.templates.recommendations import RecommendationResult, recommend
from services.templates.recommendations import mark_used as mark_template_used
from services.templates.scoring import Methodology, RecommendationFilter, ScoringResult, score_templates
from tools.actions import ActionButton
from tools.common import Days, ShortLimit, window_of
from tools.deps import Deps
from tools.registry import tool

MARK_USED_BUTTONS = 3


@tool(
    example='/recommend_templates brand:"Acme Pets" product:"Joint Chews" filter:recommended',
    step="Recommending templates for {product} ({brand}) by {methodology}",
    help="""ai_match: a model scores each template's fit (offer variants, personas, brand voice) 0-100; new
    templates are scored now (cached afterwards); with no model key, scores are text similarity and
    labelled so. performance: templates already used in the brand's ads, by ROAS from summed raw
    counts, smoothed toward the brand's ROAS. diversity: templates not used for this product yet,
    spread across categories.""",
)
async def recommend_templates(
    deps: Deps,
    brand: str,
    product: str,
    methodology: Methodology = "ai_match",
    filter: RecommendationFilter = "all",
    limit: ShortLimit = 12,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    mark_used: str | None = None,
) -> RecommendationResult:
    """Recommend approved library templates for one product, each with a score and the reason.

    Args:
        methodology: ai_match (model-scored fit), performance (ROAS in the brand's ads) or diversity.
        filter: recommended = score >= 70 or beats the brand's ROAS.
        days: performance only: last N full days (default 90); or since/until.
        mark_used: A template id to mark used for this product first.
    """
    window = window_of(deps, days, since, until, default_days=90) if methodology == "performance" else None
    settings = deps.settings
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        product_ref = await resolve_product(conn, name=product, brand_id=brand_ref.id)
        marked = (
            await mark_template_used(conn, product=product_ref, template=mark_used) if mark_used else None
        )
    scoring: ScoringResult | None = None
    if methodology == "ai_match" and not marked:
        # The caller may see this product (checked above, under RLS); scores are written as the service.
        scoring = await score_templates(
            deps.db,
            product_id=product_ref.id,
            settings=settings,
            progress=lambda message, _fraction: deps.report(message),
        )
    async with deps.db.as_user(deps.caller) as conn:
        result = await recommend(
            conn,
            product=product_ref,
            methodology=methodology,
            filter=filter,
            limit=limit,
            window=window,
            scoring=scoring,
        )
    storage = storage_for(settings)
    for pick in result.rows:
        pick.image_file = template_file(settings, pick.thumbnail_path or pick.image_path, storage=storage)
    if marked:
        result.marked_used = marked
        result.summary = f"Marked '{marked}' as used for {product_ref.name}. {result.summary}"
    result.actions = [
        ActionButton(
            label=f"Mark used: {pick.name or 'Untitled'}",
            tool="recommend_templates",
            args={
                "brand": brand_ref.name,
                "product": product_ref.name,
                "methodology": methodology,
                "filter": filter,
                "mark_used": str(pick.template_id),
            },
            once=True,
        )
        for pick in [p for p in result.rows if not p.used][:MARK_USED_BUTTONS]
    ]
    return result
