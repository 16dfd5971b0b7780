"""Sync a large Meta ad account from the fake Graph API into the embedded Postgres, against a floor.

By default 5,000 ads × 200 days (about a million daily insight rows; ads start late or pause early
and 2% of days have no delivery, so a little under). The run:

1. a temporary VIRALTRACKER_HOME with its own embedded Postgres (`viraltracker db up`);
2. the fake Graph API in its own process (`python -m fakes.meta_graph`), rows from
   today - DAYS to yesterday; the sync's "today" is that last day, so the range is exactly the
   generated days;
3. organization "Bench Co", brand "Bench Brand", the account linked with the system user's token;
4. the floor: the sync's reading without its writing: the same async report run over the same days,
   each row read and made into its COPY line as the sync does (`copy_line`), nothing written;
5. the full sync (`MetaSync(...).run(brand, days=DAYS)`, as the service role, in this process):
   wall time, rows fetched per second, the peak RSS of this process (sampled every 100 ms on a
   thread; the fake's is reported apart), and the CPU used by this process, the fake and the
   Postgres server (the postmaster and its children);
6. a no-change re-sync (no `days`: from the high-water mark minus the attribution window): its
   time, rows fetched and written (must be 0), and `max(updated_at)` of the rows before the window,
   before and after (must not move);
7. the database checked against totals summed independently from the fake's own rows
   (`FakeGraph.rows_between` in this process, same seed), then the targets.

Targets: >= 20,000 rows/s; peak RSS <= 500 MB; the no-change re-sync writes 0 rows and touches no
row outside the attribution window. The sync's rows/s is also given as a multiple of the floor's.
Exit 0 when every target is met and the data checks out, else 1.

    .venv/bin/python -m bench.meta_sync [--ads 5000] [--days 200] [--keep-home] [--no-wait]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil
from pydantic import SecretStr

from bench.chat_load import (
    HEAVY_MAX_WAIT,
    ROOT,
    RoundSampler,
    app_env,
    free_port,
    heavy_processes,
    postmaster,
    run_cli,
    stop_embedded_postgres,
    stop_server,
    wait_for_quiet,
)
from db.embedded import start_embedded
from db.pool import Database
from fakes.meta_graph import FakeGraph
from services.meta.api import Limits, MetaClient, RangeDone
from services.meta.connections import link_account
from services.meta.rows import INSIGHT_FIELDS, INSIGHT_ROWS, copy_line
from services.meta.sync import AccountSync, MetaSync
from services.platform.accounts import create_organization
from services.process import calm_garbage_collector
from settings import Settings

ACCOUNT = "act_1000000001"
ORG = "Bench Co"
BRAND = "Bench Brand"
SEED = 1  # the fake's default --seed

TARGET_ROWS_PER_S = 20_000.0
TARGET_RSS_MB = 500.0

READY_SECONDS = 60.0  # the fake builds its ads' profiles before it says ready
PHASE_SECONDS = 1800.0  # each of the floor, the sync and the re-sync (--timeout)


# ---------------------------------------------------------------------------------------------
# The fake Graph API, in its own process


def start_fake(
    ads: int, days: int, token: str, log: Path, *, media: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m fakes.meta_graph` in its own session (`media`: serving the creatives' files too);
    returns it and its URL once ready."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fakes.meta_graph",
                "--port",
                str(port),
                "--accounts",
                f"{ACCOUNT}:{ads}:{days}",
                "--token",
                token,
                "--seed",
                str(SEED),
                *(["--media"] if media else []),
            ],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # stopped by process group
        )
    deadline = time.monotonic() + READY_SECONDS
    while True:
        found = re.search(r"^ready (http://\S+)$", log.read_text(errors="replace"), re.MULTILINE)
        if found:
            return process, found[1]
        if process.poll() is not None or time.monotonic() > deadline:
            stop_server(process)
            raise SystemExit(
                f"the fake Graph API did not get ready (exit code {process.poll()}):\n"
                + log.read_text(errors="replace")[-3000:]
            )
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------
# Measuring


class Sampler(RoundSampler):
    """chat_load's sampler watching the fake (its "server") and the postmaster's tree, plus the RSS
    of this process (the sync) every 100 ms."""

    def __init__(self, fake_pid: int, db: psutil.Process | None) -> None:
        super().__init__(fake_pid, db)
        self.me = psutil.Process()
        self.own_peak = 0.0

    def _sample(self) -> None:
        super()._sample()
        with contextlib.suppress(psutil.Error):
            self.own_peak = max(self.own_peak, self.me.memory_info().rss / 2**20)


@dataclass
class Phase:
    name: str
    wall_s: float
    rows: int
    calls: int
    peak_rss_mb: float  # this process
    fake_rss_mb: float  # the fake's process
    cpu_self_s: float
    cpu_fake_s: float
    cpu_db_s: float
    result: AccountSync | None = None  # None for the floor
    ads_s: float | None = None  # the sync's ads step (before the first insights page)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall_s if self.wall_s > 0 else 0.0


def measured(name: str, sampler: Sampler, wall: float, rows: int, calls: int, **extra: Any) -> Phase:
    return Phase(
        name=name,
        wall_s=wall,
        rows=rows,
        calls=calls,
        peak_rss_mb=sampler.own_peak,
        fake_rss_mb=sampler.peak,
        cpu_self_s=sampler.client_cpu,
        cpu_fake_s=sampler.cpu_seconds("server"),
        cpu_db_s=sampler.cpu_seconds("db"),
        **extra,
    )


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


class Progress:
    """Prints a line at every tenth of the range (by day), and when the ads step ends."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.started = time.perf_counter()
        self.next = 0.1
        self.ads_done_at: float | None = None
        self.ads_seen = "no ads"
        self.last_ads_at = 0.0

    def __call__(self, what: str, done: float) -> None:
        now = time.perf_counter() - self.started
        if "daily rows" not in what:
            self.ads_seen = what.split(": ", 1)[-1]
            self.last_ads_at = now  # after each page of ads is written
            return
        if self.ads_done_at is None:  # the first insights page is in: the ads step ended before it
            self.ads_done_at = self.last_ads_at
            print(f"  {self.label}: ads step done ({self.ads_seen}) in {self.last_ads_at:.1f} s", flush=True)
        if done + 1e-9 >= self.next:
            found = re.search(r"([\d,]+) daily rows", what)
            rows = int(found[1].replace(",", "")) if found else 0
            print(
                f"  {self.label}: {done:>4.0%} of the days, {rows:,} rows, {now:.1f} s"
                f" ({rows / now if now else 0:,.0f} rows/s), RSS {rss_mb():,.0f} MB",
                flush=True,
            )
            self.next = (int(done * 10 + 1e-9) + 1) / 10


