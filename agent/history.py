"""Chat history: Chainlit's SQLAlchemy data layer on our Postgres (tables in the chat_history migration)."""

from __future__ import annotations

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
    layer = SQLAlchemyDataLayer(
        conninfo=sqlalchemy_url(database_url),
        # Supabase's transaction pooler has no prepared statements (as in db/pool.py).
        connect_args={"prepare_threshold": None},
        storage_provider=storage_provider,
    )
    event.listen(layer.engine.sync_engine, "connect", _adapt_dicts_as_jsonb)
    return layer


def _adapt_dicts_as_jsonb(dbapi_connection: Any, _record: Any) -> None:
    """Chainlit passes some dict values unencoded (a message's `modes`, an element's
    `playerConfig`); psycopg cannot adapt a plain dict, so send dicts as JSONB."""
    dbapi_connection.driver_connection.adapters.register_dumper(dict, JsonbDumper)
