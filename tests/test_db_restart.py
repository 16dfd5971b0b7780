"""A database restart (SIGKILL of the server, then `viraltracker db up`), each test on a Postgres of its
own: the first request afterwards works, every surface says the database is unavailable while it is
down (chat, MCP over HTTP, the CLI, quickly and in one sentence), and the chat app's job worker
comes back by itself."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import chainlit as cl
import httpx
import pytest
from pydantic_ai.messages import ModelMessage, ModelRequest, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

import app
from agent.history import make_data_layer
from agent.runner import run_turn
from core.errors import DatabaseUnavailable
from db.pool import Caller, Database
from jobs import api
from jobs import worker as jobs_worker
from services.brands import visible_brands
from services.platform.accounts import add_user, create_organization
from services.platform.api_tokens import create_token
from settings import Settings
from tests import job_doubles
from tests.cli_helpers import CLI, mcp_http_server
from tests.restartable_pg import RestartablePostgres
from tests.test_streaming import Recorder

UNAVAILABLE = "The database is unavailable, try again shortly."
PASSWORD = "restart-pw-" + uuid.uuid4().hex
POOL_SIZE = 4


@pytest.fixture
def postgres(tmp_path: Path) -> Iterator[RestartablePostgres]:
    server = RestartablePostgres(tmp_path / "home")
    server.up()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
async def restarted_db(postgres: RestartablePostgres) -> AsyncIterator[Database]:
    async with Database(postgres.url, max_size=POOL_SIZE) as db:
        yield db


async def new_person(db: Database) -> Caller:
    """An organization with one brand, "Restart Pets", and its member."""
    email = f"restart-{uuid.uuid4().hex[:8]}@restart.example"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name="Restart Co")
        user_id = await add_user(conn, email=email, organization_id=org, password=PASSWORD)
        await conn.execute("insert into brands (organization_id, name) values (%s, 'Restart Pets')", (org,))
    return Caller(user_id=user_id, email=email)


@pytest.fixture
async def maya(restarted_db: Database) -> Caller:
    """A person on the restartable database, every pooled connection used once, so that a restart
    leaves the pool full of dead ones."""
    caller = await new_person(restarted_db)

    all_in = asyncio.Barrier(POOL_SIZE)

    async def hold() -> None:
        async with restarted_db.as_user(caller) as conn:
            await conn.execute("select 1")
            await all_in.wait()  # every connection checked out at once, however slow the machine

    async with asyncio.timeout(30):
        await asyncio.gather(*(hold() for _ in range(POOL_SIZE)))
    assert restarted_db.pool.get_stats()["pool_size"] == POOL_SIZE
    return caller


async def test_the_first_requests_after_a_restart_succeed(
    postgres: RestartablePostgres, restarted_db: Database, maya: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = restarted_db
    async with AsyncExitStack() as stack:
        # The chat app's sign-in and its chat history each have a pool of their own, with a connection
        # the restart kills.
        sign_in_db = await stack.enter_async_context(Database(postgres.url, max_size=2))
        monkeypatch.setattr(app, "_db", sign_in_db)
        assert await app.password_auth(maya.email, PASSWORD) is not None
        history = make_data_layer(postgres.url, max_size=2)
        stack.push_async_callback(history.close)
        assert await history.create_user(cl.User(identifier=maya.email)) is not None

        # The server dies in the middle of a transaction that wrote: the caller hears the plain message,
        # and the write is gone (never committed, never run again).
        with pytest.raises(DatabaseUnavailable) as cut_off:
            async with db.as_owner() as conn:
                await conn.execute(
                    "insert into brands (organization_id, name) select organization_id, 'Cut Off'"
                    " from user_organizations where user_id = %s",
                    (maya.user_id,),
                )
                postgres.kill()
        assert str(cut_off.value) == UNAVAILABLE
        postgres.up()

        started = time.monotonic()
        async with db.as_user(maya) as conn:
            seen = [b.name for b in await visible_brands(conn)]
        assert seen == ["Restart Pets"]
        for _ in range(POOL_SIZE + 1):  # one after another: no stale connection is handed out
            async with db.as_owner() as conn:
                await conn.execute("select 1")
            async with db.as_service() as conn:
                await conn.execute("select 1")
        assert time.monotonic() - started < 5
        # The first correct password after the restart signs in (it used to be refused once).
        signed_in = await app.password_auth(maya.email, PASSWORD)
        assert signed_in is not None and signed_in.metadata["user_id"] == str(maya.user_id)
        # The first history write after the restart is kept, not logged and dropped.
        persisted = await history.create_user(cl.User(identifier=maya.email, metadata={"after": "restart"}))
        assert persisted is not None and persisted.metadata == {"after": "restart"}


async def _calls_brands(messages: list[ModelMessage], info: AgentInfo) -> Any:
    """A model that asks for the caller's brands, then names them."""
    last = messages[-1]
    assert isinstance(last, ModelRequest)
    if not any(isinstance(p, ToolReturnPart) for p in last.parts):
        yield {0: DeltaToolCall(name="brands", json_args="{}")}
    else:
        yield "Here they are."


async def test_while_the_database_is_down_chat_says_so_in_one_sentence(
    postgres: RestartablePostgres, restarted_db: Database, maya: Caller
) -> None:
    postgres.kill()

    # Typed without a model key (the offline router reads the brands first), then through a model whose
    # tool call meets the dead database.
    for model in (None, FunctionModel(stream_function=_calls_brands)):
        recorder = Recorder()
        started = time.monotonic()
        turn = await run_turn(
            db=restarted_db, caller=maya, message="which brands do I have?", model=model, listener=recorder
        )
        assert turn.text == UNAVAILABLE
        assert recorder.text == UNAVAILABLE
        assert time.monotonic() - started < 5


