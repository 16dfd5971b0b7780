"""Linking a brand's Meta ad account, the connections (and tokens) a sync uses, and their status."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, SecretStr, computed_field

from core.errors import (
    ConfigurationError,
    ExternalServiceError,
    InvalidArgument,
    NotFound,
)
from db.pool import Caller, Conn, Database
from services.brands import resolve_brand
from services.currencies import adopt_account_money
from services.meta.api import MetaClient
from services.meta.vault import TokenVault
from services.models import BrandRef
from services.pipeline import schedule_daily_sync
from services.presentable import Presentable, Table, table_of
from settings import Settings, get_settings

ACCOUNT_ID = re.compile(r"^(?:act_)?(\d{5,20})$")

# -- identifiers and tokens ------------------------------------------------------------------


def normalize_account_id(raw: str) -> str:
    """`act_<digits>` from what a person typed ("act_123…", "123…"), or a clear message."""
    found = ACCOUNT_ID.match(raw.strip())
    if not found:
        raise InvalidArgument(
            f"'{raw.strip()}' is not a Meta ad account ID. It looks like act_1234567890"
            " (Ads Manager → account dropdown, or Business Settings → Ad accounts)."
        )
    return f"act_{found[1]}"


@dataclass(frozen=True)
class Connection:
    """One linked ad account and how to call Meta for it (the token is never printed)."""

    brand: BrandRef
    account_id: str
    method: str  # system_user | oauth
    token: SecretStr = field(repr=False)
    expired: bool = False
    """Marked expired (Meta refused the token, or its date passed): paused until someone reconnects."""


def paused_until_reconnect(account_id: str, brand: str) -> str:
    """What an expired connection means, in the words its notification and a refused sync both use
    (/meta_status points to the same command)."""
    return f'Syncs of {account_id} are paused until someone reconnects: /connect_meta brand:"{brand}".'


def system_token(settings: Settings) -> SecretStr | None:
    return settings.meta_system_user_token


async def connections_for(conn: Conn, brand: BrandRef, settings: Settings) -> list[Connection]:
    """The brand's linked accounts with their tokens: its own (OAuth or per-brand) first, else the
    system user's (`META_SYSTEM_USER_TOKEN`)."""
    cur = await conn.execute(
        "select meta_ad_account_id, auth_method, access_token_encrypted, status from brand_ad_accounts"
        " where brand_id = %s and status <> 'disconnected' order by created_at",
        (brand.id,),
    )
    rows = await cur.fetchall()
    if not rows:
        raise NotFound(
            f"{brand.name} has no Meta ad account linked. Link one with"
            f' /meta_account brand:"{brand.name}" account:act_1234567890'
            " (or connect Facebook with /connect_meta)."
        )
    found: list[Connection] = []
    vault: TokenVault | None = None
    for row in rows:
        if row["access_token_encrypted"]:
            vault = vault or TokenVault.from_settings(settings)
            token = vault.decrypt(row["access_token_encrypted"])
        else:
            fallback = system_token(settings)
            if fallback is None:
                raise ConfigurationError(
                    f"{brand.name}'s account {row['meta_ad_account_id']} has no token of its own and"
                    " META_SYSTEM_USER_TOKEN is not set. Connect it with /connect_meta or set the variable."
                )
            token = fallback
        expired = row["status"] == "expired"
        found.append(Connection(brand, row["meta_ad_account_id"], row["auth_method"], token, expired))
    return found


async def ensure_account_is_free(db: Database, *, account_id: str, organization_id: Any) -> None:
    """An ad account's ads belong to one organization (ad IDs are unique across the database): refuse
    to link an account another organization already reads, rather than fail at its first sync."""
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select 1 from brand_ad_accounts where meta_ad_account_id = %s and organization_id <> %s"
            " union all select 1 from meta_ads where meta_ad_account_id = %s and organization_id <> %s limit 1",
            (account_id, organization_id, account_id, organization_id),
        )
        taken = await cur.fetchone() is not None
    if taken:
        raise InvalidArgument(
            f"{account_id} is already linked by another organization here; an ad account's data can"
            " belong to only one. Ask whoever runs ViralTracker to move it."
        )


def as_caller(db: Database, caller: Caller | None) -> AbstractAsyncContextManager[Conn]:
    return db.as_user(caller) if caller is not None else db.as_service()


# -- linking an account ----------------------------------------------------------------------


class LinkResult(BaseModel, Presentable):
    brand: str
    account_id: str
    account_name: str
    currency: str | None = None
    method: str
    schedule: str
    """The brand's daily sync, said: scheduled now, or the schedule it had (`schedule_daily_sync`)."""

    def as_tables(self) -> list[Table]:
        return []  # one account, said in the summary

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        return (
            f"Linked {self.account_id} ({self.account_name}, {self.currency or 'currency unknown'}) to"
            f' {self.brand}. {self.schedule} Sync it now with /sync_meta brand:"{self.brand}".'
        )


