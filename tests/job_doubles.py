"""Job types for the job engine's tests (names start with `_`: never listed to people).

Imported by tests/test_jobs.py, and by a worker subprocess with `viraltracker worker --import
tests.job_doubles`, so both know them.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from jobs.registry import JobType, Notice, RunContext, register

ATTEMPT_TIMES: dict[UUID, list[float]] = {}
"""Run id → when each attempt started (monotonic), for the in-process worker's runs."""


class FlakyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    failures: int = Field(ge=0, le=10)


class FlakyResult(BaseModel):
    attempts_needed: int


async def flaky(context: RunContext, params: FlakyParams) -> FlakyResult:
    ATTEMPT_TIMES.setdefault(context.run_id, []).append(time.monotonic())
    if context.attempt <= params.failures:
        raise ConnectionError(f"the upstream hiccuped (attempt {context.attempt})")
    return FlakyResult(attempts_needed=context.attempt)


def _done(context: RunContext, params: Any, outcome: BaseModel) -> Notice:
    return Notice(type="test_done", category="jobs", title="Test job done", message=str(outcome.model_dump()))


FLAKY = register(
    JobType(
        name="_test_flaky",
        params=FlakyParams,
        run=flaky,
        description="Fails `failures` times, then succeeds.",
        max_attempts=4,
        backoff_base=0.4,
        backoff_cap=2.0,
        on_success=_done,
    )
)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def always_fails(context: RunContext, params: NoParams) -> BaseModel:
    raise RuntimeError("the widget exploded")


ALWAYS_FAILS = register(
    JobType(
        name="_test_always_fails",
        params=NoParams,
        run=always_fails,
        description="Always fails.",
        max_attempts=3,
        backoff_base=0.1,
        backoff_cap=0.2,
    )
)


class SleepyParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_attempt_seconds: float = Field(ge=0, le=120)
    """The first attempt sleeps this long (long enough to be killed mid-job); later ones don't."""


class SleepyResult(BaseModel):
    pid: int
    attempt: int


async def sleepy(context: RunContext, params: SleepyParams) -> SleepyResult:
    if context.attempt == 1:
        await asyncio.sleep(params.first_attempt_seconds)
    return SleepyResult(pid=os.getpid(), attempt=context.attempt)


SLEEPY = register(
    JobType(
        name="_test_sleepy",
        params=SleepyParams,
        run=sleepy,
        description="Sleeps on its first attempt.",
        max_attempts=3,
        backoff_base=0.1,
        on_success=_done,
    )
)
