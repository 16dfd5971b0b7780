"""Time the chat tools on the bench brand against a bare-SQL floor measured in the same run.

Each tool runs through `agent.runner.run_turn` (the chat pipeline; slash commands run exactly) as
the bench user, so the timing includes the RLS transaction, brand resolution and the result
models. The floor is one `select sum(...)` over the same rows, through the same pool, as the same
user under RLS (and, for reference, as the owner, which bypasses RLS). Cases are interleaved, one
iteration of each at a time, so load on the machine falls on all of them alike.

    .venv/bin/python -m bench.run_bench [--iterations 20] [--warmup 3] [--regenerate] [--strict]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agent.runner import run_turn
from bench.generate import BENCH_BRAND, BenchData, bench_database_url, default_pgdata, ensure_bench_data
from db.pool import Database
from services.windows import Window, resolve_window
from settings import get_settings

TOOLS = ("top_hooks", "ad_performance", "congruence_summary")
WINDOWS = (30, 90)
TARGET_P95_MS = {30: 300.0, 90: 1000.0}
TARGET_RATIO = 2.0
MAX_ITERATIONS = 200

FLOOR_SQL = """
select sum(spend) as spend, sum(impressions) as impressions, sum(link_clicks) as link_clicks,
       sum(purchases) as purchases, sum(purchase_value) as purchase_value,
       sum(video_3s_views) as video_3s_views, sum(video_thruplays) as video_thruplays, count(*) as n
