"""Personal access tokens: a bearer token for the MCP server's HTTP transport stands for one person.

A token is `vt_` + 32 random bytes (URL-safe base64). Only its sha256 is stored: with that much
entropy a slow hash adds nothing, and a lookup is one index probe. The token is shown once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from core.errors import InvalidArgument, NotFound, UserFacingError
from db.pool import Caller, Conn

TOKEN_PREFIX = "vt_"
# Shown in listings so a person can tell their tokens apart without the secret.
SHOWN_CHARS = 10
_ID_PREFIX = re.compile(r"[0-9a-f-]{6,36}")


class ApiToken(BaseModel):
    """A token as listings show it (never the secret or its hash)."""

    id: UUID
    name: str
    token_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedToken(BaseModel):
    token: ApiToken
    secret: str
    """The bearer token itself: shown once, stored nowhere."""


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_COLUMNS = "id, name, token_prefix, created_at, last_used_at, revoked_at"


async def create_token(conn: Conn, *, user: Caller, name: str) -> CreatedToken:
    """A new token for `user` (the secret is in the answer and nowhere else)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidArgument("A token needs a name of 1 to 100 characters, e.g. --name 'Claude Desktop'.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    cur = await conn.execute(
        f"insert into api_tokens (user_id, name, token_hash, token_prefix) values (%s, %s, %s, %s)"
        f" returning {_COLUMNS}",
        (user.user_id, name, token_hash(secret), secret[:SHOWN_CHARS]),
    )
    row = await cur.fetchone()
    assert row is not None
    return CreatedToken(token=ApiToken.model_validate(row), secret=secret)


async def list_tokens(conn: Conn, *, user: Caller) -> list[ApiToken]:
    """`user`'s tokens, newest first, revoked ones included (marked)."""
    cur = await conn.execute(
        f"select {_COLUMNS} from api_tokens where user_id = %s order by created_at desc, id", (user.user_id,)
    )
    return [ApiToken.model_validate(row) for row in await cur.fetchall()]


async def revoke_token(conn: Conn, *, token_id: str) -> ApiToken:
    """Revoke the token with this id (or its first 6+ characters). Revoking twice changes nothing."""
    wanted = token_id.strip().lower()
    if not _ID_PREFIX.fullmatch(wanted):
        raise InvalidArgument(
            f"'{token_id}' is not a token id: use the id `viraltracker token list` shows (6+ characters)."
        )
    cur = await conn.execute(
        f"select {_COLUMNS} from api_tokens where id::text like %s || '%%' order by created_at", (wanted,)
    )
    rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"No token with id '{token_id}'. See `viraltracker token list --user EMAIL`.")
    if len(rows) > 1:
        raise InvalidArgument(f"'{token_id}' matches {len(rows)} tokens: give more of the id.")
    found = ApiToken.model_validate(rows[0])
    if found.revoked_at is not None:
        return found
    cur = await conn.execute(
        f"update api_tokens set revoked_at = now() where id = %s returning {_COLUMNS}", (found.id,)
    )
    row = await cur.fetchone()
    assert row is not None
    return ApiToken.model_validate(row)


class TokenRefused(UserFacingError):
    """The bearer token is unknown or revoked (or not ours); the message says which (a 401 over HTTP)."""


async def caller_for_token(conn: Conn, *, secret: str) -> Caller:
    """The person a bearer token stands for, recording its use; `TokenRefused` when it can't be used.

    Run as the connection's own role (like finding a `--user`): the token is how we learn who is asking."""
    if not secret.startswith(TOKEN_PREFIX):
        raise TokenRefused(
            "That is not a ViralTracker token (they start with 'vt_'). Create one with"
            " `viraltracker token create --user EMAIL`."
        )
    cur = await conn.execute(
        "select t.id, t.revoked_at, t.last_used_at, u.id as user_id, u.email"
        " from api_tokens t join auth.users u on u.id = t.user_id where t.token_hash = %s",
        (token_hash(secret),),
    )
    row = await cur.fetchone()
    if row is None:
        raise TokenRefused(
            "Unknown token: it may have been mistyped. Create one with `viraltracker token create`."
        )
    if row["revoked_at"] is not None:
        raise TokenRefused("This token was revoked. Create a new one with `viraltracker token create`.")
    # At most one write a minute per token: a busy client should not turn every request into an update.
    await conn.execute(
        "update api_tokens set last_used_at = now() where id = %s"
        " and (last_used_at is null or last_used_at < now() - interval '1 minute')",
        (row["id"],),
    )
    return Caller(user_id=UUID(str(row["user_id"])), email=str(row["email"]))
