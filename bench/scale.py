"""Scale-out: 3 `viraltracker chat` processes and 2 `viraltracker worker` processes on one database,
behind Debian's haproxy with deploy/haproxy.cfg (sticky sessions), all on 127.0.0.1; 300 simulated
people over Chainlit's socket.io protocol through the proxy.

The setup is README's "Running in production": a throwaway embedded Postgres (temporary home,
`viraltracker db up`, demo data seeded) given to every process as DATABASE_URL, each process with its
own VIRALTRACKER_HOME (as on separate machines), one CHAINLIT_AUTH_SECRET and VIRALTRACKER_SECRET_KEY,
offline (no model keys). The proxy's config is deploy/haproxy.cfg with its listening address on
127.0.0.1 and one `server` line per app process.

Each simulated person is bench/chat_load.py's (sign in, set the session cookie, open the socket,
wait for the chat start, send `/top_hooks brand:"…" days:30` from the command menu, time the first
token and the final answer); the proxy's `vt_server` cookie from the sign-in keeps them on one process.
People arrive spread evenly over the ramp (default 15 s), each wait bounded by 30 s and each round by
180 s. Rounds:

1. baseline: one app process alone (reached directly) with 100 people over the same ramp: the load
   each of the 3 processes gets in the next round;
2. scale-out: 300 people through the proxy, spread over the 3 processes.

Printed: per round p50/p95 time to first token and to the final answer, errors, the requests each
app process served (the proxy's log), the peak RSS of every process (apps, workers, proxy; sampled
every 100 ms), and the scale-out's p95s as a ratio to the baseline's. Exit 1 when the 300 round has
an error.

    .venv/bin/python -m bench.scale [--people 300] [--apps 3] [--workers 2] [--ramp 15] [--keep-home] [--no-wait]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from cryptography.fernet import Fernet

from bench.chat_load import (
    CLI,
    ROOT,
    USERS,
    Outcome,
    SendLine,
    app_env,
    free_port,
    heavy_processes,
    ms,
    page_transports,
    percentile,
    run_cli,
    server_tree,
    simulate,
    start_server,
    stop_embedded_postgres,
    stop_server,
    wait_for_quiet,
)
from db.embedded import start_embedded

ROUND_BUDGET = 180.0
SAMPLE_SECONDS = 0.1
STARTUP_SECONDS = 60.0
WARM_UP_PEOPLE = 6  # unmeasured: every process has served a turn before the rounds


# ---------------------------------------------------------------------------------------------
# The service


def proxy_config(app_ports: list[int], proxy_port: int) -> str:
    """deploy/haproxy.cfg listening on 127.0.0.1:`proxy_port`, one server line per app process."""
    config = (ROOT / "deploy" / "haproxy.cfg").read_text()
    config = config.replace("\n    bind :80\n", f"\n    bind 127.0.0.1:{proxy_port}\n")
    servers = re.findall(r"\n    server app\d+ 127\.0\.0\.1:\d+ cookie app\d+ (.*)", config)
    if not servers or "bind 127.0.0.1:" not in config:
        raise SystemExit(
            "deploy/haproxy.cfg no longer has the `bind :80` and `server appN` lines this bench edits"
        )
    config = re.sub(r"\n    server app\d+ .*", "", config)
    lines = "".join(
        f"\n    server app{i} 127.0.0.1:{port} cookie app{i} {servers[0]}"
        for i, port in enumerate(app_ports, 1)
    )
    return config.rstrip("\n") + lines + "\n"


@dataclass
class Service:
    url: str  # the proxy
    apps: dict[str, subprocess.Popen[bytes]]
    app_urls: dict[str, str]
    workers: dict[str, subprocess.Popen[bytes]]
    proxy: subprocess.Popen[bytes]
    proxy_log: Path

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {**self.apps, **self.workers, "haproxy": self.proxy}


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [CLI, "worker", "--concurrency", "4"],
            env=env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def start_proxy(config: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise SystemExit("haproxy is not installed: `make haproxy` (Debian's package)")
    with log.open("ab") as out:
        process = subprocess.Popen(
            [haproxy, "-f", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/", timeout=2).status_code == 200:
                return process
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"haproxy did not answer on {url}:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


def start_service(home: Path, database_url: str, apps: int, workers: int) -> Service:
    base_env = app_env(home)
    base_env.update(
        {
            "DATABASE_URL": database_url,
            "VIRALTRACKER_SECRET_KEY": Fernet.generate_key().decode(),
            "CHAINLIT_AUTH_SECRET": "bench-scale-" + secrets.token_urlsafe(48),
            "VIRALTRACKER_TRUST_PROXY": "1",
        }
    )
    proxy_port = free_port()
    url = f"http://127.0.0.1:{proxy_port}"
    base_env["VIRALTRACKER_PUBLIC_URL"] = url

    def env_of(name: str) -> dict[str, str]:
        own = home / name
        own.mkdir(exist_ok=True)
        return {**base_env, "VIRALTRACKER_HOME": str(own)}

    ports = [free_port() for _ in range(apps)]
    started: dict[str, subprocess.Popen[bytes]] = {}
    worker_procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for i in range(1, workers + 1):
            worker_procs[f"worker{i}"] = start_worker(env_of(f"worker{i}"), home / f"worker{i}.log")
        for i, port in enumerate(ports, 1):
            started[f"app{i}"] = start_server(env_of(f"app{i}"), port, home / f"app{i}.log")
        (home / "haproxy.cfg").write_text(proxy_config(ports, proxy_port))
        proxy = start_proxy(home / "haproxy.cfg", url, home / "haproxy.log")
    except BaseException:
        for process in [*started.values(), *worker_procs.values()]:
            stop_server(process)
        raise
    app_urls = {f"app{i}": f"http://127.0.0.1:{port}" for i, port in enumerate(ports, 1)}
    return Service(url, started, app_urls, worker_procs, proxy, home / "haproxy.log")


# ---------------------------------------------------------------------------------------------
# Measuring


class PeakRss:
    """Every 100 ms, on a thread: each process's RSS (with its children, not Postgres), the peak."""

    def __init__(self, processes: dict[str, subprocess.Popen[bytes]]) -> None:
        self.roots = {name: psutil.Process(p.pid) for name, p in processes.items()}
        self.peak = dict.fromkeys(processes, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, root in self.roots.items():
            rss = 0
            for p in server_tree(root):
                with contextlib.suppress(psutil.Error):
                    rss += p.memory_info().rss
            self.peak[name] = max(self.peak[name], rss / 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(SAMPLE_SECONDS)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


@dataclass
class Round:
    name: str
    n: int
    outcomes: list[Outcome]
    wall_s: float
    peak_rss_mb: dict[str, float]
    served: dict[str, int]  # requests per app process, from the proxy's log

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def p(self, name: str, q: float) -> float:
        return percentile(
            [v for o in self.outcomes if not o.error and (v := getattr(o, name)) is not None], q
        )


async def run_round(
    name: str, base: str, n: int, ramp: float, transports: list[str], service: Service
) -> Round:
    """`n` people arriving evenly over `ramp` seconds at `base`, the whole round bounded in time."""
    start = asyncio.Event()
    start.set()
    line = SendLine(n, enabled=False)
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=None))

    async def person(i: int) -> Outcome:
        await asyncio.sleep(ramp * i / n)
        email, password, brand = USERS[i % len(USERS)]
        return await simulate(
            base, email, password, brand, start=start, line=line, transport=transport, transports=transports
        )

    log_before = service.proxy_log.stat().st_size
    with PeakRss(service.processes()) as rss:
        began = time.perf_counter()
        tasks = [asyncio.create_task(person(i)) for i in range(n)]
        done, pending = await asyncio.wait(tasks, timeout=ROUND_BUDGET)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        wall = time.perf_counter() - began
    await transport.aclose()
    outcomes = [
        t.result()
        if t in done and t.exception() is None
        else Outcome(email="?", error="timeout: round budget")
        for t in tasks
    ]
    with service.proxy_log.open("rb") as log:
        log.seek(log_before)
        text = log.read().decode("utf-8", "replace")
    served = {app: len(re.findall(rf" chat/{app} ", text)) for app in service.apps}
    return Round(name, n, outcomes, wall, rss.peak, served)


