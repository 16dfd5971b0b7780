"""Apply `supabase/migrations/*.sql` in order, once each, recorded in a table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from core.errors import SetupError
from db.pool import Conn, Database

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
BOOTSTRAP_SQL = Path(__file__).resolve().parent / "bootstrap.sql"
VECTOR_SQL = Path(__file__).resolve().parent / "vector.sql"

# One migrator at a time, even from several processes.
_LOCK_KEY = 7_317_001


@dataclass(frozen=True)
class MigrationState:
    """What the database has applied against what this code ships."""

    pending: list[str]
    """Shipped here, not applied yet (`viraltracker db up` applies them)."""
    unknown: list[str]
    """Applied to the database, but not shipped here: a newer version of the app migrated it."""


def shipped(migrations_dir: Path = MIGRATIONS_DIR) -> list[Path]:
    """The migration files, in order; a `SetupError` when there are none (a partial copy of the app)."""
    paths = sorted(migrations_dir.glob("*.sql"))
    if not paths:
        raise SetupError(
            f"No migrations in {migrations_dir}: run ViralTracker from a full copy of the project"
            " (supabase/migrations/ is missing)."
        )
    return paths


async def _applied(conn: Conn) -> set[str]:
    cur = await conn.execute("select to_regclass('public.schema_migrations') is not null as present")
    row = await cur.fetchone()
    if row is None or not row["present"]:
        return set()
    cur = await conn.execute("select version from public.schema_migrations")
    return {str(r["version"]) for r in await cur.fetchall()}


async def migration_state(db: Database, *, migrations_dir: Path = MIGRATIONS_DIR) -> MigrationState:
    """Pending and unknown migrations (nothing is changed)."""
    names = [p.name for p in shipped(migrations_dir)]
    async with db.as_owner() as conn:
        done = await _applied(conn)
    return MigrationState(pending=[n for n in names if n not in done], unknown=sorted(done - set(names)))


def newer_database(unknown: list[str]) -> str:
    return (
        f"The database has {len(unknown)} migration(s) this version of ViralTracker does not have"
        f" (latest {unknown[-1]}): update ViralTracker to the version that applied them, or use another"
        " database."
    )


async def migrate(db: Database, *, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Bootstrap the auth shim where missing, apply pending migrations, then pgvector's columns once the
    server has it (see db/vector.sql); returns the migrations' names.

    A `SetupError` when the database was migrated by a newer version (it has migrations this code does
    not ship), or when a migration fails (the whole run is rolled back)."""
    paths = shipped(migrations_dir)
    applied_now: list[str] = []
    async with db.as_owner() as conn:
        await conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(BOOTSTRAP_SQL.read_text())
        await conn.execute(
            "create table if not exists public.schema_migrations ("
            " version text primary key, applied_at timestamptz not null default now())"
        )
        done = await _applied(conn)
        unknown = sorted(done - {p.name for p in paths})
        if unknown:
            raise SetupError(newer_database(unknown))
        for path in paths:
            if path.name in done:
                continue
            try:
                await conn.execute(path.read_text())
            except psycopg.Error as error:
                reason = (error.diag.message_primary or str(error)).splitlines()[0]
                raise SetupError(
                    f"Migration {path.name} failed: {reason}. Fix it, then run `viraltracker db up` again."
                ) from None
            await conn.execute("insert into public.schema_migrations (version) values (%s)", (path.name,))
            applied_now.append(path.name)
        await conn.execute(VECTOR_SQL.read_text())
    return applied_now
