"""On a Postgres without pgvector (`.ci/stock-postgres`, run by `make test`; pytest's default run does not
collect this file, its database has pgvector): pattern discovery says what it needs and how to add it,
and writes nothing. The migration, tenancy and tools tests run on the same server beside it."""

from __future__ import annotations

from psycopg import sql

from agent.runner import run_turn
from db.migrate import migrate
from db.pool import Caller, Database

NEEDS_PGVECTOR = (
    "Pattern discovery needs the pgvector extension, which this database doesn't have. Install it on the"
    " database server (on Debian: apt install postgresql-15-pgvector; Supabase has it), then run"
    " `viraltracker db up`. Everything else works without it."
)


async def _count(db: Database, table: str) -> int:
    async with db.as_owner() as conn:
        cur = await conn.execute(sql.SQL("select count(*) as n from {}").format(sql.Identifier(table)))
        row = await cur.fetchone()
    assert row is not None
    return int(row["n"])


async def test_the_server_has_no_pgvector_and_migrating_again_changes_nothing(db: Database) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute("select count(*) as n from pg_available_extensions where name = 'vector'")
        row = await cur.fetchone()
    assert row == {"n": 0}, "run this file on a Postgres without pgvector (.ci/stock-postgres)"
    assert await migrate(db) == []


async def test_pattern_discovery_names_the_missing_extension_and_writes_nothing(
    db: Database, maya: Caller
) -> None:
    before = await _count(db, "patterns"), await _count(db, "pattern_runs")
    turn = await run_turn(db=db, caller=maya, message='/discover_patterns brand:"Acme Pets"')
    assert turn.text == NEEDS_PGVECTOR
    assert (await _count(db, "patterns"), await _count(db, "pattern_runs")) == before
