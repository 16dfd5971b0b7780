"""`discover_patterns`: themes that recur across a brand's research, with how sure and how new each is.

Every evidence item (services/research/evidence.py: ad copy analyses and ad classifications, Amazon reviews and
their analyses, landing pages, offer variants, Reddit threads, competitors' ads and landing pages) is embedded once (cached by content hash in
`evidence_embeddings`), the distinct texts are clustered (average-linkage agglomerative clustering on
cosine distance: deterministic, no seed, no cluster count to guess), and every cluster with at least
two evidence items is a pattern:

- name: written by the analysis model when a key is set (services/research/pattern_names.py), else its most
  central phrase (highest mean similarity to the other members);
- confidence = ½ · volume + ½ · agreement, where volume = min(1, n / 5), n = distinct source rows, each
  saying it in its own words (the same sentence pasted into 20 ads is one piece of evidence), and
  agreement = min(1, (kinds − 1) / 2) (distinct kinds of source: ads, reviews, landing pages, offer
  variants, Reddit, competitors). One kind of source alone therefore never passes 50 %; three kinds and five rows make 100 %;
- novelty = 1 − the highest cosine similarity of its centroid to the brand's existing angles (1 with none),
  counted from the embedding model's unrelated-text similarity (0 for MiniLM, 0.5 for Gemini).

Results replace the brand's previous 'new' patterns (promoted and dismissed ones stay), so a later run
can say which patterns it had not seen before. Over 3,000 distinct texts, k-means micro-clusters come first (see
`cluster`; bench/patterns.py: 20,000 rows). A run over the same evidence and angles as the last one
(`pattern_runs.evidence_hash`) returns the stored patterns without clustering. Embeddings are Gemini's
when a Gemini/Google key is set (services/llm/gemini_embeddings.py), else the local MiniLM (numpy, no torch);
vectors of different models are never compared.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from typing import Any, Literal
from uuid import UUID

import numpy as np
from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NoData, NotFound
from db.jsonb import jsonb
from db.pool import Conn
from services.brands import resolve_brand
from services.llm import embeddings
from services.llm.gemini_embeddings import embedder_for
from services.research import pattern_names
from services.research.clustering import (
    EXACT_TEXTS,
    MODEL,
    Embedder,
    cluster,
    embed_cached,
    require_pgvector,
    text_embedder,
    vector_literal,
)
from services.research.evidence import Evidence, Source, gather
from services.research.personas import resolve_scope
from settings import Settings

Kind = Literal["ads", "reviews", "landing_pages", "offer_variants", "reddit", "competitors"]

MAX_TEXTS = 50_000  # distinct texts clustered per run (the most repeated first)
ALGORITHM = "v3"  # part of the evidence hash: a new clustering re-clusters unchanged evidence
LOW_CONFIDENCE = 0.55  # below: say which kinds of source are missing
LOW_NOVELTY = 0.3  # below (similarity ≥ 0.7 to an angle): "similar to existing angle X"
STRONG_CONFIDENCE = 0.75
STRONG_NOVELTY = 0.5
SEEN_SIMILARITY = 0.9  # a pattern whose centroid is this close to an earlier run's is not new
KINDS: dict[Source, Kind] = {
    "ads": "ads", "ad_classifications": "ads", "reviews": "reviews",
    "landing_pages": "landing_pages", "offer_variants": "offer_variants", "reddit": "reddit",
    "competitor_ads": "competitors", "competitor_pages": "competitors",
}  # fmt: skip
KIND_LABELS: dict[Kind, str] = {
    "ads": "ads", "reviews": "Amazon reviews", "landing_pages": "landing pages", "offer_variants": "offer variants",
    "reddit": "Reddit discussions", "competitors": "competitors' ads and pages",
}  # fmt: skip
SKIPPED_CATEGORIES = {"site", "page", "awareness", "voice"}  # URLs, awareness levels and tone are not themes
ALL_SOURCES: tuple[Source, ...] = (
    "ads", "ad_classifications", "reviews", "landing_pages", "offer_variants", "reddit", "competitor_ads",
    "competitor_pages",
)  # fmt: skip


class Member(BaseModel):
    text: str
    source: Source
    table: str
    row_id: str


class Suggestion(BaseModel):
    kind: Literal["missing_source", "similar_angle", "promote"]
    text: str
    command: str | None = None


class Pattern(BaseModel):
    id: UUID | None = None
    name: str
    members: list[Member]
    rows: int
    confidence: float = Field(ge=0, le=1)
    novelty: float = Field(ge=0, le=1)
    source_breakdown: dict[str, int]
    similar_angle: str | None = None
    is_new: bool = True
    named_by: Literal["central_phrase", "model"] = "central_phrase"
    suggestions: list[Suggestion] = Field(default_factory=list)
    centroid: list[float] = Field(default_factory=list, exclude=True)


class PatternReport(BaseModel):
    brand: str
    brand_id: UUID
    product: str | None = None
    evidence_items: int
    embedded_new: int
    embedded_cached: int
    unclustered: int
    patterns: list[Pattern]
    reused: bool = False  # the evidence had not changed since the last run: its patterns, not re-clustered
    embedding_model: str = f"{MODEL} (local)"
    notes: list[str] = Field(default_factory=list)


class Promotion(BaseModel):
    angle_id: UUID
    angle: str
    pattern_id: UUID


def confidence(*, rows: int, kinds: int) -> float:
    """½ · min(1, rows / 5) + ½ · min(1, (kinds − 1) / 2): volume (source rows, each in its own words) and
    agreement across kinds of source."""
    return round(0.5 * min(1.0, rows / 5) + 0.5 * min(1.0, max(0, kinds - 1) / 2), 3)


def _next_step(kind: Kind, brand: str, theme: str = "") -> list[Suggestion]:
    """What would bring this kind of source to the pattern, each with the exact command that gets it."""
    quoted = f'"{brand}"' if " " in brand else brand
    query = " ".join(theme.replace('"', " ").split())[:80] or "<the theme>"
    steps: dict[Kind, list[tuple[str, str]]] = {
        "ads": [("Sync and classify the brand's Meta ads to see whether its ads already use this theme",
                 f"/sync_meta brand:{quoted}")],
        "reviews": [("Import more Amazon reviews (a CSV or JSON export) to hear whether customers say it too, "
                     "from a shell", f'viraltracker import reviews FILE --brand "{brand}"')],
        "landing_pages": [("Analyze the brand's landing page that should carry this theme",
                           f"/analyze_landing_page url:<page url> brand:{quoted}")],
        "offer_variants": [("Turn the brand's landing pages into offer variants",
                            f"/discover_variants brand:{quoted}")],
        "reddit": [("Read Reddit discussions on the theme, in people's own words",
                    f'/research_reddit brand:{quoted} query:"{query}"')],
        "competitors": [("Analyze a competitor's ads from Meta's Ad Library",
                         f"/competitor_ads brand:{quoted} page:<competitor's Facebook page id>"),
                        ("Analyze a competitor's landing page",
                         f'/analyze_landing_page url:<competitor page> brand:{quoted} competitor:"<name>"')],
    }  # fmt: skip
    return [
        Suggestion(kind="missing_source", text=f"Not in {KIND_LABELS[kind]} yet: {text}.", command=command)
        for text, command in steps[kind]
    ]


def _suggest(pattern: Pattern, brand: str) -> list[Suggestion]:
    out: list[Suggestion] = []
    if pattern.confidence < LOW_CONFIDENCE:
        missing = [k for k in KIND_LABELS if k not in pattern.source_breakdown]
        out += [s for k in missing for s in _next_step(k, brand, pattern.name)]
    if pattern.similar_angle and pattern.novelty < LOW_NOVELTY:
        out.append(
            Suggestion(kind="similar_angle", text=f"Similar to existing angle '{pattern.similar_angle}'.")
        )
    if pattern.confidence >= STRONG_CONFIDENCE and pattern.novelty >= STRONG_NOVELTY:
        out.append(Suggestion(kind="promote", text="Strong candidate for promotion to an angle."))
    return out


async def _angles(conn: Conn, *, brand_id: UUID) -> list[tuple[str, str]]:
    cur = await conn.execute(
        "select name, coalesce(description, '') as description from angles where brand_id = %s order by created_at, id",
        (brand_id,),
    )
    return [(r["name"], f"{r['name']}. {r['description']}".strip(" .")) for r in await cur.fetchall()]


async def _previous_centroids(conn: Conn, *, brand_id: UUID, model: str) -> np.ndarray:
    cur = await conn.execute(
        "select centroid::real[] as v from patterns where brand_id = %s and centroid is not null"
        " and embedding_model = %s",
        (brand_id, model),
    )
    rows = [np.asarray(r["v"], dtype=np.float32) for r in await cur.fetchall()]
    return np.stack(rows) if rows else np.zeros((0, 1), np.float32)


def _patterns(
    items: list[Evidence], texts: list[str], vectors: np.ndarray, labels: list[int]
) -> list[Pattern]:
    by_text: dict[str, list[Evidence]] = {}
    for item in items:
        by_text.setdefault(item.text, []).append(item)
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(label, []).append(i)
    out = []
    for label in sorted(groups):
        idx = groups[label]
        members = [m for i in idx for m in by_text[texts[i]]]
        if len(members) < 2:
            continue
        if len(idx) <= EXACT_TEXTS:
            mean_sims = embeddings.cosine(vectors[idx], vectors[idx]).mean(axis=1)
        else:  # the same means without the n² matrix
            mean_sims = vectors[idx] @ vectors[idx].sum(axis=0) / len(idx)
        central = max(range(len(idx)), key=lambda j: (mean_sims[j], -len(texts[idx[j]]), -j))
        centroid = vectors[idx].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        breakdown: dict[str, int] = {}
        for m in members:
            breakdown[KINDS[m.source]] = breakdown.get(KINDS[m.source], 0) + 1
        rows = len({(m.table, m.row_id) for m in members})
        voices = min(rows, len(idx))  # copies of one sentence (a templated FAQ, a reused claim) count once
        out.append(Pattern(
            name=texts[idx[central]], rows=rows, source_breakdown=breakdown, novelty=1.0,
            members=[Member(text=m.text, source=m.source, table=m.table, row_id=m.row_id) for m in members],
            confidence=confidence(rows=voices, kinds=len(breakdown)), centroid=centroid.tolist(),
        ))  # fmt: skip
    return out


async def discover_patterns(
    conn: Conn, *, brand: str, product: str | None = None, settings: Settings, embedder: Embedder | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> PatternReport:  # fmt: skip
    """The brand's (or product's) patterns, strongest first, saved as its new 'new' patterns."""
    brand_id, brand_name, org, product_ref = await resolve_scope(conn, brand=brand, product=product)
    await require_pgvector(conn, feature="Pattern discovery")
    product_id = product_ref.id if product_ref else None
    items = [
        e for e in await gather(conn, brand_id=brand_id, product_id=product_id, sources=ALL_SOURCES)
        if e.category not in SKIPPED_CATEGORIES
    ]  # fmt: skip
    if len(items) < 2:
        raise NoData(
            f"{brand_name} has {len(items)} piece(s) of research to find patterns in. Add some first: "
            f'/analyze_landing_page url:<page url> brand:"{brand_name}", or sync and classify its ads.'
        )
    counts: dict[str, int] = {}
    for e in items:
        counts[e.text] = counts.get(e.text, 0) + 1
    texts = sorted(counts, key=lambda t: (-counts[t], t))[:MAX_TEXTS]  # one order for the same evidence
    kept = set(texts)
    items = [e for e in items if e.text in kept]
    embed = text_embedder(embedder) if embedder is not None else embedder_for(settings)
    angles = await _angles(conn, brand_id=brand_id)
    digest = evidence_hash(items, [text for _, text in angles], model=embed.model)
    stored = await _unchanged(conn, brand_id=brand_id, product_id=product_id, digest=digest)
    if stored is not None:
        progress("Evidence unchanged since the last run: its patterns")
        angle_vectors, new_angles = await embed_cached(
            conn, organization_id=org, texts=[text for _, text in angles], embedder=embed
        )
        patterns, unclustered = stored
        for p in patterns:
            _score_novelty(p, angles, angle_vectors, floor=embed.unrelated_similarity)
            p.is_new = False  # the last run saved it
            p.suggestions = _suggest(p, brand_name)
        patterns.sort(key=lambda p: (-p.confidence, -p.novelty, p.name))
        return PatternReport(
            brand=brand_name, brand_id=brand_id, product=product_ref.name if product_ref else None,
            evidence_items=len(items), embedded_new=new_angles, embedded_cached=len(angles) - new_angles,
            unclustered=unclustered, patterns=patterns, reused=True, embedding_model=embed.label,
        )  # fmt: skip
    progress(f"Embedding {len(texts)} distinct texts from {len(items)} evidence items")
    vectors, new = await embed_cached(conn, organization_id=org, texts=texts, embedder=embed)
    progress("Clustering")
    labels = await asyncio.to_thread(cluster, vectors, embed.distance_threshold)
    patterns = _patterns(items, texts, vectors, labels)
    angle_vectors, new_angles = await embed_cached(
        conn, organization_id=org, texts=[text for _, text in angles], embedder=embed
    )
    previous = await _previous_centroids(conn, brand_id=brand_id, model=embed.model)
    for p in patterns:
        centroid = np.asarray(p.centroid, dtype=np.float32)[None, :]
        _score_novelty(p, angles, angle_vectors, floor=embed.unrelated_similarity)
        if len(previous):
            seen = rescaled(float(embeddings.cosine(centroid, previous).max()), embed.unrelated_similarity)
            p.is_new = seen < SEEN_SIMILARITY
    patterns.sort(key=lambda p: (-p.confidence, -p.novelty, p.name))
    if patterns:
        progress(f"Naming {min(len(patterns), pattern_names.MAX_NAMED)} patterns")
    naming = await pattern_names.name_patterns(patterns, labels=KIND_LABELS, settings=settings)
    for p in patterns:
        p.suggestions = _suggest(p, brand_name)
    await _save(conn, brand_id=brand_id, organization_id=org, product_id=product_id, patterns=patterns,
                model=embed.model)  # fmt: skip
    clustered = sum(len(p.members) for p in patterns)
    await conn.execute(
        "delete from pattern_runs where brand_id = %s and product_id is not distinct from %s",
        (brand_id, product_id),
    )
    await conn.execute(
        "insert into pattern_runs (brand_id, organization_id, product_id, evidence_hash, patterns, evidence_items,"
        " unclustered) values (%s, %s, %s, %s, %s, %s, %s)",
        (brand_id, org, product_id, digest, len(patterns), len(items), len(items) - clustered),
    )
    return PatternReport(
        brand=brand_name, brand_id=brand_id, product=product_ref.name if product_ref else None,
        evidence_items=len(items), embedded_new=new + new_angles, embedded_cached=len(texts) + len(angles) - new - new_angles,
        unclustered=len(items) - clustered, patterns=patterns, embedding_model=embed.label,
        notes=[naming] if naming else [],
    )  # fmt: skip


def evidence_hash(items: list[Evidence], angle_texts: list[str], *, model: str = MODEL) -> str:
    """What a run's patterns depend on: every evidence item (with its row), the angles, the model."""
    digest = hashlib.sha256(f"{model}\n{ALGORITHM}\n".encode())
    for line in sorted(f"{e.source}\t{e.table}\t{e.row_id}\t{e.category}\t{e.text}" for e in items):
        digest.update(line.encode() + b"\n")
    for text in angle_texts:
        digest.update(b"angle\t" + text.encode() + b"\n")
    return digest.hexdigest()


