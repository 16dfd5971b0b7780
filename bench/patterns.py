"""Pattern discovery over 20,000 evidence rows of one brand, against floors measured in the same run.

1. a temporary VIRALTRACKER_HOME with its own embedded Postgres (`viraltracker db up`);
2. organization "Bench Co", one member, brand "Bench Brand"; 20,000 evidence rows written directly
   as the service role into the tables services/research/evidence.py reads: ad copy analyses (pain points),
   Amazon review analyses (desires) and landing pages (benefits), one text per row. 36 planted themes,
   each said in 6 phrasings × 10 framings ("honestly, ...", "... for my dog") across the three kinds
   of source, plus 10% noise (shipping, price, packaging remarks built from word lists); a fixed seed;
3. the floors: reading the evidence alone (`services.research.evidence.gather`, as the member under RLS) and
   `embeddings.embed()` alone on a 1,000-text sample of the same texts (rows/s);
4. the first run (`discover_patterns`, as the member): everything embedded, embedding time reported
   apart, embedding rows/s printed;
5. a run with every embedding cached (the last run's evidence hash removed, so it clusters again);
6. a re-run with nothing changed: the stored patterns, no clustering.

Each figure is printed with its ratio to the floor, then purity of the planted themes. Targets: the
cached run ≤ 60 s, the unchanged re-run ≤ 5 s, every planted theme's main pattern purity ≥ 0.8.
Exit 0 when every target is met, else 1.

    .venv/bin/python -m bench.patterns [--rows 20000] [--keep-home]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import numpy as np

from bench.chat_load import app_env, run_cli, stop_embedded_postgres
from db.embedded import start_embedded
from db.jsonb import jsonb
from db.pool import Caller, Database
from services.llm import embeddings
from services.platform.accounts import add_user, create_organization
from services.research.clustering import _agglomerate, cluster, embed_cached
from services.research.evidence import gather
from services.research.patterns import ALL_SOURCES, PatternReport, discover_patterns
from settings import Settings

ORG = "Bench Co"
BRAND = "Bench Brand"
SEED = 8
TARGET_CACHED_S = 60.0
TARGET_RERUN_S = 5.0
TARGET_PURITY = 0.8
FLOOR_SAMPLE = 1000

# 36 themes: (what the customer says, six ways).
THEMES: dict[str, list[str]] = {
    "joints": ["joint pain in senior dogs", "stiff joints in my old dog", "arthritis relief for aging dogs",
               "sore hips and joints", "helps older dogs with joint stiffness", "mobility support for senior joints"],
    "picky": ["picky eaters finally eat", "even fussy eaters love the taste", "my picky dog gobbles it up",
              "tastes great to picky eaters", "our fussy eater cleans the bowl", "finally something my picky pup eats"],
    "vet": ["vet recommended", "recommended by veterinarians", "our vet suggested it", "trusted by vets",
            "veterinarian approved formula", "the vet told us to try it"],
    "shedding": ["reduces shedding", "less dog hair on the couch", "cuts down on shedding fur",
                 "far less fur around the house", "shedding is way down", "no more hair all over the floor"],
    "coat": ["shiny soft coat", "his coat looks glossy now", "softer fur in weeks", "healthy shiny coat",
             "her coat has never looked better", "fur is silky and soft"],
    "digestion": ["settles upset stomachs", "no more diarrhea", "gentle on sensitive stomachs",
                  "firmer stools", "digestion improved a lot", "stopped the tummy troubles"],
    "energy": ["more energy on walks", "acts like a puppy again", "playful and energetic again",
               "has her pep back", "bouncing around with energy", "livelier on our hikes"],
    "anxiety": ["calms anxiety during storms", "less stressed when we leave", "helps with separation anxiety",
                "relaxed during fireworks", "calmer at the vet", "soothes a nervous dog"],
    "breath": ["fresher breath", "no more stinky dog breath", "breath smells so much better",
               "kisses without the bad breath", "cleans teeth and freshens breath", "fights doggy breath"],
    "allergies": ["less itching and scratching", "helps with skin allergies", "stopped the constant licking",
                  "soothes itchy skin", "fewer hot spots", "allergy relief for dogs"],
    "natural": ["all natural ingredients", "no artificial additives", "made with real whole foods",
                "clean ingredient list", "nothing artificial in it", "simple natural recipe"],
    "weight": ["helps with weight loss", "lost a few pounds", "keeps him at a healthy weight",
               "slimmer and fitter", "great for overweight dogs", "weight management support"],
    "teeth": ["cleaner teeth", "less plaque buildup", "reduces tartar", "healthier gums",
              "dental health support", "whiter teeth over time"],
    "immune": ["boosts the immune system", "sick less often", "supports immunity",
               "stronger defenses against illness", "fewer infections this year", "immune support for dogs"],
    "puppy": ["great for growing puppies", "supports puppy development", "our puppy thrives on it",
              "helps puppies grow strong", "ideal for young dogs", "puppy growth formula"],
    "senior": ["keeps senior dogs healthy", "made for older dogs", "my 14 year old loves it",
               "gentle for aging pets", "helps elderly dogs thrive", "senior dog wellness"],
    "chew": ["easy to chew soft treats", "soft chews for dogs without teeth", "gentle on old teeth",
             "chewy and easy to eat", "soft enough for small mouths", "easy chew texture"],
    "smell": ["smells good not fishy", "no weird smell", "pleasant scent", "doesn't stink up the kitchen",
              "odor free", "the smell is mild"],
    "value": ["great value for the price", "worth every penny", "affordable compared to others",
              "lasts a long time per bag", "cheaper than the vet brand", "good bang for the buck"],
    "pill": ["no more fighting to give pills", "easier than pills", "hides medicine easily",
             "pill time is no longer a battle", "replaces the pills he spat out", "no more pill pockets"],
    "hydration": ["helps him drink more water", "keeps her hydrated", "supports kidney health",
                  "more water intake", "hydration boost", "good for dogs that don't drink"],
    "sleep": ["sleeps through the night", "more restful sleep", "no more pacing at night",
              "settles down at bedtime", "sleeps soundly now", "better sleep for my dog"],
    "training": ["perfect training treat", "motivates him during training", "great reward for good behavior",
                 "small treats for training sessions", "high value training reward", "helps with obedience training"],
    "mobility": ["jumps on the couch again", "climbs stairs without trouble", "gets up easier in the morning",
                 "walks longer distances", "no more limping", "moves more freely"],
    "eyes": ["less tear staining", "brighter eyes", "clears up eye goop", "supports eye health",
             "reduced tear stains on white fur", "eye health for dogs"],
    "ears": ["fewer ear infections", "cleaner ears", "no more head shaking from itchy ears",
             "ear health support", "stopped scratching his ears", "less ear gunk"],
    "bladder": ["fewer accidents in the house", "bladder control support", "helps with incontinence",
                "no more leaking at night", "urinary tract health", "better bladder control"],
    "muscle": ["builds lean muscle", "stronger muscles", "supports active working dogs",
               "muscle recovery after exercise", "more muscle tone", "keeps muscles strong with age"],
    "brain": ["sharper mind in old age", "less confusion at night", "supports cognitive health",
              "more alert and engaged", "helps with doggy dementia", "brain health for seniors"],
    "gut": ["probiotics for gut health", "healthy gut flora", "prebiotic fiber for digestion",
            "balances the microbiome", "good bacteria for dogs", "gut support supplement"],
    "heart": ["supports heart health", "healthy heart formula", "cardio support for dogs",
              "good for the heart", "taurine for heart health", "heart health in large breeds"],
    "liver": ["supports liver function", "liver detox support", "healthy liver values at the vet",
              "improved liver enzymes", "liver health formula", "milk thistle for the liver"],
    "subscription": ["convenient auto delivery", "never run out with the subscription", "ships every month",
                     "easy to pause the subscription", "arrives right on time each month", "subscribe and forget"],
    "made_usa": ["made in the USA", "produced in American facilities", "sourced and made in the US",
                 "American made quality", "manufactured in the United States", "USA made ingredients"],
    "guarantee": ["money back guarantee", "risk free trial", "refund if your dog doesn't like it",
                  "satisfaction guaranteed", "full refund no questions asked", "try it risk free"],
    "travel": ["great for road trips", "calms car sickness", "easy to pack for travel",
               "no more carsick dog", "helps on long drives", "travel friendly packs"],
}  # fmt: skip
FRAMINGS = ["{}", "honestly, {}", "{} for my dog", "I love that it {}", "{}!", "we noticed {}",
            "{} within two weeks", "{}, highly recommend", "really {}", "{} and he loves it"]  # fmt: skip
NOISE_WORDS = [
    "box",
    "arrived",
    "late",
    "package",
    "dented",
    "label",
    "lid",
    "bag",
    "size",
    "color",
    "shipping",
    "order",
    "seller",
    "price",
    "coupon",
    "website",
    "checkout",
    "email",
    "tracking",
    "scoop",
    "measuring",
    "zipper",
    "resealable",
    "carton",
    "invoice",
    "sticker",
]


def corpus(rows: int) -> list[tuple[str, str, str]]:
    """(kind, text, theme) per evidence row: 90% planted themes spread over kinds, 10% noise."""
    rng = random.Random(SEED)
    theme_texts = [(t, f.format(p)) for t, phrases in THEMES.items() for p in phrases for f in FRAMINGS]
    out = []
    for _ in range(rows):
        kind = rng.choices(["ads", "reviews", "lp"], weights=[4, 4, 2])[0]
        if rng.random() < 0.1:
            words = rng.sample(NOISE_WORDS, 4)
            out.append((kind, f"the {words[0]} {words[1]} was {words[2]} but {words[3]} was fine", "noise"))
        else:
            theme, text = rng.choice(theme_texts)
            out.append((kind, text, theme))
    return out


async def seed(db: Database, rows: list[tuple[str, str, str]]) -> Caller:
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=ORG)
        email = "bench-patterns@bench.example"
        user = await add_user(conn, email=email, organization_id=org)
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org, BRAND)
        )
        brand = (await cur.fetchone() or {})["id"]
        by_kind: dict[str, list[tuple[Any, ...]]] = {"ads": [], "reviews": [], "lp": []}
        for n, (kind, text, _) in enumerate(rows):
            if kind == "ads":
                by_kind[kind].append((brand, org, jsonb({"pain_points": [text]})))
            elif kind == "reviews":
                by_kind[kind].append((brand, org, jsonb({"desires": [text]})))
            else:
                by_kind[kind].append((brand, org, f"https://bench.example/p{n}", jsonb([text])))
        async with conn.cursor() as c:
            await c.executemany(
                "insert into brand_ad_analysis (brand_id, organization_id, data_source, analysis)"
                " values (%s, %s, 'meta_api', %s)",
                by_kind["ads"],
            )
            await c.executemany(
                "insert into amazon_review_analysis (brand_id, organization_id, analysis) values (%s, %s, %s)",
                by_kind["reviews"],
            )
            await c.executemany(
                "insert into brand_landing_pages (brand_id, organization_id, url, benefits)"
                " values (%s, %s, %s, %s)",
                by_kind["lp"],
            )
    return Caller(user_id=user, email=email)


class TimedEmbedder:
    def __init__(self) -> None:
        self.seconds = 0.0
        self.texts = 0

    def __call__(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        out = embeddings.embed(texts)
        self.seconds += time.perf_counter() - started
        self.texts += len(texts)
        return out


def purity(report: PatternReport, theme_of: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Per planted theme: (purity, recall) of the pattern holding most of its rows."""
    totals = Counter(theme_of[m.text] for p in report.patterns for m in p.members)
    everywhere = Counter(theme_of.values())
    out = {}
    for theme in THEMES:
        best = max(report.patterns, key=lambda p: sum(theme_of[m.text] == theme for m in p.members))
        hits = sum(theme_of[m.text] == theme for m in best.members)
        out[theme] = (hits / max(1, len(best.members)), hits / max(1, totals[theme] or everywhere[theme]))
    return out


