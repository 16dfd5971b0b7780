"""Chat history through our data layer (agent/history.py, Chainlit's `BaseDataLayer`) on the test database.

The data layer logs and swallows SQL errors (as Chainlit's own do), so every test reads the data back (and,
where Chainlit does not read a column back, checks it with plain SQL), and fails on
any warning Chainlit logs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from chainlit.context import ChainlitContext, context_var
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.element import Audio, CustomElement, Text, Video
from chainlit.message import Message
from chainlit.session import HTTPSession
from chainlit.step import Step
from chainlit.types import Feedback, Pagination, ThreadFilter
from chainlit.user import PersistedUser, User

from agent.history import HistoryDataLayer, make_data_layer
from db.pool import Caller, Database

HISTORY_TABLES = ["users", "threads", "steps", "elements", "feedbacks"]


class MemoryStorage(BaseStorageClient):
    """A storage provider in memory: Chainlit persists elements only when it has one."""

    def __init__(self) -> None:
        self.files: dict[str, bytes | str] = {}

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        self.files[object_key] = data
        return {"object_key": object_key, "url": f"memory://{object_key}"}

    async def delete_file(self, object_key: str) -> bool:
        return self.files.pop(object_key, None) is not None

    async def get_read_url(self, object_key: str) -> str:
        return f"memory://{object_key}"

    async def close(self) -> None:
        pass


@pytest.fixture
async def layer(db: Database, database_url: str) -> AsyncIterator[HistoryDataLayer]:
    """The app's data layer (plus an in-memory storage provider, so elements persist too)."""
    data_layer = make_data_layer(database_url, storage_provider=MemoryStorage())
    yield data_layer
    await data_layer.close()


