"""The job engine under load: no-op jobs and 50 ms I/O jobs through 1 and 4 worker processes, against
floors measured in the same run.

The run:

1. a temporary VIRALTRACKER_HOME with its own embedded Postgres (`viraltracker db up`);
2. floors: the queue table itself (procrastinate's own fetch and finish functions, 4 connections
   draining 10,000 pre-inserted jobs, no Python work per job), and a bare LISTEN/NOTIFY round trip
   between two connections (p50/p95 of 100);
3. for each case, W worker processes (`viraltracker worker --concurrency C --import bench.jobs`)
   are started and registered, then this process enqueues the jobs as fast as it can (batches of
   500 runs, each run and its queue job in one transaction) while the workers drain them. jobs/s =
   jobs / (first enqueue → last finish); queue latency = a run's enqueue → its pick-up (the database's
   clock on both sides: `job_runs.created_at` → `started_at`). A burst enqueued this fast piles up, so
   its latency is mostly the backlog's; a third case paces 1/3 of the no-op jobs at 150 jobs/s into
   the 4 workers (a load they keep up with): its latency is the engine's own;
4. idle pick-up: with the 4 workers idle, 50 jobs one at a time (each waits for the previous to
   finish, then a random pause of 50-200 ms): p50/p95 enqueue → pick-up, against the LISTEN/NOTIFY
   floor.

The queue floor is measured again at the end (the machine's other load moves it); ratios are to the
first.

Targets: >= 200 no-op jobs/s with 4 workers; idle pick-up p95 <= 1 s. Exit 0 when both are met.

    .venv/bin/python -m bench.jobs [--noop 10000] [--io 1000] [--concurrency 8] [--keep-home] [--no-wait]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from jobs.registry import JobType, RunContext, register

NAME = "_bench"
TARGET_NOOP_PER_S = 200.0
TARGET_IDLE_P95 = 1.0
BATCH = 500
PACED_RATE = 150.0
WORKERS_SECONDS = 60.0


class BenchParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sleep: float = Field(default=0.0, ge=0, le=10)


class BenchResult(BaseModel):
    slept: float


async def bench_job(context: RunContext, params: BenchParams) -> BenchResult:
    if params.sleep:
        await asyncio.sleep(params.sleep)  # simulated I/O
    return BenchResult(slept=params.sleep)


BENCH = register(
    JobType(name=NAME, params=BenchParams, run=bench_job, description="Benchmark job.", max_attempts=1)
)


@dataclass
class Case:
    label: str
    workers: int
    jobs: int
    sleep: float
    rate: float | None = None
    """Enqueue at this steady rate (jobs/s) instead of as fast as possible."""
    jobs_per_s: float = 0.0
    enqueue_per_s: float = 0.0
    p50: float = 0.0
    p95: float = 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- floors --------------------------------------------------------------------------------------


async def queue_floor(url: str, jobs: int, consumers: int = 4) -> float:
    """Jobs/s of procrastinate's bare fetch + finish over `consumers` connections (no Python work)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            "select procrastinate_defer_jobs_v1(array(select row('floor', 'floor', 0, null, null, '{}'::jsonb,"
            " null)::procrastinate_job_to_defer_v1 from generate_series(1, %s)))",
            (jobs,),
        )
        await conn.execute("analyze procrastinate_jobs")  # as autovacuum would have, in steady state

    async def consume() -> int:
        done = 0
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cur = await conn.execute("select procrastinate_register_worker_v1() as id")
            worker = (await cur.fetchone() or (0,))[0]
            while True:
                cur = await conn.execute(
                    "select id from procrastinate_fetch_job_v2(array['floor'], %s)", (worker,)
                )
                row = await cur.fetchone()
                if row is None or row[0] is None:
                    break
                await conn.execute("select procrastinate_finish_job_v1(%s, 'succeeded', true)", (row[0],))
                done += 1
            await conn.execute("select procrastinate_unregister_worker_v1(%s)", (worker,))
        return done

    started = time.perf_counter()
    done = sum(await asyncio.gather(*(consume() for _ in range(consumers))))
    return done / (time.perf_counter() - started)


async def notify_floor(url: str, rounds: int = 100) -> list[float]:
    """Seconds from NOTIFY (committed) to the listener having it, `rounds` times."""
    import psycopg

    seen: list[float] = []
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as sender,
    ):
        await listener.execute("listen bench_floor")
        for _ in range(rounds):
            started = time.perf_counter()
            await sender.execute("select pg_notify('bench_floor', 'x')")
            async for _note in listener.notifies(timeout=5, stop_after=1):
                pass
            seen.append(time.perf_counter() - started)
            await asyncio.sleep(random.uniform(0.005, 0.02))
    return seen


