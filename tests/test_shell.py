"""`viraltracker shell`: a terminal chat a person types into (a real pseudo-terminal)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from db.pool import Caller
from tests.file_helpers import mode

CLI = str(Path(sys.executable).parent / "viraltracker")


def read_until(fd: int, needle: str, seconds: float = 60) -> str:
    seen = ""
    deadline = time.monotonic() + seconds
    while needle not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                seen += os.read(fd, 65536).decode(errors="replace")
            except OSError:
                break
    assert needle in seen, seen[-2000:]
    return seen


def test_shell_answers_follow_ups_and_quits(database_url: str, tmp_path: Path, maya: Caller) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("ANTHROPIC_API_KEY", None)
    main, child = pty.openpty()
    process = subprocess.Popen(
        [CLI, "shell", "--user", maya.email], stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    try:
        read_until(main, "you>")
        os.write(main, b"top hooks for Acme Pets last 30 days\r")
        read_until(main, "Top 10 hooks for Acme Pets by hook_rate in last 30 days")
        os.write(main, b"and the last 7 days?\r")
        read_until(main, "in last 7 days")
        os.write(main, b"/quit\r")
        assert process.wait(timeout=30) == 0
        assert (tmp_path / "shell_history").read_text().count("Acme Pets") == 1  # line history kept on disk
        assert mode(tmp_path / "shell_history") == 0o600  # what was asked is its owner's alone
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)


def test_shell_follow_ups_name_their_own_period_and_brand(
    database_url: str, tmp_path: Path, maya: Caller
) -> None:
    """A follow-up naming a month answers for that month; one naming another organization's brand gets
    "No brand named …", never the previous brand's table."""
    env = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(tmp_path), "COLUMNS": "200"}
    env.pop("ANTHROPIC_API_KEY", None)
    month_end = date.today().replace(day=1) - timedelta(days=1)  # last month: inside the demo's 90 days
    month = month_end.replace(day=1)
    main, child = pty.openpty()
    process = subprocess.Popen(
        [CLI, "shell", "--user", maya.email], stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    try:
        read_until(main, "you>")
        os.write(main, b"top hooks for Acme Pets last 30 days\r")
        read_until(main, "Top 10 hooks for Acme Pets by hook_rate in last 30 days")
        os.write(main, f"and in {month:%B}?\r".encode())
        read_until(main, f"in {month:%B %Y} ({month} to {month_end})")
        os.write(main, b"what about Peak Fuel?\r")
        answer = read_until(main, "No brand named 'Peak Fuel'.")
        assert "Top 10 hooks" not in answer
        os.write(main, b"/quit\r")
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
