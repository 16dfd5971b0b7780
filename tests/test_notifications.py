"""The notification center: read state per person, tenancy (RLS), `/notifications` in chat and the CLI,
the unread count at chat start, and the live toast in an open chat."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import UUID

import psycopg
import pytest
from pydantic import BaseModel

import app
from agent import live
from core.errors import InvalidArgument
from db.pool import Caller, Database
from services.platform import notifications
from tests.chat_helpers import OpenChat, Team, app_on_test_database, make_team
from tests.cli_helpers import run_cli


@pytest.fixture(scope="module")
async def team(db: Database) -> Team:
    return await make_team(db, "Notify Co")


@pytest.fixture
async def chat_app(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[None]:
    async with app_on_test_database(db, monkeypatch, tmp_path):
        yield


async def _create(
    db: Database, team: Team, *, title: str, user: Caller | None = None, **extra: object
) -> UUID:
    async with db.as_service() as conn:
        return await notifications.create(
            conn,
            organization_id=team.org,
            user_id=user.user_id if user else None,
            type=str(extra.pop("type", "sync_finished")),
            category="meta",
            title=title,
            message=str(extra.pop("message", "12 new ads, 340 ad-days.")),
            metadata=extra or None,
        )


async def _unread(db: Database, caller: Caller) -> int:
    async with db.as_user(caller) as conn:
        return await notifications.unread_count(conn, user_id=caller.user_id)


async def _titles(db: Database, caller: Caller, *, unread_only: bool = False) -> list[str]:
    async with db.as_user(caller) as conn:
        found = await notifications.list_notifications(conn, user_id=caller.user_id, unread_only=unread_only)
    return [n.title for n in found]


async def _mark_all(db: Database, caller: Caller) -> int:
    async with db.as_user(caller) as conn:
        return await notifications.mark_all_read(conn, user_id=caller.user_id)


class SyncCounts(BaseModel):
    ads: int
    day: object


async def test_org_wide_read_by_one_person_stays_unread_for_the_other(db: Database, team: Team) -> None:
    await _mark_all(db, team.admin)
    await _mark_all(db, team.member)
    nid = await _create(db, team, title="Meta sync finished for Fern & Co", counts=SyncCounts(ads=3, day="x"))
    assert await _unread(db, team.admin) == 1 and await _unread(db, team.member) == 1
    async with db.as_user(team.admin) as conn:
        assert await notifications.mark_read(conn, user_id=team.admin.user_id, ids=[nid]) == 1
        assert await notifications.mark_read(conn, user_id=team.admin.user_id, ids=[nid]) == 0  # once
        [latest] = await notifications.list_notifications(conn, user_id=team.admin.user_id, limit=1)
    assert latest.id == nid and latest.read_at is not None and not latest.personal
    assert latest.metadata == {"counts": {"ads": 3, "day": "x"}}  # through the one JSON helper
    assert await _unread(db, team.admin) == 0
    assert await _unread(db, team.member) == 1
    assert "Meta sync finished for Fern & Co" in await _titles(db, team.member, unread_only=True)
    assert "Meta sync finished for Fern & Co" not in await _titles(db, team.admin, unread_only=True)


async def test_personal_notification_is_invisible_to_a_colleague(db: Database, team: Team) -> None:
    await _mark_all(db, team.member)
    nid = await _create(db, team, title="Your token expires in 3 days", user=team.admin)
    assert "Your token expires in 3 days" in await _titles(db, team.admin)
    assert "Your token expires in 3 days" not in await _titles(db, team.member)
    assert await _unread(db, team.member) == 0
    async with db.as_user(team.member) as conn:
        # Not by id either, and marking it does nothing.
        assert (
            await notifications.get_notification(conn, user_id=team.member.user_id, notification_id=nid)
            is None
        )
        assert await notifications.mark_read(conn, user_id=team.member.user_id, ids=[nid]) == 0
        # RLS alone (no app filter) hides it.
        cur = await conn.execute("select count(*) as n from notifications where id = %s", (nid,))
        row = await cur.fetchone()
        assert row is not None and row["n"] == 0
    async with db.as_user(team.admin) as conn:
        found = await notifications.get_notification(conn, user_id=team.admin.user_id, notification_id=nid)
    assert found is not None and found.personal and found.read_at is None


async def test_another_organization_never_sees_it_even_by_id_or_raw_sql(db: Database, team: Team) -> None:
    nid = await _create(db, team, title="Classification finished for Fern & Co")
    assert "Classification finished for Fern & Co" not in await _titles(db, team.outsider)
    async with db.as_user(team.outsider) as conn:
        who = team.outsider.user_id
        assert await notifications.get_notification(conn, user_id=who, notification_id=nid) is None
        assert await notifications.mark_read(conn, user_id=who, ids=[nid]) == 0
        cur = await conn.execute(
            "select count(*) as n from notifications where organization_id = %s", (team.org,)
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 0
    # Even naming another person in the query doesn't help: RLS answers for the caller.
    async with db.as_user(team.outsider) as conn:
        assert await notifications.unread_count(conn, user_id=team.admin.user_id) == 0
    # A read row for someone else's notification is refused by RLS, not just skipped by the app.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(team.outsider) as conn:
            await conn.execute(
                "insert into notification_reads (notification_id, user_id) values (%s, %s)",
                (nid, team.outsider.user_id),
            )


async def test_people_can_not_write_notifications_only_read_them(db: Database, team: Team) -> None:
    nid = await _create(db, team, title="Sync failed for Fern & Co")
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(team.admin) as conn:
            await conn.execute("update notifications set title = 'edited' where id = %s", (nid,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with db.as_user(team.admin) as conn:
            await conn.execute(
                "insert into notifications (organization_id, type, title) values (%s, 'x', 'forged')",
                (team.org,),
            )
    async with db.as_user(team.admin) as conn:
        found = await notifications.get_notification(conn, user_id=team.admin.user_id, notification_id=nid)
    assert found is not None and found.title == "Sync failed for Fern & Co"


async def test_bad_input_is_refused_clearly(db: Database, team: Team) -> None:
    async with db.as_service() as conn:
        with pytest.raises(InvalidArgument, match=r"^A notification needs a title\.$"):
            await notifications.create(conn, organization_id=team.org, type="x", title="  ")
        with pytest.raises(InvalidArgument, match="is not a member of organization"):
            await notifications.create(
                conn, organization_id=team.org, user_id=team.outsider.user_id, type="x", title="Hi"
            )
    async with db.as_user(team.admin) as conn:
        with pytest.raises(InvalidArgument, match=r"^limit must be between 1 and 200 \(got 0\).$"):
            await notifications.list_notifications(conn, user_id=team.admin.user_id, limit=0)


async def test_mark_all_read(db: Database, team: Team) -> None:
    for i in range(3):
        await _create(db, team, title=f"Batch {i}")
    await _create(db, team, title="Only for bob", user=team.member)
    before = await _unread(db, team.member)
    assert before >= 4
    assert await _mark_all(db, team.member) == before
    assert await _unread(db, team.member) == 0
    assert await _unread(db, team.admin) >= 3  # their own read state is untouched
    assert await _mark_all(db, team.member) == 0


# -- in chat -------------------------------------------------------------------------------------


async def test_chat_start_shows_the_unread_count_only_when_there_are_some(
    db: Database, team: Team, chat_app: None
) -> None:
    await _mark_all(db, team.member)
    quiet = OpenChat(team.member)
    with quiet.active():
        await app.on_chat_start()
    assert not any(t.startswith("You have ") for t in quiet.toasts())
    await quiet.close()
    await _create(db, team, title="Meta sync finished for Fern & Co")
    await _create(db, team, title="Token expiring", user=team.member)
    await _create(db, team, title="For ann only", user=team.admin)
    busy = OpenChat(team.member)
    with busy.active():
        await app.on_chat_start()
    assert "You have 2 unread notifications — /notifications" in busy.toasts()
    await busy.close()


async def test_notifications_command_lists_newest_first_and_marks_all_read(
    db: Database, team: Team, chat_app: None
) -> None:
    await _mark_all(db, team.member)
    await _create(db, team, title="Classification finished for Fern & Co", message="40 new, 12 cached")
    await _create(db, team, title="Job failed for good: asset_download", type="job_failed")
    chat = OpenChat(team.member)
    await chat.say("/notifications")
    answer = chat.answer()
    assert "(2 unread)" in answer
    assert answer.index("Job failed for good") < answer.index("Classification finished")
    assert "• " in answer  # unread marked
    [table] = [t for e in chat.of("element") if e["type"] == "custom" for t in e["props"]["tables"]]
    assert table["title"] == "Notifications"
    [button] = chat.buttons()
    assert button.label == "Mark all read"
    await chat.click("Mark all read")
    assert chat.answer().startswith("Marked 2 notifications read.")
    assert await _unread(db, team.member) == 0
    assert await _unread(db, team.admin) >= 2  # a colleague's stay unread
    await chat.say("/notifications unread:true")
    assert chat.answer() == "No unread notifications."
    assert chat.buttons() == []  # nothing left to mark


async def test_notifications_from_the_cli(
    database_url: str, tmp_path: Path, db: Database, team: Team
) -> None:
    await _mark_all(db, team.admin)
    await _create(db, team, title="Sync finished for Fern & Co", message="3 new ads")
    listed = run_cli(database_url, tmp_path, "ask", "/notifications unread:true", "--user", team.admin.email)
    assert listed.returncode == 0, listed.stderr
    assert "Sync finished for Fern & Co" in listed.stdout and "Notifications" in listed.stdout
    assert "Mark all read: /notifications mark_all_read:true" in listed.stdout
    marked = run_cli(
        database_url,
        tmp_path,
        "ask",
        "/notifications mark_all_read:true",
        "--user",
        team.admin.email,
        "--json",
    )
    assert marked.returncode == 0, marked.stderr
    [call] = json.loads(marked.stdout)["tool_calls"]
    assert call["result"]["marked_read"] == 1 and call["result"]["unread"] == 0
    assert await _unread(db, team.admin) == 0


async def _wait_for(condition: Callable[[], bool], chat: OpenChat, *, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, "timed out"
        chat.arrived.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(chat.arrived.wait(), timeout=min(left, 0.5))


async def test_a_new_notification_reaches_open_chats_of_the_people_it_is_for(
    db: Database, team: Team, chat_app: None
) -> None:
    member, outsider = OpenChat(team.member), OpenChat(team.outsider)
    for chat in (member, outsider):
        with chat.active():
            await app.on_chat_start()
    feed = app._feed
    assert feed is not None
    await asyncio.wait_for(feed.listening.wait(), timeout=10)
    await _create(db, team, title="For ann only", user=team.admin)  # not for bob: never shown to him
    await _create(db, team, title="Meta sync finished for Fern & Co", message="12 new ads")
    expected = "🔔 Meta sync finished for Fern & Co: 12 new ads — /notifications"
    await _wait_for(lambda: expected in member.toasts(), member)
    assert not any("For ann only" in t for t in member.toasts())
    assert not any("Fern & Co" in t for t in outsider.toasts())  # another organization
    # A closed chat is forgotten: nothing is sent to it any more.
    await member.close()
    assert team.member.user_id not in feed.sessions
    await outsider.close()


async def _logged(caplog: pytest.LogCaptureFixture, text: str, *, times: int, seconds: float = 10) -> None:
    """Returns once `text` has been logged `times` times; fails after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while sum(text in r.getMessage() for r in caplog.records) < times:
        assert loop.time() < deadline, f"{text!r} was not logged {times} times in {seconds} s"
        await asyncio.sleep(0.02)


async def test_chat_works_while_the_notification_feed_can_not_reach_the_database(
    db: Database,
    team: Team,
    chat_app: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(live, "RETRY_FIRST_SECONDS", 0.05)
    unreachable = "postgresql://nobody@/postgres?host=/nonexistent-socket-dir&connect_timeout=1"
    feed = live.NotificationFeed(db, app.toast_to_session, url=unreachable)
    monkeypatch.setattr(app, "_feed", feed)
    chat = OpenChat(team.member)
    with chat.active():
        await app.on_chat_start()
        await _logged(caplog, "notification feed: database unavailable", times=3)  # it keeps trying
    assert not feed.listening.is_set()
    assert feed._task is not None and not feed._task.done()  # still trying, quietly
    await chat.say("/notifications")
    assert "notification" in chat.answer()
    await feed.stop()
    await chat.close()