# -- the engine ----------------------------------------------------------------------------------


def start_workers(
    count: int, concurrency: int, env: dict[str, str], log: Path
) -> list[subprocess.Popen[bytes]]:
    command = [
        sys.executable,
        "-m",
        "cli",
        "worker",
        "--concurrency",
        str(concurrency),
        "--import",
        "bench.jobs",
    ]
    root = Path(__file__).resolve().parent.parent
    with log.open("ab") as out:
        return [
            subprocess.Popen(
                command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
            for _ in range(count)
        ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


async def wait_for_workers(db: object, count: int) -> None:
    from db.pool import Database

    assert isinstance(db, Database)
    deadline = time.monotonic() + WORKERS_SECONDS
    while time.monotonic() < deadline:
        async with db.as_owner() as conn:
            cur = await conn.execute("select count(*) as n from procrastinate_workers")
            row = await cur.fetchone()
        if row is not None and row["n"] >= count:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"{count} workers did not start within {WORKERS_SECONDS:.0f} s")


async def run_case(db: object, case: Case) -> None:
    from db.pool import Database
    from jobs.runs import enqueue_many

    assert isinstance(db, Database)
    async with db.as_owner() as conn:
        await conn.execute("truncate job_runs cascade")
    params = [BenchParams(sleep=case.sleep)] * case.jobs
    batch = BATCH if case.rate is None else max(1, round(case.rate / 10))
    started = time.perf_counter()
    for n, first in enumerate(range(0, case.jobs, batch)):
        if case.rate is not None:  # one batch every 100 ms
            await asyncio.sleep(max(0.0, started + n * batch / case.rate - time.perf_counter()))
        async with db.as_service() as conn:
            await enqueue_many(conn, BENCH, params[first : first + batch], organization_id=None)
    case.enqueue_per_s = case.jobs / (time.perf_counter() - started)
    deadline = time.monotonic() + 600
    while True:
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select count(*) as n from job_runs where status in ('succeeded', 'failed')"
            )
            row = await cur.fetchone()
        if row is not None and row["n"] >= case.jobs:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{case.label}: only {row and row['n']} of {case.jobs} jobs done after 600 s")
        await asyncio.sleep(0.2)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) filter (where status = 'failed') as failed,"
            " extract(epoch from max(finished_at) - min(created_at)) as span,"
            " array_agg(extract(epoch from started_at - created_at)) as waits from job_runs"
        )
        row = await cur.fetchone()
    assert row is not None
    if row["failed"]:
        raise SystemExit(f"{case.label}: {row['failed']} jobs failed (see the workers' log)")
    waits = [float(w) for w in row["waits"]]
    case.jobs_per_s = case.jobs / float(row["span"])
    case.p50, case.p95 = pct(waits, 0.5), pct(waits, 0.95)


async def idle_pickups(db: object, rounds: int = 50) -> list[float]:
    from db.pool import Database
    from jobs.runs import enqueue

    assert isinstance(db, Database)
    waits: list[float] = []
    for _ in range(rounds):
        await asyncio.sleep(random.uniform(0.05, 0.2))
        async with db.as_service() as conn:
            run_id = await enqueue(conn, BENCH, BenchParams(), organization_id=None, brand_id=None)
        deadline = time.monotonic() + 30
        while True:
            async with db.as_owner() as conn:
                cur = await conn.execute(
                    "select status, extract(epoch from started_at - created_at) as wait from job_runs where id = %s",
                    (run_id,),
                )
                row = await cur.fetchone()
            if row is not None and row["status"] == "succeeded":
                waits.append(float(row["wait"]))
                break
            if time.monotonic() > deadline:
                raise SystemExit("an idle worker did not pick a job up within 30 s")
            await asyncio.sleep(0.01)
    return waits


