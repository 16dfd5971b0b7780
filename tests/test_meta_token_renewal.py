"""Token upkeep: the daily token check renews a long-lived Facebook token before it expires, through
facebook-business against the fake Graph API's `oauth/access_token` exchange, when its person still
uses the app; otherwise (Meta refuses or won't extend, no Meta app, nobody using it) the warnings stay."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
from chainlit.message import Message
from chainlit.user import User

from agent.history import HistoryDataLayer, make_data_layer
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from services.meta.oauth import complete_connect, confirm_account, start_connect
from services.meta.tokens import check_tokens
from services.meta.vault import TokenVault
from services.platform.accounts import add_user, create_organization
from settings import Settings
from tests.test_chat_history import chainlit_context
from tests.test_meta_oauth import client_for

APP_ID, APP_SECRET = "2345678901", "renewal-app-secret-" + uuid.uuid4().hex


@dataclass
class Linked:
    org: UUID
    caller: Caller
    brand: str
    account: str
    token: str
    """The long-lived token the OAuth connection stored."""


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        graph.app_id, graph.app_secret = APP_ID, APP_SECRET
        yield graph


@pytest.fixture
async def layer(database_url: str) -> AsyncIterator[HistoryDataLayer]:
    data_layer = make_data_layer(database_url)
    yield data_layer
    await data_layer.close()


def settings_for(fake: FakeGraph, tmp_path: Path, *, app: bool = True) -> Settings:
    extra = {"META_APP_ID": APP_ID, "META_APP_SECRET": APP_SECRET} if app else {}
    return Settings(  # type: ignore[call-arg]
        META_GRAPH_URL=fake.url,
        VIRALTRACKER_PUBLIC_URL="https://app.viraltracker.example",
        VIRALTRACKER_HOME=tmp_path,
        CHAINLIT_AUTH_SECRET="test-auth-secret-" + uuid.uuid4().hex,
        **extra,
    )


async def link_with_facebook(db: Database, fake: FakeGraph, settings: Settings) -> Linked:
    """A person connects their brand through the OAuth flow (the fake's code and exchange)."""
    tag = uuid.uuid4().hex[:8]
    email = f"renew-{tag}@tokens.example"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Renew Co {tag}")
        user_id = await add_user(conn, email=email, organization_id=org, role="admin")
        await conn.execute("insert into brands (organization_id, name) values (%s, %s)", (org, f"Fern {tag}"))
    caller, account = Caller(user_id, email), f"act_{int(tag, 16) % 10**9 + 10**9}"
    fake.add_account(account, name=f"Fern {tag} US")
    fake.add_oauth_code(f"CODE-{tag}", f"SHORT-{tag}", accounts=[account])
    link = await start_connect(db, caller, brand_name=f"Fern {tag}", settings=settings)
    state = parse_qs(urlsplit(link.url).query)["state"][0]
    factory = client_for(fake)
    asked = await complete_connect(
        db, caller, state=state, code=f"CODE-{tag}", settings=settings, client_factory=factory
    )
    assert asked.state is not None and asked.confirmation is not None, asked.message
    linked = await confirm_account(
        db,
        caller,
        state=asked.state,
        account=account,
        confirmation=asked.confirmation,
        settings=settings,
        client_factory=factory,
    )
    assert linked.status == "linked", linked.message
    token = (await stored(db, settings, account))["token"]
    return Linked(org, caller, f"Fern {tag}", account, token)


async def stored(db: Database, settings: Settings, account: str) -> dict[str, Any]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select access_token_encrypted, token_expires_at, status from brand_ad_accounts"
            " where meta_ad_account_id = %s",
            (account,),
        )
        row = await cur.fetchone()
    assert row is not None
    vault = TokenVault.from_settings(settings)
    return {**row, "token": vault.decrypt(row["access_token_encrypted"]).get_secret_value()}


async def expires_in(db: Database, fake: FakeGraph, linked: Linked, days: int) -> datetime:
    """Weeks later: the token has `days` left (in our row and at Meta)."""
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)
    async with db.as_owner() as conn:
        await conn.execute(
            "update brand_ad_accounts set token_expires_at = %s where meta_ad_account_id = %s",
            (expires, linked.account),
        )
    fake.token_expires[linked.token] = int(expires.timestamp())
    return expires


