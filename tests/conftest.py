"""One real Postgres per test session (embedded `pgserver`, or a fresh database on `DATABASE_URL`)."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic_ai import models

from db.migrate import migrate
from db.pool import Caller, Database

models.ALLOW_MODEL_REQUESTS = False


def _with_dbname(url: str, dbname: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = dbname
    return psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None})


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh, migrated database for this session; dropped at the end."""
    if os.environ.get("DATABASE_URL"):
        base = os.environ["DATABASE_URL"]
        server = None
    else:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            server = pgserver.get_server(Path(tempfile.mkdtemp(prefix="vt-test-")), cleanup_mode="delete")
        base = server.get_uri()
    name = f"vt_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    try:
        yield _with_dbname(base, name)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')
        if server is not None:
            server.cleanup()


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, max_size=4)
    await database.open()
    await migrate(database)
    yield database
    await database.close()


@pytest.fixture(scope="module")
async def own_db(database_url: str) -> AsyncIterator[Database]:
    """A fresh, migrated database for one module: for tests that replace what the shared `db` must keep
    as seeded (the demo organizations), so the rest of the suite never sees their writes."""
    name = f"vt_own_{uuid.uuid4().hex[:10]}"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute(f'create database "{name}"')
    database = Database(_with_dbname(database_url, name), max_size=4)
    try:
        await database.open()
        await migrate(database)
        yield database
    finally:
        await database.close()
        async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
            await conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
async def demo(db: Database) -> Any:
    """The demo data, seeded once for the session: tests only read it (a test that writes makes its own
    organization, e.g. `tests.ad_helpers.new_shop`, or uses `own_db`)."""
    from services.demo.seed import seed_demo

    return await seed_demo(db, seed=7)


@pytest.fixture(scope="session")
async def maya(db: Database, demo: Any) -> Caller:
    """Admin of Northwind Growth (Acme Pets, Bloom Botanicals)."""
    return await _caller(db, "maya@northwind.example")


@pytest.fixture(scope="session")
async def leo(db: Database, demo: Any) -> Caller:
    """Admin of Summit DTC (Peak Fuel, Lumen Sleep)."""
    return await _caller(db, "leo@summit.example")


async def _caller(db: Database, email: str) -> Caller:
    from services.platform.accounts import find_caller

    async with db.as_owner() as conn:
        return await find_caller(conn, email=email)
