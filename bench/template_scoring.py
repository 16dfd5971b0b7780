"""Template AI match benchmark: 100 templates scored against the fake Anthropic API at 1 s per call.

Measures `score_templates` end to end (the real `anthropic` client through Pydantic-AI, SSE/JSON
parsing, the cache writes) in a fresh embedded database:

1. concurrency 1 on the first `--floor-templates` templates (default 20): the per-call floor, and the
   sequential wall time for 100 estimated as that floor × 100 (so the bench takes ~25 s, not ~100 s);
2. concurrency 8 on all 100 templates (a fresh product: nothing cached).

Prints both wall times and the ratio; checks every template was scored, the fake never saw more
than 8 calls at once, and the target (≤ 15 s at concurrency 8). `make bench-templates`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from uuid import UUID

TARGET_SECONDS = 15.0


async def _setup(db: object, templates: int) -> tuple[list[UUID], list[UUID]]:
    from db.jsonb import jsonb
    from db.pool import Database
    from services.platform.accounts import create_organization

    assert isinstance(db, Database)
    async with db.as_owner() as conn:
        org = await create_organization(conn, name="Bench Org")
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name, brand_voice_tone) values (%s, 'Bench Pets', 'warm')"
            " returning id",
            (org,),
        )
        brand = await cur.fetchone()
        assert brand is not None
        products = []
        for name in ("Floor Product", "Parallel Product"):
            cur = await conn.execute(
                "insert into products (brand_id, organization_id, name, description)"
                " values (%s, %s, %s, 'Joint chews for senior dogs.') returning id",
                (brand["id"], org, name),
            )
            row = await cur.fetchone()
            assert row is not None
            products.append(row["id"])
        ids = []
        for i in range(templates):
            cur = await conn.execute(
                "insert into scraped_templates (status, name, category, format, tags, description)"
                " values ('approved', %s, 'testimonial', 'image', %s, 'A customer quote over a product shot.')"
                " returning id",
                (f"Bench Template {i:03d}", jsonb(["static"])),
            )
            row = await cur.fetchone()
            assert row is not None
            ids.append(row["id"])
    return products, ids


async def measure(args: argparse.Namespace, home: Path) -> bool:
    from db.embedded import start_embedded
    from db.migrate import migrate
    from db.pool import Database
    from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
    from services.llm.model_choice import analysis_model
    from services.templates.scoring import score_templates
    from settings import Settings

    def responder(request: FakeRequest) -> Reply:
        return Reply.tool({"score": 72, "reason": "A testimonial layout carries the senior-dog story."})

    url = start_embedded(home / "pgdata")
    ok = True
    async with Database(url, max_size=4) as db:
        await migrate(db)
        (floor_product, parallel_product), templates = await _setup(db, args.templates)
        with FakeAnthropic(responder, latency=args.latency) as fake:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                VIRALTRACKER_MODEL="anthropic:claude-sonnet-4-6",
                ANTHROPIC_API_KEY=API_KEY,
                ANTHROPIC_BASE_URL=fake.url,
                VIRALTRACKER_HOME=str(home),
            )
            analysis_model(settings)  # the provider's imports (seconds) are not a per-call cost
            started = time.monotonic()
            sequential = await score_templates(
                db, product_id=floor_product, template_ids=templates[: args.floor_templates],
                settings=settings, concurrency=1,
            )  # fmt: skip
            floor_wall = time.monotonic() - started
            per_call = floor_wall / args.floor_templates
            estimated = per_call * args.templates
            print(
                f"  concurrency 1: {args.floor_templates} templates in {floor_wall:.1f} s"
                f" ({per_call:.3f} s per call, max in flight {fake.max_in_flight});"
                f" {args.templates} templates ≈ {estimated:.1f} s (floor × {args.templates})",
                flush=True,
            )
            fake.reset_counts()
            started = time.monotonic()
            parallel = await score_templates(
                db, product_id=parallel_product, template_ids=templates, settings=settings, concurrency=8
            )
            wall = time.monotonic() - started
            print(
                f"  concurrency 8: {args.templates} templates in {wall:.1f} s (max in flight"
                f" {fake.max_in_flight}); speed-up {estimated / wall:.1f}x over sequential",
                flush=True,
            )
            for label, result, want in (
                ("concurrency 1", sequential, args.floor_templates),
                ("concurrency 8", parallel, args.templates),
            ):
                if result.scored != want or result.failed:
                    print(f"  FAIL {label}: {result.summary}")
                    ok = False
            if fake.max_in_flight > 8:
                print(f"  FAIL: {fake.max_in_flight} calls in flight at once (bound 8)")
                ok = False
            verdict = "meets" if wall <= TARGET_SECONDS else "MISSES"
            print(f"  {verdict} the target: ≤ {TARGET_SECONDS:.0f} s at concurrency 8 ({wall:.1f} s)")
            ok = ok and wall <= TARGET_SECONDS
    return ok


def main() -> None:
    from bench.chat_load import stop_embedded_postgres

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--templates", type=int, default=100, help="templates scored at concurrency 8")
    parser.add_argument("--floor-templates", type=int, default=20, help="templates scored at concurrency 1")
    parser.add_argument("--latency", type=float, default=1.0, help="seconds the fake takes per call")
    args = parser.parse_args()
    if not 1 <= args.floor_templates <= args.templates <= 1000 or not 0 <= args.latency <= 10:
        parser.error("1 <= --floor-templates <= --templates <= 1000; 0 <= --latency <= 10")
    home = Path(tempfile.mkdtemp(prefix=f"vt-templates-bench-{uuid.uuid4().hex[:6]}-"))
    print(
        f"template scoring bench: {args.templates} templates, {args.latency:g} s per call;"
        f" {os.cpu_count()} CPUs, load average {tuple(round(x, 2) for x in os.getloadavg())}",
        flush=True,
    )
    ok = False
    try:
        ok = asyncio.run(measure(args, home))
    finally:
        stop_embedded_postgres(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
