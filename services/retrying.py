"""One retry policy for every outside call: tenacity underneath, one reading of Retry-After
(`services.retry_after`), each caller's own limits.

A caller declares a `RetryPolicy`: how many calls in all (`attempts`), the longest wait it will sit
through (`longest_wait`, seconds) and its `Backoff` for failures that name no wait. It then gets:

* `await policy.run(call, retry_on=…, asked_wait=…)`: `call()`'s answer. A failure `retry_on`
  accepts is tried again after the wait the failure asked for (`asked_wait`, e.g. its Retry-After),
  else after the backoff. Retrying stops with `GaveUp` (the last error, the calls made, and the wait
  refused if that was the reason) when the attempts run out or the next wait would be longer than
  `longest_wait`: a long wait fails at once instead of stalling. Any other error passes through.
* `policy.allows(attempt, wait)`: the same decision, for retry hooks a library drives itself
  (slack_sdk's retry handlers).
* `Backoff`: `first` seconds, doubled per attempt up to `cap`, spread between `low` and `high` times
  that step (jitter). A tenacity wait strategy, and `seconds(attempt)` for schedulers (jobs).

Meta's throttle (usage headers, codes, breaker) is built on the same tenacity primitives and
`Backoff` in `services.meta.api`.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_base

T = TypeVar("T")

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Backoff(wait_base):
    """Seconds before the next call when nothing says how long: exponential with jitter."""

    first: float
    cap: float = math.inf
    low: float = 0.75
    """The shortest wait, as a share of the step (0: full jitter; `low == high`: none)."""
    high: float = 1.25

    @classmethod
    def doubling(cls, first: float, cap: float = math.inf) -> Backoff:
        """`first`, twice as long each time up to `cap`, without jitter (one waiter, nothing to spread)."""
        return cls(first=first, cap=cap, low=1.0, high=1.0)

    def seconds(self, attempt: int) -> float:
        """The wait after failed call number `attempt` (1-based)."""
        step = min(self.cap, self.first * 2 ** (attempt - 1))
        return random.uniform(self.low * step, self.high * step)

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.seconds(retry_state.attempt_number)


class GaveUp(Exception):
    """Retrying stopped. `error` is the last failure, `attempts` the calls made; `wait` is the wait
    that was refused for being longer than the caller's `longest_wait` (None: attempts ran out)."""

    def __init__(self, error: BaseException, *, attempts: int, wait: float | None) -> None:
        super().__init__(f"gave up after {attempts} attempts: {error}")
        self.error = error
        self.attempts = attempts
        self.wait = wait


def _nothing_asked(error: BaseException) -> float | None:
    return None


@dataclass(frozen=True)
class RetryPolicy:
    """A caller's limits: `attempts` calls in all, no single wait over `longest_wait` seconds."""

    attempts: int
    longest_wait: float
    backoff: Backoff

    def allows(self, attempt: int, wait: float) -> bool:
        """Whether failed call number `attempt` is tried again after `wait` seconds."""
        return attempt < self.attempts and wait <= self.longest_wait

    async def run(
        self,
        call: Callable[[], Awaitable[T]],
        *,
        retry_on: Callable[[BaseException], bool],
        asked_wait: Callable[[BaseException], float | None] = _nothing_asked,
        on_retry: Callable[[BaseException, float], None] | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> T:
        """`call()`'s answer, retried as the module says; `on_retry(error, wait)` before each wait."""

        def wait(state: RetryCallState) -> float:
            asked = asked_wait(_error(state))
            return self.backoff(state) if asked is None else asked

        def stop(state: RetryCallState) -> bool:
            return not self.allows(state.attempt_number, state.upcoming_sleep)

        def before_sleep(state: RetryCallState) -> None:
            if on_retry is not None:
                on_retry(_error(state), state.upcoming_sleep)

        def give_up(state: RetryCallState) -> T:
            refused = state.upcoming_sleep if state.attempt_number < self.attempts else None
            error = _error(state)
            raise GaveUp(error, attempts=state.attempt_number, wait=refused) from error

        retrying = AsyncRetrying(
            retry=retry_if_exception(retry_on),
            wait=wait,
            stop=stop,
            before_sleep=before_sleep,
            sleep=sleep,
            retry_error_callback=give_up,
        )

        async def attempt() -> T:  # tenacity awaits only what a coroutine function returns
            return await call()

        return await retrying(attempt)


def _error(state: RetryCallState) -> BaseException:
    error = state.outcome.exception() if state.outcome is not None else None
    assert error is not None  # tenacity asks for a wait or a stop only after a failure
    return error
