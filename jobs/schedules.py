"""Schedules (`scheduled_jobs`): cron expressions in UTC, and the tick that enqueues due runs once.

Exactly once with any number of workers: each tick locks the due rows it takes (`for update skip
locked`), enqueues their runs and moves `next_run_at` in the same transaction; a unique index on
(schedule, slot) backs it up. A schedule overdue by several slots (workers were down) runs once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from croniter import CroniterBadCronError
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from core.errors import InvalidArgument
from db.pool import Conn, Database
from jobs.cron import check_cron, describe_cron, next_run
from jobs.registry import PermanentJobError, job_type_named
from jobs.runs import check_brand, enqueue, validated_params

log = logging.getLogger(__name__)

TICK_BATCH = 100


class Schedule(BaseModel):
    id: UUID
    organization_id: UUID | None
    brand_id: UUID | None
    brand: str | None
    job_type: str
    cron: str
    params: dict[str, Any]
    enabled: bool
    next_run_at: datetime | None
    last_run_status: str | None = None
    last_run_at: datetime | None = None

    @property
    def scope(self) -> str:
        return "platform" if self.organization_id is None else (self.brand or "organization")


async def create_schedule(
    db: Database,
    *,
    job_type: str,
    cron: str,
    params: dict[str, Any] | None = None,
    organization_id: UUID | None,
    brand_id: UUID | None,
    now: datetime | None = None,
    refuse_duplicates: bool = False,
) -> UUID:
    """A new enabled schedule; its first run at the next time `cron` names. Refuses a brand or
    organization schedule of a platform-level job type (with a pointer to the platform schedule), and
    with `refuse_duplicates` one the brand already has for this job type and cron."""
    try:
        kind = job_type_named(job_type)
    except PermanentJobError as error:
        raise InvalidArgument(error.message) from None
    cron = check_cron(cron)
    if kind.platform_only and organization_id is not None:
        raise InvalidArgument(
            f"{kind.name} is a platform-level job: it runs once for everyone on the platform schedule"
            f" ('{kind.name}' in /jobs), so it can't be scheduled per brand or organization."
        )
    parsed = validated_params(kind, params or {}, organization_id=organization_id, brand_id=brand_id)
    stored = parsed.model_dump(mode="json", exclude={"brand_id"})
    first = next_run(cron, now or datetime.now(UTC))
    async with db.as_service() as conn:
        if brand_id is not None:
            await check_brand(conn, brand_id, organization_id)
            if refuse_duplicates:
                await refuse_duplicate(conn, brand_id=brand_id, job_type=kind.name, cron=cron)
        if organization_id is None:
            cur = await conn.execute(
                "select id from scheduled_jobs where job_type = %s and organization_id is null", (kind.name,)
            )
            if await cur.fetchone() is not None:
                raise InvalidArgument(
                    f"There is already a platform schedule for {kind.name}: change or pause that one."
                )
        cur = await conn.execute(
            "insert into scheduled_jobs (organization_id, brand_id, job_type, cron, params, next_run_at)"
            " values (%s, %s, %s, %s, %s, %s) returning id",
            (organization_id, brand_id, kind.name, cron, Jsonb(stored), first),
        )
        row = await cur.fetchone()
    assert row is not None
    schedule_id: UUID = row["id"]
    return schedule_id


async def refuse_duplicate(
    conn: Conn, *, brand_id: UUID, job_type: str, cron: str, other_than: UUID | None = None
) -> None:
    """`InvalidArgument` if the brand already has this job type on this cron (a second one would run
    everything twice)."""
    cur = await conn.execute(
        "select id from scheduled_jobs where brand_id = %s and job_type = %s and cron = %s"
        " and id is distinct from %s",
        (brand_id, job_type, cron, other_than),
    )
    found = await cur.fetchone()
    if found is not None:
        raise InvalidArgument(
            f"This brand already has {'an' if job_type[:1] in 'aeiou' else 'a'} {job_type} schedule {describe_cron(cron)}"
            f" ({str(found['id'])[:8]}): nothing changed."
        )


async def tick(db: Database, *, now: datetime | None = None) -> list[UUID]:
    """Enqueue every due schedule's run (once, whoever else is ticking); returns the new run ids.
    A schedule never planned (seeded by a migration) gets its first time and waits for it."""
    now = now or datetime.now(UTC)
    created: list[UUID] = []
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select id, organization_id, brand_id, job_type, cron, params, next_run_at from scheduled_jobs"
            " where enabled and (next_run_at is null or next_run_at <= %s)"
            " order by next_run_at nulls first limit %s for update skip locked",
            (now, TICK_BATCH),
        )
        for row in await cur.fetchall():
            run_id = await _due(conn, row, now)
            if run_id is not None:
                created.append(run_id)
    return created


async def _due(conn: Conn, row: dict[str, Any], now: datetime) -> UUID | None:
    try:
        following = next_run(row["cron"], max(now, row["next_run_at"] or now))
    except (CroniterBadCronError, ValueError):
        log.error("schedule %s has a bad cron %r: disabled", row["id"], row["cron"])
        await conn.execute("update scheduled_jobs set enabled = false where id = %s", (row["id"],))
        return None
    await conn.execute("update scheduled_jobs set next_run_at = %s where id = %s", (following, row["id"]))
    if row["next_run_at"] is None:
        return None
    async with conn.transaction():  # a savepoint: a schedule that can't run doesn't stop the others
        try:
            kind = job_type_named(row["job_type"])
            params = validated_params(
                kind, row["params"], organization_id=row["organization_id"], brand_id=row["brand_id"]
            )
        except (PermanentJobError, InvalidArgument) as error:
            log.error("schedule %s can't run: %s", row["id"], error)
            return None
        return await enqueue(
            conn,
            kind,
            params,
            organization_id=row["organization_id"],
            brand_id=row["brand_id"],
            scheduled_job_id=row["id"],
            scheduled_for=row["next_run_at"],
        )
