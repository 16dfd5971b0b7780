"""The one retry policy (services/retrying.py) against a real HTTP server on 127.0.0.1: a Retry-After
is waited up to the caller's own cap and no longer, the caller's attempts are the most calls made,
and the backoff stays in its bounds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from services.retry_after import retry_after_seconds
from services.retrying import Backoff, GaveUp, RetryPolicy


class Scripted(ThreadingHTTPServer):
    """Answers each GET with the next scripted (status, headers), then 200s; notes when each came."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.arrivals: list[float] = []


class _Handler(BaseHTTPRequestHandler):
    server: Scripted

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self.server.arrivals.append(time.monotonic())
        status, headers = self.server.script.pop(0) if self.server.script else (200, {})
        body = b'{"ok": true}' if status == 200 else b'{"error": "try later"}'
        self.send_response(status)
        self.send_header("content-length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(script: list[tuple[int, dict[str, str]]]) -> Iterator[Scripted]:
    server = Scripted(script)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Refused(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


def refused(error: BaseException) -> bool:
    return isinstance(error, Refused)


def asked(error: BaseException) -> float | None:
    return retry_after_seconds(error.response.headers) if isinstance(error, Refused) else None


async def get(server: Scripted, policy: RetryPolicy, waits: list[float] | None = None) -> httpx.Response:
    """One GET through `policy`: 429 and 503 are refusals worth another try, anything else is final."""
    url = f"http://127.0.0.1:{server.server_address[1]}/"

    async def once() -> httpx.Response:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(url)
        if response.status_code in (429, 503):
            raise Refused(response)
        response.raise_for_status()
        return response

    on_retry = None if waits is None else (lambda error, wait: waits.append(wait))
    return await policy.run(once, retry_on=refused, asked_wait=asked, on_retry=on_retry)


SLOW_BACKOFF = Backoff(first=30.0)
"""A wait nobody sits through in a test: a call that comes back fast did not use it."""


async def test_the_retry_after_asked_is_waited_then_the_answer_comes() -> None:
    with serving([(429, {"Retry-After": "0.3"})]) as server:
        waits: list[float] = []
        policy = RetryPolicy(attempts=3, longest_wait=5.0, backoff=SLOW_BACKOFF)
        response = await get(server, policy, waits)
    assert response.json() == {"ok": True}
    assert waits == [0.3]
    first, second = server.arrivals
    assert 0.3 <= second - first < 2.0  # the header's wait, not the backoff's 30 s


@pytest.mark.parametrize(("longest_wait", "waited"), [(0.2, False), (1.0, True)])
async def test_a_retry_after_is_waited_only_up_to_the_callers_cap(longest_wait: float, waited: bool) -> None:
    with serving([(503, {"retry-after-ms": "400"})]) as server:
        policy = RetryPolicy(attempts=3, longest_wait=longest_wait, backoff=SLOW_BACKOFF)
        started = time.monotonic()
        if waited:
            assert (await get(server, policy)).status_code == 200
        else:
            with pytest.raises(GaveUp) as gave_up:
                await get(server, policy)
            assert (gave_up.value.attempts, gave_up.value.wait) == (1, 0.4)  # refused at once, saying why
            assert str(gave_up.value.error) == "HTTP 503"
        elapsed = time.monotonic() - started
    assert len(server.arrivals) == (2 if waited else 1)  # refused: no second call after any wait
    assert elapsed < 2.0


@pytest.mark.parametrize("attempts", [1, 2, 4])
async def test_the_callers_attempts_are_the_most_calls_made(attempts: int) -> None:
    with serving([(429, {})] * 10) as server:
        policy = RetryPolicy(attempts=attempts, longest_wait=1.0, backoff=Backoff(first=0.01))
        with pytest.raises(GaveUp) as gave_up:
            await get(server, policy)
    assert (gave_up.value.attempts, gave_up.value.wait) == (attempts, None)  # ran out, no wait refused
    assert len(server.arrivals) == attempts


async def test_an_answer_no_retry_can_fix_is_raised_at_once() -> None:
    with serving([(404, {}), (200, {})]) as server:
        policy = RetryPolicy(attempts=3, longest_wait=1.0, backoff=Backoff(first=0.01))
        with pytest.raises(httpx.HTTPStatusError, match="404 Not Found"):
            await get(server, policy)
    assert len(server.arrivals) == 1


async def test_with_no_wait_named_the_backoff_spaces_the_calls() -> None:
    with serving([(503, {}), (503, {})]) as server:
        waits: list[float] = []
        policy = RetryPolicy(attempts=3, longest_wait=1.0, backoff=Backoff(first=0.1))
        assert (await get(server, policy, waits)).status_code == 200
    assert 0.075 <= waits[0] <= 0.125 and 0.15 <= waits[1] <= 0.25  # 0.1 s doubled, ±25 %
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:], strict=False)]
    assert all(gap >= wait for gap, wait in zip(gaps, waits, strict=True))


def test_backoff_stays_in_its_bounds() -> None:
    for backoff, low, high in (
        (Backoff(first=1.0, cap=8.0), 0.75, 1.25),  # model calls: ±25 % around the step
        (Backoff(first=1.0, cap=8.0, low=0.0, high=1.0), 0.0, 1.0),  # Meta: full jitter
        (Backoff(first=1.0, cap=8.0, low=0.5, high=1.0), 0.5, 1.0),  # jobs: half to all of it
    ):
        for attempt in range(1, 8):
            step = min(8.0, 2.0 ** (attempt - 1))
            seen = [backoff.seconds(attempt) for _ in range(200)]
            assert all(low * step <= s <= high * step for s in seen)
            assert len(set(seen)) > 100  # jittered: calls from many callers spread out
    assert [Backoff.doubling(0.5, 30.0).seconds(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
