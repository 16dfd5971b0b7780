"""Connect Facebook (OAuth) against the fake Graph API: the link, Meta's redirect back to our route,
the code exchange, the long-lived token stored encrypted, and every way a state can be wrong."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

import app
from db.pool import Caller, Database
from services.accounts import add_user, create_organization
from services.errors import ConfigurationError
from services.meta_api import Limits, MetaClient
from services.meta_oauth import CALLBACK_PATH, choose_account, complete_connect, start_connect
from services.meta_sync import meta_status
from services.token_vault import TokenVault
from settings import Settings, get_settings
from tests.fakes.meta_graph import FakeGraph

APP_ID, APP_SECRET = "1234567890", "app-secret-" + uuid.uuid4().hex


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        graph.app_id, graph.app_secret = APP_ID, APP_SECRET
        yield graph


@pytest.fixture
async def person(db: Database) -> AsyncIterator[tuple[Caller, str]]:
    tag = uuid.uuid4().hex[:8]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"OAuth Co {tag}")
        user_id = await add_user(conn, email=f"owner-{tag}@oauth.example", organization_id=org)
        await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s)", (org, f"Bloom {tag}")
        )
    yield Caller(user_id, f"owner-{tag}@oauth.example"), f"Bloom {tag}"
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))
        await conn.execute("delete from auth.users where id = %s", (user_id,))


def settings_for(fake: FakeGraph, tmp_path: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        META_APP_ID=APP_ID,
        META_APP_SECRET=APP_SECRET,
        META_GRAPH_URL=fake.url,
        VIRALTRACKER_PUBLIC_URL="https://app.viraltracker.example",
        VIRALTRACKER_HOME=tmp_path,
        CHAINLIT_AUTH_SECRET="test-auth-secret-" + uuid.uuid4().hex,
    )


def client_for(fake: FakeGraph) -> object:
    def make(token: SecretStr | None) -> MetaClient:
        return MetaClient(
            token=token, graph_url=fake.url, limits=Limits(backoff_base=0.001), sleep=lambda _: None
        )

    return make


def state_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


async def test_connecting_one_account_stores_a_long_lived_token_encrypted(
    db: Database, fake: FakeGraph, tmp_path: Path, person: tuple[Caller, str]
) -> None:
    caller, brand = person
    settings = settings_for(fake, tmp_path)
    fake.add_account("act_5550001", name="Bloom US")
    fake.add_oauth_code("CODE-1", "SHORT-TOKEN-1", accounts=["act_5550001"], redirect_uri=None)
    link = await start_connect(db, caller, brand_name=brand.lower(), settings=settings)
    query = parse_qs(urlsplit(link.url).query)
    assert link.url.startswith("https://www.facebook.com/v26.0/dialog/oauth?")
    assert query["client_id"] == [APP_ID] and query["scope"] == ["ads_read,business_management"]
    assert query["redirect_uri"] == ["https://app.viraltracker.example" + CALLBACK_PATH]
    assert "works once, for 15 minutes" in link.summary and link.url in link.summary

    outcome = await complete_connect(
        db, state=state_of(link.url), code="CODE-1", settings=settings, client_factory=client_for(fake)
    )
    assert outcome.status == "linked", outcome.message
    assert outcome.message.startswith(f"Connected: {brand} now reads act_5550001 (Bloom US)")
    async with db.as_user(caller) as conn:
        cur = await conn.execute(
            "select meta_ad_account_id, auth_method, access_token_encrypted, token_expires_at from brand_ad_accounts"
        )
        [row] = await cur.fetchall()
    long_token = TokenVault.from_settings(settings).decrypt(row["access_token_encrypted"]).get_secret_value()
    assert row["meta_ad_account_id"] == "act_5550001" and row["auth_method"] == "oauth"
    assert long_token and long_token not in row["access_token_encrypted"] and long_token != "SHORT-TOKEN-1"
    assert fake.tokens.get(long_token) is not None or long_token in fake.tokens  # the fake's long-lived token
    assert abs(row["token_expires_at"] - (datetime.now(UTC) + timedelta(days=60))) < timedelta(minutes=5)
    async with db.as_user(caller) as conn:
        [connection] = (await meta_status(conn, brand=None)).connections
    assert connection.method == "oauth" and connection.health.startswith("Never synced")

    # The same link again: refused, nothing changes.
    again = await complete_connect(
        db, state=state_of(link.url), code="CODE-1", settings=settings, client_factory=client_for(fake)
    )
    assert again.status == "refused" and again.message.startswith("This link was already used.")


async def test_bad_expired_and_forged_states_are_refused(
    db: Database, fake: FakeGraph, tmp_path: Path, person: tuple[Caller, str]
) -> None:
    caller, brand = person
    settings = settings_for(fake, tmp_path)
    factory = client_for(fake)
    for state in ("", "garbage", "nonce.0000", "abc.def.ghi"):
        outcome = await complete_connect(db, state=state, code="x", settings=settings, client_factory=factory)
        assert outcome.status == "refused" and outcome.message.startswith("This link is not valid.")
    # Signed by another deployment's secret.
    other = await start_connect(db, caller, brand_name=brand, settings=settings_for(fake, tmp_path))
    forged = await complete_connect(
        db, state=state_of(other.url), code="x", settings=settings, client_factory=factory
    )
    assert forged.message.startswith("This link is not valid.")
    # Too old.
    old = await start_connect(
        db, caller, brand_name=brand, settings=settings, now=datetime.now(UTC) - timedelta(minutes=16)
    )
    expired = await complete_connect(
        db, state=state_of(old.url), code="x", settings=settings, client_factory=factory
    )
    assert expired.status == "refused" and expired.message.startswith("This link expired")
    # A code Meta does not know.
    fresh = await start_connect(db, caller, brand_name=brand, settings=settings)
    unknown = await complete_connect(
        db, state=state_of(fresh.url), code="NOT-A-CODE", settings=settings, client_factory=factory
    )
    assert unknown.status == "refused" and unknown.message.startswith("Facebook did not accept the sign-in")
    async with db.as_user(caller) as conn:
        cur = await conn.execute("select count(*) as n from brand_ad_accounts")
        assert await cur.fetchone() == {"n": 0}
    without_app = settings.model_copy(update={"meta_app_id": None})
    with pytest.raises(ConfigurationError, match="META_APP_ID and META_APP_SECRET"):
        await start_connect(db, caller, brand_name=brand, settings=without_app)


async def test_with_several_accounts_the_person_chooses_one_once(
    db: Database, fake: FakeGraph, tmp_path: Path, person: tuple[Caller, str]
) -> None:
    caller, brand = person
    settings = settings_for(fake, tmp_path)
    factory = client_for(fake)
    fake.add_account("act_6660001", name="Bloom EU", currency="EUR")
    fake.add_account("act_6660002", name="Bloom US")
    fake.add_account("act_6660003", name="Someone else's")
    fake.add_oauth_code("CODE-2", "SHORT-TOKEN-2", accounts=["act_6660001", "act_6660002"])
    link = await start_connect(db, caller, brand_name=brand, settings=settings)
    outcome = await complete_connect(
        db, state=state_of(link.url), code="CODE-2", settings=settings, client_factory=factory
    )
    assert outcome.status == "choose" and outcome.message == f"Which ad account is {brand}'s?"
    assert [(a.id, a.name) for a in outcome.accounts] == [
        ("act_6660001", "Bloom EU"),
        ("act_6660002", "Bloom US"),
    ]
    assert outcome.state is not None
    refused = await choose_account(
        db, state=outcome.state, account="act_6660003", settings=settings, client_factory=factory
    )
    assert refused.status == "refused"
    # That attempt used the choice up: start again, then pick the right one.
    fake.add_oauth_code("CODE-3", "SHORT-TOKEN-3", accounts=["act_6660001", "act_6660002"])
    link = await start_connect(db, caller, brand_name=brand, settings=settings)
    outcome = await complete_connect(
        db, state=state_of(link.url), code="CODE-3", settings=settings, client_factory=factory
    )
    assert outcome.state is not None
    chosen = await choose_account(
        db, state=outcome.state, account="act_6660002", settings=settings, client_factory=factory
    )
    assert chosen.status == "linked" and "act_6660002 (Bloom US)" in chosen.message
    twice = await choose_account(
        db, state=outcome.state, account="act_6660001", settings=settings, client_factory=factory
    )
    assert twice.status == "refused" and twice.message.startswith("This choice was already made")


async def test_the_callback_route_answers_before_chainlits_own_pages(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Meta redirects the browser to our route on the Chainlit server: a bad state gets a plain
    page that says what to do (not the chat app's HTML), and a cancelled dialog says so."""
    import chainlit.server

    monkeypatch.setattr(app, "_db", db)
    monkeypatch.setenv("META_APP_ID", APP_ID)
    monkeypatch.setenv("META_APP_SECRET", APP_SECRET)
    get_settings.cache_clear()
    try:
        transport = httpx.ASGITransport(app=chainlit.server.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            bad = await client.get(CALLBACK_PATH, params={"state": "forged.sig", "code": "x"})
            assert bad.status_code == 400 and "<h1>Facebook not connected</h1>" in bad.text
            assert "This link is not valid. Start again from the chat with /connect_meta." in bad.text
            cancelled = await client.get(
                CALLBACK_PATH, params={"error": "access_denied", "error_description": "Permissions error"}
            )
            assert cancelled.status_code == 400 and "Permissions error" in cancelled.text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
