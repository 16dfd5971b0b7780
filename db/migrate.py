"""Apply `supabase/migrations/*.sql` in order, once each, recorded in a table."""

from __future__ import annotations

from pathlib import Path

from db.pool import Database

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS_DIR = ROOT / "supabase" / "migrations"
BOOTSTRAP_SQL = Path(__file__).resolve().parent / "bootstrap.sql"
VECTOR_SQL = Path(__file__).resolve().parent / "vector.sql"

# One migrator at a time, even from several processes.
_LOCK_KEY = 7_317_001


async def migrate(db: Database, *, migrations_dir: Path = MIGRATIONS_DIR) -> list[str]:
    """Bootstrap the auth shim where missing, apply pending migrations, then pgvector's columns once the
    server has it (see db/vector.sql); returns the migrations' names."""
    applied_now: list[str] = []
    async with db.as_owner() as conn:
        await conn.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(BOOTSTRAP_SQL.read_text())
        await conn.execute(
            "create table if not exists public.schema_migrations ("
            " version text primary key, applied_at timestamptz not null default now())"
        )
        cur = await conn.execute("select version from public.schema_migrations")
        done = {row["version"] for row in await cur.fetchall()}
        for path in sorted(migrations_dir.glob("*.sql")):
            if path.name in done:
                continue
            await conn.execute(path.read_text())
            await conn.execute("insert into public.schema_migrations (version) values (%s)", (path.name,))
            applied_now.append(path.name)
        await conn.execute(VECTOR_SQL.read_text())
    return applied_now
