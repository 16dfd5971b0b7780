"""The pipeline after a sync, as the worker runs it: 5,000 synced ads through creative download and
offline classification, against a bare classification floor measured in the same run.

1. a temporary VIRALTRACKER_HOME with its own embedded Postgres (`viraltracker db up`), and the fake
   Graph API in its own process serving the creatives' files too (`python -m fakes.meta_graph --media`);
2. organization "Pipeline Co", brand "Pipeline Brand", the account linked with the system user's token;
3. a `meta_sync` job (the last DAYS days) run by a real worker (procrastinate, in this process);
4. the stages after it: the `asset_download` and `ad_classification` runs the sync queued with the
   pages of ads it stored; timed from their queueing (while the sync still runs) to the last one done
   (job_runs' own timestamps): ads/s = ads / that time;
5. the floor: `rules_classifier.classify_offline` over the same ads' inputs, in memory, no database;
6. checks: every ad classified, every wanted file stored, each stage's notification written.

Target: >= 200 ads/s through download and classification. Exit 0 when met and the checks pass.

    .venv/bin/python -m bench.pipeline [--ads 5000] [--keep-home]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import SecretStr

from db.pool import Database
from services.creative.ad_classifier import AdInput
from services.creative.rules_classifier import classify_offline
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.platform.accounts import create_organization
from settings import Settings

ACCOUNT = "act_1000000001"  # the account `bench.meta_sync.start_fake` serves
ORG = "Pipeline Co"
BRAND = "Pipeline Brand"
DAYS = 7  # the daily rows are not this bench's subject: a week keeps the sync short
TARGET_ADS_PER_S = 200.0
STAGES = ("asset_download", "ad_classification")
STAGE_SECONDS = 900.0  # the longest wait for the sync, then for the stages
POLL_SECONDS = 0.05
MAX_ADS = 100_000


@dataclass
class Run:
    job_type: str
    id: UUID
    status: str
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    @property
    def seconds(self) -> float:
        end = self.finished_at or self.created_at
        return (end - self.created_at).total_seconds()


@dataclass
class Outcome:
    ads: int
    sync: Run
    stages: list[Run]
    queued_by: str
    pipeline_s: float
    floor_s: float
    floor_ads: int
    checks: list[tuple[str, str, bool]] = field(default_factory=list)

    @property
    def ads_per_s(self) -> float:
        return self.ads / self.pipeline_s if self.pipeline_s > 0 else 0.0

    @property
    def floor_ads_per_s(self) -> float:
        return self.floor_ads / self.floor_s if self.floor_s > 0 else float("inf")

    @property
    def target_met(self) -> bool:
        return self.ads_per_s >= TARGET_ADS_PER_S

    @property
    def ok(self) -> bool:
        return self.target_met and all(met for _, _, met in self.checks)


def quick_client(graph_url: str) -> Callable[[SecretStr], MetaClient]:
    """The sync's client, polling the fake's report briskly (Meta's own preparation time is not ours)."""

    def make(token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token, graph_url=graph_url, limits=Limits(report_poll=0.02, report_poll_cap=0.05)
        )

    return make


async def _fetch(db: Database, query: str, params: tuple[Any, ...] | dict[str, Any]) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(query, params)
        return [dict(row) for row in await cur.fetchall()]


_RUN = (
    "select job_type, id, status, params, result, error, created_at, finished_at from job_runs"
    " where id = any(%s) order by created_at, procrastinate_job_id"  # one transaction queues both stages
)


async def wait_done(db: Database, ids: list[UUID], budget: float) -> list[Run]:
    """The runs once none is queued or running (polled; at most `budget` seconds)."""
    deadline = time.monotonic() + budget
    while True:
        runs = [Run(**row) for row in await _fetch(db, _RUN, (ids,))]
        if len(runs) == len(ids) and all(r.status in ("succeeded", "failed", "cancelled") for r in runs):
            return runs
        if time.monotonic() > deadline:
            shown = ", ".join(f"{r.job_type} {r.status}" for r in runs)
            raise SystemExit(f"the runs were not done after {budget:.0f} s: {shown}")
        await asyncio.sleep(POLL_SECONDS)


async def set_up_brand(
    db: Database, settings: Settings, graph_url: str, *, org: str, account: str
) -> tuple[UUID, UUID]:
    """The organization and brand, the account linked; (organization id, brand id)."""
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=org)
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org_id, BRAND)
        )
        row = await cur.fetchone()
    assert row is not None
    await link_account(
        db, None, brand_name=BRAND, account=account, settings=settings, client_factory=quick_client(graph_url)
    )
    return org_id, UUID(str(row["id"]))


