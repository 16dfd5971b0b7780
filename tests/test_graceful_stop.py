"""SIGTERM, as systemd or a deploy sends it, to real processes: a job worker lets its running jobs finish
within its grace and queues the rest again; a chat server lets running turns finish, and a turn that
outlasts the grace is taken back (no half answer kept) with a sentence to the person."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from pydantic_ai import models

from agent import stopping
from agent.stopping import INTERRUPTED, NOT_RUN
from db.pool import Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
from jobs import api
from settings import get_settings
from tests.cli_helpers import CLI, free_port
from tests.test_jobs import Tenant, fast_settings, tenant, wait_for, worker, worker_process
from tests.test_slack import CHANNEL, SlackWorld, until, world

__all__ = ["tenant", "world"]  # the fixtures, shared with test_jobs and test_slack

WORKER_GRACE = 3.0
WORKER_STOPPED_WITHIN = 5.0
"""Beyond the grace: the worker's own shutdown and its interpreter's exit, on a loaded machine (under
the default grace of 10 s, so that a worker ignoring the setting fails)."""


async def test_a_stopped_worker_finishes_jobs_within_its_grace_and_queues_the_rest_again(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    process = await worker_process(
        db, tmp_path, concurrency=2, VIRALTRACKER_JOBS_STOP_GRACE_SECONDS=str(WORKER_GRACE)
    )
    try:
        quick, slow = [
            await api.run_now(
                db,
                job_type="_test_sleepy",
                params={"first_attempt_seconds": seconds},
                organization_id=tenant.org,
                brand_id=None,
            )
            for seconds in (1.5, 120.0)
        ]
        for run in (quick, slow):
            await wait_for(db, run, {"running"}, within=30)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        await asyncio.wait_for(process.wait(), WORKER_GRACE + 2 * WORKER_STOPPED_WITHIN)
        took = time.monotonic() - signalled
    finally:
        if process.returncode is None:
            process.kill()
            await asyncio.wait_for(process.wait(), 10)

    finished = await wait_for(db, quick, {"succeeded", "failed"}, within=1)
    assert (finished["status"], finished["result"]) == ("succeeded", {"pid": process.pid, "attempt": 1})
    interrupted = await wait_for(db, slow, {"queued"}, within=1)
    assert (interrupted["error"], interrupted["attempts"]) == (
        "interrupted: the worker stopped; it runs again",
        1,
    )
    assert WORKER_GRACE <= took < WORKER_GRACE + WORKER_STOPPED_WITHIN
    # Another worker takes it over; its first attempt's sleep is not repeated.
    async with worker(db, fast_settings(tmp_path)):
        rerun = await wait_for(db, slow, {"succeeded", "failed"}, within=20)
    assert (rerun["status"], rerun["result"]) == ("succeeded", {"pid": os.getpid(), "attempt": 2})


# -- a chat server ----------------------------------------------------------------------------------

CHAT_GRACE = 3.0
STOPPED_WITHIN = 10.0
"""Beyond the grace: the server's own shutdown (sockets, pools) and its interpreter's exit."""
MAYA = ("maya@northwind.example", "northwind-demo")
LEO = ("leo@summit.example", "summit-demo")
QUICK = "The quick answer, streamed in five pieces in about a second, all of it kept here."  # 81 characters
LONG = "A long answer that takes far longer than the grace to stream. " * 25
CHUNK_SECONDS = 0.25  # the fake streams 16 characters at a time: QUICK in ~1.3 s, LONG in ~24 s


def answer_slowly(request: FakeRequest) -> Reply:
    text = QUICK if "quick" in request.user_text.split("\n")[-1] else LONG
    return Reply(text=text, chunk_delay=CHUNK_SECONDS, ttft=0.0)


@dataclass
class Person:
    """One person's chat over Chainlit's socket.io protocol, as the web page speaks it."""

    email: str
    password: str
    client: socketio.AsyncClient = field(default_factory=lambda: socketio.AsyncClient(reconnection=False))
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    answering: asyncio.Event = field(default_factory=asyncio.Event)
    messages: dict[str, str] = field(default_factory=dict)
    """Assistant messages by id, as last shown (streamed tokens included); deleted ones leave."""
    deleted: list[str] = field(default_factory=list)
    thread_id: str | None = None

    async def open(self, url: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            signed_in = await http.post("/login", data={"username": self.email, "password": self.password})
            assert signed_in.status_code == 200, signed_in.text
            session_id = str(uuid.uuid4())
            await http.post("/set-session-cookie", json={"session_id": session_id})
            cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())

        @self.client.event
        async def connect() -> None:
            await self.client.emit("connection_successful")  # what the page sends: the chat starts

        @self.client.on("set_commands")
        async def ready(_: Any) -> None:
            self.ready.set()

        async def shown(step: dict[str, Any]) -> None:
            if step.get("type") == "assistant_message":
                self.messages[step["id"]] = str(step.get("output") or "")
                self.thread_id = step.get("threadId") or self.thread_id
                self.answering.set()

        async def token(data: dict[str, Any]) -> None:
            if data.get("id") in self.messages:
                before = "" if data.get("isSequence") else self.messages[data["id"]]
                self.messages[data["id"]] = before + str(data.get("token", ""))

        async def deleted(step: dict[str, Any]) -> None:
            self.deleted.append(step["id"])
            self.messages.pop(step["id"], None)

        for event, handler in (("stream_start", shown), ("new_message", shown), ("update_message", shown),
                               ("stream_token", token), ("delete_message", deleted)):  # fmt: skip
            self.client.on(event, handler)
        await self.client.connect(
            url,
            headers={"Cookie": cookie},
            auth={"clientType": "webapp", "sessionId": session_id, "threadId": "", "userEnv": "{}",
                  "chatProfile": ""},
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            wait_timeout=30,
        )  # fmt: skip
        await asyncio.wait_for(self.ready.wait(), 30)

    async def say(self, text: str) -> None:
        self.answering.clear()
        message = {"threadId": "", "id": str(uuid.uuid4()), "name": self.email, "type": "user_message",
                   "output": text, "createdAt": datetime.now(UTC).isoformat()}  # fmt: skip
        await self.client.emit("client_message", {"message": message, "fileReferences": []})

    async def shown_within(self, seconds: float, wanted: str) -> None:
        """Until an assistant message reads `wanted` (bounded)."""
        deadline = time.monotonic() + seconds
        while wanted not in self.messages.values():
            assert time.monotonic() < deadline, (
                f"not shown in {seconds} s: {wanted!r}; shown: {self.messages}"
            )
            await asyncio.sleep(0.05)


@pytest.fixture
def fake_model() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(answer_slowly) as fake:
        yield fake


async def test_a_stopped_chat_server_finishes_running_turns_and_takes_back_one_past_its_grace(
    db: Database, database_url: str, demo: Any, fake_model: FakeAnthropic, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIRALTRACKER_HOME": str(tmp_path),
        "CHAINLIT_AUTH_SECRET": "stop-test-secret-" + uuid.uuid4().hex,
        "VIRALTRACKER_AUTH": "password",
        "VIRALTRACKER_MODEL": "",
        "ANTHROPIC_API_KEY": API_KEY,
        "ANTHROPIC_BASE_URL": fake_model.url,
        "GEMINI_API_KEY": "",
        "GOOGLE_API_KEY": "",
        "LOGFIRE_TOKEN": "",
        "VIRALTRACKER_EMBEDDED_WORKER": "0",
        "VIRALTRACKER_CHAT_STOP_GRACE_SECONDS": str(CHAT_GRACE),
    }
    log = tmp_path / "chat.log"
    with log.open("wb") as out:
        server = await asyncio.create_subprocess_exec(
            CLI, "chat", "--host", "127.0.0.1", "--port", str(port),
            env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    maya, leo = Person(*MAYA), Person(*LEO)
    try:
        for _ in range(600):  # 60 s at most to start
            assert server.returncode is None, log.read_text()[-3000:]
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            await asyncio.sleep(0.1)
        await maya.open(url)
        await leo.open(url)
        await maya.say("a quick question")
        await leo.say("a long question")
        await asyncio.wait_for(asyncio.gather(maya.answering.wait(), leo.answering.wait()), 30)
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # Maya's turn finishes, whole, while the server waits; what she sends now is not run.
        await maya.shown_within(CHAT_GRACE, QUICK)
        await maya.say("one more question")
        await maya.shown_within(CHAT_GRACE, NOT_RUN)
        # Meanwhile the load balancer hears it is not ready, and sends new people elsewhere.
        async with httpx.AsyncClient(base_url=url, timeout=5) as balancer:
            ready = await balancer.get("/readyz")
        assert (ready.status_code, ready.json()["checks"]["serving"]) == (
            503,
            {"ok": False, "detail": "stopping: finishing 1 running chat turn(s)"},
        )
        # Leo's outlasts the grace: his half answer goes, and he is told.
        await leo.shown_within(CHAT_GRACE + STOPPED_WITHIN, INTERRUPTED)
        assert list(leo.messages.values()) == [INTERRUPTED] and len(leo.deleted) == 1
        await asyncio.wait_for(server.wait(), CHAT_GRACE + STOPPED_WITHIN)
        assert CHAT_GRACE <= time.monotonic() - signalled < CHAT_GRACE + STOPPED_WITHIN
    finally:
        for person in (maya, leo):
            with contextlib.suppress(Exception):
                await person.client.disconnect()
        if server.returncode is None:
            server.kill()
            await asyncio.wait_for(server.wait(), 10)

    # What the threads keep: Maya's answer and its history; of Leo's turn, nothing but his question.
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select t.id, t.metadata, array_agg(s.type || ': ' || coalesce(s.output, '') order by s.\"createdAt\")"
            ' as steps from threads t join steps s on s."threadId" = t.id where t.id = any(%s) group by t.id',
            ([maya.thread_id, leo.thread_id],),
        )
        threads = {row["id"]: row for row in await cur.fetchall()}
    assert [s for s in threads[maya.thread_id]["steps"] if s.startswith("assistant_message")] == [
        f"assistant_message: {QUICK}",
        f"assistant_message: {NOT_RUN}",
    ]
    assert QUICK in json.dumps(threads[maya.thread_id]["metadata"])
    assert [s for s in threads[leo.thread_id]["steps"] if s.startswith("assistant_message")] == [
        f"assistant_message: {INTERRUPTED}"
    ]
    assert "long answer" not in json.dumps(threads[leo.thread_id]["metadata"])


# -- Slack turns, on the same server ----------------------------------------------------------------

SLACK_GRACE = 2.0
QUICK_SECONDS = 0.6  # within the grace, but still running when the stop starts
SLACK_MAYA = "UMAYA001"  # test_slack's Slack account of maya@northwind.example


def answer_slack_slowly(request: FakeRequest) -> Reply:
    if "quick" in request.user_text.split("\n")[-1]:
        return Reply.say(QUICK, latency=QUICK_SECONDS)
    return Reply.say(
        LONG, latency=SLACK_GRACE + 20
    )  # the fake's thread is a daemon: it does not hold the test


async def test_a_stopping_server_lets_slack_turns_finish_and_a_turn_past_the_grace_says_so(
    world: SlackWorld, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with models.override_allow_model_requests(True), FakeAnthropic(answer_slack_slowly) as model:
        for name, value in {"VIRALTRACKER_MODEL": "", "ANTHROPIC_API_KEY": API_KEY,
                            "ANTHROPIC_BASE_URL": model.url, "GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        monkeypatch.setattr(
            stopping.running_turns, "stopping", False
        )  # the process-wide one, as it was after
        long_thread = await world.mention(SLACK_MAYA, "a long question")
        await until(lambda: len(model.requests) == 1, "the long question at the model")
        quick_thread = await world.mention(SLACK_MAYA, "a quick question")
        await until(lambda: len(model.requests) == 2, "the quick question at the model")
        assert len(stopping.running_turns) == 2  # both Slack turns count as running

        draining = asyncio.create_task(stopping.running_turns.drain(grace=SLACK_GRACE))
        await asyncio.sleep(0)
        assert stopping.running_turns.stopping
        # A message arriving now is not run: its reply says so, and no "Working on it…" is left.
        late_thread = await world.mention(SLACK_MAYA, "a quick question, sent while stopping")
        late = await until(lambda: world.fake.in_thread(CHANNEL, late_thread), "the not-run reply")
        assert [(m.text, m.updates) for m in late] == [(NOT_RUN, 0)]
        # The quick turn finishes whole within the grace; the long one is cancelled and says so.
        quick = await world.answer_in(quick_thread)
        assert QUICK in quick.text
        assert await asyncio.wait_for(draining, SLACK_GRACE + stopping.CANCELLED_WITHIN_SECONDS) == 1
        long = await world.answer_in(long_thread)
        assert (long.text, long.blocks, long.updates) == (INTERRUPTED, [], 1)
        assert len(model.requests) == 2 and len(stopping.running_turns) == 0

    # What the history keeps: the quick turn and its answer; of the long one, nothing.
    async with db.as_owner() as conn:
        cur = await conn.execute(
            """select "metadata"->'slack'->>'thread_ts' as thread_ts, "metadata" from threads"""
            """ where "metadata"->'slack'->>'thread_ts' = any(%s)""",
            ([quick_thread, long_thread, late_thread],),
        )
        kept = {row["thread_ts"]: json.dumps(row["metadata"]) for row in await cur.fetchall()}
    assert list(kept) == [quick_thread] and QUICK in kept[quick_thread]
