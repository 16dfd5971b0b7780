"""Chainlit 2.12 sleeps on the event loop: `time.sleep(0.001)` in every `Step` and `Message`
constructor, so that consecutive steps get different `created_at` stamps (history is ordered by
that text). With a hundred people chatting that stalls every conversation on the server for
several milliseconds per message (bench/chat_load.py).

`install()` keeps the guarantee without the sleep: the stamps Chainlit's steps and messages take
come from a clock that never repeats or goes back, always with microseconds (Chainlit's own drops
them when they are zero, and "…:00Z" then sorts after "…:00.5Z").

It also raises the chat socket's frame cap (engine.io drops the connection on a bigger frame) above
our message limit, so that an over-long message is answered with the limit (agent/input_checks.py).

And it gives this process its own folder for Chainlit's session files, under `$VIRALTRACKER_HOME`:
Chainlit keeps them in the checkout's `.files` and deletes that whole folder when any server started
there stops, taking every other instance's tables and charts with it.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from agent.input_checks import SOCKET_MAX_CHARS
from services.platform.server_files import private_dir
from settings import get_settings

SESSION_FILES = "chat_session_files"
"""Under `$VIRALTRACKER_HOME`: one folder per running server (`<pid>-<random>`), its sessions' files."""


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
    use_own_files_folder(get_settings().viraltracker_home / SESSION_FILES)


def use_own_files_folder(parent: Path) -> Path:
    """Point Chainlit's session files (`FILES_DIRECTORY`) at this process's own folder in `parent`,
    and remove the folders of servers that are gone. Idempotent within a process."""
    config, server = (importlib.import_module(name) for name in ("chainlit.config", "chainlit.server"))
    current: Path = config.FILES_DIRECTORY
    if current.parent == parent and current.name.startswith(f"{os.getpid()}-"):
        return current
    private_dir(parent)
    for folder in parent.iterdir():
        if folder.is_dir() and not _running(folder.name.partition("-")[0]):
            shutil.rmtree(folder, ignore_errors=True)
    own = private_dir(parent / f"{os.getpid()}-{secrets.token_hex(4)}")
    # session.files_dir reads chainlit.config's at each call; the server's shutdown reads its own copy.
    setattr(config, "FILES_DIRECTORY", own)  # noqa: B010
    setattr(server, "FILES_DIRECTORY", own)  # noqa: B010
    return own


def remove_own_files_folder() -> None:
    """This server stopping: its own sessions' files go (never another instance's)."""
    shutil.rmtree(importlib.import_module("chainlit.config").FILES_DIRECTORY, ignore_errors=True)


def _running(pid: str) -> bool:
    """Whether a process with this id is alive (a folder of an unknown shape is kept)."""
    if not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
