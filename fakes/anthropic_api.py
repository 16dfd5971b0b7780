"""A fake Anthropic Messages API on a free 127.0.0.1 port, for the real `anthropic` client.

`POST /v1/messages` answers in the API's wire format: a `message` JSON object, or, when the request
says `"stream": true`, the SSE events the client parses (`message_start`, `content_block_start`,
`content_block_delta` with `text_delta` / `input_json_delta`, `content_block_stop`,
`message_delta`, `message_stop`). Errors carry the API's body (`{"type": "error", "error": {...}}`)
and headers (`retry-after` on 429, `request-id` on every answer).

What each call answers is scripted by a `responder(request) -> Reply` callback (tool use of the
request's output tool, text, several tool calls in one answer (`Reply.calls`), or an error), with a
latency per call (before the status line). A streamed answer can also wait a time-to-first-token
after `message_start` (`ttft`) and between its deltas (`chunk_delay`), as the real API does; the
fake records when it wrote each answer's first content delta (`first_tokens`). The fake counts requests in
flight and records the most seen at once, and the time and status of every answer, so tests can
check a client's concurrency bound and its Retry-After handling. The usage of each answer accounts for
prompt caching as the API does (`fake.cache`, fakes/anthropic_cache.py); `FakeRequest.usage` keeps it.

    with FakeAnthropic(responder=lambda req: Reply.tool({"score": 80, "reason": "fits"})) as fake:
        settings = Settings(ANTHROPIC_API_KEY="test", ANTHROPIC_BASE_URL=fake.url)
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fakes.anthropic_cache import CacheUsage, PromptCache, TooManyBreakpoints
from fakes.http_fake import FakeHandler, ModelApiFake

API_KEY = "sk-ant-test-fake"
MAX_BODY_BYTES = 32 * 1024 * 1024
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class FakeRequest:
    """One call as the fake received it."""

    index: int
    """0-based, in arrival order."""
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    cached: CacheUsage | None = None
    """Its input as the prompt cache counted it (fakes/anthropic_cache.py); set when it is answered."""
    output_tokens: int = 0

    @property
    def usage(self) -> dict[str, int] | None:
        """The usage the fake reported for this request (None: not answered with a message)."""
        if self.cached is None:
            return None
        return {
            "input_tokens": self.cached.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cached.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cached.cache_read_input_tokens,
        }

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def tool_names(self) -> list[str]:
        return [str(t.get("name")) for t in self.body.get("tools") or [] if isinstance(t, dict)]

    def _message_texts(self, role: str | None = None) -> list[str]:
        parts: list[str] = []
        for message in self.body.get("messages") or []:
            if role is not None and message.get("role") != role:
                continue
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [str(b.get("text", "")) for b in content if b.get("type") == "text"]
        return parts

    @property
    def text(self) -> str:
        """Every text block of the request's messages (and the system prompt), joined."""
        system = self.body.get("system")
        parts = [system] if isinstance(system, str) else []
        if isinstance(system, list):
            parts += [str(b.get("text", "")) for b in system if isinstance(b, dict)]
        return "\n".join(parts + self._message_texts())

    @property
    def user_text(self) -> str:
        """The text blocks of the user messages only (what the caller sent, not the instructions)."""
        return "\n".join(self._message_texts("user"))

    @property
    def image_blocks(self) -> list[dict[str, Any]]:
        """Image blocks of the messages, also those inside a `tool_result`'s content."""
        found: list[dict[str, Any]] = []
        for message in self.body.get("messages") or []:
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "image":
                    found.append(block)
                elif block.get("type") == "tool_result" and isinstance(block.get("content"), list):
                    found += [b for b in block["content"] if b.get("type") == "image"]
        return found

    @property
    def tool_results(self) -> list[dict[str, Any]]:
        """The `tool_result` blocks of the last user message (what the client sends back after tool use)."""
        messages = self.body.get("messages") or []
        content = messages[-1].get("content") if messages else None
        return [b for b in content if b.get("type") == "tool_result"] if isinstance(content, list) else []


