"""slack_sdk's retry hook on our retry policy (imported with the Slack client, only when posting)."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.http_retry import RetryState
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest as RetryHttpRequest
from slack_sdk.http_retry.response import HttpResponse as RetryHttpResponse

from services.retry_after import retry_after_seconds
from services.retrying import Backoff, RetryPolicy

log = logging.getLogger(__name__)

TRIES = 3
"""Calls Slack rate-limits (429) are tried this many times in all, waiting its Retry-After between."""
LONGEST_WAIT = 30.0
"""A Retry-After longer than this (seconds) is not waited for: the call fails with a clear message."""


class RateLimits(AsyncRetryHandler):
    """slack_sdk's retry hook on our policy: a 429 waits Slack's Retry-After (1 s when it names none)
    and is tried again, up to `TRIES` calls in all and never longer than `LONGEST_WAIT` at once."""

    policy = RetryPolicy(attempts=TRIES, longest_wait=LONGEST_WAIT, backoff=Backoff.doubling(1.0, cap=1.0))

    def __init__(self) -> None:
        super().__init__(max_retry_count=TRIES - 1)

    def _wait(self, state: RetryState, response: RetryHttpResponse) -> float:
        wait = retry_after_seconds(response.headers)
        return self.policy.backoff.seconds(state.current_attempt + 1) if wait is None else wait

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: RetryHttpRequest,
        response: RetryHttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or (
            response.status_code != 429 and (response.body or {}).get("error") != "ratelimited"
        ):
            return False
        return self.policy.allows(state.current_attempt + 1, self._wait(state, response))

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: RetryHttpRequest,
        response: RetryHttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None  # `_can_retry_async` retries answers only
        wait = self._wait(state, response)
        log.info("Slack rate-limited %s; retrying in %.1f s", request.url, wait)
        state.next_attempt_requested = True
        await asyncio.sleep(wait)
        state.increment_current_attempt()
