"""Checking what the server leaves on disk: owner-only files and folders, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def open_umask() -> Iterator[None]:
    """The most permissive umask (and so any subprocess started inside): nothing is masked off."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
