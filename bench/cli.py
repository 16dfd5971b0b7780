"""A one-off command's start-up cost: `viraltracker ask '/brands'` against `viraltracker --help`.

1. a temporary VIRALTRACKER_HOME with its own embedded Postgres (`db up`, `demo seed`), offline;
2. one untimed run of each (warms the OS's file cache and the embedded server);
3. `--help` and `ask '/brands'` (as the demo's first user), alternately, RUNS times each, wall clock
   of the whole process.

Prints each median (wall clock with its spread, and CPU time, steadier on a busy machine), then ask's
ratio to --help. Target: ask ≤ 2× --help.
Exit 0 when it is met, else 1.

    .venv/bin/python -m bench.cli [--runs 5] [--keep-home]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.chat_load import CLI, ROOT, app_env, run_cli, stop_embedded_postgres

TARGET_RATIO = 2.0
USER = "maya@northwind.example"


def timed(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall clock and CPU time (user + system) of one whole run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [CLI, *args], env=env, cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, timeout=120
    )
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(
            f"`viraltracker {' '.join(args)}` failed ({done.returncode}):\n{done.stderr.decode()}"
        )
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def report(name: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    """Prints the medians (wall clock with its spread, and CPU); returns them."""
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    print(
        f"{name:<27} {wall:.2f} s ({min(walls):.2f}-{max(walls):.2f}), CPU {cpu:.2f} s, median of {len(runs)}"
    )
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep-home", action="store_true")
    options = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="vt-bench-cli-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)
    help_args, ask_args = ["--help"], ["ask", "/brands", "--user", USER]
    try:
        print(f"Setting up in {home}", flush=True)
        run_cli(["db", "up"], env, home / "setup.log")
        run_cli(["demo", "seed", "--if-empty"], env, home / "setup.log")
        timed(help_args, env), timed(ask_args, env)
        helps: list[tuple[float, float]] = []
        asks: list[tuple[float, float]] = []
        for _ in range(options.runs):
            helps.append(timed(help_args, env))
            asks.append(timed(ask_args, env))
        help_wall, help_cpu = report("viraltracker --help:", helps)
        ask_wall, ask_cpu = report("viraltracker ask '/brands':", asks)
        ratio = ask_wall / help_wall
        verdict = "met" if ratio <= TARGET_RATIO else "NOT met"
        cpu_ratio = ask_cpu / help_cpu
        print(
            f"ask / --help: {ratio:.1f}× wall clock (target ≤ {TARGET_RATIO:.0f}×: {verdict}), {cpu_ratio:.1f}× CPU"
        )
    finally:
        stop_embedded_postgres(home / "pgdata")
        if not options.keep_home:
            shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ratio <= TARGET_RATIO else 1)


if __name__ == "__main__":
    main()
