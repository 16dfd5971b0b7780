"""AI match: how well each approved library template fits one product, scored 0–100 with a reason.

A model (Pydantic-AI, structured output, `prompts/template_match.md`) reads the template (metadata,
description, image) and the product (description, offer variants, personas, brand voice). Calls run
in parallel under a concurrency bound; a 429 or an overloaded answer is retried after its
Retry-After (bounded in attempts and in wait). Results are cached per (template, product,
prompt_version) in `template_recommendations` (methodology `ai_match`): a second run scores only what
is new. With no model key, the offline fallback scores by embedding similarity between the
template's text and the product's, and says so. Runs as the service role (a job or a tool's
background work); tenancy comes from the product row.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, computed_field
from pydantic_ai import Agent, UserContent
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models import Model

from core.errors import InvalidArgument, UserFacingError
from db.pool import Database
from prompts import load_prompt
from services.llm.model_choice import analysis_model, model_name
from services.retry_after import retry_after_seconds
from services.retrying import Backoff, GaveUp, RetryPolicy
from services.templates.inputs import ProductBrief, TemplateBrief, image_content, load_product, load_templates
from services.templates.similarity import LABEL as OFFLINE_LABEL
from services.templates.similarity import similarity_scores
from settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
Methodology = Literal["ai_match", "performance", "diversity"]
RecommendationFilter = Literal["all", "recommended", "unused_recommended"]

OFFLINE_VERSION = "offline-minilm-1"
"""The offline scorer's own version: its scores never count as a model's cached judgement."""
RECOMMENDED_SCORE = 70.0
"""ai_match scores at or above this are "recommended" (the filters and auto-recommendations use it)."""
MAX_CONCURRENCY = 32
MAX_ATTEMPTS = 4
"""Calls per template: the first and up to three retries after a 429 / overloaded / 5xx answer."""
MAX_RETRY_AFTER = 60.0
"""Seconds: a Retry-After longer than this fails the template (reported) instead of stalling the run."""
BACKOFF_SECONDS = 1.0
"""First wait when a retryable answer names no Retry-After; doubles per attempt (with jitter)."""
MODEL_TIMEOUT = 120.0
WRITE_BATCH = 25
MAX_ERROR_SAMPLES = 5
RETRYABLE = frozenset({429, 500, 502, 503, 504, 529})
FATAL = frozenset({401, 403})
"""A refused key fails every call the same way: the run stops calling after the first."""


class TemplateMatch(BaseModel):
    """The model's judgement of one template for one product."""

    score: int = Field(ge=0, le=100, description="Fit from 0 (poor) to 100 (ideal), per the rubric")
    reason: str = Field(max_length=600, description="One or two sentences a marketer can act on")


class ScoringResult(BaseModel):
    """What one scoring run did, in counts (`summary` says it in a sentence)."""

    product: str
    scorer: str
    """The model (`anthropic:claude-sonnet-4-6`), or the offline label."""
    offline: bool
    prompt_version: str
    templates: int = 0
    """Approved templates considered."""
    scored: int = 0
    cached: int = 0
    failed: int = 0
    skipped: int = 0
    """Templates asked for by id that are not (or no longer) approved."""
    retries: int = 0
    """Calls repeated after a rate limit or an overloaded answer."""
    error_samples: list[str] = Field(default_factory=list)
    failed_template_ids: list[UUID] = Field(default_factory=list)
    seconds: float = 0.0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        by = f"by text similarity ({OFFLINE_LABEL})" if self.offline else f"with {self.scorer}"
        parts = [f"Scored {self.scored} template{'s' if self.scored != 1 else ''} for {self.product} {by}"]
        if self.cached:
            parts.append(f"{self.cached} already scored (kept)")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (not approved)")
        if self.retries:
            parts.append(f"{self.retries} calls retried after a rate limit")
        text = "; ".join(parts) + "."
        if self.failed:
            text += (
                f" {self.failed} failed and will be scored on the next run: "
                + "; ".join(self.error_samples)
                + "."
            )
        return text


def prompt_version() -> str:
    return load_prompt("template_match").version


