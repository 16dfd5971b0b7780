"""Connect Facebook: a brand's own Meta access through the OAuth dialog.

`/connect_meta brand:X` gives the person a link to Meta's dialog whose `state` is a random nonce
plus its HMAC. The nonce's row (`meta_oauth_states`) binds it to that person and brand, expires it
after 15 minutes and records its one use. Meta sends the browser back to `/meta/oauth/callback`
with a code. Only the person the link was made for, signed in to the chat, gets further: anyone
else (or nobody signed in) is refused before anything is used up. We then exchange the code for a
token, that one for a long-lived (~60-day) token kept encrypted in the row, list the ad accounts it
can read and show a confirmation page naming the brand, its organization and the account (or the
choice of accounts). Its POST, with a CSRF token bound to the state and the person, links the
account once. The token is stored encrypted, never shown.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from pydantic import BaseModel, SecretStr, computed_field

from core.errors import ConfigurationError, ExternalServiceError, InvalidArgument
from db.pool import Caller, Database
from services.brands import brand_by_id, resolve_brand
from services.currencies import adopt_account_money
from services.meta.action_log import writes_allowed
from services.meta.api import API_VERSION, MetaClient
from services.meta.connections import ensure_account_is_free, normalize_account_id
from services.meta.vault import TokenVault
from services.pipeline import schedule_daily_sync
from services.presentable import Presentable, Table
from settings import Settings, get_settings

LINK_MINUTES = 15
CHOICE_MINUTES = 30  # after the callback, to confirm (or choose) the account
SCOPES = "ads_read,business_management"
WRITE_SCOPES = "ads_read,ads_management,business_management"
"""Asked for only when the organization turned writes on (/ad_writes): reading needs no more."""
CALLBACK_PATH = "/meta/oauth/callback"
CHOOSE_PATH = "/meta/oauth/choose"

ClientFactory = Callable[[SecretStr | None], MetaClient]


class ConnectLink(BaseModel, Presentable):
    brand: str
    url: str
    expires_at: datetime

    def as_tables(self) -> list[Table]:
        return []  # the summary is the link

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        return (
            f"[Connect Facebook for {self.brand}]({self.url}) — sign in with a Facebook user that can read"
            f" the brand's ad account. The link works once, for {LINK_MINUTES} minutes, and only for you,"
            " signed in to this chat."
        )


class AdAccountChoice(BaseModel):
    id: str
    name: str
    currency: str | None = None
    timezone: str | None = None


class OAuthOutcome(BaseModel):
    status: Literal["linked", "confirm", "refused", "not_yours"]
    message: str
    brand: str | None = None
    organization: str | None = None
    accounts: list[AdAccountChoice] = []
    state: str | None = None
    confirmation: str | None = None
    """The confirmation form's CSRF token (status "confirm")."""


def _require_app(settings: Settings) -> tuple[str, SecretStr]:
    if not settings.meta_app_id or settings.meta_app_secret is None:
        raise ConfigurationError(
            "Connecting Facebook needs a Meta app: set META_APP_ID and META_APP_SECRET (the app needs the"
            " Marketing API), or link an account with /meta_account and META_SYSTEM_USER_TOKEN."
        )
    return settings.meta_app_id, settings.meta_app_secret


class LongLivedToken(BaseModel):
    token: SecretStr
    expires_at: datetime | None
    """None: Meta gave no lifetime (a token that does not expire)."""


async def exchange_for_long_lived(
    app: MetaClient, *, settings: Settings, token: SecretStr, now: datetime
) -> LongLivedToken:
    """Meta's `fb_exchange_token` grant: a long-lived (~60-day) user token for a short- or long-lived
    one. Raises `ExternalServiceError` (or `MetaAuthError`, code 190) when Meta refuses."""
    app_id, app_secret = _require_app(settings)
    answer = await asyncio.to_thread(
        app.get,
        ("oauth", "access_token"),
        {
            "grant_type": "fb_exchange_token",
            "client_id": app_id,
            "client_secret": app_secret.get_secret_value(),
            "fb_exchange_token": token.get_secret_value(),
        },
    )
    expires_in = answer.get("expires_in")
    return LongLivedToken(
        token=SecretStr(str(answer.get("access_token", ""))),
        expires_at=now + timedelta(seconds=int(expires_in)) if expires_in else None,
    )


