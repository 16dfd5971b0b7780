"""Gemini embeddings for pattern discovery (`google-genai`, `batchEmbedContents`), chosen when a
Gemini/Google key is set (`VIRALTRACKER_EMBEDDINGS`: auto | local | gemini).

Texts go 100 to a request with task type CLUSTERING at 768 dimensions (Google's recommended smaller
size; below the full 3,072 the vectors come back unnormalised, so they are normalised here). Calls go
through `services.llm.gemini`: rate limits retried, a refused key named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from core.errors import ConfigurationError, ExternalServiceError
from services.llm.embeddings import Array, LocalEmbedder, TextEmbedder, unit_rows
from settings import Settings

if TYPE_CHECKING:
    from google.genai import types

BATCH = 100  # the API's most texts per batchEmbedContents request
DIMENSIONS = 768
TIMEOUT_SECONDS = 60


@dataclass(frozen=True)
class GeminiEmbedder:
    model_id: str
    api_key: str = field(repr=False)
    key_variable: str
    base_url: str | None = None
    dimensions: int = DIMENSIONS
    # Gemini's similarities sit higher than MiniLM's (unrelated texts ≈ 0.5 rather than ≈ 0): the
    # theme threshold and novelty's zero point follow.
    distance_threshold: float = 0.33
    unrelated_similarity: float = 0.5

    @property
    def model(self) -> str:
        return f"{self.model_id}/{self.dimensions}/clustering"

    @property
    def label(self) -> str:
        return f"Gemini {self.model_id}"

    async def embed_texts(self, texts: list[str]) -> Array:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # google-genai takes a quarter of a second to import: only a run that embeds with Gemini pays it.
        from google.genai import types

        from services.llm import gemini as gemini_calls

        config = types.EmbedContentConfig(task_type="CLUSTERING", output_dimensionality=self.dimensions)
        rows: list[list[float]] = []
        with gemini_calls.client(
            api_key=self.api_key, base_url=self.base_url, timeout_seconds=TIMEOUT_SECONDS
        ) as client:
            async with client.aio as aio:
                for start in range(0, len(texts), BATCH):
                    batch = [types.Content(parts=[types.Part(text=t)]) for t in texts[start : start + BATCH]]

                    async def call(batch: list[types.Content] = batch) -> types.EmbedContentResponse:
                        return await aio.models.embed_content(
                            model=self.model_id, contents=batch, config=config
                        )

                    response = await gemini_calls.with_retries(
                        call, name=self.model_id, key_variable=self.key_variable,
                        key_hint="set VIRALTRACKER_EMBEDDINGS=local to use the local model",
                    )  # fmt: skip
                    rows.extend(self._vectors(response, len(batch)))
        return unit_rows(np.asarray(rows, dtype=np.float32))

    def _vectors(self, response: types.EmbedContentResponse, expected: int) -> list[list[float]]:
        got = [e.values or [] for e in response.embeddings or []]
        if len(got) != expected or any(len(v) != self.dimensions for v in got):
            sizes = sorted({len(v) for v in got})
            raise ExternalServiceError(
                f"{self.model_id} answered {len(got)} embeddings of {sizes or [0]} dimensions for"
                f" {expected} texts (expected {self.dimensions} dimensions each)."
            )
        return got


def embedder_for(settings: Settings) -> TextEmbedder:
    """Gemini's embeddings when chosen (or, on auto, when a Gemini/Google key is set), else MiniLM."""
    key, variable = settings.gemini_api_key, "GEMINI_API_KEY"
    if key is None and settings.google_api_key is not None:
        key, variable = settings.google_api_key, "GOOGLE_API_KEY"
    if settings.embeddings == "local" or (settings.embeddings == "auto" and key is None):
        return LocalEmbedder()
    if key is None:
        raise ConfigurationError(
            "VIRALTRACKER_EMBEDDINGS=gemini needs GEMINI_API_KEY (or GOOGLE_API_KEY); set one, or set"
            " VIRALTRACKER_EMBEDDINGS=local to use the local model."
        )
    return GeminiEmbedder(
        model_id=settings.gemini_embedding_model, api_key=key.get_secret_value(), key_variable=variable,
        base_url=settings.gemini_base_url,
    )  # fmt: skip
