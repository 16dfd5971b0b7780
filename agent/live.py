"""New notifications shown live in open chats: one LISTEN connection per app process (which also
hears logouts made on any process, to close that person's chats here).

The `notifications` insert trigger NOTIFYs `services.platform.notifications.CHANNEL` with the new row's ids.
The feed keeps one connection listening, looks a notification up once (title and recipients) when
someone it is for has a chat open on this process, and hands it to a `deliver` callback per open
session (the chat app sends a toast). It never blocks a chat: when the database is unreachable it
waits and reconnects (backing off up to a minute), and notifications stay in the center for
`/notifications` either way. A later Slack poster would subscribe beside the toast (see `subscribe`):
delivery is after commit, from the NOTIFY, never inside the writer's transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from uuid import UUID

import psycopg
from psycopg.rows import dict_row

from db.pool import Database
from services.platform import notifications, session_versions
from services.platform.notifications import Notification
from services.retrying import Backoff

log = logging.getLogger(__name__)

Deliver = Callable[[str, Notification], Awaitable[bool]]
"""Show a notification in one open session; False when that session is gone (it is forgotten)."""

RETRY_FIRST_SECONDS = 1.0
RETRY_MOST_SECONDS = 60.0


def _pause(failures: int) -> float:
    """Seconds before listening again: 1 s, doubling up to a minute (no jitter: one listener)."""
    return Backoff.doubling(RETRY_FIRST_SECONDS, RETRY_MOST_SECONDS).seconds(failures)


class NotificationFeed:
    """Open chat sessions by person, and the one listener that feeds them."""

    def __init__(
        self,
        db: Database,
        deliver: Deliver,
        *,
        url: str | None = None,
        sessions_ended: Callable[[UUID], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.url = url or db.url
        self.deliver = deliver
        self.sessions_ended = sessions_ended
        self.sessions: dict[UUID, set[str]] = {}
        self.subscribers: list[Callable[[Notification, list[UUID]], Awaitable[None]]] = []
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # -- sessions -------------------------------------------------------------------------------

    def register(self, user_id: UUID, session_id: str) -> None:
        self.sessions.setdefault(user_id, set()).add(session_id)
        self.start()

    def unregister(self, session_id: str) -> None:
        for user_id in [u for u, s in self.sessions.items() if session_id in s]:
            self.sessions[user_id].discard(session_id)
            if not self.sessions[user_id]:
                del self.sessions[user_id]

    def subscribe(self, callback: Callable[[Notification, list[UUID]], Awaitable[None]]) -> None:
        """Hear every new notification this process sees (with its recipients), e.g. to post it on."""
        self.subscribers.append(callback)
        self.start()

    # -- the listener ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening (once per feed; needs a running event loop)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._listen_forever(), name="notification-feed"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.listening.clear()

    async def _listen_forever(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.url, autocommit=True, row_factory=dict_row, connect_timeout=10
                ) as conn:
                    await conn.execute(f"listen {notifications.CHANNEL}; listen {session_versions.CHANNEL}")
                    self.listening.set()
                    failures = 0
                    async for notify in conn.notifies():
                        if notify.channel == session_versions.CHANNEL:
                            await self._end_sessions(notify.payload)
                        else:
                            await self._dispatch(notify.payload)
            except (psycopg.Error, OSError) as error:
                wait = _pause(failures + 1)
                log.warning("notification feed: database unavailable (%s); retrying in %.0f s", error, wait)
            self.listening.clear()
            failures += 1
            await asyncio.sleep(_pause(failures))

    async def _end_sessions(self, payload: str) -> None:
        """A logout on any app process: this one closes that person's open chats."""
        try:
            user_id = UUID(payload)
        except ValueError:
            log.warning("notification feed: unreadable logout payload %r", payload)
            return
        if self.sessions_ended is not None:
            try:
                await self.sessions_ended(user_id)
            except Exception:
                log.exception("notification feed: closing the chats of %s failed", user_id)

    async def _dispatch(self, payload: str) -> None:
        try:
            ids = json.loads(payload)
            notification_id = UUID(ids["id"])
            personal = UUID(ids["user_id"]) if ids.get("user_id") else None
        except (ValueError, KeyError, TypeError):
            log.warning("notification feed: unreadable payload %r", payload)
            return
        if not self.subscribers and (not self.sessions or (personal and personal not in self.sessions)):
            return  # nobody here to tell: no query at all
        try:
            async with self.db.as_service() as conn:
                found = await notifications.recipients(conn, notification_id=notification_id)
        except psycopg.Error as error:
            log.warning("notification feed: could not read notification %s (%s)", notification_id, error)
            return
        if found is None:
            return
        notification, people = found
        for subscriber in self.subscribers:
            try:
                await subscriber(notification, people)
            except Exception:
                log.exception("notification subscriber failed for %s", notification_id)
        for person in people:
            for session_id in list(self.sessions.get(person, ())):
                if not await self._deliver(session_id, notification):
                    self.unregister(session_id)

    async def _deliver(self, session_id: str, notification: Notification) -> bool:
        try:
            return await self.deliver(session_id, notification)
        except Exception:
            # One broken session must not stop the others (or the feed).
            log.exception("notification feed: delivery to session %s failed", session_id)
            return False


def toast_text(notification: Notification) -> str:
    """What an open chat shows: the title, the message, where to see them all."""
    body = f"{notification.title}: {notification.message}" if notification.message else notification.title
    return f"🔔 {body} — /notifications"