def insight_params(since: date, until: date) -> dict[str, Any]:
    """What `MetaSync._sync_insights` asks for."""
    return {
        "level": "ad",
        "time_increment": 1,
        "time_range": {"since": since.isoformat(), "until": until.isoformat()},
        "fields": INSIGHT_FIELDS,
    }


def make_client(graph_url: str, token: SecretStr) -> MetaClient:
    """The sync's client. The fake builds a report at once; Meta's own seconds of preparation are not
    ours to measure, so poll it briskly (production waits 2 s, growing)."""
    return MetaClient(token=token, graph_url=graph_url, limits=Limits(report_poll=0.02, report_poll_cap=0.05))


def fetch_and_parse(token: str, graph_url: str, since: date, until: date, budget: float) -> tuple[int, int]:
    """The floor: the sync's reading without its writing. The same async report run over the same
    days, read the same way (`INSIGHT_ROWS`), each row made into the line the sync sends
    (`copy_line`), nothing written. Returns (rows fetched, calls)."""
    client = make_client(graph_url, SecretStr(token))
    started = time.perf_counter()
    deadline = started + budget
    rows, next_print = 0, started + 5.0
    for page in client.report_pages(ACCOUNT, since, until, insight_params(since, until), INSIGHT_ROWS):
        if isinstance(page, RangeDone):
            continue
        for row in page:
            copy_line(row)
        rows += len(page)
        now = time.perf_counter()
        if now >= next_print:
            print(
                f"  floor: {rows:,} rows, {now - started:.1f} s ({rows / (now - started):,.0f} rows/s)",
                flush=True,
            )
            next_print = now + 5.0
        if now > deadline:
            raise SystemExit(f"the floor took more than {budget:.0f} s (--timeout); {rows:,} rows so far")
    return rows, client.calls


