"""Load the chat app with N simulated people over Chainlit's real socket.io protocol (no browser).

It starts its own `viraltracker chat` on a free 127.0.0.1 port, with its own VIRALTRACKER_HOME
(a temporary directory) on the embedded database (or DATABASE_URL), demo data seeded, offline
(no model keys), and its own CHAINLIT_AUTH_SECRET. Each simulated person does what the web UI does:

1. `POST /login` (the login form) → the `access_token` cookie; `POST /set-session-cookie`.
2. socket.io at `/ws/socket.io` with the cookie and the frontend's `auth`
   (`sessionId`, `threadId`, `clientType`, `userEnv`, `chatProfile`); on connect it emits
   `connection_successful` and `fetch_favorites`, as the frontend does.
3. Waits for the chat start to finish (`set_commands`, the "Running offline." toast, then the
   chat start's `task_end`).
4. Emits `client_message` as the command menu does: `{"message": {..., "type": "user_message",
   "command": "top_hooks", "output": 'brand:"Acme Pets" days:30'}, "fileReferences": []}`.
5. Times the first token of the assistant answer (`stream_start` of an `assistant_message`) and
   the final answer (the `new_message` / `update_message` for that id once streaming is over), then
   waits for `task_end` and disconnects (a closed tab: no `clear_session`).

An answer counts as an error when a stage times out (30 s), the connection fails, any step comes
back with `isError`, or the answer is not "Top 10 hooks for <brand>…". Rounds run N = 1, 25, 100
people at once (one unmeasured warm-up person first), each round bounded by 120 s, while a thread
samples the RSS of the server's process tree (the CLI and its chainlit child) every 100 ms.

    .venv/bin/python -m bench.chat_load [--users 1,25,100] [--keep-home] [--no-wait] [--barrier]

With --barrier (a diagnosis, not the target scenario) nobody sends until every person of the round
has signed in and is ready, so the message path is measured without sign-ins competing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import socketio

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "viraltracker")

USERS = (
    ("maya@northwind.example", "northwind-demo", "Acme Pets"),
    ("sam@northwind.example", "northwind-demo", "Acme Pets"),
    ("leo@summit.example", "summit-demo", "Peak Fuel"),
)
COMMAND = "top_hooks"
ARGS = 'brand:"{brand}" days:30'
EXPECTED = "Top 10 hooks for {brand}"

STAGE_TIMEOUT = 30.0  # every wait of one simulated person
ROUND_BUDGET = 120.0  # a whole round
SAMPLE_SECONDS = 0.1
STARTUP_SECONDS = 90.0
SETUP_SECONDS = 900.0
HEAVY = "bench.run_bench|pytest"
HEAVY_POLL = 15.0
HEAVY_MAX_WAIT = 600.0

FLOOR_RUNS = 10
TARGET_N = 100
TARGET_TTFT_P95 = 1.0
TARGET_FINAL_P95 = 3.0
TARGET_RSS_MB = 600.0

# Never inherited: the app must run offline, sign people in with our own table, send no telemetry.
DROPPED_ENV = ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY")


# ---------------------------------------------------------------------------------------------
# The server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env.update(
        {
            "VIRALTRACKER_HOME": str(home),
            "CHAINLIT_AUTH_SECRET": "chat-load-" + secrets.token_urlsafe(48),
            "VIRALTRACKER_MODEL": "offline",
            "VIRALTRACKER_AUTH": "password",
            "SUPABASE_URL": "",
            "SUPABASE_KEY": "",
            "LOGFIRE_TOKEN": "",
        }
    )
    return env


def run_cli(args: list[str], env: dict[str, str], log: Path) -> None:
    started = time.monotonic()
    with log.open("ab") as out:
        code = subprocess.call(
            [CLI, *args],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=SETUP_SECONDS,
        )
    if code != 0:
        raise SystemExit(
            f"`viraltracker {' '.join(args)}` failed ({code}):\n{log.read_text(errors='replace')[-3000:]}"
        )
    print(f"  viraltracker {' '.join(args)}: {time.monotonic() - started:.1f} s", flush=True)


def http_status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [CLI, "chat", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop it and anything it started
        )
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + STARTUP_SECONDS
    while http_status(url) != 200:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(process)
            raise SystemExit(
                f"the chat app did not answer on {url} (exit code {process.poll()}):\n"
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.25)
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group (the CLI and chainlit), SIGKILL whatever is left after 10 s."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def stop_embedded_postgres(pgdata: Path) -> None:
    """Fast shutdown of the embedded server this run started in its own home (it outlives the CLI)."""
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        postmaster = psutil.Process(pid)
        if str(pgdata) not in " ".join(postmaster.cmdline()):
            return  # not ours
        postmaster.send_signal(signal.SIGINT)
        postmaster.wait(timeout=15)
    except (ValueError, IndexError, psutil.Error):
        pass


def server_tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    return [p for p in procs if not _is_postgres(p)]


def _is_postgres(p: psutil.Process) -> bool:
    try:
        return p.name().startswith("postgres")
    except psutil.Error:
        return True


def tree_rss_mb(root: psutil.Process) -> float:
    total = 0
    for p in server_tree(root):
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The embedded server's postmaster (its backends are its children), if it runs."""
    with contextlib.suppress(OSError, ValueError, IndexError, psutil.Error):
        return psutil.Process(int((pgdata / "postmaster.pid").read_text().splitlines()[0]))
    return None


