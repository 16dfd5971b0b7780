"""What the chat tools and the CLI call: schedules, recent runs, run now, retry, pause/resume, health.

Reads take a connection (a caller's, under RLS: platform rows plus their organizations'); writes take
the database and act as the service role, so callers check the person's role first (admin only)
and pass `organization_id` to confine the write to that organization.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, computed_field

from core.errors import InvalidArgument, NotFound
from db.pool import Conn, Database
from jobs.registry import REGISTRY, PermanentJobError, job_type_named
from jobs.runs import check_brand, enqueue, validated_params
from jobs.schedules import Schedule, check_cron, create_schedule, describe_cron, next_run, refuse_duplicate

__all__ = [
    "JobsHealth",
    "Run",
    "Schedule",
    "create_schedule",
    "delete_schedule",
    "describe_cron",
    "health",
    "job_types",
    "list_schedules",
    "recent_runs",
    "retry",
    "run_now",
    "set_enabled",
    "update_schedule",
]

RunStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class Run(BaseModel):
    id: UUID
    job_type: str
    organization_id: UUID | None
    brand_id: UUID | None
    brand: str | None
    status: RunStatus
    attempts: int
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    scheduled_job_id: UUID | None
    retry_of: UUID | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at).total_seconds(), 1)


def job_types() -> dict[str, str]:
    """Every job type people can run or schedule → what it does (platform-only ones say so)."""
    job_type_named("meta_sync")  # registers the built-ins
    return {
        name: kind.description + (" Platform-wide only." if kind.platform_only else "")
        for name, kind in sorted(REGISTRY.items())
        if not name.startswith("_")
    }


async def list_schedules(conn: Conn) -> list[Schedule]:
    """Schedules the connection may see (platform ones first), with each one's latest run."""
    cur = await conn.execute(
        "select s.id, s.organization_id, s.brand_id, b.name as brand, s.job_type, s.cron, s.params,"
        " s.enabled, s.next_run_at, r.status as last_run_status, r.created_at as last_run_at"
        " from scheduled_jobs s left join brands b on b.id = s.brand_id"
        " left join lateral (select status, created_at from job_runs where scheduled_job_id = s.id"
        "   order by created_at desc limit 1) r on true"
        " order by s.organization_id nulls first, b.name nulls first, s.job_type"
    )
    return [Schedule(**row) for row in await cur.fetchall()]


async def recent_runs(conn: Conn, *, status: RunStatus | None = None, limit: int = 20) -> list[Run]:
    """The latest runs the connection may see, newest first; `status='failed'` gives the dead letters
    (each with its last error)."""
    if not 1 <= limit <= 500:
        raise InvalidArgument(f"limit must be between 1 and 500 (got {limit}).")
    cur = await conn.execute(
        "select r.id, r.job_type, r.organization_id, r.brand_id, b.name as brand, r.status, r.attempts,"
        " r.params, r.result, r.error, r.created_at, r.started_at, r.finished_at, r.scheduled_job_id,"
        " r.retry_of from job_runs r left join brands b on b.id = r.brand_id"
        " where (%(status)s::text is null or r.status = %(status)s)"
        " order by r.created_at desc limit %(limit)s",
        {"status": status, "limit": limit},
    )
    return [Run(**row) for row in await cur.fetchall()]


async def run_now(
    db: Database,
    *,
    job_type: str,
    params: dict[str, Any] | None = None,
    organization_id: UUID | None,
    brand_id: UUID | None,
) -> UUID:
    """Queue one run now (a worker picks it up within a second when idle); returns the run id.
    Bad parameters, an unknown type or a platform job asked for a brand raise `InvalidArgument`."""
    try:
        kind = job_type_named(job_type)
    except PermanentJobError as error:
        raise InvalidArgument(error.message) from None
    parsed = validated_params(kind, params or {}, organization_id=organization_id, brand_id=brand_id)
    async with db.as_service() as conn:
        if brand_id is not None:
            await check_brand(conn, brand_id, organization_id)
        return await enqueue(conn, kind, parsed, organization_id=organization_id, brand_id=brand_id)


async def retry(db: Database, run_id: UUID, *, organization_id: UUID | None = None) -> UUID:
    """Queue a failed (or cancelled) run again as a new run with the same parameters; returns the new
    run's id. With `organization_id`, only that organization's runs."""
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select job_type, params, organization_id, brand_id, status from job_runs where id = %s",
            (run_id,),
        )
        row = await cur.fetchone()
        if row is None or (organization_id is not None and row["organization_id"] != organization_id):
            raise NotFound(f"No job run {run_id}.")
        if row["status"] not in ("failed", "cancelled"):
            raise InvalidArgument(f"Run {run_id} is {row['status']}: only failed runs can be retried.")
        kind = job_type_named(row["job_type"])
        parsed = validated_params(
            kind, row["params"], organization_id=row["organization_id"], brand_id=row["brand_id"]
        )
        return await enqueue(
            conn,
            kind,
            parsed,
            organization_id=row["organization_id"],
            brand_id=row["brand_id"],
            retry_of=run_id,
        )


