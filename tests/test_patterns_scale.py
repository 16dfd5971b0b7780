"""Pattern discovery at scale: a re-run over unchanged evidence returns the stored patterns without
clustering again; over EXACT_TEXTS texts the two-stage clustering still recovers planted themes."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import numpy as np
import pytest

from db.jsonb import jsonb
from db.pool import Database
from services.research import clustering, patterns
from services.research.clustering import cluster
from services.research.patterns import PatternReport, discover_patterns
from tests.research_helpers import insert, new_tenant
from tests.test_patterns import NOISE, OFFLINE, THEMES, CountingEmbedder


def _same(a: PatternReport, b: PatternReport) -> None:
    def key(r: PatternReport) -> list[Any]:
        return [
            (p.id, p.name, [m.model_dump() for m in p.members], p.confidence, p.novelty, p.source_breakdown,
             p.similar_angle, [s.model_dump() for s in p.suggestions])
            for p in r.patterns
        ]  # fmt: skip

    assert key(a) == key(b)
    assert (a.evidence_items, a.unclustered) == (b.evidence_items, b.unclustered)


async def test_unchanged_evidence_is_not_clustered_again(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, caller = await new_tenant(db, organization="Pawsome Co", person="pia")
    async with db.as_service() as conn:
        brand = await insert(conn, "insert into brands (organization_id, name) values (%s, 'Pawsome')", org)
        for kind, text in [row for rows in THEMES.values() for row in rows] + NOISE:
            table = {"ads": "brand_ad_analysis", "reviews": "amazon_review_analysis"}.get(kind)
            if table == "brand_ad_analysis":
                await insert(conn, "insert into brand_ad_analysis (brand_id, organization_id, data_source, analysis)"
                             " values (%s, %s, 'meta_api', %s)", brand, org, jsonb({"pain_points": [text]}))  # fmt: skip
            else:
                await insert(conn, "insert into amazon_review_analysis (brand_id, organization_id, analysis)"
                             " values (%s, %s, %s)", brand, org, jsonb({"desires": [text]}))  # fmt: skip
        await insert(conn, "insert into angles (brand_id, organization_id, name, description) values (%s, %s,"
                     " 'Vet recommended', 'Recommended by veterinarians')", brand, org)  # fmt: skip
    calls: list[int] = []
    real_cluster = patterns.cluster

    def counting_cluster(vectors: np.ndarray, *args: float) -> list[int]:
        calls.append(len(vectors))
        return real_cluster(vectors, *args)

    monkeypatch.setattr(patterns, "cluster", counting_cluster)

    async def run() -> PatternReport:
        async with db.as_user(caller) as conn:
            return await discover_patterns(
                conn, brand="Pawsome", settings=OFFLINE, embedder=CountingEmbedder()
            )

    first = await run()
    assert calls == [first.evidence_items] and not first.reused and first.patterns
    second = await run()
    assert calls == [first.evidence_items], "nothing changed: no clustering"
    assert second.reused and second.embedded_new == 0
    _same(first, second)
    assert not any(p.is_new for p in second.patterns)

    # One more piece of evidence: clustered again, and the new text is in a pattern.
    async with db.as_service() as conn:
        await insert(conn, "insert into amazon_review_analysis (brand_id, organization_id, analysis)"
                     " values (%s, %s, %s)", brand, org, jsonb({"desires": ["helps with my dog's shedding"]}))  # fmt: skip
    third = await run()
    assert len(calls) == 2 and not third.reused
    assert third.evidence_items == first.evidence_items + 1
    assert any(m.text == "helps with my dog's shedding" for p in third.patterns for m in p.members)

    # A new angle changes novelty: clustered again too.
    async with db.as_service() as conn:
        await insert(conn, "insert into angles (brand_id, organization_id, name) values (%s, %s, 'Less shedding')",
                     brand, org)  # fmt: skip
    fourth = await run()
    assert len(calls) == 3 and not fourth.reused
    assert any(p.similar_angle == "Less shedding" for p in fourth.patterns)


def test_two_stage_clustering_recovers_planted_themes() -> None:
    """4,600 unit vectors (30 planted themes of 150 + 100 unrelated): over EXACT_TEXTS, so k-means
    micro-clusters first; each theme comes out as one cluster (purity and recall ≥ 0.8)."""
    rng = np.random.default_rng(7)
    dims, themes, size = 384, 30, 150
    centers = rng.normal(size=(themes, dims))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    # Members at cosine ~0.8 to their center (~0.65 to each other: cosine distance ~0.35 < 0.6).
    rows = np.repeat(centers, size, axis=0) + rng.normal(
        scale=0.75 / np.sqrt(dims), size=(themes * size, dims)
    )
    noise = rng.normal(size=(100, dims))
    x = np.concatenate([rows, noise]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    truth = [i // size for i in range(themes * size)] + [-1 - i for i in range(100)]
    assert len(x) > clustering.EXACT_TEXTS
    started = time.monotonic()
    labels = cluster(x)
    assert time.monotonic() - started < 20
    assert labels == cluster(x), "deterministic"
    by_label = Counter(labels)
    for theme in range(themes):
        mine = [labels[i] for i, t in enumerate(truth) if t == theme]
        label, hits = Counter(mine).most_common(1)[0]
        assert hits / size >= 0.8, (theme, hits)  # recall
        assert hits / by_label[label] >= 0.8, (theme, hits, by_label[label])  # purity
    noise_labels = [labels[i] for i, t in enumerate(truth) if t < 0]
    assert all(by_label[label] < 5 for label in noise_labels), "unrelated vectors join no theme"
