"""Chainlit 2.12 sleeps on the event loop: `time.sleep(0.001)` in every `Step` and `Message`
constructor, so that consecutive steps get different `created_at` stamps (history is ordered by
that text). With a hundred people chatting that stalls every conversation on the server for
several milliseconds per message (bench/chat_load.py).

`install()` keeps the guarantee without the sleep: the stamps Chainlit's steps and messages take
come from a clock that never repeats or goes back, always with microseconds (Chainlit's own drops
them when they are zero, and "…:00Z" then sorts after "…:00.5Z").

It also raises the chat socket's frame cap (engine.io drops the connection on a bigger frame) above
our message limit, so that an over-long message is answered with the limit (agent/input_checks.py).
"""

from __future__ import annotations

import importlib
import threading
from datetime import UTC, datetime, timedelta

from agent.input_checks import SOCKET_MAX_CHARS


class _NoSleep:
    @staticmethod
    def sleep(_seconds: float) -> None:
        return None


_lock = threading.Lock()
_last = datetime.min


def strictly_increasing_utc_now() -> str:
    """Now in UTC as Chainlit writes it (ISO, naive, "Z"), later than any stamp given before."""
    global _last
    with _lock:
        now = datetime.now(UTC).replace(tzinfo=None)
        if now <= _last:
            now = _last + timedelta(microseconds=1)
        _last = now
    return now.isoformat(timespec="microseconds") + "Z"


def install() -> None:
    # By module name: the `chainlit` package's own `step` attribute is the @step decorator.
    for module in map(importlib.import_module, ("chainlit.step", "chainlit.message")):
        # Each module imports `time` only for that sleep, and `utc_now` for its stamps.
        setattr(module, "time", _NoSleep)  # noqa: B010
        setattr(module, "utc_now", strictly_increasing_utc_now)  # noqa: B010
    # A message over our limit must reach on_message to be told the limit, not drop the socket.
    importlib.import_module("chainlit.server").sio.eio.max_http_buffer_size = SOCKET_MAX_CHARS