def _signature(settings: Settings, nonce: str) -> str:
    key = hashlib.sha256(b"meta-oauth-state:" + settings.auth_secret().encode()).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _nonce_of(settings: Settings, state: str) -> str | None:
    nonce, _, signature = state.partition(".")
    if not nonce or not signature or not hmac.compare_digest(signature, _signature(settings, nonce)):
        return None
    return nonce


def redirect_uri(settings: Settings) -> str:
    return settings.public_url.rstrip("/") + CALLBACK_PATH


async def start_connect(
    db: Database,
    caller: Caller,
    *,
    brand_name: str,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> ConnectLink:
    """A one-use, expiring link to Meta's OAuth dialog for this person and brand."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    async with db.as_user(caller) as conn:
        brand = await resolve_brand(conn, name=brand_name)
        writes = await writes_allowed(conn, organization_id=brand.organization_id)
    app_id, _ = _require_app(settings)
    nonce = secrets.token_urlsafe(24)
    expires = now + timedelta(minutes=LINK_MINUTES)
    async with db.as_service() as conn:
        await conn.execute("delete from meta_oauth_states where expires_at < %s", (now - timedelta(days=1),))
        await conn.execute(
            "insert into meta_oauth_states (nonce, user_id, brand_id, organization_id, expires_at)"
            " values (%s, %s, %s, %s, %s)",
            (nonce, caller.user_id, brand.id, brand.organization_id, expires),
        )
    query = urlencode(
        {
            "client_id": app_id,
            "redirect_uri": redirect_uri(settings),
            "state": f"{nonce}.{_signature(settings, nonce)}",
            "scope": SCOPES if writes == "off" else WRITE_SCOPES,
            "response_type": "code",
        }
    )
    url = f"{settings.meta_dialog_url.rstrip('/')}/{API_VERSION}/dialog/oauth?{query}"
    return ConnectLink(brand=brand.name, url=url, expires_at=expires)


def _refused(message: str) -> OAuthOutcome:
    return OAuthOutcome(status="refused", message=message)


AGAIN = "Start again from the chat with /connect_meta."
NOT_YOURS = (
    "This link was made for another person's /connect_meta: only they can use it, signed in to the chat."
    " Nothing was linked. To connect one of your brands, run /connect_meta in the chat yourself."
)


def confirmation_token(settings: Settings, *, state: str, user_id: UUID) -> str:
    """The confirmation form's CSRF token: an HMAC of the state and the signed-in person."""
    key = hashlib.sha256(b"meta-oauth-confirm:" + settings.auth_secret().encode()).digest()
    return hmac.new(key, f"{state}|{user_id}".encode(), hashlib.sha256).hexdigest()


async def _state_row(db: Database, nonce: str) -> dict[str, Any] | None:
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select user_id, brand_id, organization_id, expires_at, used_at,"
            " access_token_encrypted is not null as has_token from meta_oauth_states where nonce = %s",
            (nonce,),
        )
        return await cur.fetchone()


async def _brand_and_organization(db: Database, caller: Caller, brand_id: UUID) -> tuple[str, str] | None:
    """The brand's and organization's names, read as the person: None once they lost access to it."""
    async with db.as_user(caller) as conn:
        cur = await conn.execute(
            "select b.name as brand, o.name as organization from brands b"
            " join organizations o on o.id = b.organization_id where b.id = %s",
            (brand_id,),
        )
        row = await cur.fetchone()
    return (str(row["brand"]), str(row["organization"])) if row else None


