"""Prompt caching as the Anthropic Messages API accounts for it, for the fake (fakes/anthropic_api.py).

A request is read as Anthropic reads it for caching: a sequence of blocks in the order tools → system
→ messages (each tool definition, each system block, each content block of each message is one block;
a string `system` or `content` is one block). A block carrying `cache_control` is a breakpoint; a
top-level `cache_control` (automatic caching) puts one on the last block. At most 4 breakpoints
(else the API's 400).

For each breakpoint the cache is looked up at that block and up to 20 blocks before it (the API's
lookback); the longest prefix found is read (`cache_read_input_tokens`). Every breakpoint whose prefix
is at least the model's minimum cacheable length (1,024 tokens; 2,048 for Haiku-class models) is
written; what lies between the read prefix and the last written breakpoint is
`cache_creation_input_tokens`; the rest, after it, is `input_tokens` (uncached). An entry lives 5
minutes (or `"ttl": "1h"`), renewed by each read. The cache is keyed by the model and the exact
prefix (block content without its `cache_control`).

Tokens are counted by an approximation, not Claude's tokenizer: a block is its JSON (sorted keys,
no `cache_control`) at 4 characters per token, rounded up (Anthropic's rule of thumb for English;
JSON schemas run a little denser, so real counts are somewhat higher).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
LOOKBACK_BLOCKS = 20
MAX_BREAKPOINTS = 4
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


def minimum_cacheable(model: str) -> int:
    """The shortest prefix (tokens) a breakpoint caches: 2,048 for Haiku-class models, else 1,024."""
    return 2048 if "haiku" in model else 1024


def block_tokens(block: Any) -> int:
    """A block's tokens by the approximation: its JSON without `cache_control`, 4 characters a token."""
    text = json.dumps(_without_cache_control(block), sort_keys=True, ensure_ascii=False)
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def _without_cache_control(block: Any) -> Any:
    if isinstance(block, dict):
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


@dataclass(frozen=True)
class CacheUsage:
    """What one request's input counted as, in the API's usage terms."""

    input_tokens: int
    """Uncached: after the last cache write (or all of it)."""
    cache_creation_input_tokens: int
    cache_read_input_tokens: int

    @property
    def total(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens


class TooManyBreakpoints(ValueError):
    """More than 4 `cache_control` blocks: the API answers 400 with this message."""


def request_blocks(body: dict[str, Any]) -> list[Any]:
    """The request's blocks in cache order (tools, system, messages), each with its content."""
    found: list[Any] = []
    found += [t for t in body.get("tools") or [] if isinstance(t, dict)]
    system = body.get("system")
    found += [system] if isinstance(system, str) and system else (system or [])
    for message in body.get("messages") or []:
        content = message.get("content")
        found += (
            [{"role": message.get("role"), "text": content}] if isinstance(content, str) else content or []
        )
    return found


def _ttl(block: Any) -> str | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    return str(control.get("ttl") or "5m") if isinstance(control, dict) else None


class PromptCache:
    """The fake's cache: prefix digests and when they expire. Thread-safe; `clock` is injectable."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[str, float] = {}
        self._lock = threading.Lock()

    def account(self, body: dict[str, Any]) -> CacheUsage:
        """Reads and writes the cache for this request; returns its usage. Raises `TooManyBreakpoints`."""
        model = str(body.get("model", ""))
        blocks = request_blocks(body)
        ttls = [_ttl(b) for b in blocks]
        if isinstance(body.get("cache_control"), dict) and blocks and ttls[-1] is None:
            ttls[-1] = str(body["cache_control"].get("ttl") or "5m")  # automatic caching: the last block
        points = [i for i, ttl in enumerate(ttls) if ttl is not None]
        if len(points) > MAX_BREAKPOINTS:
            raise TooManyBreakpoints(
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(points)}."
            )
        cumulative, digests = [0], []
        running = hashlib.sha256(model.encode())
        for block in blocks:
            cumulative.append(cumulative[-1] + block_tokens(block))
            running.update(json.dumps(_without_cache_control(block), sort_keys=True).encode())
            digests.append(running.copy().hexdigest())
        with self._lock:
            now = self.clock()
            read_end = 0
            for point in points:
                for i in range(point, max(-1, point - LOOKBACK_BLOCKS), -1):
                    if self._entries.get(digests[i], -math.inf) > now:
                        read_end = max(read_end, i + 1)
                        break
            if read_end:  # a read renews the entry
                self._entries[digests[read_end - 1]] = max(self._entries[digests[read_end - 1]], now + 300.0)
            write_end = read_end
            for point in points:
                if cumulative[point + 1] >= minimum_cacheable(model):
                    ttl = TTL_SECONDS.get(ttls[point] or "5m", TTL_SECONDS["5m"])
                    self._entries[digests[point]] = max(self._entries.get(digests[point], 0.0), now + ttl)
                    write_end = max(write_end, point + 1)
        return CacheUsage(
            input_tokens=cumulative[-1] - cumulative[write_end],
            cache_creation_input_tokens=cumulative[write_end] - cumulative[read_end],
            cache_read_input_tokens=cumulative[read_end],
        )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
