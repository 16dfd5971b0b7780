"""Auto-recommendations: when templates are approved, the products that opted in
(`products.auto_recommend_templates`) get them scored (ai_match, `services.templates.scoring`); those
scoring at or above the product's threshold are recommended to it and its organization is notified.

Approval only queues a platform `template_scoring` run (`on_templates_approved`: instant, never
raises); the run calls `auto_recommend`, which may take minutes with a model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from core.errors import UserFacingError
from db.pool import Conn, Database
from jobs import queue
from services.platform import notifications
from settings import Settings

log = logging.getLogger(__name__)

JOB_TYPE = "template_scoring"


class TemplateScoringParams(BaseModel):
    """The parameters of a `template_scoring` run (jobs.builtin runs it)."""

    model_config = ConfigDict(extra="forbid")

    template_ids: list[UUID] | None = Field(default=None, max_length=10_000)
    """The templates just approved; None: every approved template not yet scored for a product."""
    product_ids: list[UUID] | None = Field(default=None, max_length=10_000)
    """Only these products (those of them with auto-recommendations on); None: every opted-in product."""


Progress = Callable[[str, float], None]


class ProductOutcome(BaseModel):
    product_id: UUID
    product: str
    brand: str
    scored: int = 0
    recommended: list[str] = Field(default_factory=list)
    """Names of the templates newly recommended to the product by this run."""
    notification_id: UUID | None = None
    error: str | None = None


class AutoResult(BaseModel):
    templates: int
    """Templates asked about (0 with `template_ids` None: every approved template)."""
    products: int = 0
    """Opted-in products considered."""
    run_id: UUID | None = None
    """The queued template_scoring run (on approval)."""
    scored: int = 0
    recommended: int = 0
    notified: int = 0
    failed_products: int = 0
    outcomes: list[ProductOutcome] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    summary: str = ""


async def on_templates_approved(db: Database, template_ids: list[UUID], settings: Settings) -> AutoResult:
    """After an approval: queue one template_scoring run for these templates when any product has
    auto-recommendations on. Never raises: a failure is in `errors` and the summary (the approval
    stands either way)."""
    result = AutoResult(templates=len(template_ids))
    try:
        async with db.as_service() as conn:
            result.products = len(await opted_in_products(conn))
        if not result.products:
            result.summary = "No product has auto-recommendations on: nothing to score."
            return result
        params = TemplateScoringParams(template_ids=template_ids)
        async with db.as_service() as conn:
            result.run_id = await queue.enqueue(conn, JOB_TYPE, params, organization_id=None, brand_id=None)
    except Exception as error:
        log.exception("queueing auto-recommendations for %s failed", template_ids)
        result.errors.append(_describe(error))
        result.summary = f"Auto-recommendations could not be queued: {result.errors[0]}"
        return result
    result.summary = (
        f"Scoring {len(template_ids)} new template(s) for {result.products} product(s) with"
        f" auto-recommendations on (run {str(result.run_id)[:8]})."
    )
    return result


async def opted_in_products(conn: Conn, product_ids: list[UUID] | None = None) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "select p.id, p.name, p.organization_id, p.auto_template_threshold as threshold, b.name as brand"
        " from products p join brands b on b.id = p.brand_id"
        " where p.auto_recommend_templates and p.archived_at is null"
        " and (%(ids)s::uuid[] is null or p.id = any(%(ids)s))"
        " order by b.name, p.name",
        {"ids": product_ids},
    )
    return list(await cur.fetchall())


async def auto_recommend(
    db: Database,
    *,
    template_ids: list[UUID] | None,
    settings: Settings,
    product_ids: list[UUID] | None = None,
    run_id: UUID | None = None,
    progress: Progress | None = None,
) -> AutoResult:
    """Score the templates (None: every approved one; the scorer's cache skips those already scored)
    for each opted-in product (or those of `product_ids` that opted in), recommend the ones at or above
    the product's threshold, and notify each product's organization once about its new ones. One
    product's failure is counted and described; the others go on."""
    score_templates = _scorer()
    async with db.as_service() as conn:
        products = await opted_in_products(conn, product_ids)
    result = AutoResult(templates=len(template_ids or []), products=len(products))
    for n, product in enumerate(products, start=1):
        outcome = ProductOutcome(product_id=product["id"], product=product["name"], brand=product["brand"])
        result.outcomes.append(outcome)
        try:
            scoring = await score_templates(
                db, product_id=product["id"], template_ids=template_ids, settings=settings
            )
            outcome.scored = int(getattr(scoring, "scored", 0) or 0)
            failures = int(getattr(scoring, "failed", 0) or 0)
            if failures:
                outcome.error = f"{failures} template(s) could not be scored"
        except Exception as error:  # one product's failure never stops the others
            log.warning(
                "scoring for %s failed", product["name"], exc_info=not isinstance(error, UserFacingError)
            )
            outcome.error = _describe(error)
        # Recommend what is scored, even after a partial failure.
        async with db.as_service() as conn:
            await _recommend(conn, product, template_ids, outcome, run_id)
        if progress is not None:
            progress(f"Scored the library for {n} of {len(products)} products", n / len(products))
    result.scored = sum(o.scored for o in result.outcomes)
    result.recommended = sum(len(o.recommended) for o in result.outcomes)
    result.notified = sum(1 for o in result.outcomes if o.notification_id)
    result.failed_products = sum(1 for o in result.outcomes if o.error)
    result.errors = [f"{o.product}: {o.error}" for o in result.outcomes if o.error]
    result.summary = _summary(result)
    return result


def _scorer() -> Any:
    """`services.templates.scoring.score_templates` (imported when used: it pulls in the model stack)."""
    from services.templates.scoring import score_templates

    return score_templates


_MARK = """
update template_recommendations r set auto_recommended_at = now()
from scraped_templates t
where t.id = r.template_id and t.status = 'approved' and r.product_id = %(product)s
  and r.methodology = 'ai_match' and r.score >= %(threshold)s and r.auto_recommended_at is null
  and (%(templates)s::uuid[] is null or r.template_id = any(%(templates)s))
returning r.template_id, coalesce(t.name, 'template ' || left(t.id::text, 8)) as name, r.score, r.reason
"""


async def _recommend(
    conn: Conn,
    product: dict[str, Any],
    template_ids: list[UUID] | None,
    outcome: ProductOutcome,
    run_id: UUID | None,
) -> None:
    """Mark the newly qualifying templates recommended and notify the organization, in one transaction
    (a re-run finds them marked: never a second notification)."""
    cur = await conn.execute(
        _MARK, {"product": product["id"], "threshold": product["threshold"], "templates": template_ids}
    )
    rows = sorted(await cur.fetchall(), key=lambda r: -float(r["score"]))
    if not rows:
        return
    outcome.recommended = [r["name"] for r in rows]
    listed = "; ".join(f"{r['name']} ({float(r['score']):.0f}/100)" for r in rows[:5])
    more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
    outcome.notification_id = await notifications.create(
        conn,
        organization_id=product["organization_id"],
        type="template_recommended",
        category="templates",
        title=f"{len(rows)} new template(s) recommended for {product['name']}",
        message=(
            f"Scored at or above {float(product['threshold']):.0f}: {listed}{more}. See them with"
            f' /recommend_templates product:"{product["name"]}" filter:recommended.'
        ),
        metadata={
            "product_id": str(product["id"]),
            "template_ids": [str(r["template_id"]) for r in rows],
            "scores": [round(float(r["score"]), 1) for r in rows],
            "run_id": str(run_id) if run_id else None,
        },
    )


class AutoSetting(BaseModel):
    product: str
    brand: str
    enabled: bool
    threshold: float


async def auto_settings(conn: Conn, *, product_id: UUID | None = None) -> list[AutoSetting]:
    """The products the connection may see (or one), with their auto-recommendation setting."""
    cur = await conn.execute(
        "select p.name as product, b.name as brand, p.auto_recommend_templates as enabled,"
        " p.auto_template_threshold as threshold from products p join brands b on b.id = p.brand_id"
        " where p.archived_at is null and (%(id)s::uuid is null or p.id = %(id)s) order by b.name, p.name",
        {"id": product_id},
    )
    return [AutoSetting(**row) for row in await cur.fetchall()]


async def set_auto(conn: Conn, *, product_id: UUID, enabled: bool, threshold: float) -> None:
    """Turn auto-recommendations on or off for a product (on the caller's connection: RLS applies)."""
    await conn.execute(
        "update products set auto_recommend_templates = %s, auto_template_threshold = %s where id = %s",
        (enabled, threshold, product_id),
    )


def _describe(error: BaseException) -> str:
    if isinstance(error, UserFacingError):
        return error.message
    return f"{type(error).__name__}: {error}".rstrip(": ")


def _summary(result: AutoResult) -> str:
    if not result.products:
        return "No product has auto-recommendations on: nothing to score."
    text = (
        f"Scored {result.scored} template(s) for {result.products} product(s);"
        f" {result.recommended} newly recommended, {result.notified} organization notice(s) sent."
    )
    if result.errors:
        text += f" {result.failed_products} product(s) had problems: {'; '.join(result.errors[:3])}."
    return text
