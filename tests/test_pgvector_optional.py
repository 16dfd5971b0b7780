"""On a Postgres without pgvector the migrations leave out pattern discovery's vector columns
(tests/without_pgvector.py runs on one); here, on the embedded server, that schema is made in a
transaction and undone, to check what discovery says and that `viraltracker db up` adds them back."""

from __future__ import annotations

import pytest

from core.errors import NeedsExtension
from db.migrate import VECTOR_SQL
from db.pool import Database
from services.research.clustering import require_pgvector


class _RolledBack(Exception):
    """Ends a transaction whose schema changes no other test may see."""


async def test_without_pgvector_columns_pattern_discovery_says_so_and_db_up_adds_them(db: Database) -> None:
    """The schema a Postgres without pgvector gets (no vector columns), made and undone in one transaction."""
    with pytest.raises(_RolledBack):
        async with db.as_owner() as conn:
            await conn.execute("alter table evidence_embeddings drop column embedding")
            await conn.execute("alter table patterns drop column centroid")
            with pytest.raises(NeedsExtension) as missing:
                await require_pgvector(conn, feature="Pattern discovery")
            assert missing.value.message == (
                "Pattern discovery needs the pgvector extension, which this database doesn't have. Install it"
                " on the database server (on Debian: apt install postgresql-16-pgvector; Supabase has it), then"
                " run `viraltracker db up`. Everything else works without it."
            )
            # Once the server has pgvector, the next migrate (`viraltracker db up`) adds them.
            await conn.execute(VECTOR_SQL.read_text())
            await require_pgvector(conn, feature="Pattern discovery")
            cur = await conn.execute(
                "select attrelid::regclass::text as tab, format_type(atttypid, atttypmod) as type from pg_attribute"
                " where attname in ('embedding', 'centroid') and attrelid in"
                " ('evidence_embeddings'::regclass, 'patterns'::regclass) order by 1"
            )
            assert await cur.fetchall() == [
                {"tab": "evidence_embeddings", "type": "vector"},
                {"tab": "patterns", "type": "vector"},
            ]
            raise _RolledBack
