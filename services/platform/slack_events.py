"""Slack events taken, kept in the database: Slack sends an event again when its first delivery was
not acknowledged in time, and behind a load balancer the retry may reach another app process."""

from __future__ import annotations

from db.pool import Conn


async def first_delivery(conn: Conn, *, event_id: str) -> bool:
    """True for the first delivery of `event_id` to any process; False for a repeat. Prunes old ids."""
    # A day is ample: Slack's retries come within minutes.
    await conn.execute("delete from slack_events_seen where seen_at < now() - interval '1 day'")
    cur = await conn.execute(
        "insert into slack_events_seen (event_id) values (%s) on conflict (event_id) do nothing returning event_id",
        (event_id,),
    )
    return await cur.fetchone() is not None
