"""Connect Facebook (OAuth) against the fake Graph API: the link, Meta's redirect back to our route,
the code exchange, the long-lived token stored encrypted, and every way a state can be wrong."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import jwt as pyjwt
import pytest
from chainlit.auth import create_jwt
from pydantic import SecretStr

import app
from core.errors import ConfigurationError
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from services.meta.api import Limits, MetaClient
from services.meta.connections import meta_status
from services.meta.oauth import (
    AGAIN,
    CALLBACK_PATH,
    CHOOSE_PATH,
    NOT_YOURS,
    OAuthOutcome,
    complete_connect,
    confirm_account,
    start_connect,
)
from services.meta.vault import TokenVault
from services.platform.accounts import add_user, create_organization
from services.platform.session_versions import session_version
from settings import Settings, get_settings
from web import web_app

APP_ID, APP_SECRET = "1234567890", "app-secret-" + uuid.uuid4().hex


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        graph.app_id, graph.app_secret = APP_ID, APP_SECRET
        yield graph


async def _person(db: Database, label: str) -> tuple[Caller, str, UUID]:
    """A new organization with one brand and its one member (the caller, the brand's name, the org)."""
    tag = uuid.uuid4().hex[:8]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"{label} Co {tag}")
        user_id = await add_user(conn, email=f"owner-{tag}@oauth.example", organization_id=org)
        await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s)", (org, f"{label} {tag}")
        )
    return Caller(user_id, f"owner-{tag}@oauth.example"), f"{label} {tag}", org


async def _forget(db: Database, caller: Caller, org: UUID) -> None:
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))
        await conn.execute("delete from auth.users where id = %s", (caller.user_id,))


@pytest.fixture
async def person(db: Database) -> AsyncIterator[tuple[Caller, str]]:
    caller, brand, org = await _person(db, "Bloom")
    yield caller, brand
    await _forget(db, caller, org)


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
    assert "works once, for 15 minutes, and only for you, signed in to this chat." in link.summary
    assert link.url in link.summary

    outcome = await complete_connect(
        db,
        caller,
        state=state_of(link.url),
        code="CODE-1",
        settings=settings,
        client_factory=client_for(fake),
    )
    assert outcome.status == "confirm", outcome.message
    assert outcome.message == f"Link act_5550001 (Bloom US) to {brand}?"
    assert outcome.brand == brand and outcome.organization == brand.replace("Bloom", "Bloom Co")
    assert outcome.state is not None and outcome.confirmation is not None
    linked = await confirm_account(
        db,
        caller,
        state=outcome.state,
        account="act_5550001",
        confirmation=outcome.confirmation,
        settings=settings,
        client_factory=client_for(fake),
    )
    assert linked.status == "linked", linked.message
    assert linked.message.startswith(f"Connected: {brand} now reads act_5550001 (Bloom US)")
    async with db.as_user(caller) as conn:
        cur = await conn.execute(
            "select meta_ad_account_id, auth_method, access_token_encrypted, token_expires_at from brand_ad_accounts"
        )
        [row] = await cur.fetchall()
    long_token = TokenVault.from_settings(settings).decrypt(row["access_token_encrypted"]).get_secret_value()
    assert row["meta_ad_account_id"] == "act_5550001" and row["auth_method"] == "oauth"
    assert long_token and long_token not in row["access_token_encrypted"] and long_token != "SHORT-TOKEN-1"
    assert long_token in fake.tokens  # the fake's long-lived token
    assert abs(row["token_expires_at"] - (datetime.now(UTC) + timedelta(days=60))) < timedelta(minutes=5)
    async with db.as_user(caller) as conn:
        [connection] = (await meta_status(conn, brand=None)).connections
    assert connection.method == "oauth" and connection.health.startswith("Never synced")

    # The same link again: refused, nothing changes.
    again = await complete_connect(
        db,
        caller,
        state=state_of(link.url),
        code="CODE-1",
        settings=settings,
        client_factory=client_for(fake),
    )
    assert again.status == "refused" and again.message.startswith("This link was already used.")


