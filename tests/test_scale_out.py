"""Several app processes, one service: README's "Running in production" run as written (its
commands, deploy/haproxy.cfg, deploy/viraltracker.env filled in) on 127.0.0.1, on free ports and the
test database: two `viraltracker chat` processes, each with its own VIRALTRACKER_HOME (as on two
machines), two workers, and Debian's haproxy. Started once for the module.

A person's requests are pinned to one process with the proxy's own cookie (`vt_server=app1|app2`),
as a browser that process answered first would be; the other process is reached the same way.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import socketio
from cryptography.fernet import Fernet

from db.pool import Database
from fakes.meta_graph import FakeGraph
from fakes.slack_api import BOT_TOKEN, BOT_USER_ID, SIGNING_SECRET, TEAM_ID, FakeSlack, sign
from services.platform import notifications
from services.platform.accounts import add_user, create_organization

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "viraltracker")
SECTION = "## Running in production"
DOCUMENTED = {"app1": 8001, "app2": 8002}  # the ports README and deploy/haproxy.cfg name
STARTUP_SECONDS = 60.0
WAIT = 20.0  # every wait for the app is bounded by this
MAYA = ("maya@northwind.example", "northwind-demo")
SLACK_MAYA = "USCALE001"
META_APP = ("1234567890", "scale-app-secret")


# -- README's section and deploy/, read as a person would follow them -------------------------------


def production_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end != -1 else len(text)]


def shell_blocks() -> list[list[str]]:
    return [
        [line.strip() for line in block.splitlines() if line.strip()]
        for block in re.findall(r"```sh\n(.*?)```", production_section(), re.S)
    ]


def what_the_units_run() -> list[list[str]]:
    """The block of commands the units and the proxy run (each line split as the shell would)."""
    [block] = [b for b in shell_blocks() if all(line.split()[0] in ("viraltracker", "haproxy") for line in b)]
    return [shlex.split(line) for line in block]


def unit_command(unit: str, instance: str) -> list[str]:
    [line] = [x for x in (ROOT / "deploy" / unit).read_text().splitlines() if x.startswith("ExecStart=")]
    command = shlex.split(line.removeprefix("ExecStart=").replace("%i", instance))
    return [Path(command[0]).name, *command[1:]]


def env_template() -> dict[str, str]:
    lines = (ROOT / "deploy" / "viraltracker.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def proxy_config(ports: dict[str, int], proxy_port: int) -> str:
    """deploy/haproxy.cfg with the test's ports: its own on 127.0.0.1, the apps' where they listen."""
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    assert "\n    bind :80\n" in config
    config = config.replace("\n    bind :80\n", f"\n    bind 127.0.0.1:{proxy_port}\n")
    for name, documented in DOCUMENTED.items():
        assert f"127.0.0.1:{documented} cookie {name} " in config
        config = config.replace(f"127.0.0.1:{documented} ", f"127.0.0.1:{ports[name]} ")
    return config


def test_the_units_and_the_proxy_run_what_the_readme_says() -> None:
    """The systemd units, the proxy's servers and README's commands are one description, and the
    install lines copy files that exist."""
    commands = what_the_units_run()
    chats = [c for c in commands if c[:2] == ["viraltracker", "chat"]]
    assert chats == [unit_command("viraltracker-chat@.service", str(port)) for port in DOCUMENTED.values()]
    workers = [c for c in commands if c[:2] == ["viraltracker", "worker"]]
    assert workers == [unit_command("viraltracker-worker@.service", str(n)) for n in (1, 2)]
    assert commands[0] == ["viraltracker", "db", "up"]
    assert commands[-1] == ["haproxy", "-f", "/etc/haproxy/haproxy.cfg"]
    install = " ".join(shell_blocks()[0])
    for path in re.findall(r"deploy/\S+", install):
        assert (ROOT / path).is_file(), path
    started = re.findall(r"viraltracker-(chat|worker)@(\d+)", " ".join(shell_blocks()[1]))
    assert started == [("chat", "8001"), ("chat", "8002"), ("worker", "1"), ("worker", "2")]
    assert (
        "EnvironmentFile=/etc/viraltracker/viraltracker.env"
        in (ROOT / "deploy" / "viraltracker-chat@.service").read_text()
    )
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    checked = subprocess.run(
        [haproxy, "-c", "-f", str(ROOT / "deploy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert checked.returncode == 0, checked.stderr


# -- the service: started once for the module --------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each process group at once, SIGKILL whatever is left after 10 s."""
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


