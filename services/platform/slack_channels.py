"""An organization's Slack channel for its notifications, and posting a notification there.

A new org-wide notification queues a `slack_notification` job in the transaction that writes it
(`services.platform.notifications.create`): several app processes never post it twice, and a Slack outage
only delays it (the job retries with backoff). Personal notifications are never posted to channels.
"""

from __future__ import annotations

import re
from uuid import UUID

from pydantic import BaseModel

from core.errors import ConfigurationError, InvalidArgument, NotFound
from db.pool import Conn, Database
from services.platform.slack_out import SlackError, post_message
from settings import Settings

_CHANNEL = re.compile(r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CGD][A-Z0-9]{8,20})$")
REFUSALS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "msg_too_long",
    }
)
"""Slack error codes another attempt can't fix: the job fails at once with Slack's reason."""


def check_channel(channel: str) -> str:
    """A channel name ("#growth") or ID ("C0123ABCD"), cleaned; a clear message otherwise."""
    cleaned = channel.strip()
    if _CHANNEL.match(cleaned):
        return cleaned
    cleaned = ("" if cleaned.startswith("#") else "#") + cleaned.lower()
    if not _CHANNEL.match(cleaned):
        raise InvalidArgument(
            f"'{channel}' is not a Slack channel: give its name, like \"#growth\" (lowercase letters, digits,"
            " '-', '_' or '.'), or its ID, like C0123ABCD."
        )
    return cleaned


async def slack_channel(conn: Conn, *, organization_id: UUID) -> str | None:
    """The organization's notification channel (None: not posted to Slack)."""
    cur = await conn.execute(
        "select channel from organization_slack_channels where organization_id = %s", (organization_id,)
    )
    row = await cur.fetchone()
    return str(row["channel"]) if row else None


async def set_slack_channel(conn: Conn, *, organization_id: UUID, channel: str | None, user_id: UUID) -> None:
    """Set (or, with None, clear) the channel, on the caller's connection: RLS lets only admins write."""
    if channel is None:
        await conn.execute(
            "delete from organization_slack_channels where organization_id = %s", (organization_id,)
        )
        return
    await conn.execute(
        "insert into organization_slack_channels (organization_id, channel, updated_by) values (%s, %s, %s)"
        " on conflict (organization_id) do update set channel = excluded.channel,"
        " updated_by = excluded.updated_by, updated_at = now()",
        (organization_id, check_channel(channel), user_id),
    )


async def post(settings: Settings, *, channel: str, text: str, blocks: list[dict[str, object]]) -> str:
    """`slack_out.post_message`, with Slack's refusals that no retry can fix as `ConfigurationError`
    (fails a job at once); outages stay `SlackError` (retried)."""
    try:
        return await post_message(settings, channel=channel, text=text, blocks=blocks)
    except SlackError as error:
        if error.code in REFUSALS:
            raise ConfigurationError(error.message) from None
        raise


class NotificationPosted(BaseModel):
    notification_id: UUID
    channel: str | None
    ts: str | None
    summary: str


async def post_notification(db: Database, settings: Settings, *, notification_id: UUID) -> NotificationPosted:
    """Post one org-wide notification to its organization's channel (as it is now: cleared = skipped)."""
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select n.title, n.message, n.user_id, o.name as organization, s.channel from notifications n"
            " join organizations o on o.id = n.organization_id"
            " left join organization_slack_channels s on s.organization_id = n.organization_id"
            " where n.id = %s",
            (notification_id,),
        )
        row = await cur.fetchone()
    if row is None:
        raise NotFound(f"The notification {notification_id} no longer exists.")
    if row["channel"] is None or row["user_id"] is not None:
        return NotificationPosted(
            notification_id=notification_id,
            channel=None,
            ts=None,
            summary=f"Not posted: {row['organization']} has no Slack channel for notifications now.",
        )
    title, message = str(row["title"]), str(row["message"] or "")
    text = f"{title}\n{message}".strip()
    blocks: list[dict[str, object]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*\n{message}".strip()[:2900]}}
    ]
    ts = await post(settings, channel=row["channel"], text=text, blocks=blocks)
    return NotificationPosted(
        notification_id=notification_id,
        channel=row["channel"],
        ts=ts,
        summary=f"Posted '{title}' to {row['channel']}.",
    )