async def test_bad_expired_and_forged_states_are_refused(
    db: Database, fake: FakeGraph, tmp_path: Path, person: tuple[Caller, str]
) -> None:
    caller, brand = person
    settings = settings_for(fake, tmp_path)
    factory = client_for(fake)
    for state in ("", "garbage", "nonce.0000", "abc.def.ghi"):
        outcome = await complete_connect(
            db, caller, state=state, code="x", settings=settings, client_factory=factory
        )
        assert outcome.status == "refused" and outcome.message.startswith("This link is not valid.")
    # Signed by another deployment's secret.
    other = await start_connect(db, caller, brand_name=brand, settings=settings_for(fake, tmp_path))
    forged = await complete_connect(
        db, caller, state=state_of(other.url), code="x", settings=settings, client_factory=factory
    )
    assert forged.message.startswith("This link is not valid.")
    # Too old.
    old = await start_connect(
        db, caller, brand_name=brand, settings=settings, now=datetime.now(UTC) - timedelta(minutes=16)
    )
    expired = await complete_connect(
        db, caller, state=state_of(old.url), code="x", settings=settings, client_factory=factory
    )
    assert expired.status == "refused" and expired.message.startswith("This link expired")
    # A code Meta does not know.
    fresh = await start_connect(db, caller, brand_name=brand, settings=settings)
    unknown = await complete_connect(
        db, caller, state=state_of(fresh.url), code="NOT-A-CODE", settings=settings, client_factory=factory
    )
    assert unknown.status == "refused" and unknown.message.startswith("Facebook did not accept the sign-in")
    # Made by someone who has since left the organization.
    fake.add_oauth_code("CODE-LEFT", "SHORT-LEFT")
    left = await start_connect(db, caller, brand_name=brand, settings=settings)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "delete from user_organizations where user_id = %s returning organization_id", (caller.user_id,)
        )
        membership = await cur.fetchone()
    assert membership is not None
    gone = await complete_connect(
        db, caller, state=state_of(left.url), code="CODE-LEFT", settings=settings, client_factory=factory
    )
    assert gone.status == "refused" and gone.message == f"You no longer have access to this brand. {AGAIN}"
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into user_organizations (user_id, organization_id) values (%s, %s)",
            (caller.user_id, membership["organization_id"]),
        )
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

    async def confirm(outcome: OAuthOutcome, account: str) -> OAuthOutcome:
        assert outcome.state is not None and outcome.confirmation is not None
        return await confirm_account(
            db,
            caller,
            state=outcome.state,
            account=account,
            confirmation=outcome.confirmation,
            settings=settings,
            client_factory=factory,
        )

    fake.add_account("act_6660001", name="Bloom EU", currency="EUR")
    fake.add_account("act_6660002", name="Bloom US")
    fake.add_account("act_6660003", name="Someone else's")
    fake.add_oauth_code("CODE-2", "SHORT-TOKEN-2", accounts=["act_6660001", "act_6660002"])
    link = await start_connect(db, caller, brand_name=brand, settings=settings)
    outcome = await complete_connect(
        db, caller, state=state_of(link.url), code="CODE-2", settings=settings, client_factory=factory
    )
    assert outcome.status == "confirm" and outcome.message == f"Which ad account is {brand}'s?"
    assert [(a.id, a.name) for a in outcome.accounts] == [
        ("act_6660001", "Bloom EU"),
        ("act_6660002", "Bloom US"),
    ]
    refused = await confirm(outcome, "act_6660003")
    assert refused.status == "refused"
    assert refused.message == "This Facebook user can't read act_6660003. " + AGAIN
    # That attempt used the choice up: start again, then pick the right one.
    fake.add_oauth_code("CODE-3", "SHORT-TOKEN-3", accounts=["act_6660001", "act_6660002"])
    link = await start_connect(db, caller, brand_name=brand, settings=settings)
    outcome = await complete_connect(
        db, caller, state=state_of(link.url), code="CODE-3", settings=settings, client_factory=factory
    )
    chosen = await confirm(outcome, "act_6660002")
    assert chosen.status == "linked" and "act_6660002 (Bloom US)" in chosen.message
    twice = await confirm(outcome, "act_6660001")
    assert twice.status == "refused" and twice.message.startswith("This choice was already made")