@dataclass
class Service:
    url: str  # the proxy
    slack: FakeSlack
    graph: FakeGraph
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path


@pytest.fixture(scope="module")
def service(database_url: str, demo: Any) -> Iterator[Service]:
    work = Path(tempfile.mkdtemp(prefix="vt-scale-out-"))
    ports = {name: free_port() for name in DOCUMENTED}
    proxy_port = free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    slack = FakeSlack().start()
    slack.add_user(SLACK_MAYA, MAYA[0], "Maya")
    graph = FakeGraph().__enter__()
    graph.app_id, graph.app_secret = META_APP
    # The template, every variable filled in (a new one in the template must be filled here too).
    filled = {
        "DATABASE_URL": database_url,
        "CHAINLIT_AUTH_SECRET": "scale-out-test-" + "x" * 48,
        "VIRALTRACKER_SECRET_KEY": Fernet.generate_key().decode(),
        "VIRALTRACKER_PUBLIC_URL": url,
        "VIRALTRACKER_TRUST_PROXY": "1",
        "VIRALTRACKER_HOME": "",  # per process, below
    }
    assert set(filled) == set(env_template())
    env = {
        **os.environ,
        **filled,
        # The test's own: offline, our password sign-in, no telemetry; Slack and Meta are local fakes.
        "VIRALTRACKER_MODEL": "offline",
        "VIRALTRACKER_AUTH": "password",
        "SUPABASE_URL": "",
        "SUPABASE_KEY": "",
        "LOGFIRE_TOKEN": "",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "META_APP_ID": META_APP[0],
        "META_APP_SECRET": META_APP[1],
        "META_GRAPH_URL": graph.url,
        "META_DIALOG_URL": graph.url,
    }
    (work / "haproxy.cfg").write_text(proxy_config(ports, proxy_port))
    processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        home = work / name
        home.mkdir()
        with (work / f"{name}.log").open("wb") as log:
            return subprocess.Popen(
                command,
                env={**env, "VIRALTRACKER_HOME": str(home)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    began = time.monotonic()
    try:
        chats = iter(DOCUMENTED)
        workers = 0
        for command in what_the_units_run():
            print(f"{time.monotonic() - began:.1f} s: {shlex.join(command)}")
            if command[:2] == ["viraltracker", "db"]:
                done = start("db-up", [CLI, *command[1:]])
                assert done.wait(timeout=STARTUP_SECONDS) == 0, (work / "db-up.log").read_text()
            elif command[:2] == ["viraltracker", "chat"]:
                name = next(chats)
                given = command.index("--port") + 1
                assert command[given] == str(DOCUMENTED[name])
                processes[name] = start(
                    name, [CLI, *command[1:given], str(ports[name]), *command[given + 1 :]]
                )
            elif command[:2] == ["viraltracker", "worker"]:
                workers += 1
                # One addition: a queue of their own, so they run no job other test modules left queued.
                own_queue = ["--queues", "scale-out-test"]
                processes[f"worker{workers}"] = start(f"worker{workers}", [CLI, *command[1:], *own_queue])
            else:
                assert command[:2] == ["haproxy", "-f"]
                deadline = time.monotonic() + STARTUP_SECONDS
                for name in DOCUMENTED:  # the proxy's health checks find them up
                    while not answers(f"http://127.0.0.1:{ports[name]}/"):
                        exited = processes[name].poll()
                        assert exited is None and time.monotonic() < deadline, (
                            f"{name} did not start ({exited}):\n" + (work / f"{name}.log").read_text()[-3000:]
                        )
                        time.sleep(0.2)
                haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
                processes["haproxy"] = start("haproxy", [haproxy, "-f", str(work / "haproxy.cfg")])
        deadline = time.monotonic() + WAIT
        while not answers(url + "/"):
            assert time.monotonic() < deadline, (work / "haproxy.log").read_text()
            time.sleep(0.1)
        print(f"{time.monotonic() - began:.1f} s: the service answers through the proxy")
        yield Service(url, slack, graph, processes, work)
    finally:
        stop(list(processes.values()))
        slack.close()
        graph.__exit__(None, None, None)
        print(f"scale-out logs: {work}")


# -- a person, through the proxy ---------------------------------------------------------------------


@dataclass
class Chat:
    """An open chat (the browser's socket.io protocol), with what arrived on it."""

    client: socketio.AsyncClient
    toasts: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    ended: asyncio.Queue[None] = field(default_factory=asyncio.Queue)

    async def say(self, command: str, args: str) -> dict[str, Any]:
        """Send a command from the menu; the answer's final step once the turn has ended."""
        before = set(self.steps)
        message = {
            "threadId": "",
            "command": command,
            "id": str(uuid.uuid4()),
            "name": "user",
            "type": "user_message",
            "output": args,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "metadata": {},
        }
        while not self.ended.empty():  # ends of earlier tasks (the chat start's)
            self.ended.get_nowait()
        await self.client.emit("client_message", {"message": message, "fileReferences": []})
        deadline = time.monotonic() + WAIT
        while True:
            await asyncio.wait_for(self.ended.get(), max(0.1, deadline - time.monotonic()))
            answers = [
                s
                for i, s in self.steps.items()
                if i not in before and s.get("type") == "assistant_message" and not s.get("streaming")
            ]
            if answers:
                return answers[-1]


class Person:
    """A browser: its cookie jar holds the sign-in and the proxy's `vt_server` (which process)."""

    def __init__(self, service: Service, process: str) -> None:
        self.service = service
        self.http = httpx.AsyncClient(base_url=service.url, timeout=WAIT, cookies={"vt_server": process})

    def on(self, process: str) -> None:
        """The proxy sends this browser to `process` from now on (as when its first one is down)."""
        self.http.cookies.set("vt_server", process)

    async def sign_in(self, email: str, password: str) -> Person:
        response = await self.http.post("/login", data={"username": email, "password": password})
        assert response.status_code == 200, response.text
        return self

    @contextlib.asynccontextmanager
    async def chat(self) -> AsyncIterator[Chat]:
        session_id = str(uuid.uuid4())
        await self.http.post("/set-session-cookie", json={"session_id": session_id})
        chat = Chat(socketio.AsyncClient(reconnection=False))

        @chat.client.event
        async def connect() -> None:
            await chat.client.emit("connection_successful")

        @chat.client.on("toast")
        async def on_toast(data: dict[str, Any]) -> None:
            chat.toasts.append(str(data.get("message")))

        async def on_step(step: dict[str, Any]) -> None:
            chat.steps[step["id"]] = {**chat.steps.get(step["id"], {}), **step}

        chat.client.on("new_message", on_step)
        chat.client.on("update_message", on_step)

        @chat.client.on("task_end")
        async def on_end(_: Any) -> None:
            chat.ended.put_nowait(None)

        await chat.client.connect(
            self.service.url,
            headers={"Cookie": "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())},
            auth={
                "clientType": "webapp",
                "sessionId": session_id,
                "threadId": "",
                "userEnv": "{}",
                "chatProfile": "",
            },
            socketio_path="/ws/socket.io",
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        try:
            await asyncio.wait_for(chat.ended.get(), WAIT)  # the chat start is done
            yield chat
        finally:
            await chat.client.disconnect()


@pytest.fixture
async def people(service: Service) -> AsyncIterator[Callable[[str], Person]]:
    """New browsers (on app1 or app2 first), closed after the test."""
    made: list[Person] = []

    def person(process: str) -> Person:
        made.append(Person(service, process))
        return made[-1]

    yield person
    for browser in made:
        await browser.http.aclose()


async def until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while (found := await check()) is None or found is False:
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return found


async def listeners(db: Database, at_least: int) -> bool:
    """Whether that many app processes listen for notifications (and logouts): their LISTEN
    connections show in the server's activity."""
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from pg_stat_activity where datname = current_database() and query like %s",
            (f"listen {notifications.CHANNEL}%",),
        )
        return bool((await cur.fetchone() or {})["n"] >= at_least)


# -- the behaviours ----------------------------------------------------------------------------------


async def test_the_proxy_spreads_new_browsers_and_keeps_each_on_its_process(service: Service) -> None:
    """Two new browsers land on the two processes; each keeps its process afterwards."""
    seen = []
    for _ in range(2):
        async with httpx.AsyncClient(base_url=service.url, timeout=WAIT) as browser:
            first = await browser.get("/login")
            assert first.status_code == 200
            seen.append(browser.cookies["vt_server"])
            again = await browser.get("/login")
            assert again.status_code == 200 and "vt_server" not in again.headers.get("set-cookie", "")
    assert sorted(seen) == ["app1", "app2"]


async def test_a_thread_begun_on_one_process_reopens_on_the_other_with_its_table_and_chart(
    service: Service, db: Database, people: Callable[[str], Person]
) -> None:
    """Maya asks on app1; after a reload served by app2 her thread is listed and opens there with its
    answer, table and chart (stored by app1, in the database), and deleting it there removes them."""
    maya = await people("app1").sign_in(*MAYA)
    async with maya.chat() as chat:
        answer = await chat.say("top_hooks", 'brand:"Acme Pets" days:30')
    assert str(answer["output"]).startswith("Top 10 hooks for Acme Pets")
    thread_id = answer["threadId"]
    maya.on("app2")

    async def listed() -> bool:
        response = await maya.http.post("/project/threads", json={"pagination": {"first": 20}, "filter": {}})
        return thread_id in [t["id"] for t in response.json()["data"]]

    await until(listed, "the thread in app2's list")

    async def opened() -> dict[str, Any] | None:
        thread = (await maya.http.get(f"/project/thread/{thread_id}")).json()
        return thread if len(thread.get("elements") or []) == 2 else None

    thread = await until(opened, "the thread with its two elements on app2")
    outputs = [s["output"] for s in thread["steps"] if s["type"] == "assistant_message"]
    assert outputs and outputs[0].startswith("Top 10 hooks for Acme Pets")
    assert sorted(e["type"] for e in thread["elements"]) == ["custom", "plotly"]
    stored = {}
    for element in thread["elements"]:
        header, _, data = element["url"].partition(",")
        assert header == "data:application/json;base64"
        stored[element["type"]] = json.loads(base64.b64decode(data))
    assert stored["custom"]["tables"][0]["title"] == "Top hooks by hook rate — Acme Pets, last 30 days"
    assert stored["plotly"]["config"]["toImageButtonOptions"]["filename"] == (
        "top-hooks-by-hook-rate-acme-pets-last-30-days"
    )
    keys = [e["objectKey"] for e in thread["elements"]]
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from chat_element_files where object_key = any(%s)", (keys,)
        )
        assert (await cur.fetchone() or {})["n"] == 2
    deleted = await maya.http.request("DELETE", "/project/thread", json={"threadId": thread_id})
    assert deleted.status_code == 200, deleted.text
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from chat_element_files where object_key = any(%s)", (keys,)
        )
        assert (await cur.fetchone() or {})["n"] == 0


async def test_a_notification_pops_up_in_open_chats_on_every_process(
    service: Service, db: Database, people: Callable[[str], Person]
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, password = f"nia.{tag}@scale.example", f"pw-{tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Scale Co {tag}")
        await add_user(conn, email=email, organization_id=org, role="admin", password=password)
    one = await people("app1").sign_in(email, password)
    two = await people("app2").sign_in(email, password)
    async with one.chat() as on_app1, two.chat() as on_app2:
        await until(lambda: listeners(db, 2), "a notification listener in each app process")
        async with db.as_service() as conn:
            await notifications.create(
                conn,
                organization_id=org,
                type="sync_finished",
                category="meta",
                title="Meta sync finished for Fern & Co",
                message="12 new ads",
            )
        toast = "🔔 Meta sync finished for Fern & Co: 12 new ads — /notifications"
        for chat in (on_app1, on_app2):

            async def shown(chat: Chat = chat) -> bool:
                return toast in chat.toasts

            await until(shown, "the toast")


async def test_a_logout_on_one_process_closes_the_persons_chats_on_the_other(
    service: Service, db: Database, people: Callable[[str], Person]
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, password = f"lou.{tag}@scale.example", f"pw-{tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Logout Co {tag}")
        await add_user(conn, email=email, organization_id=org, password=password)
    laptop = await people("app1").sign_in(email, password)
    phone = await people("app2").sign_in(email, password)
    async with phone.chat() as chat:
        await until(lambda: listeners(db, 1), "app2's listener")
        assert chat.client.connected
        logout = await laptop.http.post("/logout", headers={"Origin": service.url})
        assert logout.status_code == 200, logout.text

        async def closed() -> bool:
            return not chat.client.connected

        await until(closed, "the chat on app2 closed")
    refused = await phone.http.get("/user")
    assert refused.status_code == 401


def slack_event(event: dict[str, str], *, event_id: str) -> str:
    """An Events API delivery's body, as Slack sends it."""
    return json.dumps(
        {
            "token": "x",
            "team_id": TEAM_ID,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )


async def test_slacks_retry_reaching_the_other_process_is_not_run_again(service: Service) -> None:
    """Slack delivers an event to app1 and, not acknowledged in time, again to app2: one answer."""
    ts = f"{int(time.time())}.{uuid.uuid4().int % 1_000_000:06d}"
    event_id = f"EvScale{uuid.uuid4().hex[:8]}"
    body = slack_event(
        {
            "type": "app_mention",
            "user": SLACK_MAYA,
            "text": f"<@{BOT_USER_ID}> /brands",
            "ts": ts,
            "channel": "C0SCALE",
            "event_ts": ts,
        },
        event_id=event_id,
    )

    async def deliver(process: str, retry: int | None, content: str = body) -> None:
        now = int(time.time())
        headers = {
            "content-type": "application/json",
            "x-slack-request-timestamp": str(now),
            "x-slack-signature": sign(SIGNING_SECRET, content.encode(), now),
        }
        if retry is not None:
            headers |= {"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"}
        async with httpx.AsyncClient(
            base_url=service.url, cookies={"vt_server": process}, timeout=WAIT
        ) as slack:
            response = await slack.post("/slack/events", content=content.encode(), headers=headers)
        assert response.status_code == 200, response.text

    await deliver("app1", None)
    await deliver("app2", 1)
    await deliver("app1", 2)

    async def answered() -> bool:
        return any(m.updates for m in service.slack.in_thread("C0SCALE", ts))

    await until(answered, "the answer in Slack")
    # A DM to each process after them, answered: by then any run the retries had started has posted.
    for process in ("app1", "app2"):
        marker_ts = f"{int(time.time())}.{uuid.uuid4().int % 1_000_000:06d}"
        dm = slack_event(
            {
                "type": "message",
                "user": SLACK_MAYA,
                "text": "/brands",
                "ts": marker_ts,
                "channel": f"D0SCALE{process}",
                "channel_type": "im",
            },
            event_id=f"Ev{uuid.uuid4().hex[:10]}",
        )
        await deliver(process, None, dm)

        async def marked(channel: str = f"D0SCALE{process}", ts: str = marker_ts) -> bool:
            return any(m.updates for m in service.slack.in_thread(channel, ts))

        await until(marked, f"the DM's answer from {process}")
    assert len(service.slack.in_thread("C0SCALE", ts)) == 1  # one "Working on it…",
    assert service.slack.in_thread("C0SCALE", ts)[0].updates == 1  # updated once with the answer


async def test_connect_facebook_started_on_one_process_finishes_on_the_other(
    service: Service, db: Database, people: Callable[[str], Person]
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, password, brand = f"owner.{tag}@scale.example", f"pw-{tag}", f"Bloom {tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Bloom Co {tag}")
        await add_user(conn, email=email, organization_id=org, role="admin", password=password)
        await conn.execute("insert into brands (organization_id, name) values (%s, %s)", (org, brand))
    account = f"act_77{uuid.uuid4().int % 10**8:08d}"
    service.graph.add_account(account, name="Bloom US")
    service.graph.add_oauth_code(f"CODE-{tag}", f"SHORT-{tag}", accounts=[account])
    owner = await people("app1").sign_in(email, password)
    async with owner.chat() as chat:
        answer = await chat.say("connect_meta", f'brand:"{brand}"')
    [link] = re.findall(r"https?://\S+/dialog/oauth\?[^\s)>\]]+", str(answer["output"]))
    state = parse_qs(urlsplit(link).query)["state"][0]
    owner.on("app2")
    page = await owner.http.get("/meta/oauth/callback", params={"state": state, "code": f"CODE-{tag}"})
    assert page.status_code == 200, page.text
    assert f"Link {account} (Bloom US) to {brand}?" in page.text
    confirmation = re.search(r"name='confirmation' value='([0-9a-f]+)'", page.text)
    assert confirmation is not None
    linked = await owner.http.post(
        "/meta/oauth/choose",
        data={"state": state, "confirmation": confirmation[1], "account": account},
        headers={"Origin": service.url},
    )
    assert linked.status_code == 200, linked.text
    assert f"Connected: {brand} now reads {account} (Bloom US)" in linked.text
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select auth_method from brand_ad_accounts where meta_ad_account_id = %s", (account,)
        )
        assert [r["auth_method"] for r in await cur.fetchall()] == ["oauth"]
        await conn.execute("delete from organizations where id = %s", (org,))
