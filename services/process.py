"""Process-wide settings for the long-running processes (the app, workers, the CLI's long commands)."""

from __future__ import annotations

import gc

GC_THRESHOLD_YOUNG = 10_000


def calm_garbage_collector() -> None:
    """Collect young objects in larger batches, and never walk what startup left behind.

    With Python's default (a young collection every 700 allocations, every ~10th escalating), work
    that makes many short-lived containers pays again and again for the ~1M long-lived objects of
    the loaded code: a chat turn under bench/chat_load.py's 100 people stopped for 0.3 s; a Meta
    sync spent more time collecting than decoding its pages. Startup's garbage goes first, then
    what survives is frozen out of every later collection (`gc.freeze`)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD_YOUNG, *gc.get_threshold()[1:])