# -- the routes, on Chainlit's real server app, with real Chainlit session cookies ---------------

PUBLIC_URL = "https://app.viraltracker.example"
NO_CODE = (
    "Facebook sent no sign-in code with this page: open the link /connect_meta gave you in the chat and"
    " sign in to Facebook there. The link still works."
)
NOT_FROM_PAGE = (
    "This confirmation did not come from the page Facebook sent you back to. Nothing was linked:"
    " confirm with the button on that page."
)


@pytest.fixture
def server(
    db: Database, fake: FakeGraph, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The app's settings as the routes read them (the fake Graph API, a Meta app, a session secret)."""
    monkeypatch.setattr(app, "_db", db)
    for name, value in {
        "META_APP_ID": APP_ID,
        "META_APP_SECRET": APP_SECRET,
        "META_GRAPH_URL": fake.url,
        "VIRALTRACKER_PUBLIC_URL": PUBLIC_URL,
        "VIRALTRACKER_HOME": str(tmp_path),
        "CHAINLIT_AUTH_SECRET": "route-test-secret-" + uuid.uuid4().hex,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    monkeypatch.undo()
    get_settings.cache_clear()


def browser(caller: Caller | None = None, *, token: str | None = None) -> httpx.AsyncClient:
    """A browser on our web app (Chainlit mounted in it); signed in as `caller` (Chainlit's own cookie)."""
    if caller is not None:
        token = create_jwt(app.chat_user(caller, "credentials", 0))
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web_app()),
        base_url="http://testserver",
        cookies={"access_token": token} if token else None,
    )


def confirmation_of(page: str) -> str:
    found = re.search(r"name='confirmation' value='([0-9a-f]+)'", page)
    assert found is not None, page
    return found.group(1)


async def _linked(db: Database, *account_ids: str) -> list[tuple[str, UUID]]:
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select meta_ad_account_id, organization_id from brand_ad_accounts"
            " where meta_ad_account_id = any(%s) order by 1",
            (list(account_ids),),
        )
        return [(r["meta_ad_account_id"], r["organization_id"]) for r in await cur.fetchall()]


