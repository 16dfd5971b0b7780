"""Files the server writes on someone's behalf: owner-only on disk, named (never located) in answers.

Modes are set on the open descriptor or by chmod after creation, so they hold whatever the
process umask is, and they also tighten files and folders an older version left readable.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath
from typing import Annotated

from pydantic import PlainSerializer

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can list or enter; the folders made on the way are too."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=PRIVATE_DIR, exist_ok=True)
        os.chmod(folder, PRIVATE_DIR)
    os.chmod(path, PRIVATE_DIR)
    return path


def write_private(path: Path, data: bytes | str) -> Path:
    """Write `data` to `path` (replacing it) as a file only its owner can read; its folder too."""
    private_dir(path.parent)
    raw = data.encode() if isinstance(data, str) else data
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as out:
        os.fchmod(out.fileno(), PRIVATE_FILE)
        out.write(raw)
    return path


def touch_private(path: Path) -> Path:
    """Create `path` if missing (keeping what it holds) as a file only its owner can read; for files
    another library then opens by name to append (logs, shell history)."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE)
    finally:
        os.close(descriptor)
    return path


def shown_name(where: str) -> str:
    """What an answer shows of a stored file: its URL when it has one, else only its file name."""
    return where if where.startswith(("http://", "https://")) else PurePath(where).name


ServerFile = Annotated[str, PlainSerializer(shown_name, return_type=str)]
"""A file the server delivers (as a chat element or attachment): the full location stays on the
model for delivery, while serialised answers (the model's view, MCP, stored history) carry only
its name."""
