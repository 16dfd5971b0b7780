"""The connection pool and the per-request tenancy context (as Supabase does it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from uuid import UUID

import psycopg
from psycopg import AsyncConnection, sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from settings import Settings, get_settings

Conn = AsyncConnection[DictRow]

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


class Database:
    """A psycopg 3 async pool. Request work runs as `authenticated` under RLS."""

    def __init__(self, url: str, *, max_size: int = 10) -> None:
        self.url = url
        # prepare_threshold=None: Supabase's transaction pooler has no prepared statements.
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            open=False,
            min_size=1,
            max_size=max_size,
            kwargs={"prepare_threshold": None, "row_factory": dict_row, "autocommit": True},
            connection_class=AsyncConnection[DictRow],
        )

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Database:
        settings = settings or get_settings()
        return cls(resolve_database_url(settings), max_size=settings.pool_max_size)

    async def open(self) -> None:
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
    async def _transaction(self, begin: sql.SQL | sql.Composed) -> AsyncIterator[Conn]:
        """BEGIN and the role settings in one round trip (several statements, no parameters: the
        simple query protocol), then COMMIT, or ROLLBACK when the body fails. Inside, psycopg sees
        the open transaction: a nested `conn.transaction()` is a savepoint."""
        async with self.pool.connection() as conn:
            await conn.execute(begin)
            try:
                yield conn
            except BaseException:
                if not conn.closed:
                    with suppress(psycopg.Error):
                        await conn.execute("rollback")
                raise
            await conn.execute("commit")

    @asynccontextmanager
    async def as_owner(self) -> AsyncIterator[Conn]:
        """A transaction as the connection's own role: migrations and user onboarding."""
        async with self.pool.connection() as conn, conn.transaction():
            yield conn
