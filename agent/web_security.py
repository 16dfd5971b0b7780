"""The web server's doors, an ASGI middleware on our own web app (web.py), in front of Chainlit:
which origins may write with a person's cookie or open the chat's socket (CORS itself is Starlette's
middleware, configured from the same origins), and which sign-in tokens still count (a token from
before its person's logout is dropped, so Chainlit sees no token).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import jwt
import psycopg
import socketio
from chainlit.auth.cookie import _auth_cookie_name
from chainlit.auth.jwt import get_jwt_secret
from chainlit.session import ws_sessions_sid
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# What a database that is down or not answering raises: our pool's own error, psycopg's, a timeout.
DATABASE_DOWN = (DatabaseUnavailable, psycopg.OperationalError, TimeoutError)

# The address of the client whose request is being served (for sign-in throttling): Chainlit's
# password callback is not given the request.
client_address: ContextVar[str | None] = ContextVar("client_address", default=None)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Where Chainlit's socket.io server answers (it is mounted at the root of our app).
SOCKET_IO_PATH = "/ws/socket.io"
CROSS_ORIGIN_REFUSED = "Requests from other sites are not accepted."
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> str:
    """`scheme://host[:port]` as a browser sends it in `Origin` (no path, default port left out)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    return f"{scheme}://{host}" if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{scheme}://{host}:{port}"


class AllowedOrigins:
    """The app's own origin (its public URL, and whatever host it is served as) plus configured ones."""

    def __init__(self, origins: Iterable[str]) -> None:
        self.origins = sorted({origin_of(o) for o in origins if o.strip()})

    def allows(self, origin: str | None, *, served_as: str | None = None) -> bool:
        if not origin:
            return True  # not sent by a browser on a cross-site request
        candidate = origin_of(origin)
        return candidate in self.origins or (served_as is not None and candidate == origin_of(served_as))


def served_origin(scope: Scope) -> str | None:
    """The origin this request was addressed to (scheme and Host header): the same origin."""
    host = Headers(scope=scope).get("host")
    if not host:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{host}"


