"""Chat history: Chainlit's SQLAlchemy data layer's queries on our Postgres (tables in the
chat_history migration), run through a plain psycopg pool.

Chainlit's layer opens an SQLAlchemy session per statement (BEGIN, the statement, COMMIT: three
round trips and an ORM session on the event loop). Its queries are single statements, so here
each runs on a pooled autocommit connection: one round trip, a fraction of the CPU. Under load
(bench/chat_load.py) that was the largest cost of a chat turn.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import chainlit.config
import psycopg
from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.step import StepDict
from chainlit.user import PersistedUser, User
from psycopg.rows import dict_row
from psycopg.types.json import JsonbDumper
from psycopg_pool import AsyncConnectionPool

from agent.input_checks import message_refusal
from services.server_files import private_dir, write_private

logger = logging.getLogger("chainlit")

# `:name` bind parameters of SQLAlchemy's text(), not `::type` casts.
_BIND = re.compile(r"(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=512)
def _psycopg_query(query: str, names: frozenset[str]) -> str:
    """A text() query in psycopg's `%(name)s` style; only the given parameter names are replaced."""
    escaped = query.replace("%", "%%")
    return _BIND.sub(lambda m: f"%({m[1]})s" if m[1] in names else m[0], escaped)


def make_data_layer(
    database_url: str, *, storage_provider: BaseStorageClient | None = None, max_size: int = 10
) -> HistoryDataLayer:
    """The chat history layer on `database_url`, connecting as its owner (no RLS role).

    Without a storage provider Chainlit persists users, threads, steps and feedback, and
    silently skips elements (`create_element` returns early, logging a warning).
    """
    # Chainlit writes a session's elements and uploads under `.files/<session>` with the umask's modes.
    private_dir(chainlit.config.FILES_DIRECTORY)
    return HistoryDataLayer(database_url, storage_provider=storage_provider, max_size=max_size)