async def set_enabled(
    db: Database, schedule_id: UUID, enabled: bool, *, organization_id: UUID | None = None
) -> Schedule:
    """Pause (False) or resume (True) a schedule; resuming plans its next run from now. With
    `organization_id`, only that organization's schedules (platform ones are the operator's)."""
    async with db.as_service() as conn:
        row = await _locked(conn, schedule_id, organization_id)
        planned = next_run(row["cron"], datetime.now(UTC)) if enabled and not row["enabled"] else None
        await conn.execute(
            "update scheduled_jobs set enabled = %s, next_run_at = coalesce(%s, next_run_at) where id = %s",
            (enabled, planned, schedule_id),
        )
        found = [s for s in await list_schedules(conn) if s.id == schedule_id]
    return found[0]


async def update_schedule(
    db: Database, schedule_id: UUID, *, cron: str, organization_id: UUID | None = None
) -> Schedule:
    """Move a schedule to another cron (UTC); its next run is the first time the new one names.
    A bad cron, or one the brand already has for this job type, raises `InvalidArgument`."""
    cron = check_cron(cron)
    async with db.as_service() as conn:
        row = await _locked(conn, schedule_id, organization_id)
        if row["brand_id"] is not None:
            await refuse_duplicate(
                conn, brand_id=row["brand_id"], job_type=row["job_type"], cron=cron, other_than=schedule_id
            )
        await conn.execute(
            "update scheduled_jobs set cron = %s, next_run_at = %s where id = %s",
            (cron, next_run(cron, datetime.now(UTC)), schedule_id),
        )
        found = [s for s in await list_schedules(conn) if s.id == schedule_id]
    return found[0]


async def delete_schedule(db: Database, schedule_id: UUID, *, organization_id: UUID | None = None) -> None:
    """Remove a schedule (its past runs stay in the history, no longer linked to it)."""
    async with db.as_service() as conn:
        await _locked(conn, schedule_id, organization_id)
        await conn.execute("delete from scheduled_jobs where id = %s", (schedule_id,))


async def _locked(conn: Conn, schedule_id: UUID, organization_id: UUID | None) -> dict[str, Any]:
    cur = await conn.execute(
        "select organization_id, brand_id, job_type, cron, enabled from scheduled_jobs where id = %s for update",
        (schedule_id,),
    )
    row = await cur.fetchone()
    if row is None or (organization_id is not None and row["organization_id"] != organization_id):
        raise NotFound(f"No schedule {schedule_id}.")
    return dict(row)


# -- health --------------------------------------------------------------------------------------


class JobsHealth(BaseModel):
    waiting: int
    """Queue jobs ready to run now (not those waiting for a retry's backoff)."""
    retry_waiting: int
    oldest_waiting_seconds: float | None
    running: int
    stalled: int
    """Running on a worker whose heartbeat stopped (retried by the next maintenance pass)."""
    workers: int
    succeeded_24h: int
    failed_24h: int
    schedules_enabled: int
    next_schedule_at: datetime | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        oldest = (
            f", oldest waiting {self.oldest_waiting_seconds:,.0f} s" if self.oldest_waiting_seconds else ""
        )
        return (
            f"{self.waiting} waiting{oldest}, {self.retry_waiting} waiting to retry, {self.running} running"
            f" ({self.stalled} stalled) on {self.workers} worker(s); last 24 h: {self.succeeded_24h}"
            f" succeeded, {self.failed_24h} failed; {self.schedules_enabled} schedule(s) on"
        )


_HEALTH = """
select
  (select count(*) from procrastinate_jobs where status = 'todo'
     and (scheduled_at is null or scheduled_at <= now())) as waiting,
  (select count(*) from procrastinate_jobs where status = 'todo' and scheduled_at > now()) as retry_waiting,
  (select extract(epoch from now() - min(e.at)) from procrastinate_jobs j
     join procrastinate_events e on e.job_id = j.id and e.type = 'deferred'
     where j.status = 'todo' and (j.scheduled_at is null or j.scheduled_at <= now())) as oldest_waiting_seconds,
  (select count(*) from procrastinate_jobs where status = 'doing') as running,
  (select count(*) from procrastinate_jobs j left join procrastinate_workers w on w.id = j.worker_id
     where j.status = 'doing' and (w.id is null
       or w.last_heartbeat < now() - make_interval(secs => %(stalled)s))) as stalled,
  (select count(*) from procrastinate_workers
     where last_heartbeat >= now() - make_interval(secs => %(stalled)s)) as workers,
  (select count(*) from job_runs where status = 'succeeded' and finished_at > now() - interval '24 hours')
     as succeeded_24h,
  (select count(*) from job_runs where status = 'failed' and finished_at > now() - interval '24 hours')
     as failed_24h,
  (select count(*) from scheduled_jobs where enabled) as schedules_enabled,
  (select min(next_run_at) from scheduled_jobs where enabled) as next_schedule_at
"""


async def health(db: Database, *, stalled_after: float = 60.0) -> JobsHealth:
    """The queue at a glance (operators: `viraltracker jobs status`)."""
    async with db.as_service() as conn:
        cur = await conn.execute(_HEALTH, {"stalled": stalled_after})
        row = await cur.fetchone()
    assert row is not None
    return JobsHealth(**row)
