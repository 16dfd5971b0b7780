"""job_runs: enqueue a run (with its queue job, in one transaction) and execute one attempt of it.

A run row is the record people see (status, attempts, counts, last error); the procrastinate job is
the delivery. The attempt decides everything itself: success is written once (`where status =
'running'`), a failure is either queued again with a backoff or the run fails for good with a
notification. The retry strategy in `jobs.app` only carries that decision out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg.types.json import Jsonb
from pydantic import BaseModel, SecretStr

from core.errors import InvalidArgument, NotFound, UserFacingError
from db.pool import Conn, Database
from jobs import queue
from jobs.registry import (
    JobType,
    Notice,
    PermanentJobError,
    RunContext,
    describe,
    is_retryable,
    job_type_named,
)
from services.platform import notifications, observability
from settings import Settings

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """Raised by an attempt that failed and will be tried again in `delay` seconds."""

    def __init__(self, delay: float, error: str) -> None:
        super().__init__(error)
        self.delay = delay


class RunFailed(Exception):
    """Raised by an attempt after which the run failed for good (already recorded)."""


async def enqueue(
    conn: Conn,
    job_type: JobType,
    params: BaseModel,
    *,
    organization_id: UUID | None,
    brand_id: UUID | None,
    scheduled_job_id: UUID | None = None,
    scheduled_for: datetime | None = None,
    retry_of: UUID | None = None,
) -> UUID:
    """A queued run of a registered type (its queue and per-brand lock) and its queue job, in the
    caller's transaction (`jobs.queue.enqueue`). Returns the run id."""
    return await queue.enqueue(
        conn,
        job_type.name,
        params,
        organization_id=organization_id,
        brand_id=brand_id,
        queue=job_type.queue,
        serialize_per_brand=job_type.serialize_per_brand,
        lock_group=job_type.lock_group,
        scheduled_job_id=scheduled_job_id,
        scheduled_for=scheduled_for,
        retry_of=retry_of,
    )


async def enqueue_many(
    conn: Conn, job_type: JobType, many: list[BaseModel], *, organization_id: UUID | None
) -> list[UUID]:
    """Many runs of one type (no brand) and their queue jobs in two statements (`jobs.queue`)."""
    return await queue.enqueue_many(
        conn, job_type.name, many, organization_id=organization_id, queue=job_type.queue
    )


async def check_brand(conn: Conn, brand_id: UUID, organization_id: UUID | None) -> None:
    """The brand exists and belongs to that organization (ids come from tools, never from a model)."""
    cur = await conn.execute(
        "select 1 from brands where id = %s and organization_id = %s", (brand_id, organization_id)
    )
    if await cur.fetchone() is None:
        raise NotFound(f"No brand {brand_id} in that organization.")


def validated_params(
    job_type: JobType, params: dict[str, Any], *, organization_id: UUID | None, brand_id: UUID | None
) -> BaseModel:
    """Check where a run may go and its parameters (the brand, if any, joins them) before enqueueing."""
    if job_type.platform_only and (organization_id is not None or brand_id is not None):
        raise InvalidArgument(
            f"{job_type.name} is a platform-level job: it runs once for every organization on the"
            " platform schedule, not per organization or brand. See the platform schedule in /jobs."
        )
    if job_type.needs_brand and brand_id is None:
        raise InvalidArgument(f"{job_type.name} runs for one brand: say which brand.")
    if brand_id is not None and organization_id is None:
        raise InvalidArgument("A brand's job needs the brand's organization.")
    raw = dict(params)
    if brand_id is not None and "brand_id" in job_type.params.model_fields:
        raw["brand_id"] = str(brand_id)
    try:
        return job_type.parse(raw)
    except PermanentJobError as error:
        raise InvalidArgument(error.message) from None


# -- one attempt ---------------------------------------------------------------------------------


