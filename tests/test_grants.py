"""What `anon` and `authenticated` may touch: tenant data under forced RLS, nothing else.

Checked on the session's database and on a fresh one shaped like Supabase's, whose own setup
grants ALL on every new object in `public` to anon and authenticated.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest

from db.migrate import migrate
from db.pool import Caller, Conn, Database

ROLES = ("anon", "authenticated")

# Every relation in a schema the app creates (public, auth), with what each role may do with it.
_RELATIONS = """
select r.role, n.nspname || '.' || c.relname as relation, c.relkind,
  c.relrowsecurity and c.relforcerowsecurity as forced,
  case when c.relkind = 'S' then has_sequence_privilege(r.role, c.oid, 'usage,select,update')
       else has_table_privilege(r.role, c.oid, 'select,insert,update,delete,truncate,references,trigger')
            or has_any_column_privilege(r.role, c.oid, 'select,insert,update,references') end as reachable,
  case when c.relkind = 'S' then false
       else has_table_privilege(r.role, c.oid, 'truncate,references,trigger') end as beside_rls
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
cross join unnest(%s::text[]) as r(role)
where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
  and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%%'
order by 2, 1
"""

_DEFINER_FUNCTIONS = """
select p.oid::regprocedure::text as function,
  has_function_privilege('anon', p.oid, 'execute') as anon,
  has_function_privilege('authenticated', p.oid, 'execute') as authenticated,
  exists (select 1 from unnest(coalesce(p.proconfig, '{}')) s where s like 'search\\_path=%') as pinned
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg\\_%'
order by 1
"""


async def _reach_problems(conn: Conn) -> list[str]:
    """Everything anon can reach, and what authenticated reaches outside forced RLS."""
    problems: list[str] = []
    cur = await conn.execute(_RELATIONS, (list(ROLES),))
    for row in await cur.fetchall():
        if not row["reachable"]:
            continue
        where = f"{row['role']} reaches {row['relation']}"
        if row["role"] == "anon":
            problems.append(where)
        elif row["relkind"] not in ("r", "p") or not row["forced"]:
            problems.append(f"{where} without forced RLS")
        elif row["beside_rls"]:
            problems.append(f"{where} with TRUNCATE, REFERENCES or TRIGGER (RLS does not apply)")
    for schema in ("public", "auth"):
        for role in ROLES:
            cur = await conn.execute("select has_schema_privilege(%s, %s, 'create') as c", (role, schema))
            row = await cur.fetchone()
            if row is not None and row["c"]:
                problems.append(f"{role} creates objects in {schema}")
    # Default privileges decide what later migrations' objects get: nothing for these two roles.
    cur = await conn.execute(
        "select d.defaclnamespace::regnamespace::text as schema, d.defaclobjtype as kind, a.grantee::regrole::text"
        " as role from pg_default_acl d, aclexplode(d.defaclacl) a"
        " where a.grantee in ('anon'::regrole, 'authenticated'::regrole) order by 1, 2, 3"
    )
    for row in await cur.fetchall():
        problems.append(f"{row['role']} is granted new objects of kind {row['kind']} in {row['schema']}")
    cur = await conn.execute(_DEFINER_FUNCTIONS)
    for row in await cur.fetchall():
        if row["anon"]:
            problems.append(f"anon runs {row['function']} (security definer)")
        if row["authenticated"] and not row["pinned"]:
            problems.append(
                f"authenticated runs {row['function']} (security definer, search_path not pinned)"
            )
    return problems


class _Probed(Exception):
    """Raised to roll back the probe objects."""


async def _new_object_grants(db: Database) -> dict[str, bool]:
    """A table and a sequence created the way a later migration would: who may use them."""
    found: dict[str, bool] = {}
    with pytest.raises(_Probed):
        async with db.as_owner() as conn:
            await conn.execute("create table public.grants_probe (id int)")
            await conn.execute("create sequence public.grants_probe_seq")
            for role in ROLES:
                cur = await conn.execute(
                    "select has_table_privilege(%(r)s, 'public.grants_probe',"
                    "   'select,insert,update,delete,truncate,references,trigger') as t,"
                    " has_sequence_privilege(%(r)s, 'public.grants_probe_seq', 'usage,select,update') as s",
                    {"r": role},
                )
                row = await cur.fetchone()
                assert row is not None
                found[f"{role} table"] = row["t"]
                found[f"{role} sequence"] = row["s"]
            raise _Probed
    return found


NOTHING = {
    "anon table": False,
    "anon sequence": False,
    "authenticated table": False,
    "authenticated sequence": False,
}


async def test_a_signed_in_user_cannot_touch_the_migration_ledger(db: Database, maya: Caller) -> None:
    for statement in (
        "delete from schema_migrations",
        "update schema_migrations set version = 'x'",
        "insert into schema_migrations (version) values ('x')",
        "select version from schema_migrations",
    ):
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match="permission denied for table schema_migrations"
        ):
            async with db.as_user(maya) as conn:
                await conn.execute(statement)
    assert await migrate(db) == []


async def test_a_signed_in_user_cannot_write_organizations_or_memberships(db: Database, maya: Caller) -> None:
    for statement, table in (
        ("update organizations set name = name", "organizations"),
        ("delete from user_organizations", "user_organizations"),
    ):
        with pytest.raises(
            psycopg.errors.InsufficientPrivilege, match=f"permission denied for table {table}"
        ):
            async with db.as_user(maya) as conn:
                await conn.execute(statement)


async def test_anon_reaches_nothing_and_authenticated_only_forced_rls(db: Database) -> None:
    async with db.as_owner() as conn:
        assert await _reach_problems(conn) == []


async def test_objects_a_later_migration_creates_are_not_granted_to_anon_or_authenticated(
    db: Database,
) -> None:
    assert await _new_object_grants(db) == NOTHING


@pytest.fixture
async def supabase_shaped(database_url: str) -> AsyncIterator[Database]:
    """A fresh database with Supabase's default grants (as in supabase/realtime's dev setup), migrated."""
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    name = f"vt_supabase_{uuid.uuid4().hex[:8]}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
        await admin.execute(f'create database "{name}"')
    info["dbname"] = name
    database = Database(psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None}))
    try:
        await database.open()
        async with database.as_owner() as conn:
            await conn.execute("grant usage on schema public to anon, authenticated, service_role")
            for kind in ("tables", "functions", "sequences"):
                await conn.execute(
                    f"alter default privileges in schema public grant all on {kind}"
                    " to anon, authenticated, service_role"
                )
        await migrate(database)
        yield database
    finally:
        await database.close()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as admin:
            await admin.execute(f'drop database if exists "{name}" with (force)')


async def test_supabase_default_grants_are_taken_back(supabase_shaped: Database) -> None:
    db = supabase_shaped
    async with db.as_owner() as conn:
        assert await _reach_problems(conn) == []
    assert await _new_object_grants(db) == NOTHING
    stranger = Caller(user_id=uuid.uuid4(), email="stranger@example.com")
    # TRUNCATE would empty every organization's rows: RLS does not filter it.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied for table meta_ads"):
        async with db.as_user(stranger) as conn:
            await conn.execute("truncate meta_ads cascade")
    # Tenant tables stay readable (under RLS: a stranger sees no rows).
    async with db.as_user(stranger) as conn:
        cur = await conn.execute("select count(*) as n from brands")
        row = await cur.fetchone()
    assert row is not None and row["n"] == 0
