"""Evidence texts as vectors (embedded once, cached by content hash) and the clustering that finds
themes among them: average-linkage agglomerative on cosine distance, k-means micro-clusters first
over EXACT_TEXTS distinct texts (bench/patterns.py: 20,000 rows)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from uuid import UUID

import numpy as np

from core.errors import NeedsExtension
from db.pool import Conn
from services.llm import embeddings

Embedder = Callable[[list[str]], np.ndarray] | embeddings.TextEmbedder
MODEL = embeddings.MODEL_NAME
DISTANCE_THRESHOLD = 0.6  # MiniLM's cosine distance (average linkage) under which two groups are one theme
EXACT_TEXTS = 3000  # up to here one agglomerative pass over the texts (pairwise distances are n²)
MICRO_PER_ROOT = 10  # above it: 10·√n spherical k-means micro-clusters first (at most EXACT_TEXTS)
KMEANS_ROUNDS = 8
SEED = 0  # the micro-clusters' starting rows: the same evidence always gives the same patterns
EMBED_BATCH = 512  # texts embedded and stored per step (a stopped run keeps what it embedded)


def text_embedder(embedder: Embedder) -> embeddings.TextEmbedder:
    """An embedding model as given, or a plain function standing in for the local MiniLM."""
    if isinstance(embedder, embeddings.TextEmbedder):
        return embedder
    return embeddings.LocalEmbedder(fn=embedder)


def content_hash(text: str, model: str = MODEL) -> str:
    return hashlib.sha256(f"{model}\n{text}".encode()).hexdigest()


def vector_literal(row: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.7g}" for x in row.tolist()) + "]"


async def require_pgvector(conn: Conn, *, feature: str) -> None:
    """`NeedsExtension` naming `feature` unless the database has pgvector and its vector columns (the
    migrations leave them out on a Postgres without it: db/vector.sql adds them once it is installed)."""
    cur = await conn.execute(
        "select current_setting('server_version_num')::int / 10000 as major, exists (select 1 from pg_attribute"
        " where attrelid = 'public.evidence_embeddings'::regclass and attname = 'embedding'"
        " and not attisdropped) as ready"
    )
    row = await cur.fetchone()
    assert row is not None
    if not row["ready"]:
        raise NeedsExtension(
            f"{feature} needs the pgvector extension, which this database doesn't have. Install it on the"
            f" database server (on Debian: apt install postgresql-{row['major']}-pgvector; Supabase has it),"
            " then run `viraltracker db up`. Everything else works without it."
        )


async def embed_cached(
    conn: Conn, *, organization_id: UUID, texts: list[str], embedder: Embedder
) -> tuple[np.ndarray, int]:
    """Unit vectors for `texts` (in order) and how many were embedded now (the rest came from the cache)."""
    model = text_embedder(embedder)
    hashes = [content_hash(t, model.model) for t in texts]
    cur = await conn.execute(
        "select content_hash, embedding::real[] as v from evidence_embeddings"
        " where organization_id = %s and content_hash = any(%s)",
        (organization_id, list(set(hashes))),
    )
    known = {row["content_hash"]: np.asarray(row["v"], dtype=np.float32) for row in await cur.fetchall()}
    missing = list(dict.fromkeys(h for h in hashes if h not in known))
    text_of = dict(zip(hashes, texts, strict=True))
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start : start + EMBED_BATCH]
        vectors = await model.embed_texts([text_of[h] for h in batch])
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "insert into evidence_embeddings (organization_id, content_hash, model, embedding)"
                " values (%s, %s, %s, %s::vector) on conflict do nothing",
                [
                    (organization_id, h, model.model, vector_literal(v))
                    for h, v in zip(batch, vectors, strict=True)
                ],
            )
        known.update(zip(batch, np.asarray(vectors, dtype=np.float32), strict=True))
    matrix = np.stack([known[h] for h in hashes]) if hashes else np.zeros((0, 1), np.float32)
    return matrix, len(missing)


def cluster(vectors: np.ndarray, threshold: float = DISTANCE_THRESHOLD) -> list[int]:
    """A cluster label per row (deterministic: agglomerative, average linkage, cosine distance).

    Over EXACT_TEXTS rows, two stages: spherical k-means into micro-clusters, then the same
    agglomerative step over them, with the distance between two micro-clusters the mean cosine
    distance between their rows (1 − the dot product of their unnormalised mean vectors: what
    average linkage would compute from the rows themselves). Each row takes its micro-cluster's
    label, except a row whose mean cosine distance to the other rows of its micro-cluster is over
    DISTANCE_THRESHOLD (k-means puts every row somewhere: an unrelated one would otherwise join a
    theme): that row stays on its own."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    if len(vectors) > EXACT_TEXTS:
        micro, centroids = micro_clusters(
            vectors, min(EXACT_TEXTS, int(MICRO_PER_ROOT * np.sqrt(len(vectors))))
        )
        sums = np.zeros((len(centroids), vectors.shape[1]), dtype=np.float64)
        np.add.at(sums, micro, vectors)
        sizes = np.bincount(micro, minlength=len(centroids))[micro]
        mean_similarity = (np.einsum("ij,ij->i", vectors, sums[micro]) - 1) / np.maximum(sizes - 1, 1)
        near = (sizes == 1) | (mean_similarity > 1 - threshold)
        used, inner = np.unique(micro[near], return_inverse=True)
        means = np.zeros((len(used), vectors.shape[1]), dtype=np.float64)
        np.add.at(means, inner, vectors[near])
        means /= np.bincount(inner, minlength=len(used))[:, None]
        merged = _agglomerate(np.clip(1 - means @ means.T, 0, 2), metric="precomputed", threshold=threshold)
        labels = np.arange(len(vectors)) + max(merged, default=0) + 1  # outliers: a label each
        labels[near] = np.asarray(merged, dtype=np.int64)[inner]
        return [int(x) for x in labels]
    return _agglomerate(vectors, metric="cosine", threshold=threshold)


def _agglomerate(x: np.ndarray, *, metric: str, threshold: float = DISTANCE_THRESHOLD) -> list[int]:
    if len(x) < 2:
        return [0] * len(x)
    from sklearn.cluster import AgglomerativeClustering  # scipy and sklearn load in ~1 s: only when used

    if metric == "precomputed":
        np.fill_diagonal(x, 0)
    model = AgglomerativeClustering(
        n_clusters=None, metric=metric, linkage="average", distance_threshold=threshold
    )
    return [int(v) for v in model.fit_predict(x)]


def micro_clusters(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (unit rows, cosine): a micro-cluster per row and the k' ≤ k unit centroids
    that kept members. Seeded rows, a fixed number of rounds, scored in blocks of rows (bounded memory).
    numpy rather than sklearn's MiniBatchKMeans: that took over a minute for 1,000 clusters of 20,000
    rows on this machine, this takes a few seconds."""
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(SEED)
    centroids = x[np.sort(rng.choice(len(x), size=min(k, len(x)), replace=False))].copy()
    labels = np.zeros(len(x), dtype=np.int64)
    for _ in range(KMEANS_ROUNDS):
        for start in range(0, len(x), 4096):
            labels[start : start + 4096] = np.argmax(x[start : start + 4096] @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, labels, x)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        kept = norms[:, 0] > 1e-9  # a centroid that lost its rows keeps its place for the next round
        centroids[kept] = sums[kept] / norms[kept]
    used, micro = np.unique(labels, return_inverse=True)
    return micro, centroids[used]
