"""A fake Supabase Storage API on a free 127.0.0.1 port, in a background thread.

It answers what storage3 (the supabase client's storage module) sends, as Supabase Storage does:
`POST /storage/v1/object/{bucket}/{path}` (a multipart upload; `x-upsert: true` replaces, otherwise a
second upload of a path is a 400 "Duplicate"), `GET /storage/v1/object/info/{bucket}/{path}`,
`GET /storage/v1/object/{bucket}/{path}` (download, with the key), and
`GET /storage/v1/object/public/{bucket}/{path}` (no key; public buckets only). Errors use Storage's
JSON body (`statusCode`, `error`, `message`). A request without the service key is refused.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_BODY_BYTES = 50 * 1024 * 1024
PREFIX = "/storage/v1/object/"


@dataclass
class StoredObject:
    data: bytes
    content_type: str


@dataclass
class FakeSupabaseStorage:
    """Use as a context manager; `url` is the project URL (SUPABASE_URL)."""

    key: str
    buckets: dict[str, bool] = field(default_factory=lambda: {"assets": True})
    """Bucket name → public."""
    objects: dict[tuple[str, str], StoredObject] = field(default_factory=dict)
    requests: list[tuple[str, str, int]] = field(default_factory=list)
    """(method, path, status answered)."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use FakeSupabaseStorage as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeSupabaseStorage:
        fake = self

        class Handler(_Handler):
            storage = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- what the handler does ------------------------------------------------------------------

    def answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one request."""
        if not path.startswith(PREFIX):
            return _error(404, "not_found", "Route not found")
        rest = unquote(path[len(PREFIX) :])
        if rest.startswith("public/") and method == "GET":
            bucket, _, name = rest[len("public/") :].partition("/")
            if not self.buckets.get(bucket):
                return _error(400, "not_found", "Bucket not found")
            return self._download(bucket, name)
        if headers.get("authorization") != f"Bearer {self.key}" or headers.get("apikey") != self.key:
            return _error(400, "Unauthorized", "Invalid Compact JWS", code="403")
        info = rest.startswith("info/")
        bucket, _, name = (rest[len("info/") :] if info else rest).partition("/")
        if bucket not in self.buckets:
            return _error(400, "Bucket not found", "Bucket not found", code="404")
        if method == "GET" and info:
            with self._lock:
                stored = self.objects.get((bucket, name))
            if stored is None:
                return _error(404, "not_found", "Object not found")
            meta = {
                "name": name,
                "bucket_id": bucket,
                "size": len(stored.data),
                "content_type": stored.content_type,
            }
            return 200, "application/json", json.dumps(meta).encode()
        if method == "GET":
            return self._download(bucket, name)
        if method in ("POST", "PUT"):
            data, content_type = _multipart_file(headers.get("content-type", ""), body)
            if data is None:
                return _error(400, "InvalidRequest", "No file in the upload")
            with self._lock:
                exists = (bucket, name) in self.objects
                if exists and method == "POST" and headers.get("x-upsert") != "true":
                    return _error(400, "Duplicate", "The resource already exists", code="409")
                self.objects[bucket, name] = StoredObject(data, content_type)
            return 200, "application/json", json.dumps({"Key": f"{bucket}/{name}", "Id": name}).encode()
        return _error(405, "InvalidRequest", f"{method} is not supported here")

    def _download(self, bucket: str, name: str) -> tuple[int, str, bytes]:
        with self._lock:
            stored = self.objects.get((bucket, name))
        if stored is None:
            return _error(400, "not_found", "Object not found", code="404")
        return 200, stored.content_type, stored.data


def _error(status: int, error: str, message: str, *, code: str | None = None) -> tuple[int, str, bytes]:
    body = {"statusCode": code or str(status), "error": error, "message": message}
    return status, "application/json", json.dumps(body).encode()


def _multipart_file(content_type: str, body: bytes) -> tuple[bytes | None, str]:
    """The `file` part of a multipart/form-data body and its content type."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    if not message.is_multipart():
        return None, ""
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload: Any = part.get_payload(decode=True)
            return bytes(payload), part.get_content_type()
    return None, ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    storage: FakeSupabaseStorage

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, MAX_BODY_BYTES)) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = urlsplit(self.path).path
        status, content_type, payload = self.storage.answer(self.command, path, headers, body)
        with self.storage._lock:
            self.storage.requests.append((self.command, path, status))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = _handle
