"""A fake Gemini API (Google AI, `v1beta`) on a free 127.0.0.1 port, for the real `google-genai` client.

`POST /v1beta/models/{model}:generateContent` answers a `GenerateContentResponse` in the API's JSON
wire format (camelCase): candidates whose parts are text, `functionCall`s (several in one answer: parallel tool calls) and/or
`inlineData` (base64 image bytes), a `finishReason`, `usageMetadata`; or, for a blocked prompt, `promptFeedback.blockReason` and no
candidates. `:streamGenerateContent?alt=sse` answers the same response as SSE `data:` chunks (the
text cut in pieces, after the reply's time-to-first-token, `chunk_delay` apart; the function calls
on the last chunk). Errors carry Google's body (`{"error": {"code", "message", "status"}}`) and, on
429/503, a `retry-after` header when the reply names one. The key is checked as the client sends it
(`x-goog-api-key`, or the `key` query parameter).

The Files API as google-genai's `files.upload/get/delete` speak it: a resumable upload (`POST
/upload/v1beta/files` with `X-Goog-Upload-Command: start` answers an `x-goog-upload-url`; chunks are
posted there with `upload` / `upload, finalize` and an `x-goog-upload-status`), `GET /v1beta/files/{id}`
(state PROCESSING for `processing_polls` reads, then ACTIVE) and `DELETE /v1beta/files/{id}`. A
`fileData` part must name an uploaded, ACTIVE, undeleted file's `uri`, else the API's 400/403.

What each call answers is scripted by a `responder(request) -> Reply` callback. The fake records
every request (the model, the parts sent) and the time and status of every answer.

    with FakeGemini(responder=lambda req: Reply.image(png)) as fake:
        settings = Settings(GEMINI_API_KEY=API_KEY, GEMINI_BASE_URL=fake.url)
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fakes.http_fake import FakeHandler, ModelApiFake

API_KEY = "gemini-test-fake-key"
MAX_BODY_BYTES = 32 * 1024 * 1024
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
FILES_URI = "https://generativelanguage.googleapis.com/v1beta/"
_FILE_PATH = re.compile(r"^/v1beta/(?P<name>files/[a-z0-9-]+)$")
_PATH = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent)$")


def decode_bytes(data: str) -> bytes:
    """A proto JSON `bytes` field: base64, standard or URL-safe (the client sends URL-safe), padding optional."""
    return base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4))


@dataclass
class FakeRequest:
    """One call as the fake received it."""

    index: int
    """0-based, in arrival order."""
    model: str
    method: str
    """'generateContent' or 'streamGenerateContent'."""
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def parts(self) -> list[dict[str, Any]]:
        return [
            part
            for content in self.body.get("contents") or []
            for part in content.get("parts") or []
            if isinstance(part, dict)
        ]

    @property
    def text(self) -> str:
        """Every text part of the request (and the system instruction), joined."""
        system = self.body.get("systemInstruction") or {}
        parts = [*(system.get("parts") or []), *self.parts]
        return "\n".join(str(p["text"]) for p in parts if "text" in p)

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """The inline images sent: (mime type, bytes). Proto JSON takes either spelling of a field name
        (the client sends `mime_type` inside `inlineData`)."""
        found = []
        for part in self.parts:
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict):
                mime = inline.get("mimeType") or inline.get("mime_type") or ""
                found.append((str(mime), decode_bytes(str(inline.get("data", "")))))
        return found

    @property
    def files(self) -> list[tuple[str, str]]:
        """The `fileData` parts sent (Files API references): (mime type, file URI)."""
        found = []
        for part in self.parts:
            data = part.get("fileData") or part.get("file_data")
            if isinstance(data, dict):
                mime = data.get("mimeType") or data.get("mime_type") or ""
                found.append((str(mime), str(data.get("fileUri") or data.get("file_uri") or "")))
        return found

    @property
    def function_responses(self) -> list[dict[str, Any]]:
        """The `functionResponse` parts sent since the model's last turn (the results of its calls)."""
        contents = self.body.get("contents") or []
        last_model = max((i for i, c in enumerate(contents) if c.get("role") == "model"), default=-1)
        found = []
        for content in contents[last_model + 1 :]:
            for part in content.get("parts") or []:
                response = part.get("functionResponse") or part.get("function_response")
                if isinstance(response, dict):
                    found.append(response)
        return found

    @property
    def tool_names(self) -> list[str]:
        return [
            str(declaration.get("name"))
            for tool in self.body.get("tools") or []
            for declaration in tool.get("functionDeclarations") or tool.get("function_declarations") or []
        ]

    @property
    def response_modalities(self) -> list[str]:
        return list((self.body.get("generationConfig") or {}).get("responseModalities") or [])


