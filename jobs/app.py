"""The procrastinate App: one task that runs a `job_runs` row, on the same Postgres as everything else.

Workers LISTEN for new jobs, so their connection must keep a session: the embedded server or a
direct / session-mode URL. On Supabase that is the direct connection (port 5432 on db.<ref>) or the
session pooler, never the transaction pooler (port 6543): set `JOBS_DATABASE_URL` when
`DATABASE_URL` is the transaction pooler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import procrastinate
from procrastinate import exceptions as procrastinate_exceptions
from procrastinate.job_context import JobContext
from procrastinate.jobs import Job
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg_pool import AsyncConnectionPool
from pydantic import SecretStr

from db.pool import Database, resolve_database_url
from jobs.queue import DEFAULT_QUEUE, TASK_NAME
from jobs.runs import RetryLater, execute_run
from settings import Settings

SHUTDOWN_RETRY_SECONDS = 2.0


@dataclass
class Runtime:
    """What every attempt in a worker shares (passed through procrastinate's job context)."""

    db: Database
    settings: Settings
    meta_client_factory: Callable[[SecretStr], Any] | None = None


class FollowTheRun(BaseRetryStrategy):
    """The attempt decided (see `jobs.runs`): retry after its backoff, or not at all. An attempt cut off
    by a worker shutting down runs again shortly."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, RetryLater):
            return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=exception.delay))
        if isinstance(exception, asyncio.CancelledError | procrastinate_exceptions.JobAborted):
            return RetryDecision(retry_at=datetime.now(UTC) + timedelta(seconds=SHUTDOWN_RETRY_SECONDS))
        return None


def jobs_database_url(settings: Settings) -> str:
    """Where workers connect: `JOBS_DATABASE_URL` (a session-mode/direct URL), else the app's database."""
    return settings.jobs_database_url or resolve_database_url(settings)


async def run_job(context: JobContext, run_id: str) -> None:
    """The one procrastinate task: attempt number `job.attempts + 1` of a run."""
    runtime: Runtime = context.additional_context["runtime"]
    assert context.job.attempts is not None
    await execute_run(
        runtime.db,
        runtime.settings,
        UUID(run_id),
        attempt=context.job.attempts + 1,
        meta_client_factory=runtime.meta_client_factory,
    )


def _pool_without_checks(**options: Any) -> AsyncConnectionPool:
    """procrastinate's pool minus its check (an extra round trip at every checkout, i.e. two per job):
    a connection that broke is dropped when it comes back, and the job's failure retries it."""
    options.pop("check", None)
    return AsyncConnectionPool(**options)


def build_app(url: str, *, pool_size: int = 4) -> procrastinate.App:
    """An App on `url` (not opened). `pool_size` covers the listener, the heartbeat and the jobs."""
    connector = procrastinate.PsycopgConnector(
        pool_factory=_pool_without_checks,
        conninfo=url,
        min_size=1,
        max_size=pool_size,
        # Prepared statements break behind a transaction pooler; harmless elsewhere.
        kwargs={"prepare_threshold": None},
    )
    app = procrastinate.App(connector=connector)
    app.task(name=TASK_NAME, pass_context=True, retry=FollowTheRun(), queue=DEFAULT_QUEUE)(run_job)
    return app
