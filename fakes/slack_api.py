"""A fake Slack Web API on a free 127.0.0.1 port, for the real `slack_sdk` (and `slack_bolt`) clients.

`/api/<method>` answers Slack's wire format: HTTP 200 with `{"ok": true, ...}` or `{"ok": false,
"error": "<code>"}`, and 429 + `Retry-After` when rate-limited. Arguments arrive the ways the SDK
sends them (query string, form body, JSON body) and are merged. Methods: auth.test, users.info,
users.lookupByEmail, chat.postMessage, chat.update, conversations.replies, reactions.add/remove,
files.getUploadURLExternal, the upload URL it hands out (`/upload/<file id>`), and
files.completeUploadExternal. Every call is recorded (`calls`, `calls_to(method)`), posted
messages are kept per channel (`messages`, with updates applied), uploaded files in `files`.

Scripted failures: `fail("chat.postMessage", "channel_not_found")` answers that error to the next
call(s) of a method; `rate_limit("chat.postMessage", retry_after=1, times=2)` answers 429s first.

    with FakeSlack() as slack:
        slack.add_user("U1", "maya@northwind.example")
        settings = Settings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.url + "/api/")

`sign(secret, body, timestamp)` makes the `X-Slack-Signature` Slack sends with events (v0 HMAC).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakes.http_fake import FakeHandler, HttpFake

BOT_TOKEN = "xoxb-test-fake-token"
SIGNING_SECRET = "fake-signing-secret-0123456789"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM_ID = "T0001"
MAX_BODY_BYTES = 16 * 1024 * 1024


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """Slack's request signature: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + str(timestamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "x-slack-request-timestamp": str(ts),
        "x-slack-signature": sign(secret, body, ts),
    }


@dataclass
class SlackCall:
    """One call as the fake received it."""

    index: int
    method: str
    """The Web API method (`chat.postMessage`), or `upload` for the upload URL."""
    args: dict[str, Any]
    headers: dict[str, str]
    raw: bytes = b""


@dataclass
class SlackReply:
    status: int = 200
    body: dict[str, Any] | str = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    latency: float | None = None