@dataclass
class Reply:
    """What one call answers: parts (text / an inline image), a blocked prompt, or an API error."""

    status: int = 200
    text: str | None = None
    image: bytes | None = None
    mime_type: str = "image/png"
    finish_reason: str = "STOP"
    block_reason: str | None = None
    """A blocked prompt: `promptFeedback.blockReason` and no candidates."""
    headers: dict[str, str] = field(default_factory=dict)
    error_message: str = ""
    error_details: list[dict[str, Any]] = field(default_factory=list)
    """The error's `details` (e.g. a `google.rpc.RetryInfo` with `retryDelay`)."""
    latency: float | None = None
    """Seconds before answering; None: the fake's default latency."""
    function_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """`functionCall` parts (after the text, if any): (function name, args)."""
    ttft: float | None = None
    """Streamed: seconds between the headers and the first chunk; None: the fake's default."""
    chunk_delay: float = 0.0
    """Streamed: seconds between one chunk and the next."""

    @classmethod
    def calls(cls, *calls: tuple[str, dict[str, Any]], text: str | None = None) -> Reply:
        """Function calls in one answer (parallel tool calls), optionally after some text."""
        return cls(text=text, function_calls=list(calls))

    @classmethod
    def with_image(cls, image: bytes, *, mime_type: str = "image/png", text: str | None = None) -> Reply:
        return cls(image=image, mime_type=mime_type, text=text)

    @classmethod
    def say(cls, text: str, *, finish_reason: str = "STOP") -> Reply:
        return cls(text=text, finish_reason=finish_reason)

    @classmethod
    def blocked(cls, reason: str = "SAFETY") -> Reply:
        return cls(block_reason=reason)

    @classmethod
    def stopped(cls, finish_reason: str) -> Reply:
        """A candidate with no parts that stopped for `finish_reason` (e.g. IMAGE_SAFETY)."""
        return cls(finish_reason=finish_reason)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0, *, header: bool = True) -> Reply:
        """A 429 as Google sends it: a RetryInfo detail and (with `header`) a Retry-After header."""
        if retry_after is None:
            return cls(status=429, error_message="Resource has been exhausted (e.g. check quota).")
        retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
        return cls(
            status=429,
            headers={"retry-after": f"{retry_after:g}"} if header else {},
            error_message="Resource has been exhausted (e.g. check quota).",
            error_details=[retry_info],
        )

    @classmethod
    def error(cls, status: int, message: str = "", *, retry_after: float | None = None) -> Reply:
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        return cls(status=status, headers=headers, error_message=message or STATUS_NAMES.get(status, "error"))


Responder = Callable[[FakeRequest], Reply]


def default_responder(request: FakeRequest) -> Reply:
    return Reply.say("Hello from the fake Gemini API.")