@dataclass
class Reply:
    """What one call answers: a tool call, text, or an API error; after `latency` seconds."""

    status: int = 200
    text: str | None = None
    tool_input: dict[str, Any] | None = None
    tool_name: str | None = None
    """Default: the request's first tool (Pydantic-AI's output tool when there is one)."""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """Several `tool_use` blocks in one answer (after the text, if any): (tool name, input)."""
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = ""
    latency: float | None = None
    """Seconds before answering; None: the fake's default latency."""
    ttft: float | None = None
    """Streamed: seconds between `message_start` and the first content delta; None: the fake's default."""
    chunk_delay: float = 0.0
    """Streamed: seconds between one content delta and the next."""
    stream_error: str | None = None
    """Streamed: an `error` event of this type (e.g. `overloaded_error`) after `error_after` deltas, ending
    the stream, as the API reports trouble once a stream is open."""
    error_after: int = 1

    @classmethod
    def calls(cls, *calls: tuple[str, dict[str, Any]], text: str | None = None) -> Reply:
        """Tool calls in one answer (parallel tool use), optionally after some text."""
        return cls(text=text, tool_calls=list(calls))

    @classmethod
    def tool(
        cls, tool_input: dict[str, Any], *, name: str | None = None, latency: float | None = None
    ) -> Reply:
        return cls(tool_input=tool_input, tool_name=name, latency=latency)

    @classmethod
    def say(cls, text: str, *, latency: float | None = None) -> Reply:
        return cls(text=text, latency=latency)

    @classmethod
    def rate_limited(cls, retry_after: float = 1.0, *, latency: float | None = None) -> Reply:
        return cls(
            status=429,
            headers={"retry-after": f"{retry_after:g}"},
            error_message="Number of request tokens has exceeded your per-minute rate limit.",
            latency=latency,
        )

    @classmethod
    def error(cls, status: int, message: str = "", *, latency: float | None = None) -> Reply:
        return cls(status=status, error_message=message or ERROR_TYPES.get(status, "error"), latency=latency)


Responder = Callable[[FakeRequest], Reply]


def default_responder(request: FakeRequest) -> Reply:
    if request.tool_names:
        return Reply.tool({})
    return Reply.say("Hello from the fake Anthropic API.")


def _usage(request: FakeRequest, output_tokens: int) -> dict[str, Any]:
    cached = request.cached or CacheUsage(0, 0, 0)
    return {
        "input_tokens": cached.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cached.cache_creation_input_tokens,
        "cache_read_input_tokens": cached.cache_read_input_tokens,
    }