@cache
def match_agent() -> Agent[None, TemplateMatch]:
    """Declared once; the model is chosen per run (settings), so tests can override it."""
    return Agent(
        output_type=TemplateMatch,
        instructions=load_prompt("template_match").text,
        name="template_match",
        retries=2,
    )


class _Failed(Exception):
    """One template could not be scored; the message is what the result reports."""

    def __init__(self, message: str, retries: int = 0) -> None:
        super().__init__(message)
        self.retries = retries


def _error_text(error: ModelHTTPError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"HTTP {error.status_code} {body['error'].get('type', '')}: {body['error'].get('message', '')}"
    return f"HTTP {error.status_code}"


async def score_with_model(
    template: TemplateBrief, product: ProductBrief, *, model: Model | str, settings: Settings
) -> tuple[TemplateMatch, int]:
    """One template's score, retrying rate limits and overloads (Retry-After honoured, bounded).

    Returns the match and the number of retries it took; raises `_Failed` with a reason."""
    content: list[UserContent] = [template.describe(), product.describe()]
    image = await image_content(template.image_path, settings=settings)
    if image is not None:
        content.append(image)
    retries = 0

    def count(error: BaseException, wait: float) -> None:
        nonlocal retries
        retries += 1

    policy = RetryPolicy(
        attempts=MAX_ATTEMPTS, longest_wait=MAX_RETRY_AFTER, backoff=Backoff(first=BACKOFF_SECONDS)
    )
    try:
        result = await policy.run(
            lambda: match_agent().run(
                content,
                model=model,
                model_settings={"max_retries": 0, "max_tokens": 600},
                timeout=MODEL_TIMEOUT,
            ),
            retry_on=lambda error: isinstance(error, ModelHTTPError) and error.status_code in RETRYABLE,
            asked_wait=lambda error: (
                retry_after_seconds(error.headers) if isinstance(error, ModelHTTPError) else None
            ),
            on_retry=count,
        )
    except GaveUp as gave_up:
        assert isinstance(gave_up.error, ModelHTTPError)
        text = _error_text(gave_up.error)
        if gave_up.wait is not None:
            raise _Failed(f"{text} (asked to wait {gave_up.wait:.0f} s; try again later)") from gave_up.error
        raise _Failed(f"{text} (gave up after {gave_up.attempts} attempts)", retries) from gave_up.error
    except ModelHTTPError as error:
        raise _Failed(_error_text(error), retries) from error
    return result.output, retries


_CACHED_SQL = """
select template_id, prompt_version from template_recommendations
where product_id = %s and methodology = 'ai_match' and template_id = any(%s)
"""
_UPSERT_SQL = """
insert into template_recommendations
  (product_id, organization_id, template_id, methodology, score, reason, prompt_version)
values (%(product_id)s, %(organization_id)s, %(template_id)s, 'ai_match', %(score)s, %(reason)s,
        %(prompt_version)s)
on conflict (product_id, template_id, methodology) do update set
  score = excluded.score, reason = excluded.reason, prompt_version = excluded.prompt_version,
  created_at = now()
"""


async def _write(db: Database, rows: list[dict[str, Any]]) -> None:
    if rows:
        async with db.as_service() as conn, conn.cursor() as cur:
            await cur.executemany(_UPSERT_SQL, rows)


async def score_templates(
    db: Database,
    *,
    product_id: UUID,
    template_ids: list[UUID] | None = None,
    settings: Settings,
    concurrency: int = 8,
    progress: Progress | None = None,
) -> ScoringResult:
    """Score approved templates (all, or those in `template_ids`) for one product; store each score.

    Uses the configured model (`VIRALTRACKER_MODEL` / an API key; `ANTHROPIC_BASE_URL` for another
    endpoint) with at most `concurrency` calls at a time, else the offline text similarity. A template
    already scored for this product by the current prompt version is counted as `cached` and not
    called again (offline, a model's score is kept too). A template that keeps failing is counted
    and described in `error_samples`; the others are stored. `progress(message, fraction)` hears
    "Scored 40 of 100 templates for …" as calls finish.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InvalidArgument(f"concurrency must be between 1 and {MAX_CONCURRENCY} (got {concurrency}).")
    started = time.monotonic()
    model = analysis_model(settings)
    version = prompt_version() if model is not None else OFFLINE_VERSION
    keep = {version} if model is not None else {version, prompt_version()}
    async with db.as_service() as conn:
        product = await load_product(conn, product_id=product_id)
        templates = await load_templates(conn, template_ids=template_ids)
        cur = await conn.execute(_CACHED_SQL, (product_id, [t.id for t in templates]))
        cached_versions = {r["template_id"]: r["prompt_version"] for r in await cur.fetchall()}
    result = ScoringResult(
        product=product.name,
        scorer=model_name(model) if model is not None else OFFLINE_LABEL,
        offline=model is None,
        prompt_version=version,
        templates=len(templates),
        skipped=len(set(template_ids)) - len(templates) if template_ids is not None else 0,
    )
    todo = [t for t in templates if cached_versions.get(t.id) not in keep]
    result.cached = len(templates) - len(todo)
    if model is None:
        await _score_offline(db, product, todo, version, result)
    elif isinstance(model, Model):
        async with model:  # the provider's HTTP client is closed when the run ends
            await _score_all(db, product, todo, model, version, settings, concurrency, result, progress)
    else:
        await _score_all(db, product, todo, model, version, settings, concurrency, result, progress)
    if progress is not None:
        progress(f"Scored {result.scored + result.failed} of {len(todo)} templates for {product.name}", 1.0)
    result.seconds = round(time.monotonic() - started, 2)
    return result


async def _score_all(
    db: Database,
    product: ProductBrief,
    todo: Sequence[TemplateBrief],
    model: Model | str,
    version: str,
    settings: Settings,
    concurrency: int,
    result: ScoringResult,
    progress: Progress | None,
) -> None:
    gate = asyncio.Semaphore(concurrency)
    refused: list[str] = []  # set once a key is refused: no more calls

    async def one(template: TemplateBrief) -> tuple[TemplateBrief, TemplateMatch | str]:
        async with gate:
            if refused:
                return template, refused[0]
            try:
                match, retries = await score_with_model(template, product, model=model, settings=settings)
            except _Failed as error:
                result.retries += error.retries
                cause = error.__cause__
                if isinstance(cause, ModelHTTPError) and cause.status_code in FATAL:
                    refused.append(str(error))
                return template, str(error)
            except UserFacingError as error:
                return template, error.message
            except Exception as error:  # one template's failure is counted and described; the rest go on
                log.warning("scoring template %s failed", template.id, exc_info=True)
                return template, f"{type(error).__name__}: {str(error)[:200]}"
            result.retries += retries
            return template, match

    pending: list[dict[str, Any]] = []
    for done, next_done in enumerate(asyncio.as_completed([one(t) for t in todo]), start=1):
        template, outcome = await next_done
        if isinstance(outcome, str):
            _fail(result, template, outcome)
        else:
            pending.append(_row(product, template, float(outcome.score), outcome.reason, version))
            result.scored += 1
        if len(pending) >= WRITE_BATCH:
            await _write(db, pending)
            pending = []
        if progress is not None:
            progress(f"Scored {done} of {len(todo)} templates for {product.name}", done / len(todo))
    await _write(db, pending)


def _fail(result: ScoringResult, template: TemplateBrief, reason: str) -> None:
    result.failed += 1
    result.failed_template_ids.append(template.id)
    if len(result.error_samples) < MAX_ERROR_SAMPLES:
        result.error_samples.append(f"{template.label}: {reason}")


def _row(
    product: ProductBrief, template: TemplateBrief, score: float, reason: str, version: str
) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "organization_id": product.organization_id,
        "template_id": template.id,
        "score": score,
        "reason": reason,
        "prompt_version": version,
    }


async def _score_offline(
    db: Database, product: ProductBrief, todo: Sequence[TemplateBrief], version: str, result: ScoringResult
) -> None:
    if not todo:
        return
    scores = await asyncio.to_thread(similarity_scores, product, list(todo))
    rows = [_row(product, t, score, reason, version) for t, (score, reason) in zip(todo, scores, strict=True)]
    await _write(db, rows)
    result.scored = len(rows)