def _usage(request: FakeRequest, reply: Reply) -> dict[str, Any]:
    prompt = max(1, len(request.text) // 4) + 258 * len(request.images)
    output = len(reply.text or "") // 4 + (1290 if reply.image is not None else 0)
    output += len(json.dumps(reply.function_calls)) // 4 if reply.function_calls else 0
    return {"promptTokenCount": prompt, "candidatesTokenCount": output, "totalTokenCount": prompt + output}


def response_json(request: FakeRequest, reply: Reply, *, text: str | None = None) -> dict[str, Any]:
    """A `GenerateContentResponse` (`text` overrides the reply's text, for stream chunks)."""
    body: dict[str, Any] = {
        "usageMetadata": _usage(request, reply),
        "modelVersion": request.model,
        "responseId": f"fake-{request.index}",
    }
    if reply.block_reason is not None:
        body["promptFeedback"] = {"blockReason": reply.block_reason}
        return body
    parts: list[dict[str, Any]] = []
    said = reply.text if text is None else text
    if said:
        parts.append({"text": said})
    if reply.image is not None:
        data = base64.b64encode(reply.image).decode()
        parts.append({"inlineData": {"mimeType": reply.mime_type, "data": data}})
    parts += [{"functionCall": {"name": name, "args": args}} for name, args in reply.function_calls]
    candidate: dict[str, Any] = {"finishReason": reply.finish_reason, "index": 0}
    if parts:
        candidate["content"] = {"role": "model", "parts": parts}
    body["candidates"] = [candidate]
    return body


def stream_chunks(request: FakeRequest, reply: Reply) -> list[dict[str, Any]]:
    """A streamed answer: the text in 16-character pieces, the image and finish reason on the last."""
    if reply.block_reason is not None:
        return [response_json(request, reply)]
    text = reply.text or ""
    pieces = [text[cut : cut + 16] for cut in range(0, len(text), 16)] or [""]
    chunks = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        partial = Reply(
            text=piece,
            image=reply.image if last else None,
            mime_type=reply.mime_type,
            finish_reason=reply.finish_reason,
            function_calls=reply.function_calls if last else [],
        )
        chunk = response_json(request, partial, text=piece)
        if not last:
            chunk["candidates"][0].pop("finishReason")
        chunks.append(chunk)
    return chunks


class _Handler(FakeHandler):
    owner: FakeGemini
    json_content_type = "application/json; charset=UTF-8"

    def _send_error(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        error: dict[str, Any] = {
            "code": status,
            "message": message,
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
        if details:
            error["details"] = details
        self._send_json(status, {"error": error}, headers)

    def _key_refused(self) -> bool:
        """Answers the API's error for a missing or wrong key (True), else False."""
        key = (
            self.headers.get("x-goog-api-key") or (parse_qs(urlsplit(self.path).query).get("key") or [""])[0]
        )
        if key != self.owner.api_key:
            with self.owner._lock:
                self.owner.refused_keys += 1
        if not key:
            self._send_error(403, "Method doesn't allow unregistered callers. Please use an API Key.")
            return True
        if key != self.owner.api_key:
            self._send_error(400, "API key not valid. Please pass a valid API key.")
            return True
        return False

    def _file_call(self, method: str) -> None:
        """`GET` / `DELETE /v1beta/files/{id}`: the file's metadata (PROCESSING, then ACTIVE), or deletes it."""
        match = _FILE_PATH.match(urlsplit(self.path).path)
        if match is None:
            self._send_error(404, f"Not found: {urlsplit(self.path).path}")
            return
        if self._key_refused():
            return
        name = match["name"]
        with self.owner._lock:
            self.owner.file_calls.append((method, name))
            stored = self.owner.files.get(name)
            if stored is not None and method == "GET" and stored.state == "PROCESSING":
                stored.polls += 1
                if stored.polls > self.owner.processing_polls:
                    stored.state = "ACTIVE"
            if stored is not None and method == "DELETE":
                stored.deleted = True
                del self.owner.files[name]
        if stored is None:
            self._send_error(
                403, f"You do not have permission to access the File {name} or it may not exist."
            )
        else:
            self._send_json(200, {} if method == "DELETE" else stored.json())

    def do_GET(self) -> None:
        self._file_call("GET")

    def do_DELETE(self) -> None:
        self._file_call("DELETE")

    def _upload(self, raw: bytes) -> None:
        """The resumable upload: `start` opens a session (its URL in `x-goog-upload-url`); chunks follow."""
        url = urlsplit(self.path)
        command = (self.headers.get("x-goog-upload-command") or "").replace(" ", "")
        if url.path == "/upload/v1beta/files" and not url.query:
            if self._key_refused():
                return
            if command != "start" or (self.headers.get("x-goog-upload-protocol") or "") != "resumable":
                self._send_error(400, "Upload requests must use X-Goog-Upload-Protocol: resumable.")
                return
            meta = (json.loads(raw or b"{}").get("file") or {}) if raw else {}
            with self.owner._lock:
                upload_id = f"upload-{len(self.owner.uploads)}"
                self.owner.uploads[upload_id] = _Upload(
                    mime_type=self.headers.get("x-goog-upload-header-content-type")
                    or meta.get("mimeType")
                    or "",
                    size=int(self.headers.get("x-goog-upload-header-content-length") or 0),
                    display_name=str(meta.get("displayName") or ""),
                )
            location = f"{self.owner.url}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
            self._send_json(200, {}, {"x-goog-upload-url": location, "x-goog-upload-status": "active"})
            return
        upload_id = (parse_qs(url.query).get("upload_id") or [""])[0]
        with self.owner._lock:
            upload = self.owner.uploads.get(upload_id)
            if upload is None or upload.done:
                upload = None
            else:
                offset = int(self.headers.get("x-goog-upload-offset") or -1)
                if offset != len(upload.data):
                    upload = None
                else:
                    upload.data += raw
        if upload is None:
            self._send_error(
                400, "Unknown upload session or wrong offset.", {"x-goog-upload-status": "final"}
            )
            return
        if command != "upload,finalize":
            self._send_json(200, {}, {"x-goog-upload-status": "active"})
            return
        with self.owner._lock:
            upload.done = True
            name = f"files/fake{len(self.owner.uploaded):06d}"
            stored = StoredFile(
                name=name, mime_type=upload.mime_type, data=upload.data, display_name=upload.display_name
            )
            self.owner.files[name] = stored
            self.owner.uploaded.append(stored)
        self._send_json(200, {"file": stored.json()}, {"x-goog-upload-status": "final"})

    def _missing_file(self, request: FakeRequest) -> tuple[int, str] | None:
        """The API's refusal of a `fileData` part naming no usable file."""
        with self.owner._lock:
            for _, uri in request.files:
                stored = self.owner.files.get(uri.removeprefix(FILES_URI))
                if stored is None:
                    name = uri.removeprefix(FILES_URI)
                    return 403, f"You do not have permission to access the File {name} or it may not exist."
                if stored.state != "ACTIVE":
                    return 400, f"The File {stored.name} is not in an ACTIVE state and usage is not allowed."
        return None

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_error(400, "Request payload size exceeds the limit.")
            return
        raw = self.rfile.read(length)
        url = urlsplit(self.path)
        if url.path == "/upload/v1beta/files":
            self._upload(raw)
            return
        match = _PATH.match(url.path)
        if match is None:
            self._send_error(404, f"Not found: {url.path}")
            return
        if self._key_refused():
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self._send_error(400, "Invalid JSON payload received.")
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        probe = FakeRequest(-1, match["model"], match["method"], headers, body)
        if (refused := self._missing_file(probe)) is not None:  # refused before any model reads it
            with self.owner._lock:
                self.owner.refused_files.append(refused[1])
            self._send_error(*refused)
            return
        request = self.owner.record(lambda i: FakeRequest(i, match["model"], match["method"], headers, body))
        self.owner.answer(request, lambda reply: self._send_reply(request, reply))

    def _send_reply(self, request: FakeRequest, reply: Reply) -> None:
        if reply.status != 200:
            self._send_error(reply.status, reply.error_message, reply.headers, reply.error_details)
        elif request.method == "streamGenerateContent":
            self._send_stream(request, reply)
        else:
            self._send_json(200, response_json(request, reply), reply.headers)

    def _send_stream(self, request: FakeRequest, reply: Reply) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        ttft = self.owner.ttft if reply.ttft is None else reply.ttft
        for i, chunk in enumerate(stream_chunks(request, reply)):
            # The wait for the first token, then the pace of the rest, as a model streams.
            delay = ttft if i == 0 else reply.chunk_delay
            if delay > 0:
                self.wfile.flush()
                time.sleep(delay)
            if i == 0:
                self.owner.note_first_token(request.index)
            self.wfile.write(f"data: {json.dumps(chunk)}\r\n\r\n".encode())
        self.wfile.flush()
        self.close_connection = True


@dataclass
class _Upload:
    mime_type: str
    size: int
    display_name: str
    data: bytes = b""
    done: bool = False


@dataclass
class StoredFile:
    """A file uploaded through the Files API."""

    name: str
    mime_type: str
    data: bytes
    display_name: str = ""
    state: str = "PROCESSING"
    polls: int = 0
    deleted: bool = False

    @property
    def uri(self) -> str:
        return FILES_URI + self.name

    def json(self) -> dict[str, Any]:
        return {
            "name": self.name, "displayName": self.display_name, "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)), "uri": self.uri, "state": self.state, "source": "UPLOADED",
            "createTime": "2026-12-05T12:00:00.000000Z", "expirationTime": "2026-12-07T12:00:00.000000Z",
        }  # fmt: skip


class FakeGemini(ModelApiFake[FakeRequest, Reply]):
    """The fake server. `start()` (or `with`) binds 127.0.0.1 on a free port; `url` is the base URL."""

    handler = _Handler
    thread_name = "fake-gemini"

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        latency: float = 0.0,
        api_key: str = API_KEY,
        ttft: float = 0.0,
        processing_polls: int = 1,
    ) -> None:
        super().__init__(responder or default_responder, latency=latency, api_key=api_key, ttft=ttft)
        self.processing_polls = processing_polls
        """`files.get` reads that answer PROCESSING before the file is ACTIVE."""
        self.uploads: dict[str, _Upload] = {}
        self.files: dict[str, StoredFile] = {}
        """Files uploaded and not deleted, by name (`files/…`)."""
        self.uploaded: list[StoredFile] = []
        """Every file uploaded, deleted or not (`deleted`)."""
        self.refused_files: list[str] = []
        """The messages of generateContent calls refused for a `fileData` part (not recorded as requests)."""
        self.file_calls: list[tuple[str, str]] = []
        """(`GET` | `DELETE`, file name) in arrival order."""

    def statuses(self) -> list[int]:
        """The status of every answer, in the order they finished."""
        with self._lock:
            return [a.status for a in self.answered]
