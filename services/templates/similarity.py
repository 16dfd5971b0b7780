"""The offline stand-in for AI match: how close a template's words are to the product's.

Each template's text (name, category, format, tags, description) is embedded with the local
MiniLM model and compared with each facet of the product (its description, each offer variant,
each persona); the closest facet gives the score and is named in the reason. It reads words only
(no image, no judgement of fit), and every reason says so.
"""

from __future__ import annotations

from services.llm.embeddings import cosine, embed
from services.templates.inputs import ProductBrief, TemplateBrief

LABEL = "offline: text similarity, not an AI judgement"
# MiniLM cosines of a template's description with a product's text (measured on the demo library)
# sit around 0.3–0.45 when the layout suits the product and below 0.15 when not: mapped linearly so
# 0.05 → 0 and 0.45 → 100 (clipped), which puts "recommended" (70) at a cosine of 0.33.
FLOOR, CEILING = 0.05, 0.45


def score_of(similarity: float) -> float:
    return round(100 * min(1.0, max(0.0, (similarity - FLOOR) / (CEILING - FLOOR))), 1)


def similarity_scores(product: ProductBrief, templates: list[TemplateBrief]) -> list[tuple[float, str]]:
    """(score 0–100, reason) per template, in order. CPU-bound: run it in a thread."""
    facets = product.facets()
    vectors = embed([text for _, text in facets] + [t.text() for t in templates])
    facet_vectors, template_vectors = vectors[: len(facets)], vectors[len(facets) :]
    sims = cosine(template_vectors, facet_vectors)
    out = []
    for row in sims:
        best = int(row.argmax())
        similarity = float(row[best])
        out.append(
            (score_of(similarity), f"Closest to {facets[best][0]} (cosine {similarity:.2f}); {LABEL}.")
        )
    return out
