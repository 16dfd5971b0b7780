"""`/healthz` and `/readyz` as a load balancer reads them: JSON naming each check, 503 while the database is
down (killed: a Postgres of the test's own), 200 again once it is back, without restarting the app."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import app
from db.migrate import MIGRATIONS_DIR
from db.pool import Database
from jobs import worker as jobs_worker
from services.platform import health
from settings import Settings
from tests.restartable_pg import RestartablePostgres
from web import web_app

MIGRATIONS = len(list(MIGRATIONS_DIR.glob("*.sql")))
NOT_CHECKED = {"ok": False, "detail": "not checked: the database can't be reached"}


def balancer() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app()), base_url="http://testserver")


async def probe(path: str) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    async with balancer() as client:
        response = await client.get(path)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    return response.status_code, response.json(), time.monotonic() - started


def answered(body: dict[str, Any], name: str) -> dict[str, Any]:
    """A passed check, its timing replaced (it varies)."""
    check = body["checks"][name]
    assert check["detail"].startswith("answered select 1 in "), check
    return {**check, "detail": "answered"}


@pytest.fixture
def app_on(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Points the app's one pool at a given database for the test (Chainlit, mounted, wants a secret)."""
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "health-test-secret-" + uuid.uuid4().hex)

    def use(db: Database) -> None:
        monkeypatch.setattr(app, "_db", db)

    yield use


async def test_healthz_and_readyz_answer_ok_with_each_check_named(db: Database, app_on: Any) -> None:
    app_on(db)
    status, body, _ = await probe("/healthz")
    assert status == 200
    assert (body["status"], answered(body, "database"), list(body["checks"])) == (
        "ok",
        {"ok": True, "detail": "answered"},
        ["database"],
    )
    status, body, _ = await probe("/readyz")
    assert status == 200
    assert body["status"] == "ok" and answered(body, "database") == {"ok": True, "detail": "answered"}
    # No job worker in this process: nothing to say about one.
    assert body["checks"]["migrations"] == {"ok": True, "detail": f"all {MIGRATIONS} applied"}
    assert list(body["checks"]) == ["database", "migrations"]


@pytest.fixture
async def postgres(tmp_path: Path) -> AsyncIterator[RestartablePostgres]:
    server = RestartablePostgres(tmp_path / "home")
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        server.remove()


async def test_a_killed_database_is_503_within_seconds_and_200_once_it_is_back(
    postgres: RestartablePostgres, app_on: Any
) -> None:
    async with Database(postgres.url, max_size=4) as db:
        app_on(db)
        assert (await probe("/healthz"))[0] == 200
        postgres.kill()
        status, body, took = await probe("/healthz")
        assert (status, body) == (
            503,
            {"status": "failing", "checks": {"database": {"ok": False, "detail": "can't be reached"}}},
        )
        assert took < 2 * health.CHECK_SECONDS
        status, body, _ = await probe("/readyz")
        assert (status, body["status"], body["checks"]["migrations"]) == (503, "failing", NOT_CHECKED)

        await asyncio.to_thread(postgres.start)
        for _ in range(100):  # 10 s at most: the pool reconnects by itself
            status, body, _ = await probe("/healthz")
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert (status, body["status"]) == (200, "ok")


async def test_readyz_names_pending_migrations_and_the_embedded_workers_heartbeat(
    db: Database, app_on: Any, tmp_path: Path
) -> None:
    app_on(db)
    newer = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, newer)
    (newer / "20991231000000_from_a_newer_release.sql").write_text("select 1;")
    report = await health.readiness(
        open_db=app.database, embedded_worker=None, stalled_after=60, migrations_dir=newer
    )
    assert report.status == "failing"
    assert report.checks["migrations"] == health.Check(
        ok=False, detail="1 pending (20991231000000_from_a_newer_release.sql): run `viraltracker db up`"
    )

    settings = Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=tmp_path, JOBS_DATABASE_URL=db.url, VIRALTRACKER_JOBS_HEARTBEAT_SECONDS=0.5
    )
    assert jobs_worker.start_embedded(db, settings)
    try:
        for _ in range(100):  # 10 s at most for the worker to register
            status, body, _ = await probe("/readyz")
            if status == 200:
                break
            await asyncio.sleep(0.1)
        assert status == 200
        assert body["checks"]["worker"]["detail"].startswith("last heartbeat ")
    finally:
        await jobs_worker.stop_embedded()
    # Stopped, the process runs no worker: nothing to report on one.
    status, body, _ = await probe("/readyz")
    assert (status, list(body["checks"])) == (200, ["database", "migrations"])
