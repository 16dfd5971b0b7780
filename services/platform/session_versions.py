"""Server-side logout: each sign-in's token carries the person's session version, and logging out
bumps it, so every token issued before the logout is refused from then on."""

from __future__ import annotations

from uuid import UUID

from db.pool import Conn

CHANNEL = "vt_sessions_ended"
"""NOTIFYed with the person's id when they log out: every app process closes their open chats."""


async def session_version(conn: Conn, *, user_id: UUID) -> int:
    """The person's current session version (0 until they first log out)."""
    cur = await conn.execute("select session_version from user_sessions where user_id = %s", (user_id,))
    row = await cur.fetchone()
    return int(row["session_version"]) if row else 0


async def end_sessions(conn: Conn, *, user_id: UUID) -> int:
    """Log the person out everywhere: tokens issued before now stop working, and every app process
    hears it (`CHANNEL`). The new version."""
    cur = await conn.execute(
        "insert into user_sessions (user_id, session_version) values (%s, 1) on conflict (user_id)"
        " do update set session_version = user_sessions.session_version + 1, updated_at = now()"
        " returning session_version",
        (user_id,),
    )
    row = await cur.fetchone()
    assert row is not None
    await conn.execute("select pg_notify(%s, %s)", (CHANNEL, str(user_id)))  # sent at commit
    return int(row["session_version"])