async def floor_inputs(db: Database, brand_id: UUID) -> list[AdInput]:
    """The ads as the classification reads them (copy, headline, format, media), from the database."""
    rows = await _fetch(
        db,
        "select a.meta_ad_id, a.name, a.format, a.ad_copy, a.headline, a.thumbnail_url, a.video_id,"
        " b.name as brand_name from meta_ads a join brands b on b.id = a.brand_id where a.brand_id = %s",
        (brand_id,),
    )
    return [AdInput(**row) for row in rows]


def classification_floor(inputs: list[AdInput]) -> float:
    """Seconds for `classify_offline` over the inputs, in memory: the work itself, nothing around it."""
    started = time.perf_counter()
    for ad in inputs:
        classify_offline(ad)
    return time.perf_counter() - started


async def run_pipeline(
    db: Database,
    settings: Settings,
    graph_url: str,
    *,
    ads: int,
    org: str = ORG,
    account: str = ACCOUNT,
    budget: float = STAGE_SECONDS,
    say: Callable[[str], None] = print,
) -> Outcome:
    """Steps 2-6 of the module's docstring, on `db`, with a worker in this event loop."""
    from jobs import api
    from jobs.worker import run_worker

    org_id, brand_id = await set_up_brand(db, settings, graph_url, org=org, account=account)
    worker = asyncio.create_task(
        run_worker(
            db, settings, url=db.url, install_signal_handlers=False, concurrency=4,
            meta_client_factory=quick_client(graph_url),
        )
    )  # fmt: skip
    try:
        say(f"Sync: {ads:,} ads, the last {DAYS} days, as a meta_sync job…")
        sync_id = await api.run_now(
            db, job_type="meta_sync", params={"days": DAYS}, organization_id=org_id, brand_id=brand_id
        )
        [sync] = await wait_done(db, [sync_id], budget)
        if sync.status != "succeeded":
            raise SystemExit(f"the sync {sync.status}: {sync.error}")
        say(f"  {sync.result and sync.result['summary']} ({sync.seconds:.1f} s)")
        queued = await _fetch(
            db,
            "select id from job_runs where brand_id = %s and job_type = any(%s)"
            " order by created_at, procrastinate_job_id",
            (brand_id, list(STAGES)),
        )
        queued_by = "the sync"
        ids = [row["id"] for row in queued]
        if not ids:
            raise SystemExit("the sync queued no download or classification: nothing to measure")
        say(f"Download and classification: {len(ids)} runs queued by {queued_by}…")
        stages = await wait_done(db, ids, budget)
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    started = min(r.created_at for r in stages)
    ended = max(r.finished_at or r.created_at for r in stages)
    inputs = await floor_inputs(db, brand_id)
    floor_s = classification_floor(inputs)
    outcome = Outcome(
        ads=ads, sync=sync, stages=stages, queued_by=queued_by,
        pipeline_s=(ended - started).total_seconds(), floor_s=floor_s, floor_ads=len(inputs),
    )  # fmt: skip
    outcome.checks = await _checks(db, org_id, brand_id, ads, stages)
    return outcome


async def _checks(
    db: Database, org_id: UUID, brand_id: UUID, ads: int, stages: list[Run]
) -> list[tuple[str, str, bool]]:
    [counts] = await _fetch(
        db,
        "select (select count(*) from meta_ads where brand_id = %(b)s) as ads,"
        " (select count(distinct meta_ad_id) from ad_creative_classifications where brand_id = %(b)s) as classified,"
        " (select count(*) from ad_assets where brand_id = %(b)s and kind = 'image') as images,"
        " (select count(*) from ad_assets where brand_id = %(b)s and kind = 'video') as videos",
        {"b": brand_id},
    )
    notes = await _fetch(
        db,
        "select type, message from notifications where organization_id = %s order by created_at",
        (org_id,),
    )
    by_type = {r.job_type: r for r in stages}
    download = (by_type.get("asset_download") or stages[0]).result or {}
    wanted = int(download.get("downloaded", -1)) + int(download.get("already_had", 0))
    stored = counts["images"] + counts["videos"]
    kinds = {n["type"] for n in notes}
    return [
        ("every stage succeeded", ", ".join(f"{r.job_type} {r.status}" for r in stages),
         all(r.status == "succeeded" for r in stages) and set(by_type) == set(STAGES)),
        ("every ad synced", f"{counts['ads']:,} of {ads:,}", counts["ads"] == ads),
        ("every ad classified", f"{counts['classified']:,} of {ads:,}", counts["classified"] == ads),
        ("every file the download wanted is stored, none failed",
         f"{counts['images']:,} images, {counts['videos']:,} videos; {download.get('failed')} failed",
         stored == wanted and download.get("failed") == 0),
        ("the sync's and each stage's notification written", ", ".join(sorted(kinds)),
         {"sync_finished", "classification_finished", "assets_downloaded"} <= kinds),
    ]  # fmt: skip