async def run_sync(
    label: str,
    sync_factory: Callable[[Progress], MetaSync],
    *,
    today: date,
    days: int | None,
    fake_pid: int,
    db_proc: psutil.Process | None,
    budget: float,
) -> Phase:
    progress = Progress(label)
    sync = sync_factory(progress)
    with Sampler(fake_pid, db_proc) as sampler:
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(sync.run(BRAND, today=today, days=days), timeout=budget)
        except TimeoutError:
            raise SystemExit(f"{label} took more than {budget:.0f} s (--timeout)") from None
        wall = time.perf_counter() - started
    account = result.accounts[0]
    print(f"  {label}: {result.summary} ({wall:.1f} s)", flush=True)
    return measured(
        label, sampler, wall, account.rows, account.calls, result=account, ads_s=progress.ads_done_at
    )


# ---------------------------------------------------------------------------------------------
# The database


async def set_up_brand(db: Database, settings: Settings) -> UUID:
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=ORG)
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org, BRAND)
        )
        row = await cur.fetchone()
    assert row is not None
    linked = await link_account(db, None, brand_name=BRAND, account=ACCOUNT, settings=settings)
    print(f"  {linked.summary.split('. Sync')[0]}.", flush=True)
    return UUID(str(row["id"]))


async def one(db: Database, query: str, params: tuple[Any, ...]) -> dict[str, Any]:
    async with db.as_owner() as conn:
        cur = await conn.execute(query, params)
        row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def stored_totals(db: Database, brand_id: UUID) -> dict[str, Any]:
    row = await one(
        db,
        "select count(*) as rows, count(distinct meta_ad_id) as ads_with_rows,"
        " coalesce(sum(spend), 0) as spend, coalesce(sum(impressions), 0) as impressions,"
        " coalesce(sum(link_clicks), 0) as link_clicks, coalesce(sum(purchases), 0) as purchases,"
        " coalesce(sum(video_3s_views), 0) as video_3s_views,"
        " coalesce(sum(video_thruplays), 0) as video_thruplays,"
        " min(date) as first_day, max(date) as last_day"
        " from meta_ads_performance where brand_id = %s",
        (brand_id,),
    )
    extra = await one(
        db,
        "select (select count(*) from meta_ads where brand_id = %s) as ads,"
        " (select count(*) from meta_ads_cumulative where brand_id = %s) as rollup_rows,"
        " (select high_water_mark from sync_state where meta_ad_account_id = %s and stream = 'insights')"
        " as high_water_mark",
        (brand_id, brand_id, ACCOUNT),
    )
    return row | extra


async def outside_window(db: Database, brand_id: UUID, before: date) -> dict[str, Any]:
    """The rows before `before` (outside the attribution window): how many, last written when."""
    return await one(
        db,
        "select count(*) as rows, max(updated_at) as last_update from meta_ads_performance"
        " where brand_id = %s and date < %s",
        (brand_id, before),
    )


async def server_info(db: Database) -> str:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select name, setting, unit from pg_settings where name = any(%s) order by name",
            (["shared_buffers", "max_wal_size", "synchronous_commit", "fsync", "work_mem"],),
        )
        rows = await cur.fetchall()
        version = await (await conn.execute("show server_version")).fetchone()
    shown = ", ".join(f"{r['name']}={r['setting']}{r['unit'] or ''}" for r in rows)
    return f"PostgreSQL {version and version['server_version']}: {shown}"


# ---------------------------------------------------------------------------------------------
# The independent expectation


