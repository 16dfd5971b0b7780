"""The notification center: what happened in the background (syncs, classifications, failed jobs,
expiring Meta tokens), for one person or a whole organization, with read state per person.

Jobs create notifications on a service-role connection; people list and mark them on their own
(`db.as_user`) connection, where row-level security also confines them. Every query names the
person explicitly as well, so the answers are the same on either kind of connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InvalidArgument
from db.jsonb import jsonb
from db.pool import Conn
from jobs import queue

CHANNEL = "vt_notifications"
"""The NOTIFY channel a new notification is announced on (ids only; see the migration's trigger)."""

MAX_LIST = 200
SLACK_JOB = "slack_notification"
"""The job type that posts an org-wide notification to its organization's Slack channel."""


class SlackNotificationParams(BaseModel):
    """The parameters of a `slack_notification` run (jobs.builtin runs it)."""

    model_config = ConfigDict(extra="forbid")

    notification_id: UUID


class Notification(BaseModel):
    id: UUID
    organization_id: UUID
    organization: str
    personal: bool
    """Addressed to this person alone (else to everyone in the organization)."""
    type: str
    category: str | None
    title: str
    message: str | None
    metadata: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    read_at: datetime | None

    @property
    def read(self) -> bool:
        return self.read_at is not None


_COLUMNS = (
    "n.id, n.organization_id, o.name as organization, n.user_id is not null as personal,"
    " n.type, n.category, n.title, n.message, n.metadata, n.created_at"
)
_FROM_FOR_USER = (
    "from notifications n join organizations o on o.id = n.organization_id"
    " left join notification_reads r on r.notification_id = n.id and r.user_id = %(user_id)s"
)
# Notifications this person may see: their organizations' org-wide ones and their own.
_VISIBLE = """
    n.organization_id in (select organization_id from user_organizations where user_id = %(user_id)s)
    and (n.user_id is null or n.user_id = %(user_id)s)
"""


async def create(
    conn: Conn,
    *,
    organization_id: UUID,
    user_id: UUID | None = None,
    type: str,
    category: str | None = None,
    title: str,
    message: str | None = None,
    metadata: Mapping[str, Any] | BaseModel | None = None,
) -> UUID:
    """Record a notification for everyone in the organization (`user_id` None) or for one member.

    Written on a service-role connection (jobs); open chats of the people it is for show it at once
    (the insert trigger NOTIFYs `CHANNEL`). Returns its id.
    """
    if not type.strip():
        raise InvalidArgument("A notification needs a type, e.g. 'sync_finished'.")
    if not title.strip():
        raise InvalidArgument("A notification needs a title.")
    cur = await conn.execute(
        "insert into notifications (organization_id, user_id, type, category, title, message, metadata)"
        " select %(org)s, %(user_id)s, %(type)s, %(category)s, %(title)s, %(message)s, %(metadata)s"
        " where %(user_id)s::uuid is null or exists (select 1 from user_organizations"
        "   where organization_id = %(org)s and user_id = %(user_id)s)"
        " returning id, (select channel from organization_slack_channels"
        "   where organization_id = %(org)s and %(user_id)s::uuid is null) as slack_channel",
        {
            "org": organization_id,
            "user_id": user_id,
            "type": type.strip(),
            "category": category,
            "title": title.strip(),
            "message": message,
            "metadata": jsonb(metadata if metadata is not None else {}),
        },
    )
    row = await cur.fetchone()
    if row is None:
        raise InvalidArgument(f"User {user_id} is not a member of organization {organization_id}.")
    created = UUID(str(row["id"]))
    if row["slack_channel"] and not _about_slack_posting(metadata):
        await _queue_slack_post(conn, organization_id=organization_id, notification_id=created)
    return created


def _about_slack_posting(metadata: Mapping[str, Any] | BaseModel | None) -> bool:
    # A failed Slack post is not posted to Slack again (no loop while Slack is down).
    return isinstance(metadata, Mapping) and metadata.get("job_type") == SLACK_JOB


async def _queue_slack_post(conn: Conn, *, organization_id: UUID, notification_id: UUID) -> None:
    """An org-wide notification goes to the organization's Slack channel by a job queued in this same
    transaction: one post whatever the number of app processes, none if the notification rolls back,
    retried with backoff while Slack is down."""
    params = SlackNotificationParams(notification_id=notification_id)
    await queue.enqueue(conn, SLACK_JOB, params, organization_id=organization_id, brand_id=None)


async def unread_count(conn: Conn, *, user_id: UUID) -> int:
    """How many notifications this person has not read yet (one indexed query)."""
    cur = await conn.execute(
        f"select count(*) as n from notifications n where {_VISIBLE}"
        " and not exists (select 1 from notification_reads r"
        "   where r.user_id = %(user_id)s and r.notification_id = n.id)",
        {"user_id": user_id},
    )
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def list_notifications(
    conn: Conn, *, user_id: UUID, unread_only: bool = False, limit: int = 50
) -> list[Notification]:
    """This person's notifications, newest first, each with when they read it (None = unread)."""
    if not 1 <= limit <= MAX_LIST:
        raise InvalidArgument(f"limit must be between 1 and {MAX_LIST} (got {limit}).")
    unread = " and r.notification_id is null" if unread_only else ""
    cur = await conn.execute(
        f"select {_COLUMNS}, r.read_at {_FROM_FOR_USER}"
        f" where {_VISIBLE}{unread}"
        " order by n.created_at desc, n.id limit %(limit)s",
        {"user_id": user_id, "limit": limit},
    )
    return [Notification.model_validate(row) for row in await cur.fetchall()]


async def get_notification(conn: Conn, *, user_id: UUID, notification_id: UUID) -> Notification | None:
    """One notification if this person may see it (None otherwise: another organization's, or a
    colleague's personal one, looks exactly like one that does not exist)."""
    cur = await conn.execute(
        f"select {_COLUMNS}, r.read_at {_FROM_FOR_USER} where n.id = %(id)s and {_VISIBLE}",
        {"user_id": user_id, "id": notification_id},
    )
    row = await cur.fetchone()
    return Notification.model_validate(row) if row else None


async def mark_read(conn: Conn, *, user_id: UUID, ids: Sequence[UUID]) -> int:
    """Mark these notifications read for this person; returns how many were unread until now.
    Ids the person can't see are ignored (they are not theirs to mark)."""
    if not ids:
        return 0
    cur = await conn.execute(
        "insert into notification_reads (notification_id, user_id)"
        f" select n.id, %(user_id)s from notifications n where n.id = any(%(ids)s) and {_VISIBLE}"
        " on conflict do nothing",
        {"user_id": user_id, "ids": list(ids)},
    )
    return cur.rowcount


async def mark_all_read(conn: Conn, *, user_id: UUID) -> int:
    """Mark everything this person can see as read; returns how many were unread until now."""
    cur = await conn.execute(
        "insert into notification_reads (notification_id, user_id)"
        f" select n.id, %(user_id)s from notifications n where {_VISIBLE}"
        " and not exists (select 1 from notification_reads r"
        "   where r.user_id = %(user_id)s and r.notification_id = n.id)"
        " on conflict do nothing",
        {"user_id": user_id},
    )
    return cur.rowcount


async def recipients(conn: Conn, *, notification_id: UUID) -> tuple[Notification, list[UUID]] | None:
    """A new notification and the people it is for (service role: the live feed's one lookup)."""
    cur = await conn.execute(
        f"select {_COLUMNS}, null::timestamptz as read_at,"
        " case when n.user_id is not null then array[n.user_id]"
        "   else array(select user_id from user_organizations where organization_id = n.organization_id)"
        " end as people"
        " from notifications n join organizations o on o.id = n.organization_id where n.id = %(id)s",
        {"id": notification_id},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    people = [UUID(str(p)) for p in row.pop("people")]
    return Notification.model_validate(row), people