def report(out: Outcome) -> None:
    print()
    print(f"{'stage':<20} {'status':>10} {'queued → done s':>16}  result")
    for run in (out.sync, *out.stages):
        summary = (run.result or {}).get("summary") or run.error or ""
        print(f"{run.job_type:<20} {run.status:>10} {run.seconds:>16.1f}  {summary[:160]}")
    shown = "; ".join(
        f"{r.job_type} {', '.join(f'{k}={v}' for k, v in r.params.items() if k != 'brand_id' and v is not None) or 'defaults'}"
        for r in out.stages
    )
    print(f"Stage parameters: {shown}")  # the sync's own choice when it queued them
    print()
    print(
        f"Download and classification (queued by {out.queued_by}), first queued → last done:"
        f" {out.pipeline_s:.1f} s for {out.ads:,} ads = {out.ads_per_s:,.0f} ads/s"
    )
    print(
        f"Floor: classify_offline over the same {out.floor_ads:,} ads in memory: {out.floor_s:.2f} s"
        f" = {out.floor_ads_per_s:,.0f} ads/s; the pipeline runs at {out.ads_per_s / out.floor_ads_per_s:.3f}"
        " × the floor"
    )
    print()
    print("Checks:")
    for name, value, met in out.checks:
        print(f"  {'ok    ' if met else 'FAILED'} {name}: {value}")
    print(
        f"Target: ≥ {TARGET_ADS_PER_S:,.0f} ads/s: {'MET' if out.target_met else 'MISSED'}"
        f" ({out.ads_per_s:,.0f} ads/s)"
    )
    print("All targets met." if out.ok else "NOT all targets met (or a check failed).")


# ---------------------------------------------------------------------------------------------
# The run in its own home, database and fake


def main(argv: list[str] | None = None) -> None:
    from bench.chat_load import app_env, run_cli, stop_embedded_postgres, stop_server
    from bench.meta_sync import start_fake
    from db.embedded import start_embedded
    from services.process import calm_garbage_collector

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ads", type=int, default=5000, help="ads in the account (default 5000)")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary VIRALTRACKER_HOME")
    args = parser.parse_args(argv)
    if not 1 <= args.ads <= MAX_ADS:
        parser.error(f"--ads must be 1-{MAX_ADS:,}")
    home = Path(tempfile.mkdtemp(prefix="vt-pipeline-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)  # always a throwaway embedded server
    token = "bench-" + secrets.token_urlsafe(24)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"pipeline bench: {args.ads:,} ads, home {home}; {os.cpu_count()} CPUs, load average {load}",
        flush=True,
    )
    fake: subprocess.Popen[bytes] | None = None
    ok = False
    try:
        run_cli(["db", "up"], env, home / "pipeline-bench.log")
        fake, graph_url = start_fake(args.ads, DAYS, token, home / "fake.log", media=True)
        url = start_embedded(home / "pgdata")
        settings = Settings(
            VIRALTRACKER_HOME=home, DATABASE_URL=url, META_SYSTEM_USER_TOKEN=token, META_GRAPH_URL=graph_url,
            VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True,  # the fake's media are on 127.0.0.1
            VIRALTRACKER_MODEL=None, ANTHROPIC_API_KEY=None, GEMINI_API_KEY=None, GOOGLE_API_KEY=None,
            VIRALTRACKER_JOBS_POLL_SECONDS=0.1,
        )  # fmt: skip
        calm_garbage_collector()  # as the workers do

        async def run() -> Outcome:
            async with Database(url, max_size=8) as db:
                return await run_pipeline(db, settings, graph_url, ads=args.ads, say=_say)

        outcome = asyncio.run(run())
        report(outcome)
        ok = outcome.ok
    finally:
        if fake is not None:
            stop_server(fake)
        stop_embedded_postgres(home / "pgdata")
        if args.keep_home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    main()
