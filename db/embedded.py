"""The embedded Postgres 16 (+pgvector) from the `pgserver` wheel, started on demand."""

from __future__ import annotations

import logging
import shutil
import subprocess
import warnings
from pathlib import Path

from core.errors import SetupError

log = logging.getLogger(__name__)


def start_embedded(pgdata: Path) -> str:
    """Start (or attach to) the embedded server whose data lives in `pgdata`; returns its URI.

    The server keeps running after this process exits, so the next command attaches in
    milliseconds instead of starting it again.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (headless machines, CI).
        warnings.simplefilter("ignore")
        import pgserver

        fresh = not (pgdata / "PG_VERSION").exists()  # initdb runs now: the directory holds no data yet
        pgdata.mkdir(parents=True, exist_ok=True)
        try:
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        except (subprocess.CalledProcessError, OSError, RuntimeError) as error:
            if not fresh:
                raise SetupError(wont_start(pgdata, error)) from None
            # initdb stopped part-way (a loaded machine, a killed process), leaving a directory no
            # server starts from: it holds nothing yet, so once more from nothing.
            log.warning("the embedded database's first start stopped part-way; starting it again")
            shutil.rmtree(pgdata, ignore_errors=True)
            pgdata.mkdir(parents=True, exist_ok=True)
            try:
                server = pgserver.get_server(pgdata, cleanup_mode=None)
            except (subprocess.CalledProcessError, OSError, RuntimeError) as error:
                raise SetupError(wont_start(pgdata, error)) from None
    uri: str = server.get_uri()
    log.debug("embedded postgres at %s", pgdata)
    return uri


def wont_start(pgdata: Path, error: BaseException) -> str:
    """Why the embedded server did not start (the last FATAL line of its own log), and what to do."""
    log.warning("the embedded database did not start: %s", error)
    server_log = pgdata / "log"
    lines = server_log.read_text(errors="replace").splitlines() if server_log.is_file() else []
    fatal = [line.split("FATAL:", 1)[1].strip() for line in lines if "FATAL:" in line]
    reason = fatal[-1] if fatal else str(error).splitlines()[0]
    return (
        f"The embedded database in {pgdata} did not start: {reason}. Fix what its log ({server_log}) says,"
        " or set DATABASE_URL to use another Postgres."
    )