async def test_a_link_opened_by_someone_else_links_nothing_and_still_works_for_its_person(
    db: Database, fake: FakeGraph, server: Settings, person: tuple[Caller, str]
) -> None:
    """The issue's attack: B's person makes a link for B's brand; A's person (another organization)
    opens it and signs in to Facebook. A's ad account must not land in B's brand, and B's link
    still works for B afterwards: sign-in, confirmation page, POST with its CSRF token, once."""
    owner, brand = person
    other, other_brand, other_org = await _person(db, "Summit")
    try:
        fake.add_account("act_7770001", name="Summit Main")
        fake.add_oauth_code("CODE-A", "SHORT-A", accounts=["act_7770001"])
        fake.add_account("act_7770002", name="Bloom Main", currency="USD")
        fake.add_oauth_code("CODE-B", "SHORT-B", accounts=["act_7770002"])
        state = state_of((await start_connect(db, owner, brand_name=brand)).url)
        async with browser() as nobody, browser(other) as attacker, browser(owner) as rightful:
            # No chat session (the curl), or a session cookie we did not sign: refused.
            # The owner's identity in a token signed with another secret is no session either.
            claims = {"identifier": owner.email, "metadata": {"user_id": str(owner.user_id)}}
            forged = browser(token=pyjwt.encode(claims, "another-deployment-" + "x" * 40, algorithm="HS256"))
            for anonymous in (nobody, forged):
                page = await anonymous.get(CALLBACK_PATH, params={"state": state, "code": "CODE-A"})
                assert page.status_code == 401 and "<h1>Sign in to the chat first</h1>" in page.text
                assert "Nothing was linked, and the link still works." in page.text
                assert f"<a href='{PUBLIC_URL}/'>Sign in to the chat</a>, then <a href='" in page.text
                assert html.escape(f"{CALLBACK_PATH}?state={state}&code=CODE-A") in page.text
            # Signed in, but as a person of another organization.
            page = await attacker.get(CALLBACK_PATH, params={"state": state, "code": "CODE-A"})
            assert page.status_code == 403 and f"<p>{html.escape(NOT_YOURS)}</p>" in page.text
            # The rightful person just opening the URL, without Meta's code.
            page = await rightful.get(CALLBACK_PATH, params={"state": state})
            assert page.status_code == 400 and f"<p>{html.escape(NO_CODE)}</p>" in page.text
            assert await _linked(db, "act_7770001", "act_7770002") == []

            page = await rightful.get(CALLBACK_PATH, params={"state": state, "code": "CODE-B"})
            assert page.status_code == 200 and "<h1>Connect Facebook</h1>" in page.text
            assert f"<p>Link act_7770002 (Bloom Main) to {brand}?</p>" in page.text
            organization = brand.replace("Bloom", "Bloom Co")
            assert f"<p>Brand: {brand}<br>Organization: {organization}</p>" in page.text
            assert "<p>Ad account: Bloom Main (act_7770002, USD)</p>" in page.text
            assert f"<form method='post' action='{CHOOSE_PATH}'>" in page.text
            confirmation = confirmation_of(page.text)
            form = {"state": state, "account": "act_7770002", "confirmation": confirmation}

            # The confirmation can't be forged, sent by someone else, or asked for with a GET.
            for bad in ({**form, "confirmation": ""}, {**form, "confirmation": "0" * 64}):
                refused = await rightful.post(CHOOSE_PATH, data=bad)
                assert refused.status_code == 400 and f"<p>{html.escape(NOT_FROM_PAGE)}</p>" in refused.text
            refused = await attacker.post(CHOOSE_PATH, data=form)
            assert refused.status_code == 403 and html.escape(NOT_YOURS) in refused.text
            refused = await nobody.post(CHOOSE_PATH, data=form)
            assert refused.status_code == 401 and "<h1>Sign in to the chat first</h1>" in refused.text
            refused = await rightful.get(CHOOSE_PATH, params=form)
            assert refused.status_code == 405 and refused.headers["allow"] == "POST"
            assert await _linked(db, "act_7770001", "act_7770002") == []

            done = await rightful.post(CHOOSE_PATH, data=form)
            assert done.status_code == 200 and "<h1>Facebook connected</h1>" in done.text
            assert f"<p>Connected: {brand} now reads act_7770002 (Bloom Main)" in done.text
            # Replays: the form again, the callback again.
            again = await rightful.post(CHOOSE_PATH, data=form)
            assert again.status_code == 400
            assert f"This choice was already made, or the link is not valid. {AGAIN}" in again.text
            again = await rightful.get(CALLBACK_PATH, params={"state": state, "code": "CODE-B"})
            assert again.status_code == 400 and f"This link was already used. {AGAIN}" in again.text

            # A's own code was never spent: A can still link their account to their own brand.
            own = state_of((await start_connect(db, other, brand_name=other_brand)).url)
            page = await attacker.get(CALLBACK_PATH, params={"state": own, "code": "CODE-A"})
            assert page.status_code == 200, page.text
            mine = {"state": own, "account": "act_7770001", "confirmation": confirmation_of(page.text)}
            assert (await attacker.post(CHOOSE_PATH, data=mine)).status_code == 200
        async with db.as_owner() as conn:
            cur = await conn.execute("select organization_id from brands where name = %s", (brand,))
            owner_org = (await cur.fetchone() or {})["organization_id"]
        assert await _linked(db, "act_7770001", "act_7770002") == [
            ("act_7770001", other_org),
            ("act_7770002", owner_org),
        ]
    finally:
        await _forget(db, other, other_org)