@pytest.fixture
def no_swallowed_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Chainlit turns SQL errors into log warnings: any warning fails the test."""
    with caplog.at_level(logging.WARNING, logger="chainlit"):
        yield
    problems = [
        r.getMessage() for r in caplog.records if r.name == "chainlit" and r.levelno >= logging.WARNING
    ]
    assert problems == []


@contextmanager
def chainlit_context(thread_id: str, user: PersistedUser) -> Iterator[None]:
    """A real Chainlit context (HTTP session, as Slack/Teams use), so that
    `create_step`/`create_element` run now instead of queueing for a first message."""
    session = HTTPSession(id=str(uuid.uuid4()), client_type="webapp", thread_id=thread_id, user=user)
    token = context_var.set(ChainlitContext(session))
    try:
        yield
    finally:
        context_var.reset(token)


def _at(minute: int) -> str:
    return f"2026-11-25T10:{minute:02d}:00.000000Z"


async def _rows(db: Database, sql: str, *params: object) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(sql, params)
        return await cur.fetchall()


async def test_data_layer_connects_over_the_unix_socket(
    layer: HistoryDataLayer, database_url: str, db: Database
) -> None:
    assert "host=" in database_url  # the embedded server: a socket directory, no TCP
    identifier = f"socket-{uuid.uuid4().hex[:8]}@northwind.example"
    user = await layer.create_user(User(identifier=identifier))
    assert user is not None
    assert await _rows(db, "select id from users where identifier = %s", identifier) == [{"id": user.id}]


async def test_text_with_percent_signs_and_colons_is_kept_as_typed(
    layer: HistoryDataLayer, no_swallowed_errors: None
) -> None:
    """What people type goes in as a value, never into the SQL: `%`, `%(x)s`, `:name`, `::int`."""
    user = await layer.create_user(User(identifier=f"pct-{uuid.uuid4().hex[:8]}@northwind.example"))
    assert user is not None
    thread_id = str(uuid.uuid4())
    typed = 'CTR up 12% :brand "Acme" %(days)s ::int -- ); drop table steps; %s'
    await layer.update_thread(thread_id, name=typed, user_id=user.id, metadata={"note": typed})
    with chainlit_context(thread_id, user):
        question = Message(content=typed, author=user.identifier, type="user_message", created_at=_at(0))
        await layer.create_step(question.to_dict())
    thread = await layer.get_thread(thread_id)
    assert thread is not None
    assert (thread["name"], thread["metadata"], thread["steps"][0]["output"]) == (
        typed,
        {"note": typed},
        typed,
    )
    found = await layer.list_threads(Pagination(first=5), ThreadFilter(userId=user.id, search="12% :brand"))
    assert [t["id"] for t in found.data] == [thread_id]
    await layer.delete_thread(thread_id)


async def test_thread_updates_merge_as_chainlit_does(
    layer: HistoryDataLayer, no_swallowed_errors: None
) -> None:
    user = await layer.create_user(User(identifier=f"sam-{uuid.uuid4().hex[:8]}@northwind.example"))
    assert user is not None
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id)  # a bare touch creates the thread
    thread = await layer.get_thread(thread_id)
    assert thread is not None and thread["name"] is None and thread["createdAt"]
    created = thread["createdAt"]
    await layer.update_thread(
        thread_id, name="Acme hooks", user_id=user.id, metadata={"brand": "Acme Pets", "days": 30}, tags=["a"]
    )
    # None leaves a column alone; metadata merges key by key and a None value removes the key.
    await layer.update_thread(thread_id, metadata={"vt_history": "[]", "days": None})
    thread = await layer.get_thread(thread_id)
    assert thread is not None
    assert (thread["name"], thread["userId"], thread["userIdentifier"], thread["tags"]) == (
        "Acme hooks",
        user.id,
        user.identifier,
        ["a"],
    )
    assert thread["metadata"] == {"brand": "Acme Pets", "vt_history": "[]"}
    assert thread["createdAt"] == created
    # Without a name, a "name" in the metadata names the thread.
    await layer.update_thread(thread_id, metadata={"name": "Renamed"})
    thread = await layer.get_thread(thread_id)
    assert thread is not None and thread["name"] == "Renamed"
    await layer.delete_thread(thread_id)


async def test_steps_written_at_once_into_a_new_thread_are_all_kept(
    layer: HistoryDataLayer, db: Database, no_swallowed_errors: None
) -> None:
    """Chainlit fires a turn's step writes without waiting; the first ones of a new thread race
    to create it. Every step must land (a step needs its thread to exist first)."""
    user = await layer.create_user(User(identifier=f"leo-{uuid.uuid4().hex[:8]}@summit.example"))
    assert user is not None

    # Open the pool's connections first, so the writes really run side by side.
    async def hold_a_connection() -> None:
        async with layer.pool.connection() as conn:
            await conn.execute("select pg_sleep(0.05)")

    await layer.get_user("nobody@example.com")  # opens the pool
    await asyncio.gather(*(hold_a_connection() for _ in range(10)))
    thread_id = str(uuid.uuid4())
    with chainlit_context(thread_id, user):
        steps = [Step(name=f"step {i}", type="tool") for i in range(20)]
        await asyncio.gather(*(layer.create_step(step.to_dict()) for step in steps))
        late = Step(name="late", type="tool")
        await layer.create_step(late.to_dict())
    rows = await _rows(db, 'select "name" from steps where "threadId" = %s order by "createdAt"', thread_id)
    assert [r["name"] for r in rows] == [*(f"step {i}" for i in range(20)), "late"]
    assert len(await _rows(db, "select 1 from threads where id = %s", thread_id)) == 1
    await layer.delete_thread(thread_id)


async def test_history_round_trip(layer: HistoryDataLayer, db: Database, no_swallowed_errors: None) -> None:
    identifier = f"maya-{uuid.uuid4().hex[:8]}@northwind.example"
    created = await layer.create_user(User(identifier=identifier, metadata={"role": "admin"}))
    assert created is not None and created.identifier == identifier
    assert created.metadata == {"role": "admin"}
    # Signing in again updates the metadata of the same user.
    user = await layer.create_user(
        User(identifier=identifier, metadata={"role": "admin", "org": "Northwind"})
    )
    assert user is not None and user.id == created.id
    assert user.metadata == {"role": "admin", "org": "Northwind"}

    thread_id, later_id = str(uuid.uuid4()), str(uuid.uuid4())
    await layer.update_thread(
        thread_id, name="Acme Pets ROAS", user_id=user.id, metadata={"brand": "Acme Pets"}, tags=["meta"]
    )

    with chainlit_context(thread_id, user):
        question = Message(
            content="Which Acme Pets ads had the best ROAS last week?",
            author=identifier,
            type="user_message",
            command="analyze",
            modes={"model": "thorough"},
            created_at=_at(0),
        )
        tool = Step(name="top_ads", type="tool", parent_id=question.id, icon="chart", show_input="json")
        tool.input = {"brand": "Acme Pets", "metric": "roas", "days": 7}
        tool.output = "1. Puppy Pack UGC: ROAS 4.2\n2. Kitten Starter: ROAS 3.1"
        tool.language = "markdown"
        tool.created_at, tool.start, tool.end = _at(1), _at(1), _at(2)
        answer = Message(
            content="Puppy Pack UGC led with a 4.2 ROAS.", author="ViralTracker", created_at=_at(3)
        )
        for step_dict in (question.to_dict(), tool.to_dict(), answer.to_dict()):
            await layer.create_step(step_dict)

        # A follow-up after the answer was streamed: update_step upserts the same row.
        answer.content = "Puppy Pack UGC led with a 4.2 ROAS; Kitten Starter followed at 3.1."
        await layer.update_step(answer.to_dict())

        for element in (
            Text(name="summary", content="ROAS by ad", thread_id=thread_id, for_id=answer.id),
            CustomElement(
                name="RoasChart", props={"points": [4.2, 3.1]}, thread_id=thread_id, for_id=answer.id
            ),
            Video(
                name="puppy.mp4",
                content=b"\x00\x00\x00\x18ftypmp42",
                mime="video/mp4",
                player_config={"muted": True},
                thread_id=thread_id,
                for_id=answer.id,
            ),
            Audio(
                name="voiceover.mp3", content=b"ID3", auto_play=True, thread_id=thread_id, for_id=answer.id
            ),
        ):
            await layer.create_element(element)

    await layer.upsert_feedback(Feedback(forId=answer.id, value=1, threadId=thread_id, comment="useful"))

    thread = await layer.get_thread(thread_id)
    assert thread is not None
    assert thread["name"] == "Acme Pets ROAS"
    assert thread["userId"] == user.id and thread["userIdentifier"] == identifier
    assert thread["tags"] == ["meta"] and thread["metadata"] == {"brand": "Acme Pets"}
    steps = thread["steps"]
    assert [(s["type"], s["name"]) for s in steps] == [
        ("user_message", identifier),
        ("tool", "top_ads"),
        ("assistant_message", "ViralTracker"),
    ]
    assert [s["id"] for s in steps] == [question.id, tool.id, answer.id]
    # A command picked from the menu is kept in the message's text: it reopens as it was sent.
    assert steps[0]["output"] == "/analyze Which Acme Pets ads had the best ROAS last week?"
    assert steps[1]["output"] == "1. Puppy Pack UGC: ROAS 4.2\n2. Kitten Starter: ROAS 3.1"
    assert '"metric": "roas"' in steps[1]["input"] and steps[1]["showInput"] == "json"
    assert steps[1]["parentId"] == question.id and steps[1]["language"] == "markdown"
    assert steps[1]["metadata"] == {"icon": "chart"}
    assert steps[1]["start"] == _at(1) and steps[1]["end"] == _at(2)
    assert steps[2]["output"] == "Puppy Pack UGC led with a 4.2 ROAS; Kitten Starter followed at 3.1."
    assert steps[2]["feedback"] is not None
    assert (steps[2]["feedback"]["value"], steps[2]["feedback"]["comment"]) == (1, "useful")
    assert steps[0]["feedback"] is None

    elements = {e["name"]: e for e in thread["elements"] or []}
    assert set(elements) == {"summary", "RoasChart", "puppy.mp4", "voiceover.mp3"}
    assert elements["RoasChart"]["props"] == {"points": [4.2, 3.1]}
    assert elements["summary"]["forId"] == answer.id and elements["summary"]["type"] == "text"
    assert elements["puppy.mp4"]["mime"] == "video/mp4"
    assert elements["puppy.mp4"]["url"] == f"memory://{user.id}/{elements['puppy.mp4']['id']}/puppy.mp4"
    # One element opened on its own (the element's side panel), props and all.
    chart = await layer.get_element(thread_id, elements["RoasChart"]["id"])
    assert chart is not None and (chart["props"], chart["forId"]) == ({"points": [4.2, 3.1]}, answer.id)

    # Columns Chainlit writes but get_thread does not read back.
    [asked] = await _rows(db, 'select "command", "modes", "streaming" from steps where id = %s', question.id)
    assert asked == {"command": "analyze", "modes": {"model": "thorough"}, "streaming": False}
    [used] = await _rows(
        db, 'select "defaultOpen", "autoCollapse", "generation" from steps where id = %s', tool.id
    )
    assert used == {"defaultOpen": False, "autoCollapse": False, "generation": None}
    [video] = await _rows(db, """select "playerConfig", "size" from elements where name = 'puppy.mp4'""")
    assert video == {"playerConfig": {"muted": True}, "size": "medium"}
    [audio] = await _rows(db, """select "autoPlay" from elements where name = 'voiceover.mp3'""")
    assert audio == {"autoPlay": True}

    assert await layer.get_thread_author(thread_id) == identifier

    # A second, more recent thread: threads list newest activity first, one per page.
    await layer.update_thread(later_id, name="Bloom Botanicals hooks", user_id=user.id)
    with chainlit_context(later_id, user):
        follow_up = Message(
            content="Top hooks for Bloom?", author=identifier, type="user_message", created_at=_at(30)
        )
        await layer.create_step(follow_up.to_dict())

    page1 = await layer.list_threads(Pagination(first=1), ThreadFilter(userId=user.id))
    assert [t["id"] for t in page1.data] == [later_id] and page1.pageInfo.hasNextPage
    page2 = await layer.list_threads(
        Pagination(first=1, cursor=page1.pageInfo.endCursor), ThreadFilter(userId=user.id)
    )
    assert [t["id"] for t in page2.data] == [thread_id] and not page2.pageInfo.hasNextPage
    found = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id, search="kitten"))
    assert [t["id"] for t in found.data] == [thread_id]
    liked = await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id, feedback=1))
    assert [t["id"] for t in liked.data] == [thread_id]

    await layer.delete_thread(thread_id)
    assert await layer.get_thread(thread_id) is None
    for table, column in [("steps", "threadId"), ("elements", "threadId"), ("feedbacks", "threadId")]:
        assert await _rows(db, f'select 1 from {table} where "{column}" = %s', thread_id) == []
    assert not (
        await layer.list_threads(Pagination(first=20), ThreadFilter(userId=user.id, search="kitten"))
    ).data

    # Deleting the user takes the rest of their history with it.
    await _rows(db, "delete from users where id = %s returning id", user.id)
    assert await _rows(db, 'select 1 from steps where "threadId" = %s', later_id) == []
    assert await layer.get_thread(later_id) is None


async def test_history_is_not_reachable_by_request_roles(db: Database) -> None:
    caller = Caller(user_id=uuid.uuid4(), email="someone@example.com")
    for table in HISTORY_TABLES:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.as_user(caller) as conn:
                await conn.execute(f"select * from {table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with db.as_owner() as conn:
                await conn.execute("set local role anon")
                await conn.execute(f"select * from {table}")


async def test_history_tables_have_rls_and_no_policies(db: Database) -> None:
    rows = await _rows(
        db,
        "select c.relname, c.relrowsecurity, (select count(*) from pg_policy p where p.polrelid = c.oid) as policies"
        " from pg_class c where c.relnamespace = 'public'::regnamespace and c.relname = any(%s) order by 1",
        HISTORY_TABLES,
    )
    assert [(r["relname"], r["relrowsecurity"], r["policies"]) for r in rows] == [
        (t, True, 0) for t in sorted(HISTORY_TABLES)
    ]