async def complete_connect(
    db: Database,
    caller: Caller,
    *,
    state: str,
    code: str,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
    now: datetime | None = None,
) -> OAuthOutcome:
    """Meta's redirect back, for the signed-in `caller`: check the state is theirs (before using
    anything up), exchange the code, and ask them to confirm the ad account to link."""
    settings = settings or get_settings()
    app_id, app_secret = _require_app(settings)
    now = now or datetime.now(UTC)
    make_client = client_factory or (lambda token: MetaClient(token=token, graph_url=settings.meta_graph_url))
    nonce = _nonce_of(settings, state)
    row = await _state_row(db, nonce) if nonce is not None else None
    if nonce is None or row is None:
        return _refused(f"This link is not valid. {AGAIN}")
    if row["user_id"] != caller.user_id:
        return OAuthOutcome(status="not_yours", message=NOT_YOURS)
    if row["used_at"] is not None:
        return _refused(f"This link was already used. {AGAIN}")
    if row["expires_at"] < now:
        return _refused(f"This link expired (links last {LINK_MINUTES} minutes). {AGAIN}")
    if not code:
        return _refused(
            "Facebook sent no sign-in code with this page: open the link /connect_meta gave you in the chat"
            " and sign in to Facebook there. The link still works."
        )
    names = await _brand_and_organization(db, caller, row["brand_id"])
    if names is None:
        return _refused(f"You no longer have access to this brand. {AGAIN}")
    brand_name, organization_name = names
    async with db.as_service() as conn:
        # Meta's code works once: from here on the link is used, whatever Meta answers.
        cur = await conn.execute(
            "update meta_oauth_states set used_at = %s where nonce = %s and user_id = %s and used_at is null"
            " returning nonce",
            (now, nonce, caller.user_id),
        )
        if await cur.fetchone() is None:
            return _refused(f"This link was already used. {AGAIN}")

    app = make_client(None)
    try:
        short = await asyncio.to_thread(
            app.get,
            ("oauth", "access_token"),
            {
                "client_id": app_id,
                "client_secret": app_secret.get_secret_value(),
                "redirect_uri": redirect_uri(settings),
                "code": code,
            },
        )
        long = await exchange_for_long_lived(
            app, settings=settings, token=SecretStr(str(short.get("access_token", ""))), now=now
        )
    except ExternalServiceError as error:
        return _refused(f"Facebook did not accept the sign-in ({error.message}) {AGAIN}")
    token, token_expires = long.token, long.expires_at

    user = make_client(token)
    try:
        listed = await asyncio.to_thread(
            lambda: [
                a
                for page in user.pages(
                    ("me", "adaccounts"), {"fields": "id,name,account_status,currency,timezone_name"}
                )
                for a in page
            ]
        )
    except ExternalServiceError as error:
        return _refused(f"Could not list this Facebook user's ad accounts: {error.message}")
    accounts = [
        AdAccountChoice(
            id=str(a["id"]),
            name=str(a.get("name") or a["id"]),
            currency=a.get("currency"),
            timezone=a.get("timezone_name"),
        )
        for a in listed
        if a.get("account_status", 1) == 1 and str(a.get("id", "")).startswith("act_")
    ]
    if not accounts:
        return _refused(
            f"This Facebook user can't read any active ad account. Sign in with a user who has access to"
            f" {brand_name}'s ad account. {AGAIN}"
        )
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select meta_ad_account_id from brand_ad_accounts where brand_id = %s", (row["brand_id"],)
        )
        linked = {r["meta_ad_account_id"] for r in await cur.fetchall()}
        known = [a for a in accounts if a.id in linked]
        # The token waits here, encrypted, until the person confirms on the page we show next.
        await conn.execute(
            "update meta_oauth_states set access_token_encrypted = %s, token_expires_at = %s,"
            " expires_at = %s where nonce = %s",
            (
                TokenVault.from_settings(settings).encrypt(token),
                token_expires,
                now + timedelta(minutes=CHOICE_MINUTES),
                nonce,
            ),
        )
    offered = known if len(known) == 1 else accounts
    question = (
        f"Link {offered[0].id} ({offered[0].name}) to {brand_name}?"
        if len(offered) == 1
        else f"Which ad account is {brand_name}'s?"
    )
    return OAuthOutcome(
        status="confirm",
        message=question,
        brand=brand_name,
        organization=organization_name,
        accounts=offered,
        state=state,
        confirmation=confirmation_token(settings, state=state, user_id=caller.user_id),
    )


