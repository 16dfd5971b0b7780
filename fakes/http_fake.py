"""The threaded-server plumbing the JSON API fakes share (anthropic_api.py, gemini_api.py).

`HttpFake` binds 127.0.0.1 on a free port in a daemon thread (`start()`/`close()` or `with`), records
every request in arrival order, counts requests in flight (and the most seen at once), and records
the time and status of every answer. `FakeHandler` is the quiet HTTP/1.1 handler with a JSON sender.
A fake subclasses both: its handler parses the call, `owner.record(...)` it, then
`owner.answer(request, send)` runs the responder, sleeps the reply's latency and sends it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar


class _Indexed(Protocol):
    index: int


class _Timed(Protocol):
    status: int
    latency: float | None


RequestT = TypeVar("RequestT", bound=_Indexed)
ReplyT = TypeVar("ReplyT", bound=_Timed)


@dataclass
class Answered(Generic[RequestT]):
    """What the fake did with one call, for tests to check (timing in `time.monotonic()` seconds)."""

    index: int
    status: int
    started: float
    finished: float
    request: RequestT


class FakeHandler(BaseHTTPRequestHandler):
    """The handler base: quiet, HTTP/1.1, `_send_json` with the fake's content type and extra headers."""

    owner: Any
    """The `HttpFake` serving (set on a per-server subclass by `HttpFake.start`)."""
    protocol_version = "HTTP/1.1"
    json_content_type = "application/json"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _extra_headers(self) -> dict[str, str]:
        """Headers every JSON answer carries (after content-type and -length, before the reply's)."""
        return {}

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", self.json_content_type)
        self.send_header("content-length", str(len(data)))
        for key, value in {**self._extra_headers(), **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class HttpFake(Generic[RequestT, ReplyT]):
    """The fake server. `start()` (or `with`) binds 127.0.0.1 on a free port; `url` is the base URL."""

    handler: type[FakeHandler]
    thread_name = "fake-http"

    def __init__(self, responder: Callable[[RequestT], ReplyT], *, latency: float = 0.0) -> None:
        self.responder = responder
        self.latency = latency
        self.requests: list[RequestT] = []
        self.answered: list[Answered[RequestT]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self, port: int = 0) -> Self:
        handler = type("Handler", (self.handler,), {"owner": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def reset_counts(self) -> None:
        with self._lock:
            self.requests.clear()
            self.answered.clear()
            self.max_in_flight = self.in_flight

    # -- called from the handler threads --------------------------------------------------------

    def record(self, make: Callable[[int], RequestT]) -> RequestT:
        """Records the request `make(index)` builds, in arrival order, as in flight."""
        with self._lock:
            request = make(len(self.requests))
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        return request

    def answer(self, request: RequestT, send: Callable[[ReplyT], None]) -> None:
        """Asks the responder, waits the reply's latency (or the fake's), `send`s it, records the answer."""
        started = time.monotonic()
        status = 500
        try:
            reply = self.responder(request)
            delay = self.latency if reply.latency is None else reply.latency
            if delay > 0:
                time.sleep(delay)
            status = reply.status
            send(reply)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.answered.append(Answered(request.index, status, started, time.monotonic(), request))


class ModelApiFake(HttpFake[RequestT, ReplyT]):
    """A model provider's fake (anthropic_api.py, gemini_api.py): an API key it accepts, the calls it
    refused for their key, and, for streamed answers, a default time-to-first-token and when each
    answer's first token was written."""

    def __init__(
        self,
        responder: Callable[[RequestT], ReplyT],
        *,
        latency: float = 0.0,
        api_key: str,
        ttft: float = 0.0,
    ) -> None:
        super().__init__(responder, latency=latency)
        self.api_key = api_key
        self.refused_keys = 0
        """Calls refused for their key (not recorded as requests)."""
        self.ttft = ttft
        """Streamed answers: the default time-to-first-token."""
        self.first_tokens: dict[int, float] = {}
        """Request index → `time.monotonic()` when its first content was written."""

    def note_first_token(self, index: int) -> None:
        with self._lock:
            self.first_tokens[index] = time.monotonic()
