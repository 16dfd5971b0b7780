"""`make bench-pipeline` kept from rotting: its measurement (`bench.pipeline.run_pipeline`) with a
handful of ads, on the test database, a worker in this event loop and the fake Graph API serving
the creatives: every stage succeeds, every ad is classified, every file stored, and the report
prints the ads/s, the floor and the target line."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pytest

from bench.pipeline import STAGES, report, run_pipeline
from db.pool import Database
from fakes.meta_graph import FakeGraph
from settings import Settings

ADS = 24


async def test_the_pipeline_bench_runs_with_a_few_ads(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "EAAB-pipeline-" + uuid.uuid4().hex
    account = f"act_{int(uuid.uuid4().hex[:8], 16) % 10**9 + 10**9}"
    org = f"Pipeline Smoke {uuid.uuid4().hex[:8]}"
    with FakeGraph() as fake:
        fake.media_root = fake.url
        fake.add_account(account, name="Pipeline US", tokens={token})
        fake.generate(account, n_ads=ADS, since=date.today(), days=1)
        settings = Settings(
            VIRALTRACKER_HOME=tmp_path, META_SYSTEM_USER_TOKEN=token, META_GRAPH_URL=fake.url,
            VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True, VIRALTRACKER_MODEL=None, ANTHROPIC_API_KEY=None,
            GEMINI_API_KEY=None, GOOGLE_API_KEY=None, VIRALTRACKER_JOBS_POLL_SECONDS=0.05,
            VIRALTRACKER_JOBS_TICK_SECONDS=0.2,
        )  # fmt: skip
        try:
            outcome = await run_pipeline(
                db, settings, fake.url, ads=ADS, org=org, account=account, budget=60, say=lambda _: None
            )
        finally:
            async with db.as_owner() as conn:
                await conn.execute("delete from organizations where name = %s", (org,))
    assert [run.job_type for run in outcome.stages] == list(STAGES)
    assert [(name, met) for name, _, met in outcome.checks] == [
        ("every stage succeeded", True),
        ("every ad synced", True),
        ("every ad classified", True),
        ("every file the download wanted is stored, none failed", True),
        ("the sync's and each stage's notification written", True),
    ], outcome.checks
    assert outcome.floor_ads == ADS and outcome.pipeline_s > 0
    report(outcome)
    printed = capsys.readouterr().out
    assert f"s for {ADS} ads = {outcome.ads_per_s:,.0f} ads/s" in printed
    assert f"Floor: classify_offline over the same {ADS} ads in memory:" in printed
    assert "Target: ≥ 200 ads/s: " in printed