# -- MCP over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
def mcp_http(postgres: RestartablePostgres, tmp_path: Path) -> Iterator[str]:
    """`viraltracker mcp --http` on the restartable database, on 127.0.0.1; its URL."""
    env = {**os.environ, "DATABASE_URL": postgres.url, "VIRALTRACKER_HOME": str(tmp_path / "mcp-home")}
    with mcp_http_server(env, tmp_path / "mcp-http.log") as url:
        yield url


def _brands_call(request_id: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "brands", "arguments": {}},
    }


async def test_mcp_over_http_answers_a_json_rpc_error_while_down_and_results_after(
    postgres: RestartablePostgres, restarted_db: Database, maya: Caller, mcp_http: str
) -> None:
    async with restarted_db.as_owner() as conn:
        token = await create_token(conn, user=maya, name="restart test")
    headers = {
        "Authorization": f"Bearer {token.secret}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:

        async def brands(request_id: int) -> httpx.Response:
            return await client.post(mcp_http, json=_brands_call(request_id))

        warm = await asyncio.gather(*(brands(i) for i in range(POOL_SIZE)))  # the server's pool fills up
        assert [r.status_code for r in warm] == [200] * POOL_SIZE
        assert warm[0].json()["result"]["structuredContent"]["brands"][0]["name"] == "Restart Pets"

        postgres.kill()
        started = time.monotonic()
        down = await brands(7)
        assert time.monotonic() - started < 5
        assert down.status_code == 503
        assert down.headers["retry-after"] == "5"
        assert down.json() == {"jsonrpc": "2.0", "id": 7, "error": {"code": -32603, "message": UNAVAILABLE}}

        postgres.up()
        for request_id in range(
            10, 10 + 2 * POOL_SIZE
        ):  # the first one included: no 500 per stale connection
            answer = await brands(request_id)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["id"] == request_id and body["result"]["isError"] is False, body
            assert body["result"]["structuredContent"]["brands"][0]["name"] == "Restart Pets"


# -- the chat app's own job worker -----------------------------------------------------------------


async def wait_for_run(db: Database, run_id: uuid.UUID, *, within: float) -> str:
    deadline = time.monotonic() + within
    while True:
        async with db.as_owner() as conn:
            cur = await conn.execute("select status from job_runs where id = %s", (run_id,))
            row = await cur.fetchone()
        assert row is not None
        if row["status"] in ("succeeded", "failed"):
            return str(row["status"])
        assert time.monotonic() < deadline, f"run still {row['status']} after {within} s"
        await asyncio.sleep(0.1)


async def test_the_apps_job_worker_comes_back_after_a_restart(
    postgres: RestartablePostgres, restarted_db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = restarted_db
    async with db.as_owner() as conn:
        org = await create_organization(conn, name="Restart Jobs")
    # The embedded default (no DATABASE_URL), its worker on the restartable server.
    settings = Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=tmp_path,
        JOBS_DATABASE_URL=postgres.url,
        VIRALTRACKER_JOBS_POLL_SECONDS=0.1,
        VIRALTRACKER_JOBS_HEARTBEAT_SECONDS=0.5,
    )
    assert job_doubles.FLAKY.name == "_test_flaky"
    assert jobs_worker.start_embedded(db, settings)
    try:
        before = await api.run_now(
            db, job_type="_test_flaky", params={"failures": 0}, organization_id=org, brand_id=None
        )
        assert await wait_for_run(db, before, within=15) == "succeeded"

        postgres.kill()
        # Down until the app has failed to reach it (its pool says so), however slow the machine.
        for _ in range(300):  # 15 s at most
            noticed = any(
                r.name == "psycopg.pool" and "error connecting" in r.getMessage() for r in caplog.records
            )
            if noticed:
                break
            await asyncio.sleep(0.05)
        postgres.up()
        assert noticed, "nothing tried to reach the database while it was down"
        after = await api.run_now(
            db, job_type="_test_flaky", params={"failures": 0}, organization_id=org, brand_id=None
        )
        assert await wait_for_run(db, after, within=15) == "succeeded"
    finally:
        await jobs_worker.stop_embedded()


# -- the CLI ---------------------------------------------------------------------------------------


def _cli(database_url: str, home: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIRALTRACKER_HOME": str(home),
        "VIRALTRACKER_DB_CONNECT_TIMEOUT": "2",
    }
    started = time.monotonic()
    done = subprocess.run(
        [CLI, "jobs", "status"], capture_output=True, text=True, env=env, timeout=60, stdin=subprocess.DEVNULL
    )
    return done, time.monotonic() - started


def test_a_cli_command_with_the_database_unreachable_says_where_in_one_line(tmp_path: Path) -> None:
    # Nothing listening (refused at once), and a server that accepts but never answers (the timeout).
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        urls = {
            f"postgresql://postgres:@/postgres?host={tmp_path}": f"{tmp_path}:5432/postgres",
            f"postgresql://postgres:secret@127.0.0.1:{port}/postgres": f"127.0.0.1:{port}/postgres",
        }
        for url, where in urls.items():
            done, took = _cli(url, tmp_path / "home")
            assert (done.returncode, done.stdout, done.stderr) == (
                1,
                "",
                f"Cannot reach the database at {where} (DATABASE_URL): start that server or fix the URL's host"
                " and port, or unset DATABASE_URL to use the embedded database.\n",
            )
            assert took < 10