async def link_account(
    db: Database,
    caller: Caller | None,
    *,
    brand_name: str,
    account: str,
    settings: Settings | None = None,
    client_factory: Callable[[SecretStr], MetaClient] | None = None,
) -> LinkResult:
    """Link an ad account to a brand with the system user's token, after checking Meta lets it read it.
    `caller` None: as the service role (the CLI, run by whoever operates the deployment)."""
    settings = settings or get_settings()
    account_id = normalize_account_id(account)
    async with as_caller(db, caller) as conn:
        brand = await resolve_brand(conn, name=brand_name)
    token = system_token(settings)
    if token is None:
        raise ConfigurationError(
            "Linking an account by ID uses META_SYSTEM_USER_TOKEN, which is not set."
            " Set it, or connect Facebook with /connect_meta."
        )
    client = (
        client_factory(token)
        if client_factory
        else MetaClient(token=token, graph_url=settings.meta_graph_url)
    )
    try:
        info = await asyncio.to_thread(
            client.get, (account_id,), {"fields": "id,name,account_status,currency,timezone_name"}
        )
    except ExternalServiceError as error:
        if "code 100" in error.message:
            raise NotFound(
                f"Meta has no ad account {account_id} that this token can read. Check the ID, and that the"
                " system user was given access to the account in Business Settings."
            ) from None
        raise
    if info.get("account_status") not in (1, None):
        raise InvalidArgument(
            f"{account_id} ({info.get('name')}) is not active in Meta (status {info.get('account_status')})."
        )
    await ensure_account_is_free(db, account_id=account_id, organization_id=brand.organization_id)
    currency, timezone = info.get("currency"), info.get("timezone_name")
    async with as_caller(db, caller) as conn:
        await adopt_account_money(
            conn, brand=brand, currency=currency, timezone=timezone,
            what=f"Ad account {account_id} is", refused="it was not linked",
        )  # fmt: skip
        await conn.execute(
            "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id, auth_method, status,"
            " currency, timezone) values (%s, %s, %s, 'system_user', 'active', %s, %s)"
            " on conflict (brand_id, meta_ad_account_id)"
            " do update set status = 'active', last_error = null, currency = excluded.currency,"
            " timezone = excluded.timezone",
            (brand.id, brand.organization_id, account_id, currency, timezone),
        )
        schedule = await schedule_daily_sync(conn, brand=brand)
    return LinkResult(
        brand=brand.name,
        account_id=account_id,
        account_name=str(info.get("name") or account_id),
        currency=info.get("currency"),
        method="system_user",
        schedule=schedule,
    )


# -- status ----------------------------------------------------------------------------------

EXPIRY_WARNING_DAYS = 7


class ConnectionStatus(BaseModel):
    brand: str
    account_id: str
    method: str
    status: str
    token_expires_at: datetime | None
    last_synced_at: datetime | None
    last_sync: str | None
    health: str
    needs_reconnect: bool = False  # expired, revoked, or expiring within EXPIRY_WARNING_DAYS


class MetaStatusResult(BaseModel, Presentable):
    connections: list[ConnectionStatus]
    summary: str

    def as_tables(self) -> list[Table]:
        columns = ["brand", "account_id", "method", "status", "token_expires_at", "last_synced_at", "health"]
        return [table_of("Meta connections", self.connections, columns)]


async def meta_status(conn: Conn, *, brand: BrandRef | None, now: datetime | None = None) -> MetaStatusResult:
    """Each linked ad account: how it is connected, until when, when it last synced, and what to do."""
    now = now or datetime.now(UTC)
    cur = await conn.execute(
        "select b.name as brand, a.meta_ad_account_id, a.auth_method, a.status, a.token_expires_at,"
        " a.last_synced_at, a.last_error, s.last_status, s.last_error as sync_error"
        " from brand_ad_accounts a join brands b on b.id = a.brand_id"
        " left join sync_state s on s.meta_ad_account_id = a.meta_ad_account_id and s.stream = 'insights'"
        " where (%(brand)s::uuid is null or a.brand_id = %(brand)s) order by b.name, a.created_at",
        {"brand": brand.id if brand else None},
    )
    rows = await cur.fetchall()
    found = [_status_of(row, now) for row in rows]
    scope = brand.name if brand else "your brands"
    if not found:
        summary = (
            f'No Meta ad account is linked to {scope}. Link one with /meta_account brand:"NAME"'
            " account:act_1234567890, or connect Facebook with /connect_meta."
        )
    else:
        attention = [c for c in found if not c.health.startswith("Healthy")]
        summary = f"{len(found)} Meta ad account(s) linked to {scope}; " + (
            f"{len(attention)} need attention." if attention else "all healthy."
        )
    return MetaStatusResult(connections=found, summary=summary)


def _status_of(row: dict[str, Any], now: datetime) -> ConnectionStatus:
    expires: datetime | None = row["token_expires_at"]
    reconnect = f'Reconnect with /connect_meta brand:"{row["brand"]}".'
    needs_reconnect = row["status"] == "expired" or (
        expires is not None and expires - now <= timedelta(days=EXPIRY_WARNING_DAYS)
    )
    if row["status"] == "expired":
        health = f"Token expired or revoked. {reconnect}"
    elif expires is not None and expires <= now:
        health = f"Token expired on {expires:%b %-d}. {reconnect}"
    elif expires is not None and expires - now <= timedelta(days=EXPIRY_WARNING_DAYS):
        health = f"Token expires on {expires:%b %-d}. {reconnect}"
    elif row["last_status"] == "failed":
        health = f"Last sync failed: {row['sync_error'] or row['last_error'] or 'unknown error'}"
    elif row["last_synced_at"] is None:
        health = f'Never synced. Run /sync_meta brand:"{row["brand"]}".'
    else:
        health = "Healthy."
    return ConnectionStatus(
        brand=row["brand"],
        account_id=row["meta_ad_account_id"],
        method=row["auth_method"],
        status=row["status"],
        token_expires_at=expires,
        last_synced_at=row["last_synced_at"],
        last_sync=row["last_status"],
        health=health,
        needs_reconnect=needs_reconnect,
    )
