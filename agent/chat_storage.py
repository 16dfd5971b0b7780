"""Where chat elements (tables, charts, transcripts) are kept: the storage provider of the chat
history (agent/history.py). A local folder in the embedded default; on DATABASE_URL the database
itself, so that every app process behind the load balancer reads what another one stored."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import psycopg
from chainlit.data.storage_clients.base import BaseStorageClient
from psycopg_pool import AsyncConnectionPool

from services.platform.server_files import private_dir, write_private


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


class DatabaseChatStorage(BaseStorageClient):
    """Chat elements in `chat_element_files`, read back as `data:` URLs like the local folder's.

    Its own small pool, connecting as the database owner (as the history layer does): no person's
    role reaches the table.
    """

    def __init__(self, database_url: str, *, max_size: int = 4) -> None:
        # prepare_threshold=None: Supabase's transaction pooler has no prepared statements.
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
            database_url,
            open=False,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "prepare_threshold": None},
            # After a database restart every idle connection is dead: an element would be lost.
            check=AsyncConnectionPool.check_connection,
        )
        self._opened: asyncio.Task[None] | None = None

    async def _pool(self) -> AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]]:
        if self._opened is None:
            self._opened = asyncio.ensure_future(self.pool.open(wait=True))
        await asyncio.shield(self._opened)
        return self.pool

    async def upload_file(
        self,
        object_key: str,
        data: bytes | str,
        mime: str = "application/octet-stream",
        overwrite: bool = True,
        content_disposition: str | None = None,
    ) -> dict[str, Any]:
        raw = data.encode() if isinstance(data, str) else data
        async with (await self._pool()).connection() as conn:
            cur = await conn.execute(
                "insert into chat_element_files (object_key, mime, content) values (%s, %s, %s)"
                " on conflict (object_key) do update set mime = excluded.mime, content = excluded.content"
                " where %s returning mime, content",
                (object_key, mime, raw, overwrite),
            )
            if await cur.fetchone() is None:  # kept already, not overwritten
                return {"object_key": object_key, "url": await self.get_read_url(object_key)}
        return {"object_key": object_key, "url": _data_url(raw, mime)}

    async def delete_file(self, object_key: str) -> bool:
        async with (await self._pool()).connection() as conn:
            cur = await conn.execute("delete from chat_element_files where object_key = %s", (object_key,))
            return cur.rowcount > 0

    async def get_read_url(self, object_key: str) -> str:
        async with (await self._pool()).connection() as conn:
            cur = await conn.execute(
                "select mime, content from chat_element_files where object_key = %s", (object_key,)
            )
            row = await cur.fetchone()
        if row is None:
            raise FileNotFoundError(f"no chat element stored under {object_key!r}")
        return _data_url(bytes(row[1]), str(row[0]))

    async def close(self) -> None:
        if self._opened is not None:
            await self.pool.close()
