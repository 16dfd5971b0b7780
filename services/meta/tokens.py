"""Meta tokens people connected (OAuth): warn before they expire, notice when Meta stops accepting them.

Run daily by the platform's `token_expiry_check` job. A connection expiring within
`EXPIRY_WARNING_DAYS` gets one warning per expiry date (not one a day); one Meta refuses (code 190)
or whose date has passed is marked expired, which notifies once and stops further checks until the
brand reconnects.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, SecretStr

from core.errors import ExternalServiceError, MetaAuthError, UserFacingError
from db.pool import Conn, Database
from services.meta.api import MetaClient
from services.meta.connections import EXPIRY_WARNING_DAYS, paused_until_reconnect
from services.meta.vault import TokenVault
from services.platform import notifications
from settings import Settings

log = logging.getLogger(__name__)

EXPIRING = "meta_token_expiring"
EXPIRED = "meta_token_expired"


class TokenCheckResult(BaseModel):
    checked: int = 0
    expiring: int = 0
    """Connections expiring within the warning window (warned once per expiry date)."""
    warned: int = 0
    """Warnings created by this run."""
    expired: int = 0
    """Connections marked expired by this run (Meta refused the token, or its date passed)."""
    errors: int = 0
    """Connections that couldn't be checked (Meta unreachable, a token that can't be decrypted)."""


_CONNECTIONS = """
select a.id, a.brand_id, a.organization_id, b.name as brand, a.meta_ad_account_id, a.access_token_encrypted,
       a.token_expires_at
  from brand_ad_accounts a join brands b on b.id = a.brand_id
 where a.auth_method = 'oauth' and a.access_token_encrypted is not null and a.status in ('active', 'error')
   and (%(org)s::uuid is null or a.organization_id = %(org)s)
 order by a.created_at
"""


async def check_tokens(
    db: Database,
    *,
    settings: Settings,
    organization_id: UUID | None = None,
    client_factory: Callable[[SecretStr], MetaClient] | None = None,
    now: datetime | None = None,
) -> TokenCheckResult:
    """Check every OAuth connection (or one organization's). Raises `ExternalServiceError` only when
    none could be checked (Meta unreachable: the job tries again later)."""
    now = now or datetime.now(UTC)
    async with db.as_service() as conn:
        cur = await conn.execute(_CONNECTIONS, {"org": organization_id})
        rows = await cur.fetchall()
    result = TokenCheckResult()
    vault: TokenVault | None = None
    refused: dict[str, str | None] = {}  # token → Meta's refusal (None: accepted); one call per token
    for row in rows:
        result.checked += 1
        expires: datetime | None = row["token_expires_at"]
        try:
            if expires is not None and expires <= now:
                problem: str | None = f"The token expired on {expires:%b %-d}."
            else:
                vault = vault or TokenVault.from_settings(settings)
                token = vault.decrypt(row["access_token_encrypted"])
                key = token.get_secret_value()
                if key not in refused:
                    refused[key] = await _refusal(token, settings, client_factory)
                problem = refused[key]
        except UserFacingError as error:
            log.warning("token check of %s failed: %s", row["meta_ad_account_id"], error)
            result.errors += 1
            continue
        async with db.as_service() as conn:
            # One connection at a time: two checks running at once can't both notify.
            await conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"meta-token:{row['id']}",))
            if problem is not None:
                result.expired += await _mark_expired(conn, row, problem)
            elif expires is not None and expires - now <= timedelta(days=EXPIRY_WARNING_DAYS):
                result.expiring += 1
                result.warned += await _warn_expiring(conn, row, expires)
    if result.errors and result.errors == result.checked:
        raise ExternalServiceError(f"None of the {result.checked} Meta connection(s) could be checked.")
    return result


async def _refusal(
    token: SecretStr, settings: Settings, client_factory: Callable[[SecretStr], MetaClient] | None
) -> str | None:
    """Meta's refusal of the token (None when it is accepted): one cheap `GET /me`."""
    client = (
        client_factory(token)
        if client_factory
        else MetaClient(token=token, graph_url=settings.meta_graph_url)
    )
    try:
        await asyncio.to_thread(client.get, ("me",), {"fields": "id"})
    except MetaAuthError as error:
        return error.message
    except ExternalServiceError:
        raise
    return None


async def _mark_expired(conn: Conn, row: dict[str, Any], problem: str) -> int:
    cur = await conn.execute(
        "update brand_ad_accounts set status = 'expired', last_error = %s where id = %s"
        " and status in ('active', 'error') returning id",
        (problem, row["id"]),
    )
    if await cur.fetchone() is None:
        return 0  # someone else marked it (and notified)
    brand = row["brand"]
    return await _notify(
        conn,
        row,
        EXPIRED,
        title=f"Meta connection for {brand} stopped working",
        message=f"{problem} {paused_until_reconnect(row['meta_ad_account_id'], brand)}",
    )


async def _warn_expiring(conn: Conn, row: dict[str, Any], expires: datetime) -> int:
    cur = await conn.execute(
        "select 1 from notifications where type = %s and organization_id = %s"
        " and metadata->>'connection_id' = %s and metadata->>'expires_at' = %s",
        (EXPIRING, row["organization_id"], str(row["id"]), expires.isoformat()),
    )
    if await cur.fetchone() is not None:
        return 0
    brand = row["brand"]
    return await _notify(
        conn,
        row,
        EXPIRING,
        title=f"Meta connection for {brand} expires {expires:%b %-d}",
        message=(
            f"The Facebook connection for {row['meta_ad_account_id']} expires on {expires:%b %-d}. Reconnect"
            f' before then so syncs keep running: /connect_meta brand:"{brand}".'
        ),
        expires_at=expires.isoformat(),
    )


async def _notify(
    conn: Conn, row: dict[str, Any], kind: str, *, title: str, message: str, **extra: str
) -> int:
    """An org-wide notification about one connection; returns 1 (counted by the caller)."""
    await notifications.create(
        conn,
        organization_id=row["organization_id"],
        type=kind,
        category="meta",
        title=title,
        message=message,
        metadata={"connection_id": str(row["id"]), "account_id": row["meta_ad_account_id"], **extra},
    )
    return 1