async def confirm_account(
    db: Database,
    caller: Caller,
    *,
    state: str,
    account: str,
    confirmation: str,
    settings: Settings | None = None,
    client_factory: ClientFactory | None = None,
    now: datetime | None = None,
) -> OAuthOutcome:
    """The signed-in `caller` confirmed (or chose) the ad account on the confirmation page: link it."""
    settings = settings or get_settings()
    now = now or datetime.now(UTC)
    nonce = _nonce_of(settings, state)
    row = await _state_row(db, nonce) if nonce is not None else None
    if nonce is None or row is None:
        return _refused(f"This link is not valid. {AGAIN}")
    if row["user_id"] != caller.user_id:
        return OAuthOutcome(status="not_yours", message=NOT_YOURS)
    expected = confirmation_token(settings, state=state, user_id=caller.user_id)
    if not hmac.compare_digest(confirmation.encode(), expected.encode()):
        return _refused(
            "This confirmation did not come from the page Facebook sent you back to. Nothing was linked:"
            " confirm with the button on that page."
        )
    if not row["has_token"]:
        return _refused(f"This choice was already made, or the link is not valid. {AGAIN}")
    try:
        account_id = normalize_account_id(account)
    except InvalidArgument:
        return _refused(f"'{account}' is not an ad account ID. {AGAIN}")
    names = await _brand_and_organization(db, caller, row["brand_id"])
    if names is None:
        return _refused(f"You no longer have access to this brand. {AGAIN}")
    async with db.as_service() as conn:
        # Taking the token out of the row makes the confirmation one-use.
        cur = await conn.execute(
            "update meta_oauth_states s set access_token_encrypted = null from meta_oauth_states old"
            " where s.nonce = %s and s.user_id = %s and old.nonce = s.nonce"
            " and old.access_token_encrypted is not null"
            " returning s.user_id, s.brand_id, s.organization_id, s.expires_at,"
            " old.access_token_encrypted as token, old.token_expires_at",
            (nonce, caller.user_id),
        )
        taken = await cur.fetchone()
    if taken is None:
        return _refused(f"This choice was already made, or the link is not valid. {AGAIN}")
    if taken["expires_at"] < now:
        return _refused(f"This page expired. {AGAIN}")
    token = TokenVault.from_settings(settings).decrypt(taken["token"])
    client = (client_factory or (lambda t: MetaClient(token=t, graph_url=settings.meta_graph_url)))(token)
    try:
        info = await asyncio.to_thread(
            client.get, (account_id,), {"fields": "id,name,account_status,currency,timezone_name"}
        )
    except ExternalServiceError:
        return _refused(f"This Facebook user can't read {account_id}. {AGAIN}")
    chosen = AdAccountChoice(
        id=account_id, name=str(info.get("name") or account_id), currency=info.get("currency"),
        timezone=info.get("timezone_name"),
    )  # fmt: skip
    return await _link(db, settings, taken, names[0], chosen, token, taken["token_expires_at"])


async def _link(
    db: Database,
    settings: Settings,
    row: dict[str, Any],
    brand_name: str,
    account: AdAccountChoice,
    token: SecretStr,
    token_expires: datetime | None,
) -> OAuthOutcome:
    try:
        await ensure_account_is_free(db, account_id=account.id, organization_id=row["organization_id"])
    except InvalidArgument as error:
        return _refused(error.message)
    vault = TokenVault.from_settings(settings)
    try:
        async with db.as_service() as conn:
            brand = await brand_by_id(conn, row["brand_id"])
            await adopt_account_money(
                conn, brand=brand, currency=account.currency, timezone=account.timezone,
                what=f"Ad account {account.id} is", refused="it was not linked",
            )  # fmt: skip
            await conn.execute(
                "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id, auth_method,"
                " access_token_encrypted, token_expires_at, status, last_error, connected_by, currency, timezone)"
                " values (%s, %s, %s, 'oauth', %s, %s, 'active', null, %s, %s, %s)"
                " on conflict (brand_id, meta_ad_account_id) do update set auth_method = 'oauth',"
                " access_token_encrypted = excluded.access_token_encrypted,"
                " token_expires_at = excluded.token_expires_at, status = 'active', last_error = null,"
                " connected_by = excluded.connected_by, currency = excluded.currency, timezone = excluded.timezone",
                (
                    row["brand_id"],
                    row["organization_id"],
                    account.id,
                    vault.encrypt(token),
                    token_expires,
                    row["user_id"],
                    account.currency,
                    account.timezone,
                ),
            )
            schedule = await schedule_daily_sync(conn, brand=brand)
    except InvalidArgument as error:
        return _refused(error.message)
    until = f" until {token_expires:%b %-d, %Y}" if token_expires else ""
    return OAuthOutcome(
        status="linked",
        message=(
            f"Connected: {brand_name} now reads {account.id} ({account.name}) with your Facebook access{until}."
            f' {schedule} Back in the chat, sync it now with /sync_meta brand:"{brand_name}".'
        ),
        brand=brand_name,
        accounts=[account],
    )