class HistoryDataLayer(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy layer with its statements run by psycopg, minus a few round trips:

    * every statement on a pooled autocommit connection (Chainlit's are all single statements);
    * a thread update is one upsert, and every step write first "touches" its thread: a thread
      known to exist is not touched again, and touches made while it is being written wait for
      that write instead of making their own;
    * signing in is one upsert instead of a lookup, a write and a second lookup.
    """

    KNOWN_THREADS_MAX = 50_000

    def __init__(
        self,
        database_url: str,
        *,
        storage_provider: BaseStorageClient | None = None,
        max_size: int = 10,
        user_thread_limit: int = 1000,
    ) -> None:
        # Not SQLAlchemyDataLayer.__init__: it builds an SQLAlchemy engine this class never uses.
        self.user_thread_limit = user_thread_limit
        self.show_logger = False
        self.storage_provider = storage_provider
        if storage_provider is None:
            logger.warning("Chat history has no storage provider: elements will not be persisted")
        # prepare_threshold=None: Supabase's transaction pooler has no prepared statements.
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[dict[str, Any]]] = AsyncConnectionPool(
            database_url,
            open=False,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
            configure=_adapt_dicts_as_jsonb,
            connection_class=psycopg.AsyncConnection[dict[str, Any]],
            # After a database restart every idle connection is dead: a write on one would be lost.
            check=AsyncConnectionPool.check_connection,
        )
        self._opened: asyncio.Task[None] | None = None
        # A thread known to exist (True), or being written right now (its outcome, to wait on):
        # Chainlit fires several step writes at once, and each first touches the thread.
        self._threads: dict[str, asyncio.Future[bool] | bool] = {}

    async def _open(self) -> None:
        if self._opened is None:
            self._opened = asyncio.ensure_future(self.pool.open(wait=True))
        await asyncio.shield(self._opened)

    async def execute_sql(self, query: str, parameters: dict[str, Any]) -> list[dict[str, Any]] | int | None:
        """As Chainlit's: rows as dicts (UUIDs as text) or the row count; a failure is logged
        as a warning and gives None (Chainlit's callers expect that, not an exception)."""
        try:
            await self._open()
            sql = _psycopg_query(query, frozenset(parameters))
            async with self.pool.connection() as conn:
                cur = await conn.execute(sql, parameters)
                if cur.description is None:
                    return cur.rowcount
                rows = await cur.fetchall()
        except Exception as error:
            logger.warning("Chat history: %s: %s", type(error).__name__, error)
            return None
        cleaned: list[dict[str, Any]] = self.clean_result(rows)
        return cleaned

    async def create_user(self, user: User) -> PersistedUser | None:
        rows = await self.execute_sql(
            'insert into users ("id", "identifier", "createdAt", "metadata")'
            " values (gen_random_uuid()::text, :identifier, :createdAt, :metadata)"
            ' on conflict ("identifier") do update set "metadata" = excluded."metadata"'
            ' returning "id", "identifier", "createdAt", "metadata"',
            {
                "identifier": str(user.identifier),
                "createdAt": await self.get_current_timestamp(),
                "metadata": json.dumps(user.metadata or {}),
            },
        )
        if not isinstance(rows, list) or not rows:
            return None
        row = rows[0]
        return PersistedUser(
            id=row["id"], identifier=row["identifier"], createdAt=row["createdAt"], metadata=row["metadata"]
        )

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        """Chainlit's semantics in one upsert (its version reads the thread first): None leaves a
        column as it is; metadata merges key by key, a key set to None is removed; a thread with
        no name takes its metadata's "name"; a new thread gets its creation time."""
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
        written = await self.execute_sql(
            """
            insert into threads ("id", "createdAt", "name", "userId", "userIdentifier", "tags", "metadata")
            values (:id, :createdAt, coalesce(:name, (:incoming)::jsonb ->> 'name'), :userId,
                    (select "identifier" from users where "id" = :userId), :tags, (:incoming)::jsonb)
            on conflict ("id") do update set
              "name" = coalesce(excluded."name",
                                ((coalesce(threads."metadata", '{}') - (:dropped)::text[]) || excluded."metadata") ->> 'name',
                                threads."name"),
              "userId" = coalesce(excluded."userId", threads."userId"),
              "userIdentifier" = coalesce(excluded."userIdentifier", threads."userIdentifier"),
              "tags" = coalesce(excluded."tags", threads."tags"),
              "metadata" = (coalesce(threads."metadata", '{}') - (:dropped)::text[]) || excluded."metadata"
            """,
            {
                "id": thread_id,
                "createdAt": await self.get_current_timestamp(),
                "name": name,
                "userId": user_id,
                "tags": tags,
                "incoming": json.dumps({k: v for k, v in metadata.items() if v is not None}),
                "dropped": [k for k, v in metadata.items() if v is None],
            },
        )
        return written is not None

    async def create_step(self, step_dict: StepDict) -> None:
        if step_dict.get("type") == "user_message" and message_refusal(str(step_dict.get("output") or "")):
            return None  # a message refused before anything ran (agent/input_checks) is not kept either
        await super().create_step(step_dict)

    async def delete_thread(self, thread_id: str) -> None:
        self._threads.pop(thread_id, None)
        await super().delete_thread(thread_id)

    async def close(self) -> None:
        if self.storage_provider:
            await self.storage_provider.close()
        await self.pool.close()


async def _adapt_dicts_as_jsonb(conn: psycopg.AsyncConnection[Any]) -> None:
    """Chainlit passes some dict values unencoded (a message's `modes`, an element's
    `playerConfig`); psycopg cannot adapt a plain dict, so send dicts as JSONB."""
    conn.adapters.register_dumper(dict, JsonbDumper)


class LocalChatStorage(BaseStorageClient):
    """Chat elements (tables, charts, transcripts) kept in a local folder, for the embedded default.

    Read URLs are `data:` URLs built from the file, so the browser gets an element's content over
    the signed-in session that loaded the thread; no file route is exposed to anyone else.
    """

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, object_key: str) -> Path:
        path = (self.root / object_key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"object key outside the storage folder: {object_key!r}")
        return path

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        path = self._path(object_key)
        if path.exists() and not overwrite:
            return {"object_key": object_key, "url": await self.get_read_url(object_key)}
        raw = data.encode() if isinstance(data, str) else data
        await asyncio.to_thread(_write, self.root, path, raw, mime)
        return {"object_key": object_key, "url": _data_url(raw, mime)}

    async def delete_file(self, object_key: str) -> bool:
        path = self._path(object_key)
        existed = path.exists()
        await asyncio.to_thread(_remove, path)
        return existed

    async def get_read_url(self, object_key: str) -> str:
        path = self._path(object_key)
        raw, mime = await asyncio.to_thread(_read, path)
        return _data_url(raw, mime)

    async def close(self) -> None:
        return None


def _write(root: Path, path: Path, raw: bytes, mime: str) -> None:
    # A chat's tables and charts are its organization's data: owner-only files and folders.
    private_dir(root)
    write_private(path, raw)
    write_private(path.with_name(path.name + ".mime"), mime)


def _read(path: Path) -> tuple[bytes, str]:
    mime_file = path.with_name(path.name + ".mime")
    return path.read_bytes(), mime_file.read_text() if mime_file.exists() else "application/octet-stream"


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".mime").unlink(missing_ok=True)


def _data_url(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"
