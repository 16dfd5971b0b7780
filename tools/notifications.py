"""The notification center in chat: what happened in the background, newest first, and marking it read."""

from __future__ import annotations

from pydantic import BaseModel

from services.platform import notifications as notification_service
from services.platform.notifications import Notification
from services.presentable import Presentable, Table
from tools.actions import ActionButton
from tools.common import Limit
from tools.deps import Deps
from tools.registry import tool


class NotificationsResult(BaseModel, Presentable):
    summary: str
    unread: int
    """Unread notifications in all (not only those listed)."""
    marked_read: int = 0
    notifications: list[Notification]
    actions: list[ActionButton] = []

    def as_tables(self) -> list[Table]:
        rows = [
            ["unread" if n.read_at is None else "read", n.created_at, n.title, n.message,
             "you" if n.personal else n.organization, n.category or n.type]
            for n in self.notifications
        ]  # fmt: skip
        return [Table("Notifications", ["status", "when", "title", "message", "for", "category"], rows)]


@tool(
    example="/notifications unread:true",
    step="Checking your notifications",
    help="""They are for your whole organization or for you alone; marking read is yours only, your colleagues
    keep theirs.""",
)
async def notifications(
    deps: Deps, unread: bool = False, mark_all_read: bool = False, limit: Limit = 20
) -> NotificationsResult:
    """Your notifications, newest first (syncs, classifications, failed jobs, expiring Meta tokens), with
    the unread count.

    Args:
        unread: Only unread ones.
        mark_all_read: Mark all read first (for you only).
    """
    who = deps.caller.user_id
    async with deps.db.as_user(deps.caller) as conn:
        marked = await notification_service.mark_all_read(conn, user_id=who) if mark_all_read else 0
        found = await notification_service.list_notifications(
            conn, user_id=who, unread_only=unread, limit=limit
        )
        count = await notification_service.unread_count(conn, user_id=who)
    return NotificationsResult(
        summary=_summary(found, unread=count, marked=marked, unread_only=unread),
        unread=count,
        marked_read=marked,
        notifications=found,
        actions=[ActionButton(label="Mark all read", tool="notifications", args={"mark_all_read": True})]
        if count
        else [],
    )


def _summary(found: list[Notification], *, unread: int, marked: int, unread_only: bool) -> str:
    done = f"Marked {marked} notification{_s(marked)} read. " if marked else ""
    if not found:
        return done + ("No unread notifications." if unread_only else "No notifications yet.")
    state = f"{unread} unread" if unread else "all read"
    lines = [
        f"{done}Your {len(found)} latest{' unread' if unread_only else ''} notification{_s(len(found))} ({state}):"
    ]
    for n in found[:5]:
        mark = "• " if n.read_at is None else "  "
        lines.append(
            f"{mark}{n.created_at:%Y-%m-%d %H:%M} — {n.title}" + (f": {n.message}" if n.message else "")
        )
    if len(found) > 5:
        lines.append(f"…and {len(found) - 5} more in the table.")
    return "\n".join(lines)


def _s(n: int) -> str:
    return "" if n == 1 else "s"
