"""A worker: procrastinate's job loop plus our maintenance pass (schedules due, stalled jobs retried).

`viraltracker worker` runs one in the foreground (any number, on any machine, same database); the
chat app runs a light one inside its own event loop in the embedded default.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

from procrastinate.app import WorkerOptions
from procrastinate.exceptions import ConnectorException
from psycopg import OperationalError
from pydantic import SecretStr

from core.errors import DatabaseUnavailable
from db.pool import Database
from jobs.app import Runtime, build_app, jobs_database_url
from jobs.schedules import tick
from services.retrying import Backoff
from settings import Settings

log = logging.getLogger(__name__)

EMBEDDED_CONCURRENCY = 2
RESTART_FIRST_SECONDS = 0.5
RESTART_MAX_SECONDS = 30.0
RESTART_RESETS_AFTER_SECONDS = 60.0
"""An embedded worker that ran this long before stopping starts its backoff over."""


async def run_worker(
    db: Database,
    settings: Settings,
    *,
    concurrency: int = 4,
    queues: Iterable[str] | None = None,
    url: str | None = None,
    name: str = "worker",
    install_signal_handlers: bool = True,
    meta_client_factory: Callable[[SecretStr], Any] | None = None,
) -> None:
    """Work until cancelled (or SIGINT/SIGTERM with signal handlers): running jobs get
    `settings.jobs_stop_grace_seconds` (10 s) to finish, then they are interrupted and queued again."""
    app = build_app(url or jobs_database_url(settings), pool_size=concurrency + 3)
    runtime = Runtime(db=db, settings=settings, meta_client_factory=meta_client_factory)
    async with app.open_async():
        maintenance = asyncio.create_task(maintain(app, db, settings), name="jobs maintenance")
        try:
            options: WorkerOptions = {
                "name": name,
                "concurrency": concurrency,
                "additional_context": {"runtime": runtime},
                "install_signal_handlers": install_signal_handlers,
                "update_heartbeat_interval": settings.jobs_heartbeat_seconds,
                "stalled_worker_timeout": settings.jobs_stalled_seconds,
                "fetch_job_polling_interval": settings.jobs_poll_seconds,
                "shutdown_graceful_timeout": settings.jobs_stop_grace_seconds,
                "delete_jobs": "successful",  # job_runs keeps the record; the queue stays small
            }
            if queues:
                options["queues"] = list(queues)
            await app.run_worker_async(**options)
        finally:
            maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maintenance


async def maintain(app: Any, db: Database, settings: Settings) -> None:
    """Every `jobs_tick_seconds` (with a little jitter): enqueue due schedules, retry stalled jobs.
    Safe with many workers doing it at once; a failed pass is logged and the next one tries again."""
    while True:
        try:
            await tick(db)
            await retry_stalled(app, stalled_after=settings.jobs_stalled_seconds)
        except Exception:
            log.exception("jobs maintenance pass failed")
        await asyncio.sleep(settings.jobs_tick_seconds * random.uniform(0.9, 1.1))


async def retry_stalled(app: Any, *, stalled_after: float) -> int:
    """Queue again the jobs running on workers whose heartbeat stopped (killed, frozen, cut off);
    returns how many. Another worker may get to one first: that's fine."""
    retried = 0
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        try:
            await app.job_manager.retry_job(job)
        except Exception as error:  # already retried or finished by someone else
            log.info("stalled job %s not retried here: %s", job.id, error)
            continue
        log.warning("job %s was stalled (its worker stopped sending heartbeats): queued again", job.id)
        retried += 1
    return retried


# -- inside the chat app (embedded default) ------------------------------------------------------

_embedded: asyncio.Task[None] | None = None
_embedded_working = False
"""Whether the embedded worker is in its job loop now (False while it waits to start again)."""


def embedded_status() -> bool | None:
    """None when this process runs no job worker; else whether it is working now (for /readyz)."""
    return None if _embedded is None else _embedded_working


def wanted_in_app(settings: Settings) -> bool:
    """The chat app runs its own worker only in the embedded default (no DATABASE_URL) and unless
    `VIRALTRACKER_EMBEDDED_WORKER=0`."""
    return settings.database_url is None and settings.embedded_worker


def start_embedded(db: Database, settings: Settings) -> bool:
    """Start a light worker in the running event loop (see `wanted_in_app`). Returns whether it started."""
    global _embedded
    if not wanted_in_app(settings) or _embedded is not None:
        return False
    _embedded = asyncio.create_task(keep_working(db, settings), name="embedded jobs worker")
    _embedded.add_done_callback(_report_end)
    return True


async def keep_working(db: Database, settings: Settings) -> None:
    """The app's worker, started again whenever it stops (its connection died with a database restart,
    or the database is still down): after 0.5 s, then twice as long each time up to 30 s. Queued runs
    wait for it, never for an app restart. Ends only when cancelled."""
    global _embedded_working
    restarts = 0
    while True:
        started = time.monotonic()
        _embedded_working = True
        try:
            await run_worker(
                db, settings, concurrency=EMBEDDED_CONCURRENCY, name="embedded", install_signal_handlers=False
            )
            reason, unexpected = "it returned", False
        except Exception as error:
            # procrastinate wraps every database error: the cause says what happened (a traceback won't).
            reason = f"{error.__cause__ or error}".strip()
            unexpected = not isinstance(error, ConnectorException | OperationalError | DatabaseUnavailable)
        finally:
            _embedded_working = False
        if time.monotonic() - started > RESTART_RESETS_AFTER_SECONDS:
            restarts = 0
        restarts += 1
        delay = Backoff.doubling(RESTART_FIRST_SECONDS, RESTART_MAX_SECONDS).seconds(restarts)
        log.warning(
            "the embedded jobs worker stopped (%s); starting it again in %.1f s",
            reason,
            delay,
            exc_info=unexpected,
        )
        await asyncio.sleep(delay)


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the embedded jobs worker stopped for good", exc_info=task.exception())


async def stop_embedded() -> None:
    """Stop the app's worker (running jobs get their grace period, then run again elsewhere/later)."""
    global _embedded
    task, _embedded = _embedded, None
    if task is None or task.done():
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