async def test_the_choice_of_several_accounts_is_bound_to_the_same_person(
    db: Database, fake: FakeGraph, server: Settings, person: tuple[Caller, str]
) -> None:
    owner, brand = person
    other, _, other_org = await _person(db, "Summit")
    try:
        fake.add_account("act_8880001", name="Bloom EU", currency="EUR")
        fake.add_account("act_8880002", name="Bloom <US>")
        fake.add_oauth_code("CODE-C", "SHORT-C", accounts=["act_8880001", "act_8880002"])
        state = state_of((await start_connect(db, owner, brand_name=brand)).url)
        async with browser(owner) as rightful, browser(other) as attacker:
            page = await rightful.get(CALLBACK_PATH, params={"state": state, "code": "CODE-C"})
            assert page.status_code == 200 and f"<p>Which ad account is {brand}&#x27;s?</p>" in page.text
            assert (
                "<label><input type='radio' name='account' value='act_8880001' required> Bloom EU (act_8880001,"
                " EUR)</label><label><input type='radio' name='account' value='act_8880002' required> Bloom"
                " &lt;US&gt; (act_8880002, USD)</label>"
            ) in page.text
            form = {"state": state, "account": "act_8880002", "confirmation": confirmation_of(page.text)}
            refused = await attacker.post(CHOOSE_PATH, data=form)
            assert refused.status_code == 403 and html.escape(NOT_YOURS) in refused.text
            done = await rightful.post(CHOOSE_PATH, data=form)
            assert done.status_code == 200
            assert f"Connected: {brand} now reads act_8880002 (Bloom &lt;US&gt;)" in done.text
        assert [a for a, _ in await _linked(db, "act_8880001", "act_8880002")] == ["act_8880002"]
    finally:
        await _forget(db, other, other_org)


async def test_the_callback_route_answers_before_chainlits_own_pages(
    db: Database, server: Settings, person: tuple[Caller, str]
) -> None:
    """Meta redirects the browser to our route on the Chainlit server: a bad state gets a plain
    page that says what to do (not the chat app's HTML), and a cancelled dialog says so."""
    async with browser(person[0]) as client:
        bad = await client.get(CALLBACK_PATH, params={"state": "forged.sig", "code": "x"})
        assert bad.status_code == 400 and "<h1>Facebook not connected</h1>" in bad.text
        assert f"This link is not valid. {AGAIN}" in bad.text
    async with browser() as client:
        cancelled = await client.get(
            CALLBACK_PATH, params={"error": "access_denied", "error_description": "Permissions <error>"}
        )
        assert cancelled.status_code == 400
        assert f"<p>Permissions &lt;error&gt;. {AGAIN}</p>" in cancelled.text


async def test_a_session_ended_by_logout_can_not_finish_the_link(
    db: Database, fake: FakeGraph, server: Settings, person: tuple[Caller, str]
) -> None:
    """The link is bound to a live session: after the person logs out, their old cookie is no
    session for the callback either, and the link still works once they sign in again."""
    owner, brand = person
    fake.add_account("act_7770003", name="Logout Main")
    fake.add_oauth_code("CODE-L", "SHORT-L", accounts=["act_7770003"])
    state = state_of((await start_connect(db, owner, brand_name=brand)).url)
    async with db.as_owner() as conn:
        version = await session_version(conn, user_id=owner.user_id)
    old_cookie = create_jwt(app.chat_user(owner, "credentials", version))
    async with browser(token=old_cookie) as before_logout:
        assert (await before_logout.post("/logout")).status_code == 200
        page = await before_logout.get(CALLBACK_PATH, params={"state": state, "code": "CODE-L"})
        assert page.status_code == 401 and "<h1>Sign in to the chat first</h1>" in page.text
        assert await _linked(db, "act_7770003") == []
    async with db.as_owner() as conn:
        signed_in_again = create_jwt(
            app.chat_user(owner, "credentials", await session_version(conn, user_id=owner.user_id))
        )
    async with browser(token=signed_in_again) as rightful:
        page = await rightful.get(CALLBACK_PATH, params={"state": state, "code": "CODE-L"})
        assert page.status_code == 200 and "<h1>Connect Facebook</h1>" in page.text
