"""Deep video analysis at scale: 100 synced video ads classified from their videos by Gemini (the fake,
2 s per call), at the classification's concurrency, against the same calls one at a time.

1. a temporary VIRALTRACKER_HOME with its own embedded Postgres (`viraltracker db up`) and the fake
   Gemini API in this process (threaded), answering every generateContent call after LATENCY seconds;
2. organization "Video Co", brand "Video Brand": ADS video ads as a sync stores them (`meta_ads`) with
   their videos as the asset download stores them (`ad_assets` and the file: a 4 s, 64×36 MP4 each,
   its own bytes);
3. `classify_brand_ads` with a Gemini key: each ad's video inline, its answer checked, its storyboard's
   frames stored, its cost in the ledger; wall time from start to the last row written;
4. sequential: the same work for SAMPLE ads of another brand with one call at a time, scaled to ADS
   (after one untimed ad that loads the model stack, for neither figure to pay it);
5. checks: every ad classified from its video, one call per ad, the calls at most the concurrency at once.

    .venv/bin/python -m bench.video [--ads 100] [--latency 2.0] [--concurrency N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import tempfile
import time
import zlib
from pathlib import Path
from uuid import UUID

from pydantic_ai import models

from db.pool import Database
from fakes import gemini_api
from fakes.gemini_api import FakeGemini, FakeRequest, Reply
from fakes.videos import make_video
from services.creative import brand_classification, classify_batch
from services.platform.accounts import create_organization
from settings import Settings

MAX_ADS = 1000
SAMPLE = 4
"""Ads classified one call at a time, for the sequential figure (scaled to --ads)."""
RUN_SECONDS = 900.0


def _answer(request: FakeRequest) -> Reply:
    """A checked-good analysis of the bench's 4 s video."""
    return Reply.calls(("final_result", {
        "awareness_level": "problem_aware",
        "hooks": {"spoken": {"text": "Still tired at noon?", "category": "question", "at": 0.3},
                  "overlay": {"text": "Energy without the crash", "category": "bold_claim", "at": 0.0},
                  "visual": {"text": "A yawn at a desk", "category": "problem_callout", "at": 0.0}},
        "benefits": ["steady energy"], "angles": ["problem/solution"], "claims": [], "claim_sources": [],
        "congruence_components": [], "transcript": "Still tired at noon? Try Daybreak.",
        "transcript_lines": [{"start": 0.3, "end": 1.4, "text": "Still tired at noon?"},
                             {"start": 1.6, "end": 2.6, "text": "Try Daybreak."}],
        "storyboard": [{"t": 0, "end": 1.5, "scene": "A yawn at a desk"},
                       {"t": 1.5, "end": 3.2, "scene": "The can"}, {"t": 3.2, "end": 4.0, "scene": "A smile"}],
    }))  # fmt: skip


async def add_brand(db: Database, home: Path, *, name: str, ads: int) -> UUID:
    """A brand with `ads` video ads and their stored videos (each its own bytes: no two are one media)."""
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Video Co {name}")
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org, name)
        )
        row = await cur.fetchone()
        assert row is not None
        brand = UUID(str(row["id"]))
        for i in range(ads):
            ad_id = f"{zlib.crc32(name.encode()) % 10**6:06d}{i:06d}"
            path = f"{org}/{brand}/{ad_id}/video.mp4"
            colour = (40 + i % 200, 200 - i % 150, 60 + (i * 7) % 190)
            target = home / "assets" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            data = make_video(
                target, scenes=((0.0, colour), (1.5, (20, 20, 20)), (3.2, (230, 230, 230)))
            ).read_bytes()
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, ad_copy, video_id)"
                " values (%s, %s, %s, %s, 'video', %s, %s)",
                (
                    ad_id,
                    brand,
                    org,
                    f"Daybreak video {i}",
                    f"Still tired at noon? Daybreak #{i}.",
                    f"vid{ad_id}",
                ),
            )
            await conn.execute(
                "insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path,"
                " content_type, bytes, sha256) values (%s, %s, %s, 'video', %s, %s, %s, 'video/mp4', %s, %s)",
                (ad_id, brand, org, f"video:vid{ad_id}", f"https://video.example/{ad_id}.mp4", path, len(data),
                 hashlib.sha256(data).hexdigest()),
            )  # fmt: skip
    return brand