def expected_totals(ads: int, days: int, first_day: date, since: date, until: date) -> dict[str, Any]:
    """Totals of the rows the fake serves for the range, from a second (lazy) FakeGraph with the same
    seed, read the way Meta documents them (as tests/test_meta_sync.py does): not through the sync's
    parser."""
    fake = FakeGraph()
    fake.add_account(ACCOUNT, name=f"Account {ACCOUNT}")
    fake.generate(ACCOUNT, n_ads=ads, since=first_day, days=days, seed=SEED)

    def action(row: dict[str, Any], key: str, kind: str) -> int:
        return sum(int(a["value"]) for a in row.get(key) or [] if a["action_type"] == kind)

    totals: dict[str, Any] = {
        "rows": 0,
        "spend": Decimal("0"),
        "impressions": 0,
        "link_clicks": 0,
        "purchases": 0,
        "video_3s_views": 0,
        "video_thruplays": 0,
    }
    seen_ads: set[str] = set()
    for row in fake.rows_between(ACCOUNT, since, until):
        totals["rows"] += 1
        totals["spend"] += Decimal(row["spend"])
        totals["impressions"] += int(row["impressions"])
        totals["link_clicks"] += int(row.get("inline_link_clicks") or 0)
        totals["purchases"] += action(row, "actions", "omni_purchase")
        totals["video_3s_views"] += action(row, "actions", "video_view")
        totals["video_thruplays"] += action(row, "video_thruplay_watched_actions", "video_view")
        seen_ads.add(row["ad_id"])
    totals["ads_with_rows"] = len(seen_ads)
    return totals


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Outcome:
    floor: Phase
    full: Phase
    again: Phase
    rss_before_mb: float
    checks: list[tuple[str, str, bool]] = field(default_factory=list)
    targets: list[tuple[str, str, bool]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


async def measure(
    args: argparse.Namespace,
    home: Path,
    graph_url: str,
    token: str,
    fake_pid: int,
    first_day: date,
    last_day: date,
) -> Outcome:
    pgdata = home / "pgdata"
    url = start_embedded(pgdata)  # attaches to the server `db up` started
    settings = Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=home,
        DATABASE_URL=url,
        META_SYSTEM_USER_TOKEN=token,
        META_GRAPH_URL=graph_url,
    )
    attribution_days = settings.meta_attribution_days
    db_proc = postmaster(pgdata)
    since = last_day - timedelta(days=args.days - 1)
    window_start = last_day - timedelta(days=attribution_days - 1)
    notes: list[str] = []
    budget = [HEAVY_MAX_WAIT]

    async with Database(url, max_size=4) as db:
        print(f"  {await server_info(db)}", flush=True)
        brand_id = await set_up_brand(db, settings)

        def quiet() -> None:
            if not args.no_wait:
                wait_for_quiet(budget, notes)

        def others(phase: str) -> None:
            seen = heavy_processes()
            if seen:
                notes.append(f"other heavy processes were running at the end of the {phase}: {seen}")

        # 4. The floor.
        await asyncio.to_thread(quiet)
        print(f"Floor: fetch and parse {since} to {last_day}, nothing written…", flush=True)
        with Sampler(fake_pid, db_proc) as sampler:
            started = time.perf_counter()
            rows, calls = await asyncio.to_thread(
                fetch_and_parse, token, graph_url, since, last_day, args.timeout
            )
            wall = time.perf_counter() - started
        floor = measured("fetch-and-parse floor", sampler, wall, rows, calls)
        others("floor")

        def make_sync(progress: Progress) -> MetaSync:
            return MetaSync(
                db,
                None,
                settings=settings,
                progress=progress,
                client_factory=lambda token: make_client(graph_url, token),
            )

        # 5. The full sync.
        await asyncio.to_thread(quiet)
        rss_before = rss_mb()
        print(
            f"Full sync: {args.days} days ({since} to {last_day}), {args.ads:,} ads; RSS now {rss_before:,.0f} MB…",
            flush=True,
        )
        full = await run_sync(
            "sync",
            make_sync,
            today=last_day,
            days=args.days,
            fake_pid=fake_pid,
            db_proc=db_proc,
            budget=args.timeout,
        )
        others("full sync")
        after_full = await stored_totals(db, brand_id)

        # 6. The no-change re-sync.
        before = await outside_window(db, brand_id, window_start)
        started_at = (await one(db, "select clock_timestamp() as t", ()))["t"]
        await asyncio.to_thread(quiet)
        print(
            f"No-change re-sync: from the high-water mark {after_full['high_water_mark']} minus"
            f" {attribution_days} days…",
            flush=True,
        )
        again = await run_sync(
            "re-sync",
            make_sync,
            today=last_day,
            days=None,
            fake_pid=fake_pid,
            db_proc=db_proc,
            budget=args.timeout,
        )
        others("re-sync")
        after = await outside_window(db, brand_id, window_start)
        written_since = (
            await one(
                db,
                "select count(*) as n from meta_ads_performance where brand_id = %s and updated_at >= %s",
                (brand_id, started_at),
            )
        )["n"]
        after_again = await stored_totals(db, brand_id)

    # 7. The independent expectation (after the timed phases: it costs CPU here).
    print("Checking: totals of the fake's own rows, summed independently…", flush=True)
    started = time.perf_counter()
    expect = await asyncio.to_thread(expected_totals, args.ads, args.days, first_day, since, last_day)
    print(f"  {expect['rows']:,} rows expected ({time.perf_counter() - started:.1f} s)", flush=True)

    out = Outcome(floor=floor, full=full, again=again, rss_before_mb=rss_before, notes=notes)
    full_result, again_result = full.result, again.result
    assert full_result is not None and again_result is not None
    figures = ("rows", "ads_with_rows", "spend", "impressions", "link_clicks", "purchases",
               "video_3s_views", "video_thruplays")  # fmt: skip
    differ = [
        f"{k}: stored {after_full[k]}, expected {expect[k]}"
        for k in figures
        if Decimal(str(after_full[k])) != Decimal(str(expect[k]))
    ]
    out.checks += [
        ("the sync and the re-sync ended without error",
         f"{full_result.error or 'ok'}; {again_result.error or 'ok'}",
         full_result.error is None and again_result.error is None),
        ("the floor and the sync fetched every row the fake serves",
         f"floor {floor.rows:,}, sync {full.rows:,}, expected {expect['rows']:,}",
         floor.rows == full.rows == expect["rows"]),
        ("the sync wrote every row it fetched", f"{full_result.rows_written:,} of {full.rows:,}",
         full_result.rows_written == full.rows),
        ("stored totals = the fake's totals (rows, ads, spend, impressions, clicks, purchases, video)",
         "; ".join(differ) or f"{after_full['rows']:,} rows, spend {after_full['spend']:,}",
         not differ),
        ("every ad stored", f"{after_full['ads']:,} of {args.ads:,}", after_full["ads"] == args.ads),
        ("running totals (meta_ads_cumulative) kept up",
         f"{after_full['rollup_rows']:,} rows for {after_full['rows']:,} daily rows",
         after_full["rollup_rows"] == after_full["rows"]),
        ("high-water mark = the last day", str(after_full["high_water_mark"]),
         after_full["high_water_mark"] == last_day),
        ("the re-sync started at the high-water mark minus the attribution window",
         f"{again_result.since} to {again_result.until}",
         again_result.since == window_start and again_result.until == last_day),
        ("the re-sync left the totals as they were", f"{after_again['rows']:,} rows",
         all(after_again[k] == after_full[k] for k in figures)),
    ]  # fmt: skip
    ratio = full.rows_per_s / floor.rows_per_s if floor.rows_per_s else float("nan")
    out.targets += [
        (f"sync rows/s ≥ {TARGET_ROWS_PER_S:,.0f}",
         f"{full.rows_per_s:,.0f} rows/s ({ratio:.2f} × the floor's {floor.rows_per_s:,.0f})",
         full.rows_per_s >= TARGET_ROWS_PER_S),
        (f"peak RSS of the sync's process ≤ {TARGET_RSS_MB:,.0f} MB",
         f"{full.peak_rss_mb:,.0f} MB ({out.rss_before_mb:,.0f} MB before it)",
         full.peak_rss_mb <= TARGET_RSS_MB),
        ("no-change re-sync writes 0 rows",
         f"{again_result.rows_written:,} written as the sync counts them, {written_since:,} rows with"
         f" updated_at since it began; {again_result.ads_written:,} ads rewritten",
         again_result.rows_written == 0 and written_since == 0),
        (f"no row before {window_start} (outside the {attribution_days}-day window) touched",
         f"{before['rows']:,} rows, max(updated_at) {fmt_ts(before['last_update'])} before,"
         f" {fmt_ts(after['last_update'])} after",
         before == after),
    ]  # fmt: skip
    return out