@dataclass
class Posted:
    """A message the bot posted (updates applied in place)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    updates: int = 0


@dataclass
class Uploaded:
    channel: str | None
    thread_ts: str | None
    title: str
    filename: str
    content: bytes


class _Handler(FakeHandler):
    owner: FakeSlack

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY_BYTES:
            self._send_json(413, {"ok": False, "error": "request_too_large"})
            return
        self._handle(self.rfile.read(length))

    def _handle(self, raw: bytes) -> None:
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if parts.path.startswith("/upload/"):
            method = "upload"
            args: dict[str, Any] = {"file_id": parts.path.removeprefix("/upload/")}
        elif parts.path.startswith("/api/"):
            method = parts.path.removeprefix("/api/")
            args = dict(parse_qsl(parts.query))
            kind = headers.get("content-type", "")
            try:
                if "json" in kind and raw:
                    args.update(json.loads(raw))
                elif "form-urlencoded" in kind and raw:
                    args.update(parse_qsl(raw.decode()))
            except ValueError:
                self._send_json(200, {"ok": False, "error": "invalid_json"})
                return
        else:
            self._send_json(404, {"ok": False, "error": "unknown_method"})
            return
        call = self.owner.record(
            lambda i: SlackCall(index=i, method=method, args=args, headers=headers, raw=raw)
        )
        self.owner.answer(call, self._send_reply)

    def _send_reply(self, reply: SlackReply) -> None:
        if isinstance(reply.body, str):
            data = reply.body.encode()
            self.send_response(reply.status)
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send_json(reply.status, reply.body, reply.headers)


class FakeSlack(HttpFake[SlackCall, SlackReply]):
    """The fake Web API. `url + "/api/"` is the `base_url` for the clients."""

    handler = _Handler
    thread_name = "fake-slack"

    def __init__(self, *, token: str = BOT_TOKEN, latency: float = 0.0) -> None:
        super().__init__(self._respond, latency=latency)
        self.token = token
        self.users: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[Posted]] = {}
        self.files: list[Uploaded] = []
        self.reactions: list[tuple[str, str, str, str]] = []
        """(added|removed, channel, ts, name)"""
        self._failures: dict[str, list[SlackReply]] = {}
        self._pending_uploads: dict[str, tuple[str, int, bytes | None]] = {}
        # Like Slack's: the time in microseconds, so no two fakes of a session hand out the same ts.
        self._clock = itertools.count(time.time_ns() // 1000)
        self._state = threading.Lock()

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    # -- set-up ----------------------------------------------------------------------------------

    def add_user(self, user_id: str, email: str | None, name: str = "") -> None:
        profile: dict[str, Any] = {"real_name": name or user_id, "display_name": name or user_id}
        if email is not None:
            profile["email"] = email
        self.users[user_id] = {"id": user_id, "team_id": TEAM_ID, "name": name or user_id, "profile": profile}

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        self._failures.setdefault(method, []).extend(
            SlackReply(body={"ok": False, "error": error}) for _ in range(times)
        )

    def rate_limit(self, method: str, *, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` calls of `method` answer 429 with `Retry-After: retry_after`."""
        self._failures.setdefault(method, []).extend(
            SlackReply(
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"Retry-After": str(retry_after)},
            )
            for _ in range(times)
        )

    # -- what happened ---------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in list(self.requests) if c.method == method]

    def posted(self, channel: str | None = None) -> list[Posted]:
        with self._state:
            if channel is not None:
                return list(self.messages.get(channel, []))
            return [m for messages in self.messages.values() for m in messages]

    def in_thread(self, channel: str, thread_ts: str) -> list[Posted]:
        return [m for m in self.posted(channel) if m.thread_ts == thread_ts]

    # -- the API ---------------------------------------------------------------------------------

    def _next_ts(self) -> str:
        n = next(self._clock)
        return f"{n // 1_000_000}.{n % 1_000_000:06d}"

    def _respond(self, call: SlackCall) -> SlackReply:
        with self._state:
            scripted = self._failures.get(call.method)
            if scripted:
                return scripted.pop(0)
        if call.method == "upload":
            return self._upload(call)
        bearer = call.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if bearer != self.token and call.args.get("token") != self.token:
            return SlackReply(body={"ok": False, "error": "not_authed" if not bearer else "invalid_auth"})
        handler = getattr(self, "_m_" + call.method.replace(".", "_"), None)
        if handler is None:
            return SlackReply(body={"ok": False, "error": "unknown_method"})
        body: dict[str, Any] = handler(call.args)
        return SlackReply(body=body)

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.example/",
            "team": "Fake Team",
            "user": "viraltracker",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email", "")).lower()
        for user in self.users.values():
            if str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    @staticmethod
    def _blocks(args: dict[str, Any]) -> list[dict[str, Any]]:
        blocks = args.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return list(blocks)

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = str(args.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        thread = args.get("thread_ts") or None
        posted = Posted(channel, ts, str(args.get("text") or ""), self._blocks(args), thread)
        with self._state:
            self.messages.setdefault(channel, []).append(posted)
        message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": posted.text, "ts": ts}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        with self._state:
            for posted in self.messages.get(channel, []):
                if posted.ts == ts:
                    posted.text = str(args.get("text") or "")
                    posted.blocks = self._blocks(args)
                    posted.updates += 1
                    return {"ok": True, "channel": channel, "ts": ts, "text": posted.text}
        return {"ok": False, "error": "message_not_found"}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(args.get("channel") or ""), str(args.get("ts") or "")
        thread = [m for m in self.posted(channel) if m.ts == ts or m.thread_ts == ts]
        messages = [{"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": m.text, "ts": m.ts,
                     "thread_ts": m.thread_ts} for m in thread]  # fmt: skip
        return {"ok": True, "messages": messages, "has_more": False}

    def _m_reactions_add(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._state:
            self.reactions.append(
                ("added", str(args.get("channel")), str(args.get("timestamp")), str(args.get("name")))
            )
        return {"ok": True}

    def _m_reactions_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        with self._state:
            self.reactions.append(
                ("removed", str(args.get("channel")), str(args.get("timestamp")), str(args.get("name")))
            )
        return {"ok": True}

    def _m_files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            length = int(args.get("length") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not args.get("filename") or length <= 0:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._clock):08d}"
        with self._state:
            self._pending_uploads[file_id] = (str(args["filename"]), length, None)
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _upload(self, call: SlackCall) -> SlackReply:
        file_id = str(call.args["file_id"])
        with self._state:
            pending = self._pending_uploads.get(file_id)
            if pending is None:
                return SlackReply(status=404, body="not found")
            content = call.raw
            if b"Content-Disposition" in content[:400]:  # a multipart body: the file is the part's payload
                content = content.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n--", 1)[0]
            self._pending_uploads[file_id] = (pending[0], pending[1], content)
        return SlackReply(body=f"OK - {len(content)}")

    def _m_files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        done = []
        for item in files or []:
            with self._state:
                pending = self._pending_uploads.pop(str(item.get("id")), None)
            if pending is None:
                return {"ok": False, "error": "file_not_found"}
            filename, _, content = pending
            if content is None:  # the upload URL was never sent the file
                return {"ok": False, "error": "file_not_found"}
            channel = args.get("channel_id") or args.get("channels")
            upload = Uploaded(
                channel, args.get("thread_ts"), str(item.get("title") or filename), filename, content
            )
            with self._state:
                self.files.append(upload)
            done.append({"id": item.get("id"), "title": upload.title, "name": filename})
        return {"ok": True, "files": done}
