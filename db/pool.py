"""The connection pool and the per-request tenancy context (as Supabase does it)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from core.errors import DatabaseUnavailable
from settings import Settings, get_settings

log = logging.getLogger(__name__)

Conn = AsyncConnection[DictRow]

CONNECT_TIMEOUT_SECONDS = 5
PROBE_AFTER_SECONDS = 0.5
"""A checkout waiting this long asks whether the server is there at all (else it waits the pool's timeout)."""
PROBE_KEPT_SECONDS = 1.0
"""Waiting requests share one probe's answer this long (no storm of connections at a busy pool)."""
RECONNECT_GIVE_UP_SECONDS = 10.0
"""The pool's reconnection backoff stops here, so a database back after a long outage is used within seconds
(a request waiting for a connection starts a fresh attempt)."""

# As PostgREST does it: the claims and the role, local to the transaction.
_BEGIN_AS_USER = sql.SQL(
    "begin; select set_config('request.jwt.claims', {}, true), set_config('role', 'authenticated', true)"
)
_BEGIN_AS_SERVICE = sql.SQL("begin; set local role service_role")


@dataclass(frozen=True)
class Caller:
    """Who is asking: the signed-in user. Identity for tools comes only from here."""

    user_id: UUID
    email: str


def resolve_database_url(settings: Settings) -> str:
    """`DATABASE_URL` when set, else the embedded server (started on demand)."""
    if settings.database_url:
        return settings.database_url
    from db.embedded import start_embedded

    return start_embedded(settings.pgdata)


def connection_lost(error: BaseException) -> bool:
    """Whether `error` says the server could not be reached or dropped the connection (it is down,
    restarting, or shutting down), rather than refusing a statement or a login."""
    if isinstance(error, PoolTimeout):
        return True
    if not isinstance(error, psycopg.OperationalError):
        return False
    # No SQLSTATE: libpq's own (refused, reset, timed out); 08: connection exceptions; 57P: shutting
    # down, starting up, or terminated by an administrator.
    return error.sqlstate is None or error.sqlstate.startswith(("08", "57P"))


class Database:
    """A psycopg 3 async pool. Request work runs as `authenticated` under RLS.

    Survives a database restart: connections are checked when taken from the pool (a dead one found
    there sends every idle one to be checked), a transaction whose first statement found its connection
    dropped runs once more on a fresh one, and while the server is unreachable every request fails within
    about a second with `DatabaseUnavailable` instead of waiting out the pool's timeout.
    """

    def __init__(
        self, url: str, *, max_size: int = 10, connect_timeout: int = CONNECT_TIMEOUT_SECONDS
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self._probe: asyncio.Task[bool] | None = None
        self._probed_at = 0.0
        # prepare_threshold=None: Supabase's transaction pooler has no prepared statements.
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            open=False,
            min_size=1,
            max_size=max_size,
            kwargs={
                "prepare_threshold": None,
                "row_factory": dict_row,
                "autocommit": True,
                "connect_timeout": connect_timeout,
            },
            connection_class=AsyncConnection[DictRow],
            check=self._check,
            reconnect_timeout=RECONNECT_GIVE_UP_SECONDS,
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        settings = settings or get_settings()
        return cls(
            resolve_database_url(settings),
            max_size=settings.pool_max_size,
            connect_timeout=settings.db_connect_timeout,
        )

    async def open(self) -> None:
        """Open the pool. `DatabaseUnavailable` within the connect timeout when the server can't be
        reached (the pool alone would keep trying for 30 s)."""
        try:
            first = await AsyncConnection.connect(self.url, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as error:
            if not connection_lost(error):
                raise
            log.warning("the database can't be reached: %s", error)
            raise DatabaseUnavailable() from error
        await first.close()
        await self.pool.open(wait=True)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @asynccontextmanager
    async def as_user(self, caller: Caller) -> AsyncIterator[Conn]:
        """A transaction as the caller: `authenticated` role plus JWT claims, both local."""
        claims = json.dumps({"sub": str(caller.user_id), "email": caller.email, "role": "authenticated"})
        async with self._transaction(_BEGIN_AS_USER.format(sql.Literal(claims))) as conn:
            yield conn

    @asynccontextmanager
    async def as_service(self) -> AsyncIterator[Conn]:
        """A transaction as `service_role` (bypasses RLS): jobs, imports, seeding only."""
        async with self._transaction(_BEGIN_AS_SERVICE) as conn:
            yield conn

    @asynccontextmanager
    async def as_owner(self) -> AsyncIterator[Conn]:
        """A transaction as the connection's own role: migrations and user onboarding."""
        async with self._transaction(sql.SQL("begin")) as conn:
            yield conn

    @asynccontextmanager
    async def _transaction(self, begin: sql.SQL | sql.Composed) -> AsyncIterator[Conn]:
        """BEGIN and the role settings in one round trip (several statements, no parameters: the
        simple query protocol), then COMMIT, or ROLLBACK when the body fails. Inside, psycopg sees
        the open transaction: a nested `conn.transaction()` is a savepoint.

        A connection found dropped by BEGIN (nothing was written yet) is replaced once; a connection lost
        later, or no connection at all, is `DatabaseUnavailable` (never retried: a COMMIT may have landed).
        """
        for attempt in (1, 2):
            async with self._connection() as conn:
                try:
                    await conn.execute(begin)
                except psycopg.OperationalError as error:
                    if not conn.broken:
                        raise
                    if attempt == 2:
                        raise DatabaseUnavailable() from error
                    log.warning("a pooled connection was dropped (database restarted?): trying a fresh one")
                    continue
                try:
                    yield conn
                except BaseException as error:
                    if not conn.closed:
                        with suppress(psycopg.Error):
                            await conn.execute("rollback")
                    if isinstance(error, psycopg.Error) and conn.broken:
                        raise DatabaseUnavailable() from error
                    raise
                try:
                    await conn.execute("commit")
                except psycopg.OperationalError as error:
                    if conn.broken:
                        raise DatabaseUnavailable() from error
                    raise
                return

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A checked connection from the pool, given back at the end (the pool drops it if it broke)."""
        conn = await self._checkout()
        try:
            yield conn
        finally:
            await self.pool.putconn(conn)

    async def _checkout(self) -> Conn:
        """A connection, or `DatabaseUnavailable`: after `PROBE_AFTER_SECONDS` when the server can't be
        reached, else after the pool's own timeout (a busy pool, not a dead server)."""
        try:
            return await self.pool.getconn(timeout=PROBE_AFTER_SECONDS)
        except PoolTimeout as error:
            if not await self._reachable():
                raise DatabaseUnavailable() from error
        try:
            return await self.pool.getconn()
        except PoolTimeout as error:
            raise DatabaseUnavailable() from error

    async def _reachable(self) -> bool:
        """Whether the server accepts a new connection; one probe at a time, its answer shared briefly."""
        if self._probe is None or (
            self._probe.done() and time.monotonic() - self._probed_at > PROBE_KEPT_SECONDS
        ):
            self._probed_at = time.monotonic()
            self._probe = asyncio.ensure_future(self._connect_once())
        return await asyncio.shield(self._probe)

    async def _connect_once(self) -> bool:
        try:
            probe = await AsyncConnection.connect(self.url, connect_timeout=self.connect_timeout)
        except psycopg.OperationalError as error:
            if connection_lost(error):
                log.warning("the database can't be reached: %s", error)
                return False
            return True  # it answered (and refused us): the pool's own wait decides
        await probe.close()
        return True

    async def _check(self, conn: Conn) -> None:
        """The pool's check at checkout. A dead connection means the server went away: every idle one
        is checked now, so the request waits for one fresh connection rather than trying each."""
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            await self.pool.check()
            raise