def fmt_ts(value: Any) -> str:
    return value.strftime("%H:%M:%S.%f") if value is not None else "none"


def report(out: Outcome, args: argparse.Namespace) -> bool:
    head = (
        f"{'phase':<22} {'wall s':>7} {'rows':>10} {'written':>10} {'rows/s':>8} {'× floor':>7}"
        f" {'calls':>6} {'RSS MB':>7} {'fake MB':>7} {'CPU s: self':>11} {'fake':>6} {'pg':>6}"
    )
    print()
    print(
        f"{args.ads:,} ads × {args.days} days; RSS = peak of this process (the sync); fake MB = the fake's."
    )
    print(head)
    print("-" * len(head))
    for phase in (out.floor, out.full, out.again):
        written = "—" if phase.result is None else f"{phase.result.rows_written:,}"
        ratio = "floor" if phase is out.floor else f"{phase.rows_per_s / out.floor.rows_per_s:.2f}"
        print(
            f"{phase.name:<22} {phase.wall_s:>7.1f} {phase.rows:>10,} {written:>10} {phase.rows_per_s:>8,.0f}"
            f" {ratio:>7} {phase.calls:>6,} {phase.peak_rss_mb:>7,.0f} {phase.fake_rss_mb:>7,.0f}"
            f" {phase.cpu_self_s:>11.1f} {phase.cpu_fake_s:>6.1f} {phase.cpu_db_s:>6.1f}"
        )
    print()
    for phase in (out.full, out.again):
        result = phase.result
        assert result is not None
        if phase.ads_s is not None:
            insights = phase.wall_s - phase.ads_s
            print(
                f"{phase.name}: ads step {phase.ads_s:.1f} s ({result.ads:,} ads, {result.ads_written:,} written),"
                f" insights step {insights:.1f} s ({phase.rows / insights if insights > 0 else 0:,.0f} rows/s);"
                f" {result.throttled} throttled calls"
            )
    print("CPU seconds while each phase ran (2 cores = 2 CPU-s per wall second); pg = the postmaster's tree.")
    print()
    print("Checks:")
    for name, value, met in out.checks:
        print(f"  {'ok    ' if met else 'FAILED'} {name}: {value}")
    print()
    print("Targets:")
    for name, value, met in out.targets:
        print(f"  {'MET   ' if met else 'MISSED'} {name}: {value}")
    if not args.no_wait and not any("heavy" in note for note in out.notes):
        print(
            "Machine: no benchmark or test run (pgrep -af 'bench.run_bench|pytest') at the start or end of a phase."
        )
    for note in out.notes:
        print(f"Note: {note}")
    print(f"Load average after: {load()}")
    ok = all(met for _, _, met in out.checks) and all(met for _, _, met in out.targets)
    print("All targets met." if ok else "NOT all targets met (or a check failed).")
    return ok


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ads", type=int, default=5000, help="ads in the account (default 5000)")
    parser.add_argument("--days", type=int, default=200, help="days of daily rows (default 200)")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary VIRALTRACKER_HOME")
    parser.add_argument(
        "--no-wait", action="store_true", help="do not wait for running benchmarks or test runs"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=PHASE_SECONDS,
        help=f"seconds per phase (default {PHASE_SECONDS:.0f})",
    )
    args = parser.parse_args()
    if not 1 <= args.ads <= 999_999 or not 1 <= args.days <= 3650 or args.timeout <= 0:
        parser.error("--ads must be 1-999999, --days 1-3650, --timeout positive")

    home = Path(tempfile.mkdtemp(prefix="vt-meta-sync-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)  # always a throwaway embedded server: the bench writes 1M rows
    log = home / "meta-sync-bench.log"
    token = "bench-" + secrets.token_urlsafe(24)
    print(
        f"meta sync bench: {args.ads:,} ads × {args.days} days, home {home}, embedded database;"
        f" {os.cpu_count()} CPUs, load average {load()}",
        flush=True,
    )
    fake: subprocess.Popen[bytes] | None = None
    ok = False
    try:
        run_cli(["db", "up"], env, log)
        today = date.today()  # the fake's clock: it generates today - DAYS .. yesterday
        fake, graph_url = start_fake(args.ads, args.days, token, home / "fake.log")
        if date.today() != today:
            raise SystemExit("the date changed while the fake started: run again")
        first_day, last_day = today - timedelta(days=args.days), today - timedelta(days=1)
        print(
            f"  fake Graph API on {graph_url} (pid {fake.pid}): {ACCOUNT}, rows {first_day} to {last_day}",
            flush=True,
        )
        calm_garbage_collector()  # as `viraltracker sync meta` and the workers do
        outcome = asyncio.run(measure(args, home, graph_url, token, fake.pid, first_day, last_day))
        ok = report(outcome, args)
    finally:
        if fake is not None:
            stop_server(fake)
        stop_embedded_postgres(home / "pgdata")
        if args.keep_home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
