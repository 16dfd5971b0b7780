"""Why the database could not be opened, in one line that names the cause and the fix (never the password)."""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

from db.pool import connection_lost

URL_SHAPE = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"


def where(url: str) -> str:
    """The server and database a URL names, without its user or password: `db.example.com:5432/app`."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "DATABASE_URL"
    host = str(info.get("host") or "localhost")
    return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or info.get('user') or 'postgres'}"


def open_failure(url: str, error: BaseException) -> str:
    """What went wrong opening `url` (DATABASE_URL), and what to do about it."""
    if isinstance(error, psycopg.ProgrammingError):  # libpq could not even parse it
        reason = str(error).splitlines()[0]
        return (
            f"DATABASE_URL is not a Postgres URL ({reason}): write it as {URL_SHAPE}, or unset it to use"
            " the embedded database."
        )
    place = where(url)
    # libpq reports a refused login or a missing database as text, without a SQLSTATE.
    text = str(error)
    if "password authentication failed" in text or ('role "' in text and "does not exist" in text):
        return f"The database at {place} refused the login in DATABASE_URL: check its user name and password."
    if 'database "' in text and "does not exist" in text:
        name = place.rsplit("/", 1)[-1]
        return f"There is no database '{name}' at {place}: create it (createdb {name}) or fix DATABASE_URL."
    if isinstance(error, PoolTimeout) or connection_lost(error):
        return (
            f"Cannot reach the database at {place} (DATABASE_URL): start that server or fix the URL's host"
            " and port, or unset DATABASE_URL to use the embedded database."
        )
    reason = text.splitlines()[0] if text else type(error).__name__
    return f"The database at {place} refused the connection ({reason}): check DATABASE_URL."