async def measure(args: argparse.Namespace, home: Path, env: dict[str, str]) -> bool:
    from db.embedded import start_embedded
    from db.pool import Database

    url = start_embedded(home / "pgdata")
    log = home / "workers.log"
    async with Database(url, max_size=4) as db:
        async with db.as_owner() as conn:
            cur = await conn.execute("select version() as v, current_setting('max_connections') as m")
            info = await cur.fetchone()
        assert info is not None
        print(f"  {info['v'].split(' on ')[0]}, max_connections {info['m']}", flush=True)
        floor_before = await queue_floor(url, args.noop)
        notify = await notify_floor(url)
        print(f"  floor: queue table fetch+finish, 4 connections: {floor_before:,.0f} jobs/s", flush=True)
        print(
            f"  floor: LISTEN/NOTIFY round trip p50 {statistics.median(notify) * 1000:.1f} ms,"
            f" p95 {pct(notify, 0.95) * 1000:.1f} ms",
            flush=True,
        )
        cases = [
            Case("no-op", 1, args.noop, 0.0),
            Case("no-op", 4, args.noop, 0.0),
            Case("no-op", 4, args.noop // 3, 0.0, rate=PACED_RATE),
            Case("50 ms I/O", 1, args.io, 0.05),
            Case("50 ms I/O", 4, args.io, 0.05),
        ]
        idle: list[float] = []
        for case in cases:
            workers = start_workers(case.workers, args.concurrency, env, log)
            try:
                await wait_for_workers(db, case.workers)
                await run_case(db, case)
                if case.workers == 4 and not idle:
                    idle = await idle_pickups(db)
            finally:
                stop_workers(workers)
            print(
                f"  {case.label:>9} × {case.jobs:>6,} through {case.workers} worker(s) (concurrency"
                f" {args.concurrency} each): {case.jobs_per_s:7,.0f} jobs/s"
                f" ({case.jobs_per_s / floor_before:.2f}x the queue floor;"
                f" {'paced' if case.rate else 'enqueued as fast as possible'} at {case.enqueue_per_s:,.0f}/s);"
                f" queue latency p50 {case.p50 * 1000:,.0f} ms, p95 {case.p95 * 1000:,.0f} ms",
                flush=True,
            )
        floor_after = await queue_floor(url, args.noop)
        print(
            f"  floor again at the end: {floor_after:,.0f} jobs/s (the machine's other load moves it;"
            f" ratios above are to the first)",
            flush=True,
        )
    idle_p95 = pct(idle, 0.95)
    print(
        f"  idle pick-up (4 idle workers, {len(idle)} jobs one at a time): p50 {statistics.median(idle) * 1000:.0f} ms,"
        f" p95 {idle_p95 * 1000:.0f} ms ({idle_p95 / pct(notify, 0.95):.1f}x the LISTEN/NOTIFY p95)",
        flush=True,
    )
    noop4 = cases[1].jobs_per_s
    ok = noop4 >= TARGET_NOOP_PER_S and idle_p95 <= TARGET_IDLE_P95
    print(
        f"targets: no-op with 4 workers {noop4:,.0f} jobs/s (>= {TARGET_NOOP_PER_S:.0f}:"
        f" {'met' if noop4 >= TARGET_NOOP_PER_S else 'MISSED'}); idle pick-up p95 {idle_p95:.2f} s"
        f" (<= {TARGET_IDLE_P95:.0f} s: {'met' if idle_p95 <= TARGET_IDLE_P95 else 'MISSED'})",
        flush=True,
    )
    return ok


def main() -> None:
    from bench.chat_load import HEAVY_MAX_WAIT, app_env, run_cli, stop_embedded_postgres, wait_for_quiet

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--noop", type=int, default=10_000, help="no-op jobs per case (default 10,000)")
    parser.add_argument("--io", type=int, default=1_000, help="50 ms I/O jobs per case (default 1,000)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="jobs at once per worker process (default 8)"
    )
    parser.add_argument("--keep-home", action="store_true", help="Keep the temporary VIRALTRACKER_HOME.")
    parser.add_argument(
        "--no-wait", action="store_true", help="Do not wait for running benchmarks or test runs."
    )
    args = parser.parse_args()
    if not 1 <= args.noop <= 1_000_000 or not 1 <= args.io <= 100_000 or not 1 <= args.concurrency <= 32:
        parser.error("--noop 1-1000000, --io 1-100000, --concurrency 1-32")
    home = Path(tempfile.mkdtemp(prefix="vt-jobs-bench-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)  # always a throwaway embedded server
    env.pop("JOBS_DATABASE_URL", None)
    env["VIRALTRACKER_POOL_MAX_SIZE"] = str(args.concurrency)
    print(
        f"jobs bench: home {home}, embedded database; {os.cpu_count()} CPUs, load average {os.getloadavg()}"
    )
    ok = False
    try:
        run_cli(["db", "up"], env, home / "setup.log")
        if not args.no_wait:
            notes: list[str] = []
            wait_for_quiet([HEAVY_MAX_WAIT], notes)
            for note in notes:
                print(f"  note: {note}")
        ok = asyncio.run(measure(args, home, env))
    finally:
        stop_embedded_postgres(home / "pgdata")
        if args.keep_home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