def _blocks(request: FakeRequest, reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text is not None:
        blocks.append({"type": "text", "text": reply.text})
    calls = list(reply.tool_calls)
    if reply.tool_input is not None:
        name = reply.tool_name or (request.tool_names[0] if request.tool_names else "final_result")
        calls.insert(0, (name, reply.tool_input))
    for name, tool_input in calls:
        blocks.append(
            {"type": "tool_use", "id": f"toolu_{secrets.token_hex(12)}", "name": name, "input": tool_input}
        )
    return blocks


def message_json(request: FakeRequest, reply: Reply) -> dict[str, Any]:
    """A non-streamed answer: the `message` object."""
    blocks = _blocks(request, reply)
    request.output_tokens = 1 + sum(len(json.dumps(b)) for b in blocks) // 4
    return {
        "id": f"msg_{secrets.token_hex(12)}",
        "type": "message",
        "role": "assistant",
        "model": request.body.get("model", "claude-fake"),
        "content": blocks,
        "stop_reason": "tool_use" if any(b["type"] == "tool_use" for b in blocks) else "end_turn",
        "stop_sequence": None,
        "usage": _usage(request, request.output_tokens),
    }


def sse_events(request: FakeRequest, reply: Reply) -> list[tuple[str, dict[str, Any]]]:
    """A streamed answer: the events, in order, as (event name, data)."""
    message = message_json(request, reply)
    start = {**message, "content": [], "stop_reason": None, "usage": _usage(request, 1)}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": {"type": "text", "text": ""}}))  # fmt: skip
            text = block["text"]
            for cut in range(0, max(len(text), 1), 16):
                delta = {"type": "text_delta", "text": text[cut : cut + 16]}
                events.append(
                    ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
        else:
            opening = {**block, "input": {}}
            events.append(("content_block_start", {"type": "content_block_start", "index": index,
                                                   "content_block": opening}))  # fmt: skip
            raw = json.dumps(block["input"])
            for cut in range(0, len(raw), 24):
                delta = {"type": "input_json_delta", "partial_json": raw[cut : cut + 24]}
                events.append(
                    ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": message["usage"]["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class _Handler(FakeHandler):
    owner: FakeAnthropic

    def _extra_headers(self) -> dict[str, str]:
        return {"request-id": f"req_{secrets.token_hex(12)}"}

    def _send_error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = ERROR_TYPES.get(status, "api_error")
        body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": None}
        self._send_json(status, body, headers)

    def do_GET(self) -> None:
        self._send_error(404, f"Not found: {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_error(413, "Request exceeds the maximum allowed number of bytes.")
            return
        raw = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        if path != "/v1/messages":
            self._send_error(404, f"Not found: {path}")
            return
        # The client sends its key as `x-api-key` or (anthropic 2.x) `Authorization: Bearer`.
        bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ")
        if self.owner.api_key not in (self.headers.get("x-api-key"), bearer):
            with self.owner._lock:
                self.owner.refused_keys += 1
            self._send_error(401, "invalid x-api-key")
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_error(400, "The request body is not valid JSON.")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = self.owner.record(lambda i: FakeRequest(index=i, path=path, headers=headers, body=body))
        self.owner.answer(request, lambda reply: self._send_reply(request, reply))

    def _send_reply(self, request: FakeRequest, reply: Reply) -> None:
        if reply.status == 200:
            try:
                request.cached = self.owner.cache.account(request.body)
            except TooManyBreakpoints as error:
                self._send_error(400, str(error))
                return
        if reply.status != 200:
            self._send_error(reply.status, reply.error_message, reply.headers)
        elif request.stream:
            self._send_stream(request, reply)
        else:
            self._send_json(200, message_json(request, reply), reply.headers)

    def _send_stream(self, request: FakeRequest, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("request-id", f"req_{secrets.token_hex(12)}")
        self.send_header("connection", "close")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        ttft = self.owner.ttft if reply.ttft is None else reply.ttft
        first_delta, deltas = True, 0
        for name, data in sse_events(request, reply):
            if reply.stream_error is not None and deltas == reply.error_after:
                error = {
                    "type": "error",
                    "error": {
                        "type": reply.stream_error,
                        "message": reply.error_message or reply.stream_error,
                    },
                }
                self.wfile.write(f"event: error\ndata: {json.dumps(error)}\n\n".encode())
                break
            if name == "content_block_delta":
                deltas += 1
                # The wait for the first token, then the pace of the rest, as a model streams.
                delay = ttft if first_delta else reply.chunk_delay
                if delay > 0:
                    self.wfile.flush()
                    time.sleep(delay)
                if first_delta:
                    self.owner.note_first_token(request.index)
                first_delta = False
            self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()
        self.close_connection = True


class FakeAnthropic(ModelApiFake[FakeRequest, Reply]):
    """The fake server. `start()` (or `with`) binds 127.0.0.1 on a free port; `url` is the base URL."""

    handler = _Handler
    thread_name = "fake-anthropic"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        api_key: str = API_KEY,
        ttft: float = 0.0,
    ) -> None:
        super().__init__(responder or default_responder, latency=latency, api_key=api_key, ttft=ttft)
        self.cache = PromptCache()
        """Prompt caching as the API accounts for it (fakes/anthropic_cache.py)."""

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for a in self.answered:
            counts[a.status] = counts.get(a.status, 0) + 1
        return counts