def cpu_by_pid(procs: list[psutil.Process]) -> dict[int, float]:
    seen: dict[int, float] = {}
    for p in procs:
        with contextlib.suppress(psutil.Error):
            times = p.cpu_times()
            seen[p.pid] = times.user + times.system
    return seen


class RoundSampler:
    """Every 100 ms, on a thread (the clients' event loop is busy): the server tree's RSS (its peak)
    and the CPU used during the round by the server tree, the database server and this process."""

    def __init__(self, server_pid: int, db: psutil.Process | None) -> None:
        self.root = psutil.Process(server_pid)
        self.db = db
        self.peak = 0.0
        self._start: dict[str, dict[int, float]] = {}
        self._last: dict[str, dict[int, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _groups(self) -> dict[str, list[psutil.Process]]:
        groups = {"server": server_tree(self.root)}
        if self.db is not None:
            with contextlib.suppress(psutil.Error):
                groups["db"] = [self.db, *self.db.children(recursive=True)]
        return groups

    def _sample(self) -> None:
        rss = 0
        for p in server_tree(self.root):
            with contextlib.suppress(psutil.Error):
                rss += p.memory_info().rss
        self.peak = max(self.peak, rss / 2**20)
        for name, procs in self._groups().items():
            self._last.setdefault(name, {}).update(cpu_by_pid(procs))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)

    def cpu_seconds(self, name: str) -> float:
        """CPU used during the round (a process that appeared counts from zero); NaN if not watched."""
        if name not in self._last:
            return math.nan
        start = self._start.get(name, {})
        return sum(max(0.0, cpu - start.get(pid, 0.0)) for pid, cpu in self._last[name].items())

    def __enter__(self) -> RoundSampler:
        self._start = {name: cpu_by_pid(procs) for name, procs in self._groups().items()}
        self._client_start = time.process_time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.client_cpu = time.process_time() - self._client_start


def heavy_processes() -> list[str]:
    found = subprocess.run(["pgrep", "-af", HEAVY], capture_output=True, text=True, check=False)
    mine = {os.getpid(), os.getppid()}
    heavy = []
    for line in found.stdout.splitlines():
        pid, _, command = line.strip().partition(" ")
        if not pid.isdigit() or int(pid) in mine:
            continue
        if Path(command.split(" ", 1)[0]).name in ("grep", "pgrep", "rg"):
            continue  # someone searching for the words, not running them
        heavy.append(line.strip())
    return heavy


def wait_for_quiet(budget: list[float], notes: list[str]) -> None:
    """Wait (polling every 15 s, within what is left of 10 min) until no benchmark or test run is on."""
    seen = heavy_processes()
    if not seen:
        return
    print("  other heavy processes are running; waiting so the figures are not distorted:", flush=True)
    for line in seen:
        print(f"    {line}", flush=True)
    started = time.monotonic()
    while heavy_processes():
        if budget[0] <= 0:
            notes.append(f"measured while other heavy processes ran (gave up waiting after 10 min): {seen}")
            print("  still running after 10 min: measuring anyway, figures may be distorted", flush=True)
            return
        pause = min(HEAVY_POLL, budget[0])
        time.sleep(pause)
        budget[0] -= pause
    waited = time.monotonic() - started
    notes.append(f"waited {waited:.0f} s for other heavy processes to finish: {seen}")
    print(f"  they finished; waited {waited:.0f} s", flush=True)


# ---------------------------------------------------------------------------------------------
# One simulated person


@dataclass
class Outcome:
    email: str
    ready_s: float | None = None  # login → chat start finished
    ttft_s: float | None = None  # message sent → first token of the answer
    final_s: float | None = None  # message sent → the answer's final send/update
    end_s: float | None = None  # message sent → task_end (elements sent, spinner off)
    error: str | None = None


@dataclass
class Conversation:
    """What the socket brought, stamped on arrival."""

    sent_at: float = 0.0
    commands: asyncio.Event = field(default_factory=asyncio.Event)
    toast: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    first_token: asyncio.Event = field(default_factory=asyncio.Event)
    final: asyncio.Event = field(default_factory=asyncio.Event)
    task_started: bool = False
    task_end: asyncio.Event = field(default_factory=asyncio.Event)
    answer_id: str | None = None
    answer_text: str = ""
    first_token_at: float | None = None
    final_at: float | None = None
    task_end_at: float | None = None
    error_steps: list[str] = field(default_factory=list)


def wire(client: socketio.AsyncClient, conv: Conversation) -> None:
    @client.event
    async def connect() -> None:
        # What the frontend emits on every connect.
        await client.emit("connection_successful")
        await client.emit("fetch_favorites")

    @client.on("set_commands")
    async def on_commands(_: Any) -> None:
        conv.commands.set()

    @client.on("toast")
    async def on_toast(data: dict[str, Any]) -> None:
        if "Running offline" in str(data.get("message", "")):
            conv.toast.set()

    def error_step(step: dict[str, Any]) -> None:
        if step.get("isError"):
            conv.error_steps.append(f"{step.get('type')} {step.get('name')}: {str(step.get('output'))[:200]}")

    @client.on("stream_start")
    async def on_stream_start(step: dict[str, Any]) -> None:
        error_step(step)
        if step.get("type") == "assistant_message" and conv.answer_id is None and conv.sent_at:
            conv.answer_id = step["id"]
            conv.answer_text = str(step.get("output") or "")
            conv.first_token_at = time.perf_counter()
            conv.first_token.set()

    @client.on("stream_token")
    async def on_token(data: dict[str, Any]) -> None:
        if data.get("id") == conv.answer_id and not conv.final.is_set():
            token = str(data.get("token", ""))
            conv.answer_text = token if data.get("isSequence") else conv.answer_text + token

    async def on_step(step: dict[str, Any]) -> None:
        error_step(step)
        if (
            step.get("type") == "assistant_message"
            and conv.sent_at
            and not step.get("streaming")
            and conv.answer_id in (None, step.get("id"))
            and not conv.final.is_set()
        ):
            now = time.perf_counter()
            if conv.answer_id is None:  # answered without streaming: the whole text at once
                conv.answer_id = step["id"]
                conv.first_token_at = now
                conv.first_token.set()
            conv.answer_text = str(step.get("output") or "")
            conv.final_at = now
            conv.final.set()

    client.on("new_message", on_step)
    client.on("update_message", on_step)

    @client.on("task_start")
    async def on_task_start(_: Any) -> None:
        if conv.sent_at:
            conv.task_started = True

    @client.on("task_end")
    async def on_task_end(_: Any) -> None:
        if conv.sent_at and conv.task_started:  # the end of the message's task
            conv.task_end_at = time.perf_counter()
            conv.task_end.set()
        elif conv.toast.is_set():  # the end of the chat start's task: the UI stops "loading"
            conv.ready.set()


async def wait_stage(event: asyncio.Event, what: str) -> None:
    try:
        await asyncio.wait_for(event.wait(), STAGE_TIMEOUT)
    except TimeoutError:
        raise StageError(f"timeout: {what}") from None


class StageError(Exception):
    pass


class SendLine:
    """With --barrier: nobody sends until everyone has signed in and is ready (or has failed)."""

    def __init__(self, n: int, enabled: bool) -> None:
        self.n = n
        self.enabled = enabled
        self.arrived = 0
        self.go = asyncio.Event()
        if not enabled:
            self.go.set()

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.n:
            self.go.set()


async def simulate(
    base: str,
    email: str,
    password: str,
    brand: str,
    *,
    start: asyncio.Event,
    line: SendLine,
    transport: httpx.AsyncHTTPTransport,
    transports: list[str],
) -> Outcome:
    out = Outcome(email=email)
    arrived = False
    conv = Conversation()
    client = socketio.AsyncClient(reconnection=False)
    wire(client, conv)
    await start.wait()
    began = time.perf_counter()
    try:
        session_id = str(uuid.uuid4())
        # A cookie jar per person over the round's shared transport: building an httpx client
        # with its own transport costs ~40 ms of this loop (an SSL context), 4 s for 100 people.
        http = httpx.AsyncClient(base_url=base, timeout=STAGE_TIMEOUT, transport=transport, trust_env=False)
        try:
            login = await http.post("/login", data={"username": email, "password": password})
            login.raise_for_status()
            await http.post("/set-session-cookie", json={"session_id": session_id})
        except httpx.TimeoutException:
            raise StageError("timeout: login") from None
        except httpx.HTTPError as error:
            raise StageError(f"login failed: {error}") from None
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
        if "access_token" not in cookie:
            raise StageError("login failed: no access_token cookie")
        try:
            await client.connect(
                base,
                headers={"Cookie": cookie},
                auth={
                    "clientType": "webapp",
                    "sessionId": session_id,
                    "threadId": "",
                    "userEnv": "{}",
                    "chatProfile": "",
                },
                socketio_path="/ws/socket.io",
                transports=transports,
                wait_timeout=STAGE_TIMEOUT,
            )
        except socketio.exceptions.ConnectionError as error:
            raise StageError(f"connection failed: {error}") from None
        await wait_stage(conv.commands, "chat start (set_commands)")
        await wait_stage(conv.toast, "chat start (offline toast)")
        await wait_stage(conv.ready, "chat start (task_end)")
        out.ready_s = time.perf_counter() - began
        arrived = True
        line.arrive()
        await line.go.wait()

        message = {
            "threadId": "",
            "command": COMMAND,
            "id": str(uuid.uuid4()),
            "name": email,
            "type": "user_message",
            "output": ARGS.format(brand=brand),
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "metadata": {"location": base + "/"},
        }
        conv.sent_at = time.perf_counter()
        await client.emit("client_message", {"message": message, "fileReferences": []})
        await wait_stage(conv.first_token, "first token")
        out.ttft_s = conv.first_token_at - conv.sent_at  # type: ignore[operator]
        await wait_stage(conv.final, "final answer")
        out.final_s = conv.final_at - conv.sent_at  # type: ignore[operator]
        await wait_stage(conv.task_end, "task_end")
        out.end_s = conv.task_end_at - conv.sent_at  # type: ignore[operator]
        if conv.error_steps:
            raise StageError("error step: " + conv.error_steps[0])
        if not conv.answer_text.startswith(EXPECTED.format(brand=brand)):
            raise StageError(f"unexpected answer: {conv.answer_text[:120]!r}")
    except StageError as error:
        out.error = str(error)
    except asyncio.CancelledError:
        out.error = "timeout: round budget"
        raise
    except Exception as error:
        out.error = f"{type(error).__name__}: {error}"
    finally:
        if not arrived:
            line.arrive()
        with contextlib.suppress(Exception):
            await asyncio.shield(client.disconnect())
    return out


# ---------------------------------------------------------------------------------------------
# Rounds


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass
class Round:
    n: int
    outcomes: list[Outcome]
    peak_rss_mb: float
    wall_s: float
    server_cpu_s: float
    db_cpu_s: float
    client_cpu_s: float
    client_lag_p99_s: float
    client_lag_max_s: float

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def values(self, name: str) -> list[float]:
        return [v for o in self.outcomes if not o.error and (v := getattr(o, name)) is not None]


@dataclass
class App:
    base: str
    server_pid: int
    db: psutil.Process | None  # the embedded postmaster; None on DATABASE_URL
    transports: list[str]  # what the served page tells the browser's socket.io client to use


def page_transports(base: str) -> list[str]:
    """The socket.io transports the app's page sets (`window.transports`, from the `transports`
    option of .chainlit/config.toml), else the client's default: long-polling, then an upgrade."""
    with urllib.request.urlopen(base + "/", timeout=5) as response:
        page = response.read().decode("utf-8", "replace")
    found = re.search(r"window\.transports = (\[[^\]]*\]);", page)
    return list(json.loads(found[1])) if found else ["polling", "websocket"]


class LoopLag:
    """How late this process's event loop runs a 20 ms timer: when the load clients themselves
    fall behind, the times they measure include their own delay."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.02)
            self.lags.append(max(0.0, time.perf_counter() - before - 0.02))

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


async def run_round(app: App, n: int, barrier: bool = False) -> Round:
    start = asyncio.Event()
    line = SendLine(n, barrier)
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None))
    tasks = [
        asyncio.create_task(
            simulate(
                app.base,
                *USERS[i % len(USERS)],
                start=start,
                line=line,
                transport=transport,
                transports=app.transports,
            )
        )
        for i in range(n)
    ]
    await asyncio.sleep(0.05)  # every task waits on the start line
    with RoundSampler(app.server_pid, app.db) as sampler, LoopLag() as lag:
        began = time.perf_counter()
        start.set()
        done, pending = await asyncio.wait(tasks, timeout=ROUND_BUDGET)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall = time.perf_counter() - began
    await transport.aclose()
    outcomes: list[Outcome] = []
    for i, task in enumerate(tasks):
        if task in done and task.exception() is None:
            outcomes.append(task.result())
        else:
            outcomes.append(Outcome(email=USERS[i % len(USERS)][0], error="timeout: round budget"))
    return Round(
        n=n,
        outcomes=outcomes,
        peak_rss_mb=sampler.peak,
        wall_s=wall,
        server_cpu_s=sampler.cpu_seconds("server"),
        db_cpu_s=sampler.cpu_seconds("db"),
        client_cpu_s=sampler.client_cpu,
        client_lag_p99_s=percentile(lag.lags, 0.99),
        client_lag_max_s=max(lag.lags, default=math.nan),
    )


def ms(seconds: float) -> str:
    return "—" if math.isnan(seconds) else f"{seconds * 1000:,.0f}"


def print_table(rounds: list[Round]) -> None:
    head = (
        f"{'N':>4} {'ok':>4} {'errors':>6} {'TTFT p50':>9} {'TTFT p95':>9} {'final p50':>10} "
        f"{'final p95':>10} {'end p95':>8} {'ready p95':>10} {'peak RSS MB':>12} {'wall s':>7}"
    )
    print()
    print("times in ms; TTFT = message sent → first streamed token of the answer;")
    print("final = sent → the answer's final message; end = sent → task_end; ready = login → chat start done")
    print(head)
    print("-" * len(head))
    for r in rounds:
        ok = len(r.outcomes) - len(r.errors)
        print(
            f"{r.n:>4} {ok:>4} {len(r.errors):>6} {ms(percentile(r.values('ttft_s'), 0.5)):>9} "
            f"{ms(percentile(r.values('ttft_s'), 0.95)):>9} {ms(percentile(r.values('final_s'), 0.5)):>10} "
            f"{ms(percentile(r.values('final_s'), 0.95)):>10} {ms(percentile(r.values('end_s'), 0.95)):>8} "
            f"{ms(percentile(r.values('ready_s'), 0.95)):>10} {r.peak_rss_mb:>12,.0f} {r.wall_s:>7.1f}"
        )
    print()
    print("CPU seconds used during each round (2 cores = 2 CPU-s per wall second):")
    for r in rounds:
        print(
            f"  N={r.n}: server {r.server_cpu_s:.1f}, database {r.db_cpu_s:.1f}, "
            f"load clients (this process) {r.client_cpu_s:.1f}, wall {r.wall_s:.1f} s; "
            f"load clients' event-loop lag p99 {ms(r.client_lag_p99_s)} ms, max {ms(r.client_lag_max_s)} ms"
        )
    for r in rounds:
        kinds: dict[str, int] = {}
        for o in r.errors:
            kind = str(o.error)
            kinds[kind] = kinds.get(kind, 0) + 1
        for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  N={r.n}: {count} × {kind}")


def print_targets(rounds: list[Round]) -> bool:
    target = next((r for r in rounds if r.n == TARGET_N), None)
    print()
    print(f"Targets (N={TARGET_N}):")
    if target is None:
        print(f"  no N={TARGET_N} round was run")
        return False
    ttft = percentile(target.values("ttft_s"), 0.95)
    final = percentile(target.values("final_s"), 0.95)
    checks = [
        ("zero errors", f"{len(target.errors)} errors", not target.errors),
        (f"p95 to first token ≤ {TARGET_TTFT_P95:g} s", f"{ms(ttft)} ms", ttft <= TARGET_TTFT_P95),
        (f"p95 to final ≤ {TARGET_FINAL_P95:g} s", f"{ms(final)} ms", final <= TARGET_FINAL_P95),
        (
            f"peak RSS ≤ {TARGET_RSS_MB:g} MB",
            f"{target.peak_rss_mb:,.0f} MB",
            target.peak_rss_mb <= TARGET_RSS_MB,
        ),
    ]
    for name, value, met in checks:
        print(f"  {'MET   ' if met else 'MISSED'} {name}: {value}")
    return all(met for _, _, met in checks)


@dataclass
class Floor:
    """One person alone, FLOOR_RUNS times in a row: what a turn costs with no load, on this machine
    as it runs now (its speed drifts by a fifth from minute to minute)."""

    ttft_s: float
    final_s: float
    runs: int


async def measure_floor(app: App) -> Floor:
    outcomes: list[Outcome] = []
    for _ in range(FLOOR_RUNS):
        outcomes.extend((await run_round(app, 1)).outcomes)
    ok = [o for o in outcomes if not o.error and o.ttft_s is not None and o.final_s is not None]
    return Floor(
        ttft_s=percentile([o.ttft_s for o in ok if o.ttft_s is not None], 0.5),
        final_s=percentile([o.final_s for o in ok if o.final_s is not None], 0.5),
        runs=len(ok),
    )


def print_floor(floor: Floor, rounds: list[Round]) -> None:
    print()
    print(
        f"Floor (one person alone, median of {floor.runs} turns in a row): "
        f"TTFT {ms(floor.ttft_s)} ms, final {ms(floor.final_s)} ms"
    )
    for r in rounds:
        ttft = percentile(r.values("ttft_s"), 0.95) / floor.ttft_s
        final = percentile(r.values("final_s"), 0.95) / floor.final_s
        print(f"  N={r.n}: p95 TTFT = {ttft:,.1f} × floor, p95 final = {final:,.1f} × floor")


async def measure(
    app: App, sizes: list[int], wait: bool, barrier: bool, notes: list[str]
) -> tuple[Floor, list[Round]]:
    warm = await run_round(app, 1)
    print(
        f"  warm-up (not counted): {'ok' if not warm.errors else warm.errors[0].error}; "
        f"server RSS now {tree_rss_mb(psutil.Process(app.server_pid)):,.0f} MB",
        flush=True,
    )
    floor = await measure_floor(app)
    budget = [HEAVY_MAX_WAIT]
    rounds: list[Round] = []
    for n in sizes:
        if wait:
            await asyncio.to_thread(wait_for_quiet, budget, notes)
        print(f"  round N={n}…", flush=True)
        result = await run_round(app, n, barrier)
        rounds.append(result)
        others = heavy_processes()
        if others:
            notes.append(f"other heavy processes were running at the end of N={n}: {others}")
        await asyncio.sleep(1.0)  # let the server finish persisting the round's threads
    return floor, rounds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", default="1,25,100", help="Comma-separated round sizes (default 1,25,100).")
    parser.add_argument("--keep-home", action="store_true", help="Keep the temporary VIRALTRACKER_HOME.")
    parser.add_argument(
        "--no-wait", action="store_true", help="Do not wait for running benchmarks or test runs."
    )
    parser.add_argument(
        "--barrier",
        action="store_true",
        help="Diagnosis: everyone signs in and gets ready first, then all send at once "
        "(the message path without sign-ins competing).",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.users.split(",") if s.strip()]

    home = Path(tempfile.mkdtemp(prefix="vt-chat-load-"))
    env = app_env(home)
    embedded = not env.get("DATABASE_URL")
    log = home / "chat-load.log"
    print(f"chat load: home {home}, {'embedded database' if embedded else 'DATABASE_URL'}, offline")
    process: subprocess.Popen[bytes] | None = None
    ok = False
    try:
        run_cli(["db", "up"], env, log)
        run_cli(["demo", "seed", "--if-empty"], env, log)
        port = free_port()
        process = start_server(env, port, home / "chat.log")
        base = f"http://127.0.0.1:{port}"
        print(f"  app on {base} (pid {process.pid}), RSS {tree_rss_mb(psutil.Process(process.pid)):,.0f} MB")
        app = App(base, process.pid, postmaster(home / "pgdata") if embedded else None, page_transports(base))
        print(f"  socket.io transports (as the page sets them): {', '.join(app.transports)}")
        notes: list[str] = []
        floor, rounds = asyncio.run(
            measure(app, sizes, wait=not args.no_wait, barrier=args.barrier, notes=notes)
        )
        print_table(rounds)
        print_floor(floor, rounds)
        ok = print_targets(rounds)
        print()
        if args.barrier:
            print("Mode: --barrier (diagnosis): everyone signed in and got ready before anyone sent.")
        if not args.no_wait and not any("heavy" in note for note in notes):
            print(
                "Machine: no benchmark or test run (pgrep -af 'bench.run_bench|pytest') at the start or end of any round."
            )
        for note in notes:
            print(f"Note: {note}")
    finally:
        if process is not None:
            stop_server(process)
        if embedded:
            stop_embedded_postgres(home / "pgdata")
        if args.keep_home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
