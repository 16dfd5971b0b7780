"""Running the `viraltracker` command as another program would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CLI = str(Path(sys.executable).parent / "viraltracker")


def run_cli(
    database_url: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI on the test database, offline (no model keys), with its own home."""
    full = {**os.environ, "DATABASE_URL": database_url, "VIRALTRACKER_HOME": str(tmp_path), **(env or {})}
    full.pop("ANTHROPIC_API_KEY", None)
    full.pop("GEMINI_API_KEY", None)
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, env=full, timeout=120, stdin=subprocess.DEVNULL
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def mcp_http_server(env: dict[str, str], log: Path) -> Iterator[str]:
    """`viraltracker mcp --http` on 127.0.0.1 (a free port) with `env`, its output in `log`; its URL.
    Stopped on the way out."""
    port = free_port()
    with log.open("w") as errlog:
        process = subprocess.Popen(
            [CLI, "mcp", "--http", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=errlog,
            stderr=errlog,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "the MCP HTTP server did not start in 60 s"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
