"""The embedded Postgres 16 (+pgvector) from the `pgserver` wheel, started on demand."""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

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
        except Exception:
            if not fresh:
                raise
            # initdb stopped part-way (a loaded machine, a killed process), leaving a directory no
            # server starts from: it holds nothing yet, so once more from nothing.
            log.warning("the embedded database's first start stopped part-way; starting it again")
            shutil.rmtree(pgdata, ignore_errors=True)
            pgdata.mkdir(parents=True, exist_ok=True)
            server = pgserver.get_server(pgdata, cleanup_mode=None)
    uri: str = server.get_uri()
    log.debug("embedded postgres at %s", pgdata)
    return uri
