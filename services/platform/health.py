"""Whether this process can serve: `/healthz` (its database answers) and `/readyz` (that, the migrations
applied, and the embedded job worker's heartbeat when it runs one), for web.py and `viraltracker doctor`.

Every check is bounded (a dead or silent server fails it within `CHECK_SECONDS`), never raises, and says in
one line what it found, without Postgres' own text (which can name hosts and users).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
from pydantic import BaseModel

from core.errors import DatabaseUnavailable
from db.migrate import MIGRATIONS_DIR
from db.pool import Database

CHECK_SECONDS = 1.0
"""Each check's budget: a load balancer's probe gets its answer well inside its own timeout."""

Opener = Callable[[], Awaitable[Database]]


class Check(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    """`status` is "ok" when every check passed, else "failing"; `checks` by name."""

    status: str
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _health(checks: dict[str, Check]) -> Health:
    return Health(status="ok" if all(c.ok for c in checks.values()) else "failing", checks=checks)


async def _database(open_db: Opener, *, within: float) -> tuple[Check, Database | None]:
    """`select 1` through the app's own pool (so a pool that can't recover fails it too)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(within):
            db = await open_db()
            async with db.as_owner() as conn:
                await conn.execute("select 1")
    except TimeoutError:
        return Check(ok=False, detail=f"no answer to select 1 within {within:g} s"), None
    except (DatabaseUnavailable, psycopg.Error):
        return Check(ok=False, detail="can't be reached"), None
    return Check(ok=True, detail=f"answered select 1 in {(time.monotonic() - started) * 1000:.0f} ms"), db


async def _migrations(db: Database, *, within: float, migrations_dir: Path) -> Check:
    expected = {path.name for path in migrations_dir.glob("*.sql")}
    try:
        async with asyncio.timeout(within):
            async with db.as_owner() as conn:
                cur = await conn.execute("select version from public.schema_migrations")
                applied = {row["version"] for row in await cur.fetchall()}
    except TimeoutError:
        return Check(ok=False, detail=f"no answer within {within:g} s")
    except psycopg.errors.UndefinedTable:
        return Check(ok=False, detail="never migrated: run `viraltracker db up`")
    except (DatabaseUnavailable, psycopg.Error):
        return Check(ok=False, detail="can't be read")
    pending = sorted(expected - applied)
    if pending:
        named = ", ".join(pending[:3]) + (", …" if len(pending) > 3 else "")
        return Check(ok=False, detail=f"{len(pending)} pending ({named}): run `viraltracker db up`")
    return Check(ok=True, detail=f"all {len(expected)} applied")


async def _worker(db: Database, *, running: bool, stalled_after: float, within: float) -> Check:
    if not running:
        return Check(ok=False, detail="the embedded jobs worker is not running (it restarts by itself)")
    try:
        async with asyncio.timeout(within):
            async with db.as_owner() as conn:
                cur = await conn.execute(
                    "select extract(epoch from now() - max(last_heartbeat))::float8 as age"
                    " from procrastinate_workers"
                )
                row = await cur.fetchone()
    except TimeoutError:
        return Check(ok=False, detail=f"no answer within {within:g} s")
    except (DatabaseUnavailable, psycopg.Error):
        return Check(ok=False, detail="heartbeats can't be read")
    age = row["age"] if row else None
    if age is None or age > stalled_after:
        return Check(ok=False, detail=f"no worker heartbeat in the last {stalled_after:g} s")
    return Check(ok=True, detail=f"last heartbeat {age:.0f} s ago")


async def liveness(*, open_db: Opener, within: float = CHECK_SECONDS) -> Health:
    """`/healthz`: the process answers and its database pool runs `select 1` within `within` seconds."""
    database, _ = await _database(open_db, within=within)
    return _health({"database": database})


async def readiness(
    *,
    open_db: Opener,
    embedded_worker: bool | None,
    stalled_after: float,
    stopping: int | None = None,
    within: float = CHECK_SECONDS,
    migrations_dir: Path = MIGRATIONS_DIR,
) -> Health:
    """`/readyz`: the database, every migration applied, and (when `embedded_worker` is not None: this
    process runs a job worker, running or not) a worker heartbeat within `stalled_after` seconds; with
    `stopping` (the turns still running in a chat server that was told to stop), not ready."""
    database, db = await _database(open_db, within=within)
    checks = {"database": database}
    unreachable = Check(ok=False, detail="not checked: the database can't be reached")
    checks["migrations"] = (
        await _migrations(db, within=within, migrations_dir=migrations_dir) if db else unreachable
    )
    if embedded_worker is not None:
        checks["worker"] = (
            await _worker(db, running=embedded_worker, stalled_after=stalled_after, within=within)
            if db
            else unreachable
        )
    if stopping is not None:
        checks["serving"] = Check(ok=False, detail=f"stopping: finishing {stopping} running chat turn(s)")
    return _health(checks)
