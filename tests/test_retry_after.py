"""The one reading of Retry-After every outside API's retries use (model providers, Gemini, Slack, Reddit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx

from services.retry_after import retry_after_seconds


def test_each_way_an_api_says_how_long_to_wait() -> None:
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5  # the finer one wins
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0  # any case
    assert retry_after_seconds(httpx.Headers({"RETRY-AFTER": "0.5"})) == 0.5
    assert retry_after_seconds({"retry-after": ["3"]}) == 3.0  # transports that give lists
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= (retry_after_seconds({"retry-after": later}) or 0) <= 30  # an HTTP date
    assert retry_after_seconds({"retry-after": "-4"}) == 0.0
    assert retry_after_seconds({"x-ratelimit-reset": "7"}, extra=("X-Ratelimit-Reset",)) == 7.0
    for unreadable in ({}, None, {"retry-after": "soon"}, {"retry-after": "nan"}, {"x-ratelimit-reset": "7"}):
        assert retry_after_seconds(unreadable) is None
