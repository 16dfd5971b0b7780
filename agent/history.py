"""Chat history: Chainlit's data layer (`BaseDataLayer`) on our Postgres, in the tables of the
chat_history migration (the shape Chainlit's SQL layers use), through a plain psycopg pool.

Every statement runs on a pooled autocommit connection: one round trip each. Under load
(bench/chat_load.py) history writes were the largest cost of a chat turn, so:
* a thread update is one upsert, and every step write first "touches" its thread: a thread known
  to exist is not touched again, and touches made while it is being written wait for that write
  instead of making their own;
* signing in is one upsert instead of a lookup, a write and a second lookup.

As Chainlit's own layers do, a failed statement is logged (a warning on the "chainlit" logger) and
the chat goes on without that piece of history; steps and elements written before a session's first
message wait for it (`queue_until_user_message`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, LiteralString

import chainlit.config
import psycopg
from chainlit.data.base import BaseDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.data.utils import queue_until_user_message
from chainlit.element import Element, ElementDict
from chainlit.step import StepDict
from chainlit.types import (
    Feedback,
    PageInfo,
    PaginatedResponse,
    Pagination,
    ThreadDict,
    ThreadFilter,
)
from chainlit.user import PersistedUser, User
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from agent.history_rows import (
    ELEMENT_COLUMNS,
    FEEDBACK_COLUMNS,
    STEP_COLUMNS,
    STEP_SELECT,
    Row,
    adapt_dicts_as_jsonb,
    content_of,
    feedback_value,
    step_of,
    upsert,
    utc_timestamp,
)
from agent.input_checks import message_refusal
from services.platform.server_files import private_dir

logger = logging.getLogger("chainlit")


def make_data_layer(
    database_url: str, *, storage_provider: BaseStorageClient | None = None, max_size: int = 10
) -> HistoryDataLayer:
    """The chat history layer on `database_url`, connecting as its owner (no RLS role).

    Without a storage provider it persists users, threads, steps and feedback, and skips
    elements (logging a warning).
    """
    # Chainlit writes a session's uploads under its files folder (agent/chainlit_tuning) with the umask's modes.
    private_dir(chainlit.config.FILES_DIRECTORY)
    return HistoryDataLayer(database_url, storage_provider=storage_provider, max_size=max_size)


class HistoryDataLayer(BaseDataLayer):
    """Users, threads, steps, elements and feedback in our chat-history tables."""

    KNOWN_THREADS_MAX = 50_000
    KEPT_MAX = 1_000

    def __init__(
        self,
        database_url: str,
        *,
        storage_provider: BaseStorageClient | None = None,
        max_size: int = 10,
        user_thread_limit: int = 1000,
    ) -> None:
        self.user_thread_limit = user_thread_limit
        self.storage_provider = storage_provider
        if storage_provider is None:
            logger.warning("Chat history has no storage provider: elements will not be persisted")
        # prepare_threshold=None: Supabase's transaction pooler has no prepared statements.
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]] = AsyncConnectionPool(
            database_url,
            open=False,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
            configure=adapt_dicts_as_jsonb,
            connection_class=psycopg.AsyncConnection[Row],
            # After a database restart every idle connection is dead: a write on one would be lost.
            check=AsyncConnectionPool.check_connection,
        )
        self._opened: asyncio.Task[None] | None = None
        # A thread known to exist (True), or being written right now (its outcome, to wait on):
        # Chainlit fires several step writes at once, and each first touches the thread.
        self._threads: dict[str, asyncio.Future[bool] | bool] = {}
        # Elements stored before their answer was sent (keep_element), until their row is written.
        self._kept: dict[str, dict[str, Any]] = {}

    # -- statements ------------------------------------------------------------------------------

    async def _execute(
        self, query: LiteralString | sql.Composed, params: Mapping[str, object]
    ) -> list[Row] | int | None:
        """The rows (or the row count of a write); None when the statement failed (logged)."""
        try:
            if self._opened is None:
                self._opened = asyncio.ensure_future(self.pool.open(wait=True))
            await asyncio.shield(self._opened)
            async with self.pool.connection() as conn:
                cur = await conn.execute(query, params)
                return await cur.fetchall() if cur.description is not None else cur.rowcount
        except Exception as error:
            logger.warning("Chat history: %s: %s", type(error).__name__, error)
            return None

    async def _rows(self, query: LiteralString | sql.Composed, params: Mapping[str, object]) -> list[Row]:
        found = await self._execute(query, params)
        return found if isinstance(found, list) else []

    async def build_debug_url(self) -> str:
        return ""

    # -- users -----------------------------------------------------------------------------------

    async def get_user(self, identifier: str) -> PersistedUser | None:
        rows = await self._rows(
            'select "id", "identifier", "createdAt", "metadata" from users where "identifier" = %(identifier)s',
            {"identifier": identifier},
        )
        return PersistedUser(**rows[0]) if rows else None

    async def create_user(self, user: User) -> PersistedUser | None:
        rows = await self._rows(
            'insert into users ("id", "identifier", "createdAt", "metadata")'
            " values (gen_random_uuid()::text, %(identifier)s, %(createdAt)s, %(metadata)s)"
            ' on conflict ("identifier") do update set "metadata" = excluded."metadata"'
            ' returning "id", "identifier", "createdAt", "metadata"',
            {
                "identifier": str(user.identifier),
                "createdAt": utc_timestamp(),
                "metadata": Jsonb(user.metadata or {}),
            },
        )
        return PersistedUser(**rows[0]) if rows else None

    # -- threads ---------------------------------------------------------------------------------

    async def get_thread_author(self, thread_id: str) -> str:
        rows = await self._rows('select "userIdentifier" from threads where "id" = %(id)s', {"id": thread_id})
        if rows and rows[0]["userIdentifier"] is not None:
            return str(rows[0]["userIdentifier"])
        raise ValueError(f"Author not found for thread_id {thread_id}")

    async def thread_metadata(self, thread_id: str) -> dict[str, Any] | None:
        """The thread's metadata alone (None: no such thread, or history unavailable)."""
        rows = await self._rows('select "metadata" from threads where "id" = %(id)s', {"id": thread_id})
        return (rows[0]["metadata"] or {}) if rows else None

    async def get_thread(self, thread_id: str) -> ThreadDict | None:
        threads = await self._threads_with_steps(thread_id=thread_id)
        return threads[0] if threads else None

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Chainlit's semantics in one upsert: None leaves a column as it is; metadata merges key by
        key, a key set to None is removed; a thread with no name takes its metadata's "name"; a new
        thread gets its creation time. A bare call only makes sure the thread exists."""
        touch_only = name is None and user_id is None and metadata is None and tags is None
        state = self._threads.get(thread_id)
        if touch_only and state is True:
            return
        if touch_only and isinstance(state, asyncio.Future) and await asyncio.shield(state):
            return
        writing: asyncio.Future[bool] | None = None
        if state is not True:
            writing = asyncio.get_running_loop().create_future()
            self._threads[thread_id] = writing
        written = False
        try:
            written = await self._upsert_thread(thread_id, name, user_id, metadata or {}, tags)
        finally:
            if writing is not None:
                writing.set_result(written)
                if self._threads.get(thread_id) is writing:
                    del self._threads[thread_id]
            if written:
                self._threads.pop(thread_id, None)
                if len(self._threads) >= self.KNOWN_THREADS_MAX:
                    self._threads.pop(next(iter(self._threads)))
                self._threads[thread_id] = True

    async def _upsert_thread(
        self,
        thread_id: str,
        name: str | None,
        user_id: str | None,
        metadata: dict[str, Any],
        tags: list[str] | None,
    ) -> bool:
        written = await self._execute(
            """
            insert into threads ("id", "createdAt", "name", "userId", "userIdentifier", "tags", "metadata")
            values (%(id)s, %(createdAt)s, coalesce(%(name)s, %(incoming)s ->> 'name'), %(userId)s,
                    (select "identifier" from users where "id" = %(userId)s), %(tags)s, %(incoming)s)
            on conflict ("id") do update set
              "name" = coalesce(excluded."name",
                                ((coalesce(threads."metadata", '{}') - %(dropped)s::text[]) || excluded."metadata") ->> 'name',
                                threads."name"),
              "userId" = coalesce(excluded."userId", threads."userId"),
              "userIdentifier" = coalesce(excluded."userIdentifier", threads."userIdentifier"),
              "tags" = coalesce(excluded."tags", threads."tags"),
              "metadata" = (coalesce(threads."metadata", '{}') - %(dropped)s::text[]) || excluded."metadata"
            """,
            {
                "id": thread_id,
                "createdAt": utc_timestamp(),
                "name": name,
                "userId": user_id,
                "tags": tags,
                "incoming": Jsonb({k: v for k, v in metadata.items() if v is not None}),
                "dropped": [k for k, v in metadata.items() if v is None],
            },
        )
        return written is not None

    async def delete_thread(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)
        if self.storage_provider is not None:
            for row in await self._rows(
                'select "objectKey" from elements where "threadId" = %(id)s and "objectKey" is not null',
                {"id": thread_id},
            ):
                await self.storage_provider.delete_file(object_key=row["objectKey"])
        # Its steps, elements and feedback go with it (on delete cascade).
        await self._execute('delete from threads where "id" = %(id)s', {"id": thread_id})

    async def list_threads(
        self, pagination: Pagination, filters: ThreadFilter
    ) -> PaginatedResponse[ThreadDict]:
        """A person's threads, latest activity first, filtered as Chainlit's SQL layer does (a word in
        any step's output, a feedback value), a page after the cursor."""
        if not filters.userId:
            raise ValueError("userId is required")
        search = filters.search.lower() if filters.search else None
        feedback = int(filters.feedback) if filters.feedback is not None else None
        threads = [
            thread
            for thread in await self._threads_with_steps(user_id=filters.userId)
            if (search is None or any(search in (s.get("output") or "").lower() for s in thread["steps"]))
            and (feedback is None or any(feedback_value(s) == feedback for s in thread["steps"]))
        ]
        ids = [thread["id"] for thread in threads]
        start = ids.index(pagination.cursor) + 1 if pagination.cursor in ids else 0
        page = threads[start : start + pagination.first]
        return PaginatedResponse(
            pageInfo=PageInfo(
                hasNextPage=len(threads) > start + pagination.first,
                startCursor=page[0]["id"] if page else None,
                endCursor=page[-1]["id"] if page else None,
            ),
            data=page,
        )

    async def _threads_with_steps(
        self, *, user_id: str | None = None, thread_id: str | None = None
    ) -> list[ThreadDict]:
        """A person's threads (at most `user_thread_limit`, latest activity first), or one thread,
        each with its steps (in order, with their feedback) and elements."""
        threads = await self._rows(
            """
            select t."id", t."createdAt", t."name", t."userId", t."userIdentifier", t."tags", t."metadata"
            from threads t left join steps s on s."threadId" = t."id"
            where t."userId" = %(user_id)s or t."id" = %(thread_id)s
            group by t."id"
            order by max(s."createdAt") desc nulls last
            limit %(limit)s
            """,
            {"user_id": user_id, "thread_id": thread_id, "limit": self.user_thread_limit},
        )
        if not threads:
            return []
        found = {row["id"]: ThreadDict(**row, steps=[], elements=[]) for row in threads}  # type: ignore[typeddict-item]
        ids = list(found)
        steps = sql.SQL(
            """
            select {}, f."value" as feedback_value, f."comment" as feedback_comment, f."id" as feedback_id
            from steps s left join feedbacks f on f."forId" = s."id"
            where s."threadId" = any(%(ids)s)
            order by s."createdAt"
            """
        ).format(STEP_SELECT)
        for row in await self._rows(steps, {"ids": ids}):
            found[row["threadId"]]["steps"].append(step_of(row))
        for row in await self._rows('select * from elements where "threadId" = any(%(ids)s)', {"ids": ids}):
            element = await self._element_of(row)
            elements = found[row["threadId"]]["elements"]
            assert elements is not None
            elements.append(element)
        return list(found.values())

    # -- steps -----------------------------------------------------------------------------------

    @queue_until_user_message()
    async def create_step(self, step_dict: StepDict) -> None:
        await self._write_step(step_dict)

    @queue_until_user_message()
    async def update_step(self, step_dict: StepDict) -> None:
        await self._write_step(step_dict)

    async def _write_step(self, step_dict: StepDict) -> None:
        """Chainlit's step, as it writes it: a field left unset (None, an empty dict) keeps what
        the row has; "showInput" as lower-case text; metadata and generation always written."""
        if step_dict.get("type") == "user_message" and message_refusal(str(step_dict.get("output") or "")):
            return  # a message refused before anything ran (agent/input_checks) is not kept either
        await self.update_thread(step_dict["threadId"])
        given: dict[str, Any] = dict(step_dict)
        if given.get("type") == "user_message" and given.get("command"):
            # A command picked from the menu has no column of its own: kept in the text, as typed.
            given["output"] = f"/{given['command']} {given.get('output') or ''}".strip()
        if "showInput" in given:
            given["showInput"] = str(given["showInput"]).lower()
        row = {
            key: value
            for key, value in given.items()
            if key in STEP_COLUMNS and value is not None and not (isinstance(value, dict) and not value)
        }
        row["metadata"] = Jsonb(given.get("metadata", {}))
        row["generation"] = Jsonb(given.get("generation", {}))
        await self._execute(upsert("steps", row), row)

    @queue_until_user_message()
    async def delete_step(self, step_id: str) -> None:
        # Its feedback goes with it (on delete cascade); its elements name it without a key.
        await self._execute(
            'with gone as (delete from elements where "forId" = %(id)s) delete from steps where "id" = %(id)s',
            {"id": step_id},
        )

    async def get_favorite_steps(self, user_id: str) -> list[StepDict]:
        favorites = sql.SQL(
            """
            select {} from steps s join threads t on s."threadId" = t."id"
            where t."userId" = %(user_id)s and s."metadata" @> %(favorite)s
            order by s."createdAt" desc
            """
        ).format(STEP_SELECT)
        rows = await self._rows(favorites, {"user_id": user_id, "favorite": Jsonb({"favorite": True})})
        return [step_of(row) for row in rows]

    # -- feedback --------------------------------------------------------------------------------

    async def upsert_feedback(self, feedback: Feedback) -> str:
        feedback.id = feedback.id or str(uuid.uuid4())
        row = {k: v for k, v in asdict(feedback).items() if v is not None and k in FEEDBACK_COLUMNS}
        await self._execute(upsert("feedbacks", row), row)
        return feedback.id

    async def delete_feedback(self, feedback_id: str) -> bool:
        await self._execute('delete from feedbacks where "id" = %(id)s', {"id": feedback_id})
        return True

    # -- elements --------------------------------------------------------------------------------

    async def get_element(self, thread_id: str, element_id: str) -> ElementDict | None:
        rows = await self._rows(
            'select * from elements where "threadId" = %(thread_id)s and "id" = %(id)s',
            {"thread_id": thread_id, "id": element_id},
        )
        return await self._element_of(rows[0], read_url=False) if rows else None

    async def _element_of(self, row: Row, *, read_url: bool = True) -> ElementDict:
        """An element as Chainlit reads it back; in a thread, its URL from the storage provider."""
        url = row["url"]
        if read_url and self.storage_provider is not None and (row["objectKey"] or "").strip():
            try:
                url = await self.storage_provider.get_read_url(object_key=row["objectKey"])
            except Exception as error:
                logger.warning(
                    "Chat history: no read URL for %r (%s); the stored one is used", row["objectKey"], error
                )
        return ElementDict(**{**row, "url": url})  # type: ignore[typeddict-item]

    async def keep_element(self, element: Element) -> str:
        """Store the element's content now (before it is shown) and give it the URL it is read at,
        so that the live answer and the reopened thread show the same stored copy; raises when the
        storage fails. Its row is written when Chainlit persists the element (create_element)."""
        if self.storage_provider is None:
            raise ValueError("Chat history has no storage provider")
        uploaded = await self._upload(element)
        if len(self._kept) >= self.KEPT_MAX:  # rows never written (no message); theirs would upload again
            self._kept.pop(next(iter(self._kept)))
        self._kept[element.id] = uploaded
        element.url = str(uploaded["url"])
        return element.url

    async def _upload(self, element: Element) -> dict[str, Any]:
        assert self.storage_provider is not None
        content = await content_of(element)
        rows = await self._rows('select "userId" from threads where "id" = %(id)s', {"id": element.thread_id})
        owner = (rows[0]["userId"] if rows else None) or "unknown"
        object_key = f"{owner}/{element.id}" + (f"/{element.name}" if element.name else "")
        element.mime = element.mime or "application/octet-stream"
        uploaded = await self.storage_provider.upload_file(
            object_key=object_key, data=content, mime=element.mime, overwrite=True
        )
        if not uploaded:
            raise ValueError("Chat history: the storage provider did not keep the element")
        return uploaded

    @queue_until_user_message()
    async def create_element(self, element: Element) -> None:
        """The element's content into the storage provider (unless kept already), its row into
        elements (an element of no message is not kept)."""
        if self.storage_provider is None:
            logger.warning("Chat history: no storage provider, so the element %s is not kept", element.id)
            return
        if not element.for_id:
            return
        uploaded = self._kept.pop(element.id, None) or await self._upload(element)
        given: dict[str, Any] = {
            **element.to_dict(),
            "url": uploaded.get("url"),
            "objectKey": uploaded.get("object_key"),
        }
        row = {k: v for k, v in given.items() if v is not None and k in ELEMENT_COLUMNS}
        if "props" in row:
            row["props"] = Jsonb(row["props"])
        await self._execute(upsert("elements", row), row)

    @queue_until_user_message()
    async def delete_element(self, element_id: str, thread_id: str | None = None) -> None:
        rows = await self._rows('select "objectKey" from elements where "id" = %(id)s', {"id": element_id})
        if self.storage_provider is not None and rows and rows[0]["objectKey"]:
            await self.storage_provider.delete_file(object_key=rows[0]["objectKey"])
        await self._execute('delete from elements where "id" = %(id)s', {"id": element_id})

    async def close(self) -> None:
        if self.storage_provider:
            await self.storage_provider.close()
        await self.pool.close()