async def execute_run(
    db: Database,
    settings: Settings,
    run_id: UUID,
    *,
    attempt: int,
    meta_client_factory: Callable[[SecretStr], Any] | None = None,
) -> dict[str, Any] | None:
    """Run attempt number `attempt` of a run. Returns the stored result (None when there is nothing to
    do: the run is gone or already finished, e.g. a stalled attempt that had in fact completed).
    Raises `RetryLater` or `RunFailed` after recording a failure."""
    row = await _statement(db, _START, (attempt, run_id))
    if row is None:
        log.info("run %s: nothing to do (finished or deleted)", run_id)
        return None
    context = RunContext(
        db=db,
        settings=settings,
        run_id=run_id,
        job_type=row["job_type"],
        organization_id=row["organization_id"],
        brand_id=row["brand_id"],
        attempt=attempt,
        meta_client_factory=meta_client_factory,
    )
    job_type: JobType | None = None
    try:
        job_type = job_type_named(row["job_type"])
        params = job_type.parse(row["params"])
        with _span(job_type.name, run_id, attempt):
            outcome = await job_type.run(context, params)
        result = outcome.model_dump(mode="json")
        if context.notes:
            result["notes"] = context.notes
        notice = job_type.on_success(context, params, outcome) if job_type.on_success else None
    except asyncio.CancelledError:
        # The worker is stopping: the queue job is retried shortly (jobs.app.FollowTheRun).
        async with db.as_service() as conn:
            await conn.execute(
                "update job_runs set status = 'queued', error = 'interrupted: the worker stopped; it runs again'"
                " where id = %s and status = 'running'",
                (run_id,),
            )
        raise
    except Exception as error:
        await _record_failure(db, context, job_type, error)
        raise AssertionError("unreachable") from None  # _record_failure always raises
    if notice is None or context.organization_id is None:
        await _statement(db, _SUCCEEDED, (Jsonb(result), run_id))
        return result
    async with db.as_service() as conn:
        cur = await conn.execute(_SUCCEEDED, (Jsonb(result), run_id))
        if await cur.fetchone() is not None:  # written once: a second finisher finds it done
            await notify(conn, context, notice)
    return result


# A run starts only from queued or running (a stalled attempt's run is still running).
_START = (
    "update job_runs set status = 'running', attempts = %s, started_at = coalesce(started_at, now())"
    " where id = %s and status in ('queued', 'running') returning job_type, params, organization_id, brand_id"
)
_SUCCEEDED = (
    "update job_runs set status = 'succeeded', result = %s, error = null, finished_at = now()"
    " where id = %s and status = 'running' returning id"
)


async def _statement(db: Database, query: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    """One statement in its own transaction (autocommit), as the worker's own role: one round trip on
    the hot path of every job, where `as_service` would take four."""
    async with db.pool.connection() as conn:
        cur = await conn.execute(query, params)
        return await cur.fetchone()


async def _record_failure(
    db: Database, context: RunContext, job_type: JobType | None, error: Exception
) -> None:
    message = describe(error)
    log.warning(
        "run %s (%s) attempt %s failed: %s",
        context.run_id,
        context.job_type,
        context.attempt,
        message,
        exc_info=not isinstance(error, UserFacingError),  # a traceback only for the unexpected
    )
    again = job_type is not None and is_retryable(error) and context.attempt < job_type.max_attempts
    async with db.as_service() as conn:
        if again:
            assert job_type is not None
            await conn.execute(
                "update job_runs set status = 'queued', error = %s where id = %s", (message, context.run_id)
            )
            raise RetryLater(job_type.backoff(context.attempt), message) from error
        await conn.execute(
            "update job_runs set status = 'failed', error = %s, finished_at = now() where id = %s",
            (message, context.run_id),
        )
        if context.organization_id is not None:
            await notify(conn, context, await _failure_notice(conn, context, job_type, message))
    raise RunFailed(message) from error


async def _failure_notice(conn: Conn, context: RunContext, job_type: JobType | None, reason: str) -> Notice:
    """What failed (the stage, the brand), why, and the command that retries it."""
    stage = (job_type.label if job_type is not None else None) or context.job_type
    brand = None
    if context.brand_id is not None:
        cur = await conn.execute("select name from brands where id = %s", (context.brand_id,))
        row = await cur.fetchone()
        brand = row["name"] if row is not None else None
    attempts = f" after {context.attempt} attempts" if context.attempt > 1 else ""
    short = str(context.run_id)[:8]
    return Notice(
        type="job_failed",
        category="jobs",
        title=f"{stage}{f' for {brand}' if brand else ''} failed{attempts}",
        message=(
            f"{reason.rstrip('.')}. Retry it with /jobs retry:{short} in chat, or"
            f' viraltracker ask "/jobs retry:{short} confirm:true" --user YOUR_EMAIL (run {context.run_id}).'
        ),
    )


async def notify(conn: Conn, context: RunContext, notice: Notice) -> UUID | None:
    """An org-wide notification about this run (in the caller's transaction, in a savepoint: a
    notification that can't be written is logged and never loses the run's own record)."""

    assert context.organization_id is not None
    try:
        async with conn.transaction():
            created: UUID = await notifications.create(
                conn,
                organization_id=context.organization_id,
                type=notice.type,
                category=notice.category,
                title=notice.title,
                message=notice.message,
                metadata={"run_id": str(context.run_id), "job_type": context.job_type},
            )
    except Exception:
        log.exception("run %s: the %s notification was not written", context.run_id, notice.type)
        return None
    return created


def _span(job_type: str, run_id: UUID, attempt: int) -> contextlib.AbstractContextManager[Any]:
    """A logfire span per attempt when tracing is on (a no-op otherwise)."""
    if not observability.is_configured():
        return contextlib.nullcontext()
    import logfire

    return logfire.span("job {job_type}", job_type=job_type, run_id=str(run_id), attempt=attempt)