def rescaled(similarity: float, floor: float) -> float:
    """A cosine similarity on the model's own scale: its unrelated-text similarity (`floor`) is 0."""
    return (similarity - floor) / (1 - floor)


def _score_novelty(
    pattern: Pattern, angles: list[tuple[str, str]], angle_vectors: np.ndarray, *, floor: float
) -> None:
    if angles:
        centroid = np.asarray(pattern.centroid, dtype=np.float32)[None, :]
        sims = embeddings.cosine(centroid, angle_vectors)[0]
        best = int(np.argmax(sims))
        pattern.novelty = round(float(np.clip(1 - rescaled(float(sims[best]), floor), 0, 1)), 3)
        pattern.similar_angle = angles[best][0]


async def _unchanged(
    conn: Conn, *, brand_id: UUID, product_id: UUID | None, digest: str
) -> tuple[list[Pattern], int] | None:
    """The last run's patterns (and unclustered count) when it saw this exact evidence and its
    patterns are all still there (none promoted or dismissed since), else None."""
    cur = await conn.execute(
        "select patterns, unclustered from pattern_runs where brand_id = %s"
        " and product_id is not distinct from %s and evidence_hash = %s",
        (brand_id, product_id, digest),
    )
    run = await cur.fetchone()
    if run is None:
        return None
    cur = await conn.execute(
        "select id, name, members, confidence, novelty, source_breakdown, named_by, centroid::real[] as centroid"
        " from patterns where brand_id = %s and product_id is not distinct from %s and status = 'new'",
        (brand_id, product_id),
    )
    rows = await cur.fetchall()
    if len(rows) != run["patterns"]:
        return None
    out = []
    for r in rows:
        members = [Member(**m) for m in r["members"]]
        out.append(Pattern(
            id=r["id"], name=r["name"], members=members, rows=len({(m.table, m.row_id) for m in members}),
            confidence=round(float(r["confidence"]), 3), novelty=round(float(r["novelty"]), 3),
            source_breakdown=r["source_breakdown"], centroid=[float(x) for x in r["centroid"]],
            named_by=r["named_by"],
        ))  # fmt: skip
    return out, run["unclustered"]


