"""Meta tokens people connected (OAuth): warn before they expire, notice when Meta stops accepting them.

Run daily by the platform's `token_expiry_check` job. A connection expiring within
`EXPIRY_WARNING_DAYS` gets one warning per expiry date (not one a day); one Meta refuses (code 190)
or whose date has passed is marked expired, which notifies once and stops further checks until the
brand reconnects.

Renewal: an app may exchange a valid user token for a long-lived (~60-day) one (`oauth/access_token`,
`grant_type=fb_exchange_token`, with the app id and secret); an expired token can't be exchanged, and
Meta refreshes tokens only for people who keep using the app (for a long-lived token it may answer the
same token and expiry). So a connection expiring within `RENEW_WITHIN_DAYS` whose person sent a chat
message in the last `RECENT_USE_DAYS` is exchanged, and a token that lasts longer is stored encrypted.
When Meta refuses, answers no later expiry, or no Meta app is configured, nothing changes and the
warnings stay. System-user links are never touched.
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
from services.meta.oauth import LongLivedToken, exchange_for_long_lived
from services.meta.vault import TokenVault
from services.platform import notifications
from settings import Settings

log = logging.getLogger(__name__)

EXPIRING = "meta_token_expiring"
EXPIRED = "meta_token_expired"
RENEWED = "meta_token_renewed"

# A week before the first warning: when Meta renews, nobody is warned, and a person who comes back
# within those two weeks is still caught by a daily try.
RENEW_WITHIN_DAYS = EXPIRY_WARNING_DAYS + 7
# Only the access of someone still using the app is extended (Meta's SDKs refresh within 90 days).
RECENT_USE_DAYS = 30
# Meta answers the same expiry when it won't extend: a gain under a day is no renewal.
MIN_GAIN = timedelta(days=1)


class TokenCheckResult(BaseModel):
    checked: int = 0
    expiring: int = 0
    """Connections expiring within the warning window (warned once per expiry date)."""
    warned: int = 0
    """Warnings created by this run."""
    expired: int = 0
    """Connections marked expired by this run (Meta refused the token, or its date passed)."""
    renewed: int = 0
    """Connections whose token Meta exchanged for one that lasts longer (no warning for them)."""
    errors: int = 0
    """Connections that couldn't be checked (Meta unreachable, a token that can't be decrypted)."""


_CONNECTIONS = """
select a.id, a.brand_id, a.organization_id, b.name as brand, a.meta_ad_account_id, a.access_token_encrypted,
       a.token_expires_at, a.connected_by
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
    renewals: dict[str, LongLivedToken | None] = {}  # token → its renewal; one exchange per token
    for row in rows:
        result.checked += 1
        expires: datetime | None = row["token_expires_at"]
        renewal: LongLivedToken | None = None
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
                if problem is None and await _may_renew(db, row, settings, now):
                    assert expires is not None  # _may_renew checked it
                    if key not in renewals:
                        renewals[key] = await _renewal(token, expires, settings, client_factory, now)
                    renewal = renewals[key]
        except UserFacingError as error:
            log.warning("token check of %s failed: %s", row["meta_ad_account_id"], error)
            result.errors += 1
            continue
        async with db.as_service() as conn:
            # One connection at a time: two checks running at once can't both notify.
            await conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"meta-token:{row['id']}",))
            if problem is not None:
                result.expired += await _mark_expired(conn, row, problem)
            elif renewal is not None and await _store_renewal(conn, row, renewal, vault):
                result.renewed += 1
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


# The person's own chat messages (Chainlit's history: users → threads → steps) since a moment.
_RECENT_USE = """
select exists (
  select 1 from users u join threads t on t."userId" = u."id" join steps s on s."threadId" = t."id"
   where lower(u."identifier") = (select lower(email) from auth.users where id = %(person)s)
     and s."type" = 'user_message' and left(s."createdAt", 19) >= %(since)s
) as recent
"""