def text_purity(texts: list[str], labels: list[int], theme_of: dict[str, str]) -> float:
    """Mean over planted themes of the purity of the cluster holding most of the theme's texts."""
    sizes = Counter(labels)
    out = []
    for theme in THEMES:
        mine = Counter(label for text, label in zip(texts, labels, strict=True) if theme_of[text] == theme)
        label, hits = mine.most_common(1)[0]
        out.append(hits / sizes[label])
    return sum(out) / len(out)


async def _org(conn: Any) -> UUID:
    cur = await conn.execute("select organization_id from brands where name = %s", (BRAND,))
    return UUID(str((await cur.fetchone() or {})["organization_id"]))


async def measure(home: Path, rows: int) -> bool:
    url = start_embedded(home / "pgdata")
    settings = Settings(VIRALTRACKER_HOME=home, DATABASE_URL=url, VIRALTRACKER_MODEL="offline")  # type: ignore[call-arg]
    data = corpus(rows)
    distinct = sorted({text for _, text, _ in data})
    theme_of = {text: theme for _, text, theme in data}
    print(
        f"  {rows:,} evidence rows, {len(distinct):,} distinct texts, {len(THEMES)} planted themes",
        flush=True,
    )
    async with Database(url, max_size=4) as db:
        started = time.perf_counter()
        caller = await seed(db, data)
        print(f"  seeded in {time.perf_counter() - started:.1f} s", flush=True)
        async with db.as_user(caller) as conn:
            cur = await conn.execute("select id from brands where name = %s", (BRAND,))
            brand_id = UUID(str((await cur.fetchone() or {})["id"]))

        # Floors.
        started = time.perf_counter()
        async with db.as_user(caller) as conn:
            items = await gather(conn, brand_id=brand_id, product_id=None, sources=ALL_SOURCES)
        read_floor = time.perf_counter() - started
        sample = random.Random(SEED).sample(distinct, min(FLOOR_SAMPLE, len(distinct)))
        embeddings.embed(sample[:8])  # weights loaded outside the timing
        started = time.perf_counter()
        embeddings.embed(sample)
        embed_floor = len(sample) / (time.perf_counter() - started)
        print(f"  floor: reading the evidence ({len(items):,} items) {read_floor:.2f} s", flush=True)
        print(f"  floor: embed() alone on {len(sample):,} of the texts {embed_floor:.0f} texts/s", flush=True)

        async def run(embedder: TimedEmbedder) -> tuple[PatternReport, float]:
            started = time.perf_counter()
            async with db.as_user(caller) as conn:
                report = await discover_patterns(conn, brand=BRAND, settings=settings, embedder=embedder)
            return report, time.perf_counter() - started

        first_embedder = TimedEmbedder()
        first, first_s = await run(first_embedder)
        rate = first_embedder.texts / max(first_embedder.seconds, 1e-9)
        print(
            f"  first run: {first_s:.1f} s ({first_s / read_floor:.0f}× the read floor), of which embedding"
            f" {first_embedder.texts:,} texts {first_embedder.seconds:.1f} s = {rate:.0f} texts/s"
            f" ({rate / embed_floor:.2f}× the embed floor); the rest {first_s - first_embedder.seconds:.1f} s;"
            f" {len(first.patterns)} patterns, {first.unclustered:,} items in none",
            flush=True,
        )
        async with db.as_service() as conn:
            await conn.execute("delete from pattern_runs where brand_id = %s", (brand_id,))
        cached_embedder = TimedEmbedder()
        cached, cached_s = await run(cached_embedder)
        print(
            f"  cached run (clustered again, {cached_embedder.texts} texts embedded): {cached_s:.1f} s"
            f" ({cached_s / read_floor:.1f}× the read floor), target ≤ {TARGET_CACHED_S:.0f} s",
            flush=True,
        )
        rerun, rerun_s = await run(TimedEmbedder())
        print(
            f"  unchanged re-run (stored patterns: {rerun.reused}): {rerun_s:.2f} s"
            f" ({rerun_s / read_floor:.1f}× the read floor), target ≤ {TARGET_RERUN_S:.0f} s",
            flush=True,
        )
        # The same texts through one exact agglomerative pass (n² distances), for reference.
        async with db.as_user(caller) as conn:
            org = await _org(conn)
            vectors, _ = await embed_cached(
                conn, organization_id=org, texts=distinct, embedder=TimedEmbedder()
            )
    started = time.perf_counter()
    two_stage = cluster(vectors)
    two_stage_s = time.perf_counter() - started
    started = time.perf_counter()
    exact = _agglomerate(vectors, metric="cosine")
    exact_s = time.perf_counter() - started
    from sklearn.metrics import adjusted_rand_score

    print(
        f"  clustering {len(distinct):,} texts: two-stage {two_stage_s:.2f} s, {len(set(two_stage))} clusters;"
        f" one exact pass {exact_s:.2f} s, {len(set(exact))} clusters; agreement (adjusted Rand)"
        f" {adjusted_rand_score(exact, two_stage):.2f}",
        flush=True,
    )
    scores = purity(cached, theme_of)
    mean_purity = sum(s[0] for s in scores.values()) / len(scores)
    exact_purity = text_purity(distinct, exact, theme_of)
    worst = sorted(scores.items(), key=lambda kv: kv[1][0])[:3]
    print(
        f"  planted themes: mean purity {mean_purity:.2f} (the exact pass on the same texts: {exact_purity:.2f});"
        f" lowest: {', '.join(f'{t} {p:.2f}' for t, (p, _) in worst)} (themes that overlap in meaning,"
        " e.g. joints / senior / mobility, merge in both)",
        flush=True,
    )
    checks = {
        f"cached run ≤ {TARGET_CACHED_S:.0f} s": cached_s <= TARGET_CACHED_S,
        f"unchanged re-run ≤ {TARGET_RERUN_S:.0f} s": rerun_s <= TARGET_RERUN_S,
        "unchanged re-run reused the stored patterns": rerun.reused and not cached.reused,
        "cached run embedded nothing": cached_embedder.texts == 0,
        f"planted themes' mean purity ≥ {TARGET_PURITY}": mean_purity >= TARGET_PURITY,
        "same patterns on the unchanged re-run": [p.name for p in rerun.patterns]
        == [p.name for p in cached.patterns],
    }
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    return all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000, help="evidence rows (default 20000)")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary VIRALTRACKER_HOME")
    args = parser.parse_args()
    if not 100 <= args.rows <= 200_000:
        parser.error("--rows must be 100-200000")
    home = Path(tempfile.mkdtemp(prefix="vt-patterns-"))
    env = app_env(home)
    env.pop("DATABASE_URL", None)  # always a throwaway embedded server
    print(f"patterns bench: home {home}, embedded database; {os.cpu_count()} CPUs", flush=True)
    ok = False
    try:
        run_cli(["db", "up"], env, home / "patterns-bench.log")
        ok = asyncio.run(measure(home, args.rows))
    finally:
        stop_embedded_postgres(home / "pgdata")
        if args.keep_home:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
