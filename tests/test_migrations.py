import psycopg
import pytest

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


async def test_a_daily_row_must_carry_its_ads_brand(db: Database, demo: object) -> None:
    """One composite key ties a daily row to its ad and to the ad's own brand and organization."""
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select a.meta_ad_id, a.organization_id, b.id as other_brand"
            " from meta_ads a join brands b on b.organization_id = a.organization_id and b.id <> a.brand_id"
            " limit 1"
        )
        row = await cur.fetchone()
        assert row is not None, "the demo has an organization with two brands"
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            async with conn.transaction():
                await conn.execute(
                    "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id)"
                    " values (%s, '2020-01-01', %s, %s)",
                    (row["meta_ad_id"], row["other_brand"], row["organization_id"]),
                )