async def _may_renew(db: Database, row: dict[str, Any], settings: Settings, now: datetime) -> bool:
    """Worth asking Meta: an app is configured, the token ends soon, and its person uses the app."""
    expires: datetime | None = row["token_expires_at"]
    if not settings.meta_app_id or settings.meta_app_secret is None or row["connected_by"] is None:
        return False
    if expires is None or expires - now > timedelta(days=RENEW_WITHIN_DAYS):
        return False
    since = (now - timedelta(days=RECENT_USE_DAYS)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    # As the owner, like sign-in: people's emails (auth.users) are not readable by service_role.
    async with db.as_owner() as conn:
        cur = await conn.execute(_RECENT_USE, {"person": row["connected_by"], "since": since})
        found = await cur.fetchone()
    return bool(found and found["recent"])


async def _renewal(
    token: SecretStr,
    expires: datetime,
    settings: Settings,
    client_factory: Callable[[SecretStr], MetaClient] | None,
    now: datetime,
) -> LongLivedToken | None:
    """A token that lasts longer than `expires`, or None (Meta refused, or gave no later expiry)."""
    # The app's own call, with the same Graph address and limits as the person's client.
    made = client_factory(token) if client_factory else None
    app = (
        MetaClient(token=None, graph_url=made.graph_url, limits=made.limits, sleep=made.sleep)
        if made is not None
        else MetaClient(token=None, graph_url=settings.meta_graph_url)
    )
    try:
        fresh = await exchange_for_long_lived(app, settings=settings, token=token, now=now)
        if not fresh.token.get_secret_value():
            return None
        if fresh.expires_at is None:  # Meta at times leaves out expires_in: debug_token has the end
            ends = await _debug_expiry(app, settings, fresh.token)
            if ends == 0:
                return fresh  # a token that does not expire
            fresh = fresh.model_copy(update={"expires_at": datetime.fromtimestamp(ends, UTC)})
    except ExternalServiceError as error:
        log.warning("Meta did not renew a token: %s", error.message)
        return None
    assert fresh.expires_at is not None
    return fresh if fresh.expires_at - expires >= MIN_GAIN else None


async def _debug_expiry(app: MetaClient, settings: Settings, token: SecretStr) -> int:
    """When Meta says the token ends (epoch seconds; 0: never), asked with the app's own token."""
    assert settings.meta_app_id and settings.meta_app_secret is not None  # _may_renew checked
    app_token = SecretStr(f"{settings.meta_app_id}|{settings.meta_app_secret.get_secret_value()}")
    client = MetaClient(token=app_token, graph_url=app.graph_url, limits=app.limits, sleep=app.sleep)
    answer = await asyncio.to_thread(client.get, ("debug_token",), {"input_token": token.get_secret_value()})
    data = answer.get("data") or {}
    if not data.get("is_valid") or not isinstance(data.get("expires_at"), int):
        raise ExternalServiceError("Meta did not confirm the renewed token.")
    return int(data["expires_at"])


async def _store_renewal(
    conn: Conn, row: dict[str, Any], renewal: LongLivedToken, vault: TokenVault | None
) -> int:
    """Store the new token (encrypted) in place of the one it replaces, and say so once."""
    assert vault is not None
    cur = await conn.execute(
        "update brand_ad_accounts set access_token_encrypted = %s, token_expires_at = %s, last_error = null"
        " where id = %s and access_token_encrypted = %s and status in ('active', 'error') returning id",
        (vault.encrypt(renewal.token), renewal.expires_at, row["id"], row["access_token_encrypted"]),
    )
    if await cur.fetchone() is None:
        return 0  # reconnected or renewed meanwhile: that newer token stays
    brand, until = row["brand"], renewal.expires_at
    lasts = f"it now lasts until {until:%b %-d, %Y}" if until else "it no longer expires"
    return await _notify(
        conn,
        row,
        RENEWED,
        title=f"Meta connection for {brand} renewed",
        message=f"Renewed the Meta connection for {brand}; {lasts}.",
        expires_at=until.isoformat() if until else "never",
    )


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
