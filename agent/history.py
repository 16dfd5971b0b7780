"""Chat history: Chainlit's SQLAlchemy data layer on our Postgres (tables in the chat_history migration)."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import psycopg
from chainlit.data.sql_alchemy import SQLAlchemyDataLayer
from chainlit.data.storage_clients.base import BaseStorageClient
from psycopg.types.json import JsonbDumper
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url

DRIVER = "postgresql+psycopg"

# libpq keywords that have a place of their own in a SQLAlchemy URL.
_URL_FIELDS = {"user", "password", "host", "port", "dbname"}


def sqlalchemy_url(database_url: str) -> str:
    """Our libpq connection string (URI or `key=value`) as a SQLAlchemy async URL for psycopg 3.

    Every libpq parameter survives. A Unix-socket directory (`?host=/dir` or `host=/dir`) and
    multi-host lists stay in the query string, which SQLAlchemy's psycopg dialect hands to
    `psycopg.connect` as keywords, as it does for `sslmode` and the like.
    """
    if "://" in database_url.split("?", 1)[0]:
        scheme = database_url.split("://", 1)[0]
        if "+" in scheme:  # already a SQLAlchemy URL: only make sure the driver is psycopg 3
            return make_url(database_url).set(drivername=DRIVER).render_as_string(hide_password=False)
    params = {k: v for k, v in psycopg.conninfo.conninfo_to_dict(database_url).items() if v is not None}
    host = str(params.get("host", ""))
    tcp_host = host if host and not host.startswith("/") and "," not in host else None
    query = {k: str(v) for k, v in params.items() if k not in _URL_FIELDS}
    if host and tcp_host is None:
        query["host"] = host
    port = str(params.get("port", ""))
    if port and ("," in port or tcp_host is None):
        query["port"] = port
        port = ""
    url = URL.create(
        DRIVER,
        username=str(params["user"]) if "user" in params else None,
        password=str(params["password"]) if params.get("password") else None,
        host=tcp_host,
        port=int(port) if port else None,
        database=str(params["dbname"]) if "dbname" in params else None,
        query=query,
    )
    return url.render_as_string(hide_password=False)


def make_data_layer(
    database_url: str, *, storage_provider: BaseStorageClient | None = None
) -> SQLAlchemyDataLayer:
    """Chainlit's SQLAlchemy data layer on `database_url`, connecting as its owner (no RLS role).

    Without a storage provider Chainlit persists users, threads, steps and feedback, and
    silently skips elements (`create_element` returns early, logging a warning).
    """
    layer = HistoryDataLayer(
        conninfo=sqlalchemy_url(database_url),
        # Supabase's transaction pooler has no prepared statements (as in db/pool.py).
        connect_args={"prepare_threshold": None},
        storage_provider=storage_provider,
    )
    event.listen(layer.engine.sync_engine, "connect", _adapt_dicts_as_jsonb)
    return layer


class HistoryDataLayer(SQLAlchemyDataLayer):
    """Chainlit's SQLAlchemy layer, minus a query per step: every step write first "touches" its
    thread (a SELECT, then nothing when it exists); a thread known to exist is not looked up again."""

    KNOWN_THREADS_MAX = 50_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known_threads: dict[str, None] = {}

    async def update_thread(
        self,
        thread_id: str,
        name: str | None = None,
        user_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        tags: list[str] | None = None,
    ) -> None:
        touch_only = name is None and user_id is None and metadata is None and tags is None
        if touch_only and thread_id in self._known_threads:
            return
        await super().update_thread(thread_id, name=name, user_id=user_id, metadata=metadata, tags=tags)
        if len(self._known_threads) >= self.KNOWN_THREADS_MAX:
            self._known_threads.pop(next(iter(self._known_threads)))
        self._known_threads[thread_id] = None

    async def delete_thread(self, thread_id: str) -> None:
        self._known_threads.pop(thread_id, None)
        await super().delete_thread(thread_id)


def _adapt_dicts_as_jsonb(dbapi_connection: Any, _record: Any) -> None:
    """Chainlit passes some dict values unencoded (a message's `modes`, an element's
    `playerConfig`); psycopg cannot adapt a plain dict, so send dicts as JSONB."""
    dbapi_connection.driver_connection.adapters.register_dumper(dict, JsonbDumper)


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
        await asyncio.to_thread(_write, path, raw, mime)
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


def _write(path: Path, raw: bytes, mime: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    path.with_name(path.name + ".mime").write_text(mime)


def _read(path: Path) -> tuple[bytes, str]:
    mime_file = path.with_name(path.name + ".mime")
    return path.read_bytes(), mime_file.read_text() if mime_file.exists() else "application/octet-stream"


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".mime").unlink(missing_ok=True)


def _data_url(raw: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(raw).decode()}"