def print_rounds(rounds: list[Round], ramp: float) -> None:
    print()
    print(f"times in ms; people arrive evenly over {ramp:g} s; TTFT = message sent → first streamed token;")
    print("final = sent → the answer's final message; ready = sign-in → chat start done")
    head = (
        f"{'round':<32} {'N':>4} {'ok':>4} {'errors':>6} {'TTFT p50':>9} {'TTFT p95':>9} "
        f"{'final p50':>10} {'final p95':>10} {'ready p95':>10} {'wall s':>7}"
    )
    print(head)
    print("-" * len(head))
    for r in rounds:
        print(
            f"{r.name:<32} {r.n:>4} {r.n - len(r.errors):>4} {len(r.errors):>6} {ms(r.p('ttft_s', 0.5)):>9} "
            f"{ms(r.p('ttft_s', 0.95)):>9} {ms(r.p('final_s', 0.5)):>10} {ms(r.p('final_s', 0.95)):>10} "
            f"{ms(r.p('ready_s', 0.95)):>10} {r.wall_s:>7.1f}"
        )
    for r in rounds:
        print()
        print(f"{r.name}: peak RSS per process (MB, with children; Postgres apart)")
        print("  " + ", ".join(f"{name} {mb:,.0f}" for name, mb in r.peak_rss_mb.items()))
        if r.name.startswith("scale-out"):
            print(
                "  requests served per app process (the proxy's log): "
                + ", ".join(f"{app} {count}" for app, count in r.served.items())
            )
        kinds: dict[str, int] = {}
        for o in r.errors:
            kinds[str(o.error)] = kinds.get(str(o.error), 0) + 1
        for kind, count in sorted(kinds.items(), key=lambda kv: -kv[1]):
            print(f"  {count} × {kind}")


