from db.migrate import migrate
from db.pool import Database


async def test_migrations_are_recorded_and_idempotent(db: Database) -> None:
    assert await migrate(db) == []
    async with db.as_owner() as conn:
        cur = await conn.execute("select count(*) as n from schema_migrations")
        row = await cur.fetchone()
    assert row is not None and row["n"] >= 2


async def test_every_tenant_table_has_forced_rls(db: Database) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " join information_schema.columns col on col.table_schema = 'public'"
            "   and col.table_name = c.relname and col.column_name = 'organization_id'"
            " where n.nspname = 'public' and c.relkind = 'r'"
            "   and not (c.relrowsecurity and c.relforcerowsecurity)"
        )
        unprotected = [r["relname"] for r in await cur.fetchall()]
    assert unprotected == []