async def chat(layer: HistoryDataLayer, linked: Linked, *, days_ago: int) -> None:
    """The person sends a chat message (kept in history as Chainlit keeps it)."""
    user = await layer.create_user(User(identifier=linked.caller.email))
    assert user is not None
    thread_id = str(uuid.uuid4())
    await layer.update_thread(thread_id, name="hooks", user_id=user.id)
    when = (datetime.now(UTC) - timedelta(days=days_ago)).replace(tzinfo=None).isoformat() + "Z"
    with chainlit_context(thread_id, user):
        message = Message(content="top hooks", author=user.identifier, type="user_message", created_at=when)
        await layer.create_step(message.to_dict())


async def notes_of(db: Database, org: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select type, title, message, metadata::text as metadata from notifications"
            " where organization_id = %s order by created_at",
            (org,),
        )
        return [dict(r) for r in await cur.fetchall()]


async def test_a_token_expiring_soon_is_renewed_for_a_person_who_uses_the_app(
    db: Database, fake: FakeGraph, tmp_path: Path, layer: HistoryDataLayer, caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(fake, tmp_path)
    linked = await link_with_facebook(db, fake, settings)
    old_expiry = await expires_in(db, fake, linked, days=5)
    await chat(layer, linked, days_ago=2)
    exchanges = fake.calls("/oauth/access_token")
    with caplog.at_level(logging.DEBUG):
        result = await check_tokens(
            db, settings=settings, organization_id=linked.org, client_factory=client_for(fake)
        )
    assert (result.checked, result.renewed, result.expiring, result.warned) == (1, 1, 0, 0)
    assert fake.calls("/oauth/access_token") == exchanges + 1
    [exchange] = [r for r in fake.requests if r.path == "/oauth/access_token"][-1:]
    assert exchange.params["grant_type"] == "fb_exchange_token"
    assert exchange.params["fb_exchange_token"] == linked.token
    row = await stored(db, settings, linked.account)
    new_expiry = row["token_expires_at"]
    assert row["token"] != linked.token and row["token"] in fake.tokens  # Meta's new token, usable
    assert row["token"] not in row["access_token_encrypted"] and row["status"] == "active"
    assert new_expiry - old_expiry > timedelta(days=50)
    assert abs(new_expiry - (datetime.now(UTC) + timedelta(days=60))) < timedelta(minutes=5)
    notes = await notes_of(db, linked.org)
    assert [(n["type"], n["title"], n["message"]) for n in notes] == [
        (
            "meta_token_renewed",
            f"Meta connection for {linked.brand} renewed",
            f"Renewed the Meta connection for {linked.brand}; it now lasts until {new_expiry:%b %-d, %Y}.",
        )
    ]
    shown = caplog.text + repr(notes) + repr(result)
    for secret in (APP_SECRET, linked.token, row["token"]):
        assert secret not in shown
    # The next day: nothing to renew or warn about.
    again = await check_tokens(
        db, settings=settings, organization_id=linked.org, client_factory=client_for(fake)
    )
    assert (again.renewed, again.expiring, again.warned) == (0, 0, 0)
    assert fake.calls("/oauth/access_token") == exchanges + 1


async def test_when_meta_will_not_extend_or_refuses_the_warning_stays(
    db: Database, fake: FakeGraph, tmp_path: Path, layer: HistoryDataLayer
) -> None:
    settings = settings_for(fake, tmp_path)
    for refusal in ("same expiry", "refused"):
        linked = await link_with_facebook(db, fake, settings)
        expires = await expires_in(db, fake, linked, days=5)
        await chat(layer, linked, days_ago=1)
        if refusal == "same expiry":
            fake.unextendable_tokens.add(linked.token)
        else:
            fake.fail("/oauth/access_token", code=100, message="(#100) Invalid parameter")
        exchanges = fake.calls("/oauth/access_token")
        result = await check_tokens(
            db, settings=settings, organization_id=linked.org, client_factory=client_for(fake)
        )
        assert fake.calls("/oauth/access_token") == exchanges + 1, refusal  # Meta was asked
        assert (result.renewed, result.expiring, result.warned, result.expired) == (0, 1, 1, 0), refusal
        row = await stored(db, settings, linked.account)
        assert (row["token"], row["token_expires_at"], row["status"]) == (linked.token, expires, "active")
        notes = await notes_of(db, linked.org)
        assert [(n["type"], n["title"]) for n in notes] == [
            ("meta_token_expiring", f"Meta connection for {linked.brand} expires {expires:%b %-d}")
        ], refusal


async def test_without_a_meta_app_or_a_recent_visit_only_the_warning_comes(
    db: Database, fake: FakeGraph, tmp_path: Path, layer: HistoryDataLayer
) -> None:
    with_app = settings_for(fake, tmp_path)
    for case in ("no app", "not seen for 40 days"):
        linked = await link_with_facebook(db, fake, with_app)
        expires = await expires_in(db, fake, linked, days=6)
        await chat(layer, linked, days_ago=1 if case == "no app" else 40)
        settings = settings_for(fake, tmp_path, app=False) if case == "no app" else with_app
        exchanges = fake.calls("/oauth/access_token")
        result = await check_tokens(
            db, settings=settings, organization_id=linked.org, client_factory=client_for(fake)
        )
        assert fake.calls("/oauth/access_token") == exchanges, case  # Meta not even asked
        assert (result.renewed, result.warned) == (0, 1), case
        assert (await stored(db, settings, linked.account))["token"] == linked.token
        notes = await notes_of(db, linked.org)
        assert [n["title"] for n in notes] == [f"Meta connection for {linked.brand} expires {expires:%b %-d}"]


async def test_system_user_links_are_left_alone(
    db: Database, fake: FakeGraph, tmp_path: Path, layer: HistoryDataLayer
) -> None:
    settings = settings_for(fake, tmp_path)
    linked = await link_with_facebook(db, fake, settings)
    expires = await expires_in(db, fake, linked, days=3)
    await chat(layer, linked, days_ago=1)
    async with db.as_owner() as conn:
        await conn.execute(
            "update brand_ad_accounts set auth_method = 'system_user' where meta_ad_account_id = %s",
            (linked.account,),
        )
    exchanges = fake.calls("/oauth/access_token")
    result = await check_tokens(
        db, settings=settings, organization_id=linked.org, client_factory=client_for(fake)
    )
    assert (result.checked, result.renewed, result.warned) == (0, 0, 0)
    assert fake.calls("/oauth/access_token") == exchanges
    row = await stored(db, settings, linked.account)
    assert (row["token"], row["token_expires_at"]) == (linked.token, expires)
    assert await notes_of(db, linked.org) == []


async def test_when_meta_leaves_out_the_lifetime_debug_token_tells_it(
    db: Database, fake: FakeGraph, tmp_path: Path, layer: HistoryDataLayer
) -> None:
    settings = settings_for(fake, tmp_path)
    for case in ("no expires_in", "never expires"):
        fake.exchange_omits_expires_in = case == "no expires_in"
        fake.exchanged_tokens_never_expire = case == "never expires"
        linked = await link_with_facebook(db, fake, settings)
        await expires_in(db, fake, linked, days=4)
        await chat(layer, linked, days_ago=3)
        asked = fake.calls("/debug_token")
        result = await check_tokens(
            db, settings=settings, organization_id=linked.org, client_factory=client_for(fake)
        )
        assert (result.renewed, result.warned) == (1, 0), case
        assert fake.calls("/debug_token") == asked + 1, case
        [debug] = [r for r in fake.requests if r.path == "/debug_token"][-1:]
        assert debug.params["access_token"] == f"{APP_ID}|{APP_SECRET}"  # the app's own token
        row = await stored(db, settings, linked.account)
        assert row["token"] != linked.token and row["token"] == debug.params["input_token"]
        [note] = await notes_of(db, linked.org)
        if case == "never expires":
            assert row["token_expires_at"] is None
            assert note["message"] == f"Renewed the Meta connection for {linked.brand}; it no longer expires."
        else:
            ends = row["token_expires_at"]
            assert ends == datetime.fromtimestamp(fake.token_expires[row["token"]], UTC)
            assert note["message"] == (
                f"Renewed the Meta connection for {linked.brand}; it now lasts until {ends:%b %-d, %Y}."
            )
