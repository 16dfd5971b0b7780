"""Running the `viraltracker` command as another program would."""

from __future__ import annotations

import os
import subprocess
import sys
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