async def _save(
    conn: Conn, *, brand_id: UUID, organization_id: UUID, product_id: UUID | None, patterns: list[Pattern],
    model: str,
) -> None:  # fmt: skip
    await conn.execute(
        "delete from patterns where brand_id = %s and product_id is not distinct from %s and status = 'new'",
        (brand_id, product_id),
    )
    for p in patterns:
        cur = await conn.execute(
            "insert into patterns (brand_id, organization_id, product_id, name, members, confidence, novelty,"
            " source_breakdown, centroid, embedding_model, named_by)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s::vector, %s, %s) returning id",
            (brand_id, organization_id, product_id, p.name, jsonb(p.members), p.confidence, p.novelty,
             jsonb(p.source_breakdown), vector_literal(np.asarray(p.centroid)), model, p.named_by),
        )  # fmt: skip
        row = await cur.fetchone()
        p.id = row["id"] if row else None


_ID_PREFIX = re.compile(r"[0-9a-f]{8}(?:-?[0-9a-f]*)*")


async def find_pattern(conn: Conn, *, brand: str, pattern_id: str, lock: bool = False) -> dict[str, Any]:
    """A saved pattern of the brand by its id or the id's first 8+ characters (as the table shows it)."""
    brand_ref = await resolve_brand(conn, name=brand)
    wanted = pattern_id.strip().casefold()
    if not _ID_PREFIX.fullmatch(wanted):
        raise InvalidArgument(f"'{pattern_id}' is not a pattern id: run /discover_patterns to list them.")
    cur = await conn.execute(
        "select id, brand_id, organization_id, product_id, name, members, source_breakdown, status"
        " from patterns where brand_id = %s and id::text like %s order by id limit 2"
        + (" for update" if lock else ""),
        (brand_ref.id, wanted.replace("-", "")[:8] + "%"),
    )
    rows = [r for r in await cur.fetchall() if str(r["id"]).startswith(wanted)]
    if not rows:
        raise NotFound(f"{brand_ref.name} has no pattern {pattern_id}: run /discover_patterns to list them.")
    if len(rows) > 1:
        raise InvalidArgument(f"More than one pattern starts with {pattern_id}: give more of its id.")
    return dict(rows[0])


async def promote_pattern(conn: Conn, *, brand: str, pattern_id: str) -> Promotion:
    """Write one angle from a saved pattern (its name, members as the description) and mark it promoted."""
    row = await find_pattern(conn, brand=brand, pattern_id=pattern_id, lock=True)
    if row["status"] == "promoted":
        raise InvalidArgument(f"Pattern '{row['name']}' is already an angle.")
    kinds = ", ".join(KIND_LABELS.get(k, k) for k in row["source_breakdown"])
    quotes = "; ".join(dict.fromkeys(m["text"] for m in row["members"]))
    description = f"From pattern discovery ({len(row['members'])} mentions in {kinds}): {quotes}"[:1000]
    cur = await conn.execute(
        "insert into angles (brand_id, organization_id, product_id, name, description, source_pattern_id)"
        " values (%s, %s, %s, %s, %s, %s) returning id",
        (row["brand_id"], row["organization_id"], row["product_id"], row["name"], description, row["id"]),
    )
    angle = await cur.fetchone()
    assert angle is not None
    await conn.execute("update patterns set status = 'promoted' where id = %s", (row["id"],))
    return Promotion(angle_id=angle["id"], angle=row["name"], pattern_id=row["id"])
