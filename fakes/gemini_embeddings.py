"""A fake of the Gemini API's embeddings (`POST /v1beta/models/{model}:batchEmbedContents`) on a free
127.0.0.1 port, for the real `google-genai` client.

The wire format is the API's: `{"requests": [{"model", "content": {"parts": [{"text"}]}, "taskType",
"outputDimensionality"}]}` in, `{"embeddings": [{"values": [...]}]}` out; errors carry Google's body
(`{"error": {"code", "message", "status"}}`) and, on 429, a `retry-after` header. More than 100
requests in one batch is refused, as the API does. The key is checked as the client sends it.

The vectors mean something, so clustering can be tested: each text's all-MiniLM-L6-v2 vector (the
local model) is mapped into `outputDimensionality` dimensions so that cosine similarities follow
Gemini's scale (0.5 + 0.5 × MiniLM's: unrelated texts ≈ 0.5), and each vector is scaled by a
length of its own, as the API's vectors below 3,072 dimensions are not normalised.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from fakes.http_fake import FakeHandler, HttpFake
from services.llm import embeddings

API_KEY = "gemini-embed-test-key"
MAX_BATCH = 100
_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):batchEmbedContents$")
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}


@dataclass
class EmbedRequest:
    index: int
    model: str
    body: dict[str, Any]

    @property
    def texts(self) -> list[str]:
        return [p["text"] for r in self.body.get("requests", []) for p in r["content"]["parts"]]

    @property
    def task_types(self) -> set[str]:
        return {r.get("taskType", "") for r in self.body.get("requests", [])}

    @property
    def dimensions(self) -> set[int]:
        return {int(r.get("outputDimensionality", 3072)) for r in self.body.get("requests", [])}


@dataclass
class EmbedReply:
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    latency: float | None = None

    @classmethod
    def rate_limited(cls, retry_after: float) -> EmbedReply:
        return cls(
            429, "Resource has been exhausted (e.g. check quota).", {"retry-after": f"{retry_after:g}"}
        )


def _ok(request: EmbedRequest) -> EmbedReply:
    return EmbedReply()


def gemini_like(texts: list[str], dimensions: int) -> np.ndarray:
    """Rows whose cosine similarities are 0.5 + 0.5 × MiniLM's, each of its own length."""
    local = embeddings.embed(texts).astype(np.float64)
    rng = np.random.default_rng(7)
    basis, _ = np.linalg.qr(rng.standard_normal((dimensions, local.shape[1] + 1)))
    common, spread = basis[:, 0], basis[:, 1:]
    rows = np.sqrt(0.5) * common[None, :] + np.sqrt(0.5) * (local @ spread.T)
    lengths = [0.5 + int(hashlib.sha256(t.encode()).hexdigest()[:4], 16) / 65535 for t in texts]
    return rows * np.asarray(lengths)[:, None]


class _Handler(FakeHandler):
    owner: FakeGeminiEmbeddings

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        body = {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}
        self._send_json(status, body, headers)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("content-length") or 0))
        url = urlsplit(self.path)
        match = _PATH.match(url.path)
        if match is None:
            self._error(404, f"Not found: {url.path}")
            return
        key = self.headers.get("x-goog-api-key") or (parse_qs(url.query).get("key") or [""])[0]
        if key != self.owner.api_key:
            self._error(400, "API key not valid. Please pass a valid API key.")
            return
        body = json.loads(raw)
        if len(body.get("requests", [])) > MAX_BATCH:
            self._error(
                400, f"* BatchEmbedContentsRequest.requests: at most {MAX_BATCH} requests are allowed."
            )
            return
        request = self.owner.record(lambda i: EmbedRequest(i, match["model"], body))
        self.owner.answer(request, lambda reply: self._reply(request, reply))

    def _reply(self, request: EmbedRequest, reply: EmbedReply) -> None:
        if reply.status != 200:
            self._error(reply.status, reply.message, reply.headers)
            return
        (dimensions,) = request.dimensions or {3072}
        rows = gemini_like(request.texts, dimensions)
        self._send_json(200, {"embeddings": [{"values": [float(x) for x in row]} for row in rows]})


class FakeGeminiEmbeddings(HttpFake[EmbedRequest, EmbedReply]):
    handler = _Handler
    thread_name = "fake-gemini-embeddings"

    def __init__(
        self, responder: Callable[[EmbedRequest], EmbedReply] = _ok, *, api_key: str = API_KEY
    ) -> None:
        super().__init__(responder)
        self.api_key = api_key

    @property
    def texts(self) -> list[str]:
        return [t for r in self.requests for t in r.texts]
