"""How long an HTTP answer asks us to wait before trying again: one reading for every outside API
(model providers, Gemini, Slack, Reddit), whatever client's header type carries it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from email.utils import parsedate_to_datetime
from time import time
from typing import Any


def retry_after_seconds(headers: Mapping[str, Any] | None, *, extra: Iterable[str] = ()) -> float | None:
    """Seconds from `retry-after-ms`, else `Retry-After` (seconds or an HTTP date), else the first of
    `extra` headers given in seconds; header names in any case. None when none is readable; never
    negative."""
    if not headers:
        return None
    lowered: dict[str, Any] = {}
    for key, value in headers.items():
        lowered.setdefault(str(key).lower(), value[0] if isinstance(value, list) and value else value)
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0), *((n.lower(), 1.0) for n in extra)):
        raw = lowered.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except (TypeError, ValueError):
            if name != "retry-after":
                continue
            try:
                value = parsedate_to_datetime(str(raw)).timestamp() - time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(value):
            return max(0.0, value)
    return None