from meta_ads_performance
where brand_id = %(brand_id)s and date between %(since)s and %(until)s
"""


@dataclass
class Case:
    name: str
    days: int
    run: Callable[[], Awaitable[None]]
    times_ms: list[float] = field(default_factory=list)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


class ToolFailed(RuntimeError):
    pass


def _tool_case(db: Database, data: BenchData, tool: str, days: int) -> Callable[[], Awaitable[None]]:
    message = f'/{tool} brand:"{BENCH_BRAND}" days:{days}'
    today = data.last_day + timedelta(days=1)

    async def run() -> None:
        turn = await run_turn(db=db, caller=data.caller, message=message, today=today)
        if len(turn.tool_calls) != 1:
            raise ToolFailed(f"{message}: expected one tool call, got {len(turn.tool_calls)}: {turn.text}")
        call = turn.tool_calls[0]
        if call.error is not None or call.result is None:
            raise ToolFailed(f"{message}: {call.error or 'no result'}")
        result: dict[str, Any] = call.result
        if tool == "congruence_summary":
            if not result["classified_ads"] or len(result["dimensions"]) != 7:
                raise ToolFailed(f"{message}: no classified ads in the summary")
        elif not result["rows"]:
            raise ToolFailed(f"{message}: no rows")

    return run


def _floor_case(
    db: Database, data: BenchData, window: Window, *, as_owner: bool
) -> Callable[[], Awaitable[None]]:
    params = {"brand_id": data.brand_id, "since": window.since, "until": window.until}
    expected = data.ads * window.days

    async def run() -> None:
        context = db.as_owner() if as_owner else db.as_user(data.caller)
        async with context as conn:
            cur = await conn.execute(FLOOR_SQL, params)
            row = await cur.fetchone()
        if row is None or int(row["n"]) != expected:
            raise ToolFailed(f"floor: expected {expected:,} rows, summed {row and row['n']}")

    return run


def _cases(db: Database, data: BenchData) -> list[Case]:
    today = data.last_day + timedelta(days=1)
    cases: list[Case] = []
    for days in WINDOWS:
        window = resolve_window(today=today, days=days)
        cases.append(Case("floor: sum (user, RLS)", days, _floor_case(db, data, window, as_owner=False)))
        cases.append(Case("floor: sum (owner)", days, _floor_case(db, data, window, as_owner=True)))
        cases += [Case(tool, days, _tool_case(db, data, tool, days)) for tool in TOOLS]
    return cases


async def _measure(cases: list[Case], *, warmup: int, iterations: int) -> None:
    for _ in range(warmup):
        for case in cases:
            await case.run()
    for _ in range(iterations):
        for case in cases:
            started = time.perf_counter()
            await case.run()
            case.times_ms.append((time.perf_counter() - started) * 1000)


def _report(cases: list[Case], data: BenchData, iterations: int) -> bool:
    floors = {c.days: c for c in cases if c.name.startswith("floor: sum (user")}
    header = (
        f"{'case':<24} {'window':>6} {'p50 ms':>8} {'p95 ms':>8} {'p50/floor':>9} {'p95/floor':>9}"
        f" {'target p95':>10}  result"
    )
    lines = [header, "-" * len(header)]
    misses: list[str] = []
    for days in WINDOWS:
        floor = floors[days]
        f50, f95 = percentile(floor.times_ms, 0.5), percentile(floor.times_ms, 0.95)
        for case in (c for c in cases if c.days == days):
            p50, p95 = percentile(case.times_ms, 0.5), percentile(case.times_ms, 0.95)
            if case.name.startswith("floor"):
                lines.append(
                    f"{case.name:<24} {f'{days}d':>6} {p50:>8.1f} {p95:>8.1f} {'':>9} {'':>9} {'':>10}  floor"
                )
                continue
            r50, r95 = p50 / f50, p95 / f95
            target = TARGET_P95_MS[days]
            problems = []
            if p95 > target:
                problems.append(f"p95 {p95:.0f} > {target:.0f} ms")
            if r95 > TARGET_RATIO:
                problems.append(f"p95/floor {r95:.2f} > {TARGET_RATIO:g}")
            if r50 > TARGET_RATIO:
                problems.append(f"p50/floor {r50:.2f} > {TARGET_RATIO:g}")
            misses += [f"{case.name} {days}d: {p}" for p in problems]
            lines.append(
                f"{case.name:<24} {f'{days}d':>6} {p50:>8.1f} {p95:>8.1f} {r50:>9.2f} {r95:>9.2f}"
                f" {f'<= {target:.0f}':>10}  {'MISS' if problems else 'ok'}"
            )
        lines.append("")
    print(
        f"\n{BENCH_BRAND}: {data.ads:,} ads, {data.performance_rows:,} performance rows "
        f"({data.first_day} to {data.last_day}), {data.classified_ads:,} classified; "
        f"{iterations} timed iterations per case, interleaved.\n"
        f"30-day window: {data.ads * 30:,} rows; 90-day window: {data.ads * 90:,} rows.\n"
    )
    print("\n".join(lines).rstrip())
    print(
        f"\nTargets: p95 <= {TARGET_P95_MS[30]:.0f} ms at 30 days, <= {TARGET_P95_MS[90]:.0f} ms at 90 days; "
        f"p50 and p95 each <= {TARGET_RATIO:g}x the floor (sum as the same user under RLS, same window)."
    )
    if misses:
        print("MISSED: " + "; ".join(misses))
    else:
        print("All targets met.")
    return not misses


async def _server_info(db: Database) -> str:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select name, setting, unit from pg_settings where name = any(%s) order by name",
            (
                [
                    "shared_buffers",
                    "work_mem",
                    "effective_cache_size",
                    "random_page_cost",
                    "max_parallel_workers_per_gather",
                    "jit",
                ],
            ),
        )
        rows = await cur.fetchall()
        version = await (await conn.execute("show server_version")).fetchone()
    shown = ", ".join(f"{r['name']}={r['setting']}{r['unit'] or ''}" for r in rows)
    return f"PostgreSQL {version and version['server_version']}: {shown}"


async def _main(args: argparse.Namespace) -> bool:
    settings = get_settings()
    url, embedded = bench_database_url(settings)
    where = f"embedded server in {default_pgdata(settings)}" if embedded else "DATABASE_URL"
    print(f"bench database: {where}")
    async with Database(url, max_size=settings.pool_max_size) as db:
        data = await ensure_bench_data(db, url, dedicated=embedded, regenerate=args.regenerate)
        if data.generated:
            print(f"generated in {data.seconds:.0f}s")
        print(await _server_info(db))
        print(
            f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()},"
            f" {os.cpu_count()} CPUs; load average before: {_load()}"
        )
        cases = _cases(db, data)
        await _measure(cases, warmup=args.warmup, iterations=args.iterations)
    print(f"load average after: {_load()}")
    return _report(cases, data, args.iterations)


def _load() -> str:
    """Other work on the machine slows every case; interleaving shares it, it does not remove it."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--iterations", type=int, default=20, help="timed runs per case (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed runs per case first (default 3)")
    parser.add_argument("--regenerate", action="store_true", help="regenerate the bench data first")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    if not 1 <= args.iterations <= MAX_ITERATIONS or not 0 <= args.warmup <= MAX_ITERATIONS:
        parser.error(f"iterations must be 1-{MAX_ITERATIONS} and warmup 0-{MAX_ITERATIONS}")
    ok = asyncio.run(_main(args))  # a tool error or an empty result raises ToolFailed
    raise SystemExit(1 if args.strict and not ok else 0)


if __name__ == "__main__":
    main()