def address_of(scope: Scope, *, trust_proxy: bool) -> str | None:
    """The client's address: the connection's peer, or, behind a trusted proxy, the address that
    proxy added last to X-Forwarded-For (earlier entries are whatever the client sent)."""
    if trust_proxy:
        forwarded = Headers(scope=scope).get("x-forwarded-for", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    client = scope.get("client")
    return str(client[0]) if client else None


class SessionVersions:
    """Each person's current session version, read at most once a second per process."""

    def __init__(self, load: Callable[[UUID], Awaitable[int]], *, ttl: float = 1.0) -> None:
        """`load` reads the version; psycopg.OperationalError or TimeoutError: the database is down."""
        self._load = load
        self._ttl = ttl
        self._cache: dict[UUID, tuple[int, float]] = {}

    async def current(self, user_id: UUID) -> int | None:
        """The version, or the last one known (None: never known) while the database is down:
        then the request goes on, and whatever it needs from the database answers for itself."""
        cached = self._cache.get(user_id)
        now = time.monotonic()
        if cached is not None and now - cached[1] < self._ttl:
            return cached[0]
        try:
            version = await self._load(user_id)
        except DATABASE_DOWN as error:
            log.warning("session check skipped: the database is unavailable (%s)", type(error).__name__)
            return cached[0] if cached else None
        if len(self._cache) > 10_000:  # bounded: a flood of tokens can't grow it without end
            self._cache.clear()
        self._cache[user_id] = (version, now)
        return version

    def forget(self, user_id: UUID) -> None:
        """After a logout in this process: the next request reads the new version."""
        self._cache.pop(user_id, None)


def token_claims(token: str) -> dict[str, Any] | None:
    """The claims of a token Chainlit issued (signature and expiry checked), else None."""
    secret = get_jwt_secret()
    if not secret:
        return None
    try:
        return dict(jwt.decode(token, secret, algorithms=["HS256"]))
    except jwt.InvalidTokenError:
        return None


def token_session(claims: dict[str, Any]) -> tuple[UUID, int] | None:
    """The person a token stands for and the session version it was issued with (0: before versions)."""
    metadata = claims.get("metadata")
    if not isinstance(metadata, dict):
        return None
    try:
        return UUID(str(metadata["user_id"])), int(metadata.get("session_version", 0))
    except (KeyError, ValueError, TypeError):
        return None


def _is_auth_cookie(name: str) -> bool:
    # As Chainlit names it: `access_token`, or `access_token_0`, `_1`… when chunked.
    return name == _auth_cookie_name or name.startswith(_auth_cookie_name + "_")


def request_token(headers: Headers) -> str | None:
    """The sign-in token as Chainlit reads it: the cookie (whole or chunked), else a Bearer header."""
    cookies = cookie_parser(headers.get("cookie", ""))
    if whole := cookies.get(_auth_cookie_name):
        return whole
    chunks = []
    for index in range(64):  # bounded: Chainlit writes 3,000-character chunks
        chunk = cookies.get(f"{_auth_cookie_name}_{index}")
        if chunk is None:
            break
        chunks.append(chunk)
    if chunks:
        return "".join(chunks)
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def without_token(scope: Scope) -> Scope:
    """The same request with its sign-in token removed (other cookies kept)."""
    headers: list[tuple[bytes, bytes]] = []
    for name, value in scope["headers"]:
        if name == b"authorization":
            continue
        if name == b"cookie":
            kept = "; ".join(
                part.strip()
                for part in value.decode("latin-1").split(";")
                if part.strip() and not _is_auth_cookie(part.strip().split("=", 1)[0].strip())
            )
            if not kept:
                continue
            value = kept.encode("latin-1")
        headers.append((name, value))
    return {**scope, "headers": headers}


class WebSecurityMiddleware:
    """Outermost ASGI layer: notes the client's address, refuses writes from foreign origins, and
    drops sign-in tokens their person has since logged out of."""

    def __init__(
        self, app: ASGIApp, *, origins: AllowedOrigins, sessions: SessionVersions, trust_proxy: bool
    ) -> None:
        self.app = app
        self.origins = origins
        self.sessions = sessions
        self.trust_proxy = trust_proxy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if _origin_checked(scope) and not self.origins.allows(
            headers.get("origin"), served_as=served_origin(scope)
        ):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})  # before accept: a 403 handshake
            else:
                await _refuse(send, 403, CROSS_ORIGIN_REFUSED)
            return
        if (token := request_token(headers)) and await self._outdated(token):
            scope = without_token(scope)
        reset = client_address.set(address_of(scope, trust_proxy=self.trust_proxy))
        try:
            await self.app(scope, receive, send)
        finally:
            client_address.reset(reset)

    async def _outdated(self, token: str) -> bool:
        claims = token_claims(token)
        session = token_session(claims) if claims else None
        if session is None:
            return False  # not ours to judge: Chainlit refuses what it cannot read
        user_id, version = session
        current = await self.sessions.current(user_id)
        return current is not None and version < current


def _origin_checked(scope: Scope) -> bool:
    """Writes, and the chat's socket (websocket or polling, reads included: it carries the chat)."""
    if scope["type"] == "websocket":
        return True
    return scope["method"] not in SAFE_METHODS or str(scope["path"]).startswith(SOCKET_IO_PATH)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
    }
    await send(start)
    await send({"type": "http.response.body", "body": body})


async def close_sockets(sio: socketio.AsyncServer, *, user_id: UUID) -> int:
    """Disconnect the person's open chat connections in this process (after their logout: a socket
    opened with the old token would otherwise stay open); how many there were."""
    sockets = [
        sid
        for sid, session in list(ws_sessions_sid.items())
        if session.user and session.user.metadata.get("user_id") == str(user_id)
    ]
    for sid in sockets:
        await sio.disconnect(sid)
    return len(sockets)
