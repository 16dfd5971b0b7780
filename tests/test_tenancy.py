"""A user of one organization can't reach another's rows: not through any tool, not even with raw SQL (RLS)."""

from __future__ import annotations

from uuid import UUID

import psycopg
import pytest

from agent.runner import run_turn
from db.pool import Caller, Database
from tests.ad_helpers import drop_shop, new_shop
from tests.oracle import last_days, raw_ads
from tools.registry import all_specs


async def _tenant_tables(db: Database) -> list[str]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select table_name from information_schema.columns where table_schema = 'public'"
            " and column_name = 'organization_id' order by table_name"
        )
        return [r["table_name"] for r in await cur.fetchall()]


async def _org_id(db: Database, name: str) -> UUID:
    async with db.as_owner() as conn:
        cur = await conn.execute("select id from organizations where name = %s", (name,))
        row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def test_no_tool_reaches_another_organizations_brand(db: Database, leo: Caller) -> None:
    since, until = last_days(30)
    acme_ad = next(iter(await raw_ads(db, "Acme Pets", since, until)))
    for spec in all_specs():
        if "brand" not in spec.arguments:
            continue
        extra = f" ad:{acme_ad}" if "ad" in spec.arguments else ""
        extra += " account:act_1234567890" if "account" in spec.arguments else ""
        extra += ' product:"Joint Chews"' if "product" in spec.required else ""  # Acme's, by name
        extra += f" ads:{acme_ad}" if "ads" in spec.arguments else ""
        extra += f" adset:{acme_ad} daily:60" if "adset" in spec.arguments else ""
        turn = await run_turn(db=db, caller=leo, message=f'/{spec.name} brand:"Acme Pets"{extra}')
        assert turn.refused, spec.name
        assert turn.text.startswith("No brand named 'Acme Pets'."), (spec.name, turn.text)
        assert all(call.result is None for call in turn.tool_calls)
    # Nor by naming the other tenant's ad under one's own brand.
    turn = await run_turn(db=db, caller=leo, message=f'/deep_analysis brand:"Peak Fuel" ad:{acme_ad}')
    assert turn.text == f"No ad '{acme_ad}' for Peak Fuel. Use the ad's Meta ID or part of its name."


async def test_rls_alone_hides_every_tenant_table(db: Database, leo: Caller) -> None:
    northwind = await _org_id(db, "Northwind Growth")
    tables = await _tenant_tables(db)
    assert "meta_ads_performance" in tables and "ad_creative_classifications" in tables
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from meta_ads where organization_id = %s", (northwind,)
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] > 0  # the rows exist...
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select t from unnest(%s::text[]) t where not has_table_privilege('authenticated', t, 'select')",
            (tables,),
        )
        service_only = [r["t"] for r in await cur.fetchall()]
    # Tables only the app's service side touches: a signed-in person can't even ask.
    assert service_only == ["meta_oauth_states"]
    for table in service_only:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.as_user(leo) as conn:
                await conn.execute(f"select count(*) from {table}")
    async with db.as_user(leo) as conn:
        for table in (t for t in tables if t not in service_only):
            cur = await conn.execute(
                f"select count(*) as n from {table} where organization_id = %s", (northwind,)
            )
            row = await cur.fetchone()
            assert row is not None and row["n"] == 0, (
                table
            )  # ...but RLS hides them, with no app filter at all
        cur = await conn.execute("select count(*) as n from organizations")
        row = await cur.fetchone()
        assert row is not None and row["n"] == 1


async def test_rls_refuses_writes_into_another_organization(db: Database, leo: Caller) -> None:
    northwind = await _org_id(db, "Northwind Growth")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(leo) as conn:
            await conn.execute(
                "insert into brands (organization_id, name) values (%s, 'Sneaky')", (northwind,)
            )
    async with db.as_owner() as conn:
        cur = await conn.execute("select count(*) as n from brands where name = 'Sneaky'")
        row = await cur.fetchone()
    assert row is not None and row["n"] == 0


async def test_a_user_without_an_organization_sees_nothing(db: Database, demo: object) -> None:
    from services.platform.accounts import add_user, create_organization

    async with db.as_owner() as conn:
        lonely_org = await create_organization(conn, name="Lonely Org")
        user_id = await add_user(conn, email="lonely@nowhere.example", organization_id=lonely_org)
    caller = Caller(user_id=user_id, email="lonely@nowhere.example")
    turn = await run_turn(db=db, caller=caller, message="/brands")
    assert turn.tool_calls[0].result is not None
    assert turn.tool_calls[0].result["brands"] == []
    async with db.as_user(caller) as conn:
        cur = await conn.execute("select count(*) as n from meta_ads_performance")
        row = await cur.fetchone()
    assert row is not None and row["n"] == 0


async def test_identity_comes_from_deps_not_arguments(db: Database, leo: Caller) -> None:
    """No tool takes a user, organization or brand id the model could fill in."""
    forbidden = {"user", "user_id", "organization", "organization_id", "org", "brand_id", "caller"}
    for spec in all_specs():
        assert not forbidden & set(spec.arguments), spec.name


async def test_the_callers_role_and_claims_end_with_the_request(db: Database) -> None:
    """The role and claims are local to one transaction: a failed request rolls back what it wrote,
    and the pooled connection goes back as its owner with no claims left on it."""
    shop = await new_shop(db, "claims", [])  # its own organization: the demo's brands stay as seeded
    admin, org = shop.admin, shop.org
    with pytest.raises(psycopg.errors.DivisionByZero):
        async with db.as_user(admin) as conn:
            await conn.execute("insert into brands (organization_id, name) values (%s, 'Half Done')", (org,))
            await conn.execute("select 1 / 0")
    async with db.as_user(admin) as conn:
        async with conn.transaction():  # a savepoint inside the request's transaction
            await conn.execute("insert into brands (organization_id, name) values (%s, 'Kept')", (org,))
        cur = await conn.execute(
            "select current_user as who, auth.uid() as uid, (select count(*) from brands"
            " where name in ('Half Done', 'Kept')) as n"
        )
        row = await cur.fetchone()
    assert row == {"who": "authenticated", "uid": admin.user_id, "n": 1}
    for _ in range(db.pool.max_size + 1):  # every pooled connection, whichever comes back
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select current_user = session_user as owner,"
                " coalesce(current_setting('request.jwt.claims', true), '') as claims"
            )
            assert await cur.fetchone() == {"owner": True, "claims": ""}
    await drop_shop(db, shop)
