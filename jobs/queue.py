"""Putting a run on the queue: the job_runs row and its procrastinate job, in the caller's transaction.

The one part of the job system a service may import (it needs only the database): the runner, the
registry and the built-in job types sit above services and import them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from db.pool import Conn

TASK_NAME = "viraltracker.run_job"
DEFAULT_QUEUE = "jobs"


async def enqueue(
    conn: Conn,
    job_type: str,
    params: BaseModel,
    *,
    organization_id: UUID | None,
    brand_id: UUID | None,
    queue: str = DEFAULT_QUEUE,
    serialize_per_brand: bool = False,
    lock_group: str | None = None,
    scheduled_job_id: UUID | None = None,
    scheduled_for: datetime | None = None,
    retry_of: UUID | None = None,
) -> UUID:
    """A queued run and its queue job, in one statement of the caller's transaction (both or neither;
    workers see them at commit). Returns the run id. `serialize_per_brand`: one run of the type (or of
    every type of `lock_group`) for the brand at a time, in the order queued."""
    run_id = uuid4()
    lock = f"{lock_group or job_type}:{brand_id}" if serialize_per_brand and brand_id else None
    await conn.execute(
        _ENQUEUE,
        {
            "run": run_id,
            "queue": queue,
            "task": TASK_NAME,
            "lock": lock,
            "org": organization_id,
            "brand": brand_id,
            "type": job_type,
            "params": Jsonb(params.model_dump(mode="json")),
            "schedule": scheduled_job_id,
            "slot": scheduled_for,
            "retry_of": retry_of,
        },
    )
    return run_id


_ENQUEUE = """
with job as (
  select unnest(procrastinate_defer_jobs_v1(array[row(%(queue)s, %(task)s, 0, %(lock)s, null,
    jsonb_build_object('run_id', %(run)s::text), null)::procrastinate_job_to_defer_v1])) as id
)
insert into job_runs (id, organization_id, brand_id, job_type, params, scheduled_job_id, scheduled_for, retry_of,
  procrastinate_job_id)
select %(run)s, %(org)s, %(brand)s, %(type)s, %(params)s, %(schedule)s, %(slot)s, %(retry_of)s, job.id from job
"""


async def enqueue_many(
    conn: Conn,
    job_type: str,
    many: list[BaseModel],
    *,
    organization_id: UUID | None,
    queue: str = DEFAULT_QUEUE,
) -> list[UUID]:
    """Many runs of one type (no brand) and their queue jobs in two statements, in the caller's
    transaction: fan-outs and the benchmark."""
    run_ids = [uuid4() for _ in many]
    cur = await conn.execute(
        "select unnest(procrastinate_defer_jobs_v1(array(select row(%s, %s, 0, null, null,"
        " jsonb_build_object('run_id', r::text), null)::procrastinate_job_to_defer_v1"
        " from unnest(%s::uuid[]) with ordinality as t(r, n) order by n))) as id",
        (queue, TASK_NAME, run_ids),
    )
    job_ids = [row["id"] for row in await cur.fetchall()]  # in the order given
    await conn.execute(
        "insert into job_runs (id, organization_id, job_type, params, procrastinate_job_id)"
        " select r, %s, %s, p, j from unnest(%s::uuid[], %s::jsonb[], %s::bigint[]) as t(r, p, j)",
        (organization_id, job_type, run_ids, [Jsonb(p.model_dump(mode="json")) for p in many], job_ids),
    )
    return run_ids


async def enqueue_unless_waiting(
    conn: Conn,
    job_type: str,
    params: BaseModel,
    *,
    organization_id: UUID,
    brand_id: UUID,
    lock_group: str | None = None,
) -> UUID | None:
    """A run for the brand, in the caller's transaction, unless one of that type is queued and not yet
    started (it will read whatever this transaction stores): the new run's id, or None. Also inside a
    person's transaction (RLS): the queue belongs to no tenant, so these statements alone run as the
    service role, and the caller's role comes back after them."""
    cur = await conn.execute("select current_user as role, session_user as login")
    who = await cur.fetchone()
    assert who is not None
    await conn.execute("set local role service_role")
    # Two syncs of one brand at once still leave one waiting run of each type.
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"queue:{brand_id}:{job_type}",)
    )
    cur = await conn.execute(
        "select 1 from job_runs where brand_id = %s and job_type = %s and status = 'queued'"
        " and started_at is null limit 1",
        (brand_id, job_type),
    )
    waiting = await cur.fetchone() is not None
    run_id = None
    if not waiting:
        run_id = await enqueue(
            conn,
            job_type,
            params,
            organization_id=organization_id,
            brand_id=brand_id,
            serialize_per_brand=True,
            lock_group=lock_group,
        )
    # Not in a finally: after a failed statement the transaction rolls back, and the role with it.
    if who["role"] == who["login"]:
        await conn.execute("set local role none")
    else:
        await conn.execute(sql.SQL("set local role {}").format(sql.Identifier(who["role"])))
    return run_id
