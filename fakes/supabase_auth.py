"""A fake Supabase Auth (GoTrue) for password sign-in, on a free 127.0.0.1 port, in a background thread.

It answers `POST /auth/v1/token?grant_type=password` as Supabase does: the API gateway's 401 without the
right `apikey` header, GoTrue's session JSON for a known email and password, and GoTrue's 400
`invalid_credentials` error otherwise, in the error format the request's `X-Supabase-Api-Version` asks for.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

MAX_BODY_BYTES = 64 * 1024
API_VERSION_HEADER = "X-Supabase-Api-Version"
# GoTrue answers errors in the 2024-01-01 shape when the request asks for that version (supabase-py does).
API_VERSION_2024 = "2024-01-01"
ACCESS_TOKEN_SECONDS = 3600


@dataclass
class SeenRequest:
    """One request the fake received, and the status it answered with."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names: HTTP header names are case-insensitive (supabase-py sends `apiKey`)."""
    body: dict[str, Any]
    status: int = 0


@dataclass
class FakeUser:
    email: str
    password: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(days=30))


class FakeSupabaseAuth:
    """Use as a context manager; `url` is the project URL to give the supabase client (SUPABASE_URL)."""

    def __init__(self, *, api_key: str, users: dict[str, str]) -> None:
        self.api_key = api_key
        self.users = {
            email.lower(): FakeUser(email=email.lower(), password=pw) for email, pw in users.items()
        }
        self.requests: list[SeenRequest] = []
        self.fail_with: tuple[int, dict[str, Any]] | None = None
        """When set, every request with the right key gets this status and JSON body (an outage)."""
        self.jwt_secret = secrets.token_hex(32)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeSupabaseAuth:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-supabase-auth",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()  # the port is closed from here on
        self._thread.join(timeout=5)

    def answer(self, request: SeenRequest) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Status, JSON body and extra headers for one request."""
        url = urlsplit(request.path)
        # Supabase's API gateway checks the key before GoTrue sees the request.
        given_key = request.headers.get("apikey")
        if given_key is None:
            return (
                401,
                {
                    "message": "No API key found in request",
                    "hint": "No `apikey` request header or url param was found.",
                },
                {},
            )
        if given_key != self.api_key:
            return (
                401,
                {
                    "message": "Invalid API key",
                    "hint": "Double check your Supabase `anon` or `service_role` API key.",
                },
                {},
            )
        if self.fail_with is not None:
            status, body = self.fail_with
            return status, body, {}
        if request.method != "POST" or url.path != "/auth/v1/token":
            return self.error(request, 404, "not_found", "Not Found")
        grant_type = parse_qs(url.query).get("grant_type", [""])[0]
        if grant_type != "password":
            return 400, {"error": "unsupported_grant_type", "error_description": ""}, {}
        email = str(request.body.get("email") or "").strip().lower()
        user = self.users.get(email)
        if user is None or not secrets.compare_digest(user.password, str(request.body.get("password") or "")):
            return self.error(request, 400, "invalid_credentials", "Invalid login credentials")
        return 200, self.session(user), {}

    def error(
        self, request: SeenRequest, status: int, code: str, message: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """GoTrue's HTTPError JSON, in the shape the request's API version asks for."""
        if request.headers.get(API_VERSION_HEADER.lower(), "") >= API_VERSION_2024:
            return status, {"code": code, "message": message}, {API_VERSION_HEADER: API_VERSION_2024}
        return status, {"code": status, "error_code": code, "msg": message}, {}

    def session(self, user: FakeUser) -> dict[str, Any]:
        """GoTrue's answer to a password grant: tokens and the user."""
        now = datetime.now(UTC)
        expires_at = int(now.timestamp()) + ACCESS_TOKEN_SECONDS
        app_metadata = {"provider": "email", "providers": ["email"]}
        user_metadata = {"email": user.email, "email_verified": True, "phone_verified": False, "sub": user.id}
        claims = {
            "iss": f"{self.url}/auth/v1",
            "sub": user.id,
            "aud": "authenticated",
            "exp": expires_at,
            "iat": int(now.timestamp()),
            "email": user.email,
            "phone": "",
            "app_metadata": app_metadata,
            "user_metadata": user_metadata,
            "role": "authenticated",
            "aal": "aal1",
            "amr": [{"method": "password", "timestamp": int(now.timestamp())}],
            "session_id": str(uuid.uuid4()),
            "is_anonymous": False,
        }
        created, signed_in = _timestamp(user.created_at), _timestamp(now)
        return {
            "access_token": jwt.encode(claims, self.jwt_secret, algorithm="HS256", headers={"kid": "fake"}),
            "token_type": "bearer",
            "expires_in": ACCESS_TOKEN_SECONDS,
            "expires_at": expires_at,
            "refresh_token": secrets.token_urlsafe(9),
            "user": {
                "id": user.id,
                "aud": "authenticated",
                "role": "authenticated",
                "email": user.email,
                "email_confirmed_at": created,
                "phone": "",
                "confirmed_at": created,
                "last_sign_in_at": signed_in,
                "app_metadata": app_metadata,
                "user_metadata": user_metadata,
                "identities": [
                    {
                        "identity_id": str(uuid.uuid5(uuid.NAMESPACE_URL, user.id)),
                        "id": user.id,
                        "user_id": user.id,
                        "identity_data": user_metadata,
                        "provider": "email",
                        "last_sign_in_at": signed_in,
                        "created_at": created,
                        "updated_at": signed_in,
                        "email": user.email,
                    }
                ],
                "created_at": created,
                "updated_at": signed_in,
                "is_anonymous": False,
            },
            "weak_password": None,
        }


def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection does not hold a thread for long
    server_version = "fake-gotrue"

    def do_POST(self) -> None:
        self._handle()

    def do_GET(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake: FakeSupabaseAuth = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, {"message": "Request Entity Too Large"}, {})
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        request = SeenRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body if isinstance(body, dict) else {},
        )
        fake.requests.append(request)
        status, payload, headers = fake.answer(request)
        request.status = status
        self._send(status, payload, headers)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: pytest shows the test's own output."""
