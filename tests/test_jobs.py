"""The background job engine on the real test database: procrastinate workers (in this process, and a
`viraltracker worker` subprocess killed with SIGKILL), retries with backoff, dead letters, schedules
enqueued once whatever the number of workers, the Meta sync job against the fake Graph API, and the
daily Meta token check."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from pydantic import SecretStr

from core.errors import InvalidArgument
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from jobs import api
from jobs.builtin import MetaSyncParams
from jobs.registry import REGISTRY
from jobs.runs import enqueue
from jobs.schedules import tick
from jobs.worker import run_worker
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.tokens import check_tokens
from services.meta.vault import TokenVault
from services.platform.accounts import add_user, create_organization
from settings import Settings
from tests import job_doubles
from tests.cli_helpers import run_cli

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "EAAB-jobs-system-token-" + uuid.uuid4().hex


@dataclass
class Tenant:
    org: UUID
    brand_id: UUID
    brand: str
    caller: Caller


def fast_settings(tmp_path: Path, **extra: Any) -> Settings:
    """Workers that notice things in a fraction of a second (production waits seconds)."""
    return Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=tmp_path,
        VIRALTRACKER_JOBS_POLL_SECONDS=0.05,
        VIRALTRACKER_JOBS_TICK_SECONDS=0.2,
        VIRALTRACKER_JOBS_HEARTBEAT_SECONDS=0.5,
        VIRALTRACKER_JOBS_STALLED_SECONDS=2,
        **extra,
    )


async def new_tenant(db: Database, label: str) -> Tenant:
    tag = uuid.uuid4().hex[:8]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Jobs {label} {tag}")
        user_id = await add_user(conn, email=f"jobs-{label}-{tag}@jobs.example", organization_id=org)
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id",
            (org, f"Queue {label} {tag}"),
        )
        row = await cur.fetchone()
    assert row is not None
    return Tenant(org, row["id"], f"Queue {label} {tag}", Caller(user_id, f"jobs-{label}-{tag}@jobs.example"))


async def drop_tenant(db: Database, tenant: Tenant) -> None:
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (tenant.org,))
        await conn.execute("delete from auth.users where id = %s", (tenant.caller.user_id,))


@pytest.fixture
async def tenant(db: Database) -> AsyncIterator[Tenant]:
    found = await new_tenant(db, "a")
    yield found
    await drop_tenant(db, found)


@asynccontextmanager
async def worker(db: Database, settings: Settings, **options: Any) -> AsyncIterator[asyncio.Task[None]]:
    """A real worker in this event loop, stopped (and awaited) on the way out."""
    task = asyncio.create_task(
        run_worker(db, settings, url=db.url, install_signal_handlers=False, **{"concurrency": 2, **options})
    )
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def worker_process(
    db: Database, home: Path, *, concurrency: int, **settings: str
) -> asyncio.subprocess.Process:
    """`viraltracker worker` as another program (it knows the test job types), quick to notice work."""
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "VIRALTRACKER_HOME": str(home),
        "VIRALTRACKER_JOBS_POLL_SECONDS": "0.05",
        "VIRALTRACKER_JOBS_TICK_SECONDS": "60",
        **settings,
    }
    command = [
        sys.executable,
        "-m",
        "cli",
        "worker",
        "--concurrency",
        str(concurrency),
        "--import",
        "tests.job_doubles",
    ]
    return await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )


async def run_row(db: Database, run_id: UUID) -> dict[str, Any]:
    async with db.as_owner() as conn:
        cur = await conn.execute("select * from job_runs where id = %s", (run_id,))
        row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def wait_for(db: Database, run_id: UUID, statuses: set[str], *, within: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        row = await run_row(db, run_id)
        if row["status"] in statuses:
            return row
        assert time.monotonic() < deadline, f"run still {row['status']} after {within} s: {row}"
        await asyncio.sleep(0.05)


async def scheduled_runs(db: Database, schedule_id: UUID) -> list[UUID]:
    async with db.as_owner() as conn:
        cur = await conn.execute("select id from job_runs where scheduled_job_id = %s", (schedule_id,))
        return [row["id"] for row in await cur.fetchall()]


async def notifications_of(db: Database, org: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select type, title, message, metadata from notifications where organization_id = %s order by created_at",
            (org,),
        )
        return [dict(r) for r in await cur.fetchall()]


# -- retries, dead letters, bad payloads ---------------------------------------------------------


async def test_a_job_that_fails_twice_then_succeeds_backs_off_and_notifies_once(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    run_id = await api.run_now(
        db, job_type="_test_flaky", params={"failures": 2}, organization_id=tenant.org, brand_id=None
    )
    async with worker(db, fast_settings(tmp_path)):
        row = await wait_for(db, run_id, {"succeeded", "failed"})
    assert row["status"] == "succeeded"
    assert row["attempts"] == 3 and row["result"] == {"attempts_needed": 3} and row["error"] is None
    starts = job_doubles.ATTEMPT_TIMES[run_id]
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    # Backoff 0.4 s doubling, jitter between half and all of each step: ≥ 0.2 s, then ≥ 0.4 s.
    assert len(gaps) == 2 and gaps[0] >= 0.2 and gaps[1] >= 0.4, gaps
    assert [n["type"] for n in await notifications_of(db, tenant.org)] == ["test_done"]


async def test_a_job_that_always_fails_is_dead_lettered_with_its_error(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    run_id = await api.run_now(
        db, job_type="_test_always_fails", params={}, organization_id=tenant.org, brand_id=None
    )
    async with worker(db, fast_settings(tmp_path)):
        row = await wait_for(db, run_id, {"failed"})
        assert row["attempts"] == 3 and row["finished_at"] is not None
        # What /jobs failed shows the organization's people (their own connection, under RLS).
        async with db.as_user(tenant.caller) as conn:
            failed = await api.recent_runs(conn, status="failed")
        assert [(r.id, r.error, r.attempts) for r in failed] == [
            (run_id, "RuntimeError: the widget exploded", 3)
        ]
        notes = await notifications_of(db, tenant.org)
        assert [(n["type"], n["title"]) for n in notes] == [
            ("job_failed", "_test_always_fails failed after 3 attempts")
        ]
        short = str(run_id)[:8]
        assert notes[0]["message"] == (
            f"RuntimeError: the widget exploded. Retry it with /jobs retry:{short} in chat, or"
            f' viraltracker ask "/jobs retry:{short} confirm:true" --user YOUR_EMAIL (run {run_id}).'
        )
        assert notes[0]["metadata"]["run_id"] == str(run_id)
        # Retry: a new run with the same parameters (it fails again, as it should).
        again = await api.retry(db, run_id, organization_id=tenant.org)
        second = await wait_for(db, again, {"failed"})
    assert second["retry_of"] == run_id and second["attempts"] == 3
    ok = await api.run_now(
        db, job_type="_test_flaky", params={"failures": 0}, organization_id=tenant.org, brand_id=None
    )
    async with worker(db, fast_settings(tmp_path)):
        await wait_for(db, ok, {"succeeded"})
    with pytest.raises(InvalidArgument, match=rf"^Run {ok} is succeeded: only failed runs can be retried\.$"):
        await api.retry(db, ok)
    other = await new_tenant(db, "other")
    try:
        with pytest.raises(Exception, match=f"^No job run {run_id}.$"):
            await api.retry(db, run_id, organization_id=other.org)
        async with db.as_user(other.caller) as conn:
            assert await api.recent_runs(conn, status="failed") == []
    finally:
        await drop_tenant(db, other)


async def test_bad_parameters_are_refused_and_a_bad_payload_fails_clearly(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"^Bad parameters for meta_sync: days: Input should be greater than or equal to 1\.$",
    ):
        await api.run_now(
            db, job_type="meta_sync", params={"days": 0}, organization_id=tenant.org, brand_id=tenant.brand_id
        )
    with pytest.raises(InvalidArgument, match=r"^There is no job type 'meta_synk'\. Job types: .*meta_sync"):
        await api.run_now(
            db, job_type="meta_synk", params={}, organization_id=tenant.org, brand_id=tenant.brand_id
        )
    with pytest.raises(InvalidArgument, match=r"^meta_sync runs for one brand: say which brand\.$"):
        await api.run_now(db, job_type="meta_sync", params={}, organization_id=tenant.org, brand_id=None)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from job_runs where organization_id = %s", (tenant.org,)
        )
        assert (await cur.fetchone()) == {"n": 0}
    # A stage that hands over garbage (here: written past validation) fails at once, saying why.
    garbage = MetaSyncParams.model_construct(brand_id=tenant.brand_id, days=0, ads_only=False)
    async with db.as_service() as conn:
        run_id = await enqueue(
            conn, REGISTRY["meta_sync"], garbage, organization_id=tenant.org, brand_id=tenant.brand_id
        )
    async with worker(db, fast_settings(tmp_path)):
        row = await wait_for(db, run_id, {"failed", "succeeded"})
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert row["error"] == "Bad parameters for meta_sync: days: Input should be greater than or equal to 1."


# -- a worker killed mid-job ---------------------------------------------------------------------


async def test_a_job_on_a_killed_worker_is_retried_by_another_and_written_once(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    doomed = await worker_process(
        db,
        tmp_path,
        concurrency=1,
        VIRALTRACKER_JOBS_HEARTBEAT_SECONDS="0.5",
        VIRALTRACKER_JOBS_STALLED_SECONDS="2",
    )
    try:
        run_id = await api.run_now(
            db,
            job_type="_test_sleepy",
            params={"first_attempt_seconds": 60},
            organization_id=tenant.org,
            brand_id=None,
        )
        row = await wait_for(db, run_id, {"running"}, within=30)
        assert row["attempts"] == 1
        doomed.send_signal(signal.SIGKILL)
        await asyncio.wait_for(doomed.wait(), 10)
        async with worker(db, fast_settings(tmp_path)):
            row = await wait_for(db, run_id, {"succeeded", "failed"}, within=20)
    finally:
        if doomed.returncode is None:
            doomed.kill()
            await asyncio.wait_for(doomed.wait(), 10)
    assert row["status"] == "succeeded"
    assert row["result"] == {"pid": os.getpid(), "attempt": 2} and row["attempts"] == 2
    assert [n["type"] for n in await notifications_of(db, tenant.org)] == ["test_done"]


# -- schedules -----------------------------------------------------------------------------------


async def test_two_workers_and_one_due_schedule_make_one_run(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    schedule_id = await api.create_schedule(
        db,
        job_type="_test_sleepy",
        cron="*/5 * * * *",
        params={"first_attempt_seconds": 0},
        organization_id=tenant.org,
        brand_id=tenant.brand_id,
    )
    async with db.as_owner() as conn:
        await conn.execute(
            "update scheduled_jobs set next_run_at = now() - interval '1 second' where id = %s",
            (schedule_id,),
        )
    settings = fast_settings(tmp_path)
    async with worker(db, settings, name="one"), worker(db, settings, name="two"):
        deadline = time.monotonic() + 15
        while not await scheduled_runs(db, schedule_id):
            assert time.monotonic() < deadline, "the due schedule was never enqueued"
            await asyncio.sleep(0.05)
        await wait_for(db, (await scheduled_runs(db, schedule_id))[0], {"succeeded"})
        # Another schedule made due now is enqueued by a later tick, which would have enqueued a still-due
        # first one again (a tick takes every due schedule, the earliest first).
        marker = await api.create_schedule(
            db, job_type="_test_sleepy", cron="*/5 * * * *", params={"first_attempt_seconds": 0},
            organization_id=tenant.org, brand_id=tenant.brand_id,
        )  # fmt: skip
        async with db.as_owner() as conn:
            await conn.execute(
                "update scheduled_jobs set next_run_at = now() - interval '1 second' where id = %s", (marker,)
            )
        while not (marked := await scheduled_runs(db, marker)):
            assert time.monotonic() < deadline + 15, "the marker schedule was never enqueued"
            await asyncio.sleep(0.05)
        await wait_for(db, marked[0], {"succeeded"})
    assert len(await scheduled_runs(db, schedule_id)) == 1
    # Workers were down for 3 hours (36 slots missed): eight ticks racing make one catch-up run.
    async with db.as_owner() as conn:
        await conn.execute(
            "update scheduled_jobs set next_run_at = now() - interval '3 hours' where id = %s",
            (schedule_id,),
        )
    created = await asyncio.gather(*(tick(db) for _ in range(8)))
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select status, brand_id from job_runs where scheduled_job_id = %s order by created_at",
            (schedule_id,),
        )
        runs = await cur.fetchall()
        cur = await conn.execute("select next_run_at from scheduled_jobs where id = %s", (schedule_id,))
        planned = await cur.fetchone()
    assert runs[0] == {"status": "succeeded", "brand_id": tenant.brand_id}
    assert len(runs) == 2 and sum(len(c) for c in created) == 1
    assert planned is not None and planned["next_run_at"] > datetime.now(UTC)
    assert planned["next_run_at"].minute % 5 == 0


async def test_platform_schedules_versus_brand_schedules(db: Database, tenant: Tenant) -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"^token_expiry_check is a platform-level job: it runs once for everyone on the platform schedule"
        r" \('token_expiry_check' in /jobs\), so it can't be scheduled per brand or organization\.$",
    ):
        await api.create_schedule(
            db,
            job_type="token_expiry_check",
            cron="0 6 * * *",
            organization_id=tenant.org,
            brand_id=tenant.brand_id,
        )
    with pytest.raises(
        InvalidArgument, match=r"^There is already a platform schedule for token_expiry_check"
    ):
        await api.create_schedule(
            db, job_type="token_expiry_check", cron="0 7 * * *", organization_id=None, brand_id=None
        )
    with pytest.raises(InvalidArgument, match=r"^'every day' is not a cron expression: it takes 5 fields"):
        await api.create_schedule(
            db, job_type="meta_sync", cron="every day", organization_id=tenant.org, brand_id=tenant.brand_id
        )
    with pytest.raises(InvalidArgument, match=r"^token_expiry_check is a platform-level job"):
        await api.run_now(db, job_type="token_expiry_check", organization_id=tenant.org, brand_id=None)
    # The database refuses it too, whoever writes.
    with pytest.raises(psycopg.errors.CheckViolation):
        async with db.as_service() as conn:
            await conn.execute(
                "insert into scheduled_jobs (organization_id, brand_id, job_type, cron) values (%s, %s, 'token_expiry_check', '0 6 * * *')",
                (tenant.org, tenant.brand_id),
            )
    mine = await api.create_schedule(
        db,
        job_type="meta_sync",
        cron="0 */6 * * *",
        params={"ads_only": True},
        organization_id=tenant.org,
        brand_id=tenant.brand_id,
    )
    other = await new_tenant(db, "neighbour")
    try:
        async with db.as_user(tenant.caller) as conn:
            seen = await api.list_schedules(conn)
        async with db.as_user(other.caller) as conn:
            theirs = await api.list_schedules(conn)
        with pytest.raises(Exception, match=r"^No brand .* in that organization\.$"):
            await api.create_schedule(
                db,
                job_type="meta_sync",
                cron="0 * * * *",
                organization_id=tenant.org,
                brand_id=other.brand_id,
            )
    finally:
        await drop_tenant(db, other)
    platform = [s for s in seen if s.organization_id is None and s.job_type == "token_expiry_check"]
    assert len(platform) == 1 and platform[0].cron == "0 6 * * *" and platform[0].scope == "platform"
    brand = [s for s in seen if s.id == mine]
    assert brand and brand[0].brand == tenant.brand and brand[0].params == {"days": None, "ads_only": True}
    assert mine not in {s.id for s in theirs} and any(s.organization_id is None for s in theirs)
    paused = await api.set_enabled(db, mine, False, organization_id=tenant.org)
    assert paused.enabled is False
    with pytest.raises(Exception, match=r"^No schedule "):
        await api.set_enabled(db, platform[0].id, False, organization_id=tenant.org)


# -- Meta -----------------------------------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        yield graph


def quick_client(fake: FakeGraph) -> Any:
    def make(token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token,
            graph_url=fake.url,
            limits=Limits(backoff_base=0.001, backoff_cap=0.002, throttle_wait=0.01),
            sleep=lambda _seconds: None,
            page_size=40,
        )

    return make


async def test_meta_sync_job_end_to_end(
    db: Database, tenant: Tenant, fake: FakeGraph, tmp_path: Path
) -> None:
    account = f"act_{int(uuid.uuid4().hex[:8], 16) % 10**9 + 10**9}"
    fake.add_account(account, name="Jobs US", tokens={TOKEN})
    fake.generate(account, n_ads=9, since=date.today() - timedelta(days=9), days=10, seed=3)
    settings = fast_settings(tmp_path, META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url)
    await link_account(
        db,
        None,
        brand_name=tenant.brand,
        account=account,
        settings=settings,
        client_factory=quick_client(fake),
    )
    run_id = await api.run_now(
        db,
        job_type="meta_sync",
        params={"days": 10},
        organization_id=tenant.org,
        brand_id=tenant.brand_id,
    )
    async with worker(db, settings, meta_client_factory=quick_client(fake)):
        row = await wait_for(db, run_id, {"succeeded", "failed"}, within=30)
        assert row["status"] == "succeeded", row["error"]
        download, classification = row["result"]["queued_runs"]  # the sync queued what follows
        downloaded = await wait_for(db, UUID(download), {"succeeded", "failed"}, within=30)
        classified = await wait_for(db, UUID(classification), {"succeeded", "failed"}, within=30)
    expected_rows = len(list(fake.rows_between(account, date.today() - timedelta(days=9), date.today())))
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select (select count(*) from meta_ads where brand_id = %(b)s) as ads,"
            " (select count(*) from meta_ads_performance where brand_id = %(b)s) as rows",
            {"b": tenant.brand_id},
        )
        written = await cur.fetchone()
    assert written == {"ads": 9, "rows": expected_rows}
    result = row["result"]
    assert (result["accounts"], result["ads"], result["rows"], result["rows_written"]) == (
        1,
        9,
        expected_rows,
        expected_rows,
    )
    assert downloaded["job_type"] == "asset_download" and downloaded["brand_id"] == tenant.brand_id
    assert classified["job_type"] == "ad_classification" and classified["brand_id"] == tenant.brand_id
    # The download may finish before the sync does (it starts with the first page): found by type.
    [synced] = [n for n in await notifications_of(db, tenant.org) if n["type"] == "sync_finished"]
    assert synced["title"] == f"Meta sync finished for {tenant.brand}"
    assert synced["message"] == result["summary"]
    # Run again: the same rows are fetched, nothing is written.
    again = await api.run_now(
        db, job_type="meta_sync", params={"days": 10}, organization_id=tenant.org, brand_id=tenant.brand_id
    )
    async with worker(db, settings, meta_client_factory=quick_client(fake)):
        rerun = await wait_for(db, again, {"succeeded", "failed"}, within=30)
    assert (rerun["result"]["rows"], rerun["result"]["rows_written"]) == (expected_rows, 0)


async def test_token_expiry_check_warns_once_and_marks_refused_tokens_expired(
    db: Database, tenant: Tenant, fake: FakeGraph, tmp_path: Path
) -> None:
    token = "EAAL-oauth-" + uuid.uuid4().hex
    account = f"act_{int(uuid.uuid4().hex[:8], 16) % 10**9 + 10**9}"
    fake.add_account(account, name="Jobs OAuth", tokens={token})
    settings = fast_settings(tmp_path, META_GRAPH_URL=fake.url)
    sealed = TokenVault.from_settings(settings).encrypt(token)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id, auth_method,"
            " access_token_encrypted, token_expires_at) values (%s, %s, %s, 'oauth', %s, %s)",
            (tenant.brand_id, tenant.org, account, sealed, expires),
        )
    # The platform job (every organization's connections), then the same check again for this one.
    run_id = await api.run_now(db, job_type="token_expiry_check", organization_id=None, brand_id=None)
    async with worker(db, settings, meta_client_factory=quick_client(fake)):
        row = await wait_for(db, run_id, {"succeeded", "failed"})
    assert row["status"] == "succeeded", row["error"]
    again = await check_tokens(
        db, settings=settings, organization_id=tenant.org, client_factory=quick_client(fake)
    )
    assert (again.checked, again.expiring, again.warned, again.expired) == (1, 1, 0, 0)
    notes = await notifications_of(db, tenant.org)
    assert [n["type"] for n in notes] == ["meta_token_expiring"]
    assert notes[0]["title"] == f"Meta connection for {tenant.brand} expires {expires:%b %-d}"
    # Meta refuses it (190): marked expired, one notification, and not checked again.
    fake.expire_token(token)
    for _ in range(2):
        await check_tokens(
            db, settings=settings, organization_id=tenant.org, client_factory=quick_client(fake)
        )
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select status, last_error from brand_ad_accounts where meta_ad_account_id = %s", (account,)
        )
        connection = await cur.fetchone()
    assert connection == {
        "status": "expired",
        "last_error": "Meta no longer accepts this brand's token (expired or revoked). Reconnect it with /connect_meta.",
    }
    notes = await notifications_of(db, tenant.org)
    assert [n["type"] for n in notes] == ["meta_token_expiring", "meta_token_expired"]
    assert notes[1]["message"].endswith(f'/connect_meta brand:"{tenant.brand}".')


# -- health --------------------------------------------------------------------------------------


async def test_jobs_status_reports_the_queue(db: Database, tenant: Tenant, tmp_path: Path) -> None:
    run_id = await api.run_now(
        db, job_type="_test_flaky", params={"failures": 0}, organization_id=tenant.org, brand_id=None
    )
    before = await api.health(db)
    assert before.waiting >= 1 and before.oldest_waiting_seconds is not None
    async with worker(db, fast_settings(tmp_path)):
        await wait_for(db, run_id, {"succeeded"})
    after = await api.health(db)
    assert after.succeeded_24h >= 1 and after.running == 0
    shown = run_cli(db.url, tmp_path, "jobs", "status")
    assert shown.returncode == 0, shown.stderr
    assert "Failed (24 h)" in shown.stdout and f"{after.succeeded_24h} succeeded" in shown.stdout


async def test_the_chat_app_runs_a_light_worker_in_the_embedded_default(
    db: Database, tenant: Tenant, tmp_path: Path
) -> None:
    from jobs import worker as jobs_worker

    production = fast_settings(tmp_path, DATABASE_URL=db.url)
    assert not jobs_worker.wanted_in_app(production)
    assert not jobs_worker.wanted_in_app(fast_settings(tmp_path, VIRALTRACKER_EMBEDDED_WORKER="0"))
    embedded = fast_settings(tmp_path, JOBS_DATABASE_URL=db.url)  # no DATABASE_URL: the embedded default
    assert jobs_worker.start_embedded(db, embedded)
    try:
        assert not jobs_worker.start_embedded(db, embedded)  # one per process
        run_id = await api.run_now(
            db, job_type="_test_flaky", params={"failures": 0}, organization_id=tenant.org, brand_id=None
        )
        assert (await wait_for(db, run_id, {"succeeded", "failed"}))["status"] == "succeeded"
    finally:
        await jobs_worker.stop_embedded()
    async with db.as_owner() as conn:
        cur = await conn.execute(  # stopped cleanly: unregistered (a killed one would still be here)
            "select count(*) as n from procrastinate_workers where last_heartbeat > now() - interval '2 seconds'"
        )
        assert await cur.fetchone() == {"n": 0}
