"""An embedded Postgres of a test's own that it may kill -9 and start again, as a person would with
`viraltracker db up` (never the session database the other tests share)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.cli_helpers import CLI

GONE_WITHIN = 10.0


class RestartablePostgres:
    """`viraltracker db up` in a `VIRALTRACKER_HOME` of its own: the embedded server, migrated."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.pgdata = home / "pgdata"
        self.url = f"postgresql://postgres:@/postgres?host={self.pgdata}"

    def up(self) -> None:
        """Start the server (or attach to it) and apply the migrations, as the CLI does."""
        self._run([CLI, "db", "up"])

    def start(self) -> None:
        """Start the server (or attach to it) without migrating: quicker, for a test that needs no schema."""
        self._run(
            [
                sys.executable,
                "-c",
                "import sys, pathlib; from db.embedded import start_embedded; start_embedded(pathlib.Path(sys.argv[1]))",
                str(self.pgdata),
            ]
        )

    def _run(self, command: list[str]) -> None:
        env = {**os.environ, "VIRALTRACKER_HOME": str(self.home)}
        env.pop("DATABASE_URL", None)
        failures: list[str] = []
        for _ in range(3):
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                env=env,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
            if done.returncode == 0:
                return
            # pgserver gives pg_ctl 10 s, and reads postmaster.pid while a starting server writes it: on a
            # loaded machine a start can outlast the one or race the other; the next run finds it up.
            failures.append(done.stderr[-1500:])
            time.sleep(1)
        raise AssertionError("\n---\n".join(failures))

    def kill(self, *, wait: bool = True) -> None:
        """SIGKILL the postmaster, then wait (bounded) until it and its backends are gone, as a crash leaves it."""
        pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
        try:
            postmaster = psutil.Process(pid)
            if str(self.pgdata) not in postmaster.cmdline():
                return  # already dead: the file names a pid since reused (or gone)
            family = [postmaster, *postmaster.children()]
        except psutil.NoSuchProcess:
            return
        os.kill(pid, signal.SIGKILL)
        if not wait:
            return
        deadline = time.monotonic() + GONE_WITHIN
        # Until init reaps it, pgserver takes the zombie postmaster for a running server and attaches to it.
        while any(psutil.pid_exists(p.pid) for p in family):
            assert time.monotonic() < deadline, f"postgres {pid} still running {GONE_WITHIN} s after SIGKILL"
            time.sleep(0.02)

    def remove(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self.kill(wait=False)  # its backends exit by themselves once the postmaster is gone
        shutil.rmtree(self.home, ignore_errors=True)
