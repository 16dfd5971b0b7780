"""The embedded Postgres 16 (+pgvector) from the `pgserver` wheel, started on demand."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)


def start_embedded(pgdata: Path) -> str:
    """Start (or attach to) the embedded server whose data lives in `pgdata`; returns its URI.

    The server keeps running after this process exits, so the next command attaches in
    milliseconds instead of starting it again.
    """
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (headless machines, CI).
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(pgdata, cleanup_mode=None)
    uri: str = server.get_uri()
    log.debug("embedded postgres at %s", pgdata)
    return uri