def print_ratio(baseline: Round, scaled: Round) -> None:
    print()
    print(
        f"Ratio, {scaled.n} people on {len(scaled.served)} processes to {baseline.n} on one (the same load "
        "per process):"
    )
    for label, name in (("first token", "ttft_s"), ("final", "final_s")):
        for q in (0.5, 0.95):
            ratio = scaled.p(name, q) / baseline.p(name, q)
            print(
                f"  p{round(q * 100)} {label}: {ms(scaled.p(name, q))} / {ms(baseline.p(name, q))} ms = {ratio:.2f}×"
            )
    app_rss = [mb for name, mb in scaled.peak_rss_mb.items() if name.startswith("app")]
    print(
        f"  peak RSS per app process: {max(app_rss):,.0f} MB at most vs {baseline.peak_rss_mb['app1']:,.0f} MB "
        "for the one alone"
    )


async def measure(service: Service, people: int, apps: int, ramp: float) -> tuple[Round, Round]:
    transports = page_transports(service.url)
    warm = await run_round("warm-up", service.url, WARM_UP_PEOPLE, 0.0, transports, service)
    print(
        f"  warm-up (not counted): {len(warm.errors)} errors of {warm.n}; served "
        + ", ".join(f"{a} {c}" for a, c in warm.served.items()),
        flush=True,
    )
    per_process = math.ceil(people / apps)
    print(f"  baseline: {per_process} people straight to app1 alone…", flush=True)
    baseline = await run_round(
        f"baseline: 1 process, {per_process} people",
        service.app_urls["app1"],
        per_process,
        ramp,
        transports,
        service,
    )
    await asyncio.sleep(2.0)  # the baseline's threads finish persisting
    print(f"  scale-out: {people} people through the proxy…", flush=True)
    scaled = await run_round(
        f"scale-out: {apps} processes, {people} people", service.url, people, ramp, transports, service
    )
    return baseline, scaled


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--people", type=int, default=300, help="People in the scale-out round (default 300)."
    )
    parser.add_argument("--apps", type=int, default=3, help="App processes (default 3).")
    parser.add_argument("--workers", type=int, default=2, help="Worker processes (default 2).")
    parser.add_argument(
        "--ramp", type=float, default=15.0, help="Seconds over which people arrive (default 15)."
    )
    parser.add_argument("--keep-home", action="store_true", help="Keep the temporary home and the logs.")
    parser.add_argument(
        "--no-wait", action="store_true", help="Do not wait for running benchmarks or test runs."
    )
    args = parser.parse_args()
    if not 1 <= args.people <= 1000 or not 1 <= args.apps <= 8 or not 0 <= args.workers <= 8:
        raise SystemExit("--people 1..1000, --apps 1..8, --workers 0..8")

    home = Path(tempfile.mkdtemp(prefix="vt-bench-scale-"))
    env = app_env(home)
    embedded = not env.get("DATABASE_URL")
    print(f"bench scale: home {home}, {'embedded database' if embedded else 'DATABASE_URL'}, offline")
    service: Service | None = None
    ok = False
    try:
        run_cli(["db", "up"], env, home / "setup.log")
        run_cli(["demo", "seed", "--if-empty"], env, home / "setup.log")
        database_url = env.get("DATABASE_URL") or start_embedded(home / "pgdata")
        service = start_service(home, database_url, args.apps, args.workers)
        print(
            f"  proxy {service.url}; apps "
            + ", ".join(f"{a} {u}" for a, u in service.app_urls.items())
            + f"; {args.workers} workers",
            flush=True,
        )
        if not args.no_wait:
            notes: list[str] = []
            wait_for_quiet([600.0], notes)
        load = os.getloadavg()
        baseline, scaled = asyncio.run(measure(service, args.people, args.apps, args.ramp))
        print_rounds([baseline, scaled], args.ramp)
        print_ratio(baseline, scaled)
        others = heavy_processes()
        print()
        print(
            f"Machine: {os.cpu_count()} cores; load average {load[0]:.2f} at the start"
            + (
                f"; other heavy processes at the end: {len(others)}"
                if others
                else "; no test or benchmark run at the end"
            )
        )
        ok = not scaled.errors
        print(f"{'MET   ' if ok else 'MISSED'} zero errors at {scaled.n}: {len(scaled.errors)} errors")
    finally:
        if service is not None:
            for process in service.processes().values():
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