async def measure(db: Database, settings: Settings, brand: UUID, concurrency: int) -> tuple[float, int, int]:
    """(wall seconds, ads classified new, errors) for one classification run at `concurrency` calls."""
    classify_batch.MODEL_CONCURRENCY = concurrency
    started = time.perf_counter()
    async with asyncio.timeout(RUN_SECONDS):
        result = await brand_classification.classify_brand_ads(db, brand_id=brand, settings=settings)
    return time.perf_counter() - started, result.new, result.errors


async def run(url: str, home: Path, *, ads: int, latency: float, concurrency: int) -> bool:
    with models.override_allow_model_requests(True), FakeGemini(responder=_answer, latency=latency) as fake:
        settings = Settings(
            _env_file=None, VIRALTRACKER_HOME=home, DATABASE_URL=url, VIRALTRACKER_MODEL="google:gemini-2.5-flash",
            GEMINI_API_KEY=gemini_api.API_KEY, GEMINI_BASE_URL=fake.url, VIRALTRACKER_VIDEO_MINUTES_PER_MONTH=10_000,
        )  # fmt: skip
        async with Database(url, max_size=8) as db:
            print(f"Storing {ads} synced video ads and their videos…", flush=True)
            many = await add_brand(db, home, name="Video Brand", ads=ads)
            few = await add_brand(db, home, name="Video Brand sequential", ads=SAMPLE)
            warm = await add_brand(db, home, name="Video Brand warm-up", ads=1)
            await measure(db, settings, warm, 1)  # loads the model stack: no timed run pays for it
            print(f"Sequential: {SAMPLE} ads one call at a time…", flush=True)
            one_wall, one_new, one_errors = await measure(db, settings, few, 1)
            fake.reset_counts()
            print(f"Classifying {ads} ads from their videos, {concurrency} calls at a time…", flush=True)
            wall, new, errors = await measure(db, settings, many, concurrency)
            calls, most = len(fake.requests), fake.max_in_flight
            async with db.as_owner() as conn:
                cur = await conn.execute(
                    "select count(*) filter (where media_analysis = 'video') as watched from ad_creative_classifications"
                    " where brand_id = %s", (many,),
                )  # fmt: skip
                watched = (await cur.fetchone() or {}).get("watched", 0)
    sequential = one_wall / SAMPLE * ads
    floor = ads * latency / concurrency
    print()
    print(f"{ads} video ads, {latency:g} s of fake Gemini latency per call, {concurrency} calls at a time:")
    print(
        f"  wall time {wall:.1f} s ({ads / wall:.2f} ads/s); floor {floor:.1f} s (latency × ads / concurrency)"
    )
    print(
        f"  sequential ({SAMPLE} ads one at a time, scaled): {sequential:.1f} s ({one_wall / SAMPLE:.2f} s per ad)"
    )
    print(f"  ratio to sequential: {sequential / wall:.2f}× faster")
    checks = [
        (
            "every ad classified from its video",
            f"{watched} of {ads}",
            watched == ads and new == ads and not errors,
        ),
        ("one call per ad", f"{calls} calls", calls == ads),
        ("at most the concurrency at once", f"{most} at most", most <= concurrency),
        ("the sequential sample classified", f"{one_new} of {SAMPLE}", one_new == SAMPLE and not one_errors),
    ]
    print("Checks:")
    for name, value, met in checks:
        print(f"  {'ok    ' if met else 'FAILED'} {name}: {value}")
    return all(met for _, _, met in checks)


def main(argv: list[str] | None = None) -> None:
    from bench.chat_load import app_env, run_cli, stop_embedded_postgres
    from db.embedded import start_embedded

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ads", type=int, default=100, help="video ads (default 100)")
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per Gemini call (default 2)")
    parser.add_argument(
        "--concurrency", type=int, default=classify_batch.MODEL_CONCURRENCY,
        help=f"model calls at a time (default the app's, {classify_batch.MODEL_CONCURRENCY})",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not 1 <= args.ads <= MAX_ADS or not 0 <= args.latency <= 30 or not 1 <= args.concurrency <= 64:
        parser.error(f"--ads 1-{MAX_ADS}, --latency 0-30, --concurrency 1-64")
    home = Path(tempfile.mkdtemp(prefix="vt-video-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)  # always a throwaway embedded server
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"video bench: home {home}; {os.cpu_count()} CPUs, load average {load}", flush=True)
    ok = False
    try:
        run_cli(["db", "up"], env, home / "video-bench.log")
        url = start_embedded(home / "pgdata")
        ok = asyncio.run(run(url, home, ads=args.ads, latency=args.latency, concurrency=args.concurrency))
    finally:
        stop_embedded_postgres(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
