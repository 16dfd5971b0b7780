"""Streaming a download into a staged file under a size cap (ad media, template images)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx

CHUNK_BYTES = 256 * 1024


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
    out = await asyncio.to_thread(staged.open, "wb")
    try:
        async for chunk in response.aiter_bytes(CHUNK_BYTES):
            size += len(chunk)
            if size > cap:
                raise TooLarge(size, declared=False)
            digest.update(chunk)
            await asyncio.to_thread(out.write, chunk)
    finally:
        await asyncio.to_thread(out.close)
    return digest.hexdigest(), size
