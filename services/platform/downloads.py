"""Streaming a download into a staged file under a size cap (ad media, template images)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx

CHUNK_BYTES = 256 * 1024
WRITE_BYTES = 4 * 1024 * 1024
"""Written to disk this much at a time: one thread hop per write, not one per chunk (most creatives are
written whole, in one)."""


class TooLarge(Exception):
    """The body passed the cap (declared in Content-Length, or counted while streaming)."""

    def __init__(self, size: int, *, declared: bool) -> None:
        super().__init__(size)
        self.size = size
        self.declared = declared


async def stream_to_file(response: httpx.Response, staged: Path, cap: int) -> tuple[str, int]:
    """Write the response's body to `staged`, chunk by chunk, never past `cap` bytes; (sha256, size)."""
    declared = int(response.headers.get("content-length") or 0)
    if declared > cap:
        raise TooLarge(declared, declared=True)
    digest, size = hashlib.sha256(), 0
    pending, written = bytearray(), False
    async for chunk in response.aiter_bytes(CHUNK_BYTES):
        size += len(chunk)
        if size > cap:
            raise TooLarge(size, declared=False)
        digest.update(chunk)
        pending += chunk
        if len(pending) >= WRITE_BYTES:
            await asyncio.to_thread(_write, staged, bytes(pending), append=written)
            pending.clear()
            written = True
    if pending or not written:
        await asyncio.to_thread(_write, staged, bytes(pending), append=written)
    return digest.hexdigest(), size


def _write(staged: Path, data: bytes, *, append: bool) -> None:
    with staged.open("ab" if append else "wb") as out:
        out.write(data)
