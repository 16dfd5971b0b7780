"""Sign-in and the web server's doors: throttled guessing, no telling which emails have accounts,
logout that ends the session on the server, 503 (not "wrong password") while the database is down,
and only our own (or configured) origins reading with a person's cookie, over HTTP and socket.io.

The HTTP tests go through our whole web app in this process (Chainlit mounted in it, with its real
routes, and our middleware in front),
each from its own client address; the origin and socket tests through the real `viraltracker chat`
process, over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import chainlit.data
import httpx
import psycopg
import pytest
from chainlit.config import config as chainlit_config
from playwright.async_api import Browser, expect
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as websocket_connect
from websockets.exceptions import InvalidStatus

import app
from agent.history import make_data_layer
from agent.web_security import AllowedOrigins, WebSecurityMiddleware
from core.errors import DatabaseUnavailable
from db.pool import Database
from services.platform.accounts import add_user, create_organization
from settings import Settings, get_settings
from tests.test_browser import WAIT_MS, _free_port, chat_app_process
from tests.test_browser import browser as browser
from web import web_app

SECRET = "login-security-test-secret-" + "x" * 40
PASSWORD = "correct horse battery"
UNAVAILABLE = DatabaseUnavailable.MESSAGE
_addresses = itertools.count(1)


def next_address() -> str:
    """A client address of its own for each test (throttling counts per address)."""
    n = next(_addresses)
    return f"203.0.{113 + n // 250}.{n % 250 + 1}"


@pytest.fixture
async def server(db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[None]:
    """Our web app in this process, on the test database."""
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", SECRET)
    monkeypatch.setattr(app, "_db", db)
    layer = make_data_layer(database_url)
    monkeypatch.setattr(chainlit.data, "_data_layer", layer)
    monkeypatch.setattr(chainlit.data, "_data_layer_initialized", True)
    yield
    await layer.close()


@contextlib.asynccontextmanager
async def browser_at(address: str, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at this address (with this sign-in cookie) talking to our web app in-process."""
    transport = httpx.ASGITransport(app=web_app(), client=(address, 51000))
    cookies = {"access_token": token} if token else None
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1:8000", cookies=cookies
    ) as client:
        yield client


async def sign_in(client: httpx.AsyncClient, email: str, password: str, **headers: str) -> httpx.Response:
    return await client.post("/login", data={"username": email, "password": password}, headers=headers)


@pytest.fixture
async def person(db: Database) -> str:
    """A member of an organization of this test's own (so no other test's sign-ins count, and the demo
    organizations keep their members)."""
    tag = uuid.uuid4().hex[:10]
    email = f"login-{tag}@login.example"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Login {tag}")
        await add_user(conn, email=email, organization_id=org, password=PASSWORD)
    return email


async def test_wrong_passwords_are_slowed_down_more_and_more(server: None, person: str) -> None:
    async with browser_at(next_address()) as client:
        for _ in range(5):
            assert (await sign_in(client, person, "guess")).status_code == 401
        refused = await sign_in(client, person, PASSWORD)  # even the right password waits
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Too many attempts, try again in 1 s"}
        assert refused.headers["retry-after"] == "1"
        await asyncio.sleep(1.1)
        assert (await sign_in(client, person, "guess")).status_code == 401
        refused = await sign_in(client, person, PASSWORD)
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Too many attempts, try again in 2 s"}
        assert refused.headers["retry-after"] == "2"
    # The delay is the account's, whatever address the next guess comes from.
    async with browser_at(next_address()) as elsewhere:
        assert (await sign_in(elsewhere, person, PASSWORD)).status_code == 429


async def test_a_success_starts_the_account_over(server: None, person: str) -> None:
    async with browser_at(next_address()) as client:
        for _ in range(4):
            assert (await sign_in(client, person, "guess")).status_code == 401
        assert (await sign_in(client, person, PASSWORD)).json() == {"success": True}
        for _ in range(5):
            assert (await sign_in(client, person, "guess")).status_code == 401
        assert (await sign_in(client, person, PASSWORD)).status_code == 429  # now the fifth in a row


async def test_parallel_guesses_get_no_more_answers_than_one_after_another(server: None, person: str) -> None:
    """Sign-ins at once from one address (an office) all get in; a burst of wrong guesses gets the
    five answers that guessing one by one would, and "wait" for the rest."""
    address = next_address()
    async with browser_at(address) as client:
        together = await asyncio.gather(*(sign_in(client, person, PASSWORD) for _ in range(25)))
        assert [answer.status_code for answer in together] == [200] * 25
        burst = await asyncio.gather(*(sign_in(client, person, f"guess-{i}") for i in range(12)))
    statuses = sorted(answer.status_code for answer in burst)
    # Five wrong, then 1 s of waiting; a sixth only if the machine took over a second for the burst.
    assert statuses.count(401) in (5, 6) and statuses.count(429) == 12 - statuses.count(401), statuses


async def test_one_address_trying_many_accounts_is_slowed_down(server: None, person: str) -> None:
    address = next_address()
    async with browser_at(address) as client:
        for i in range(20):
            sprayed = await sign_in(client, f"spray-{i}-{uuid.uuid4().hex[:6]}@example.com", "Winter2026!")
            assert sprayed.status_code == 401
        # X-Forwarded-For is anyone's to write: not trusted unless VIRALTRACKER_TRUST_PROXY says so.
        refused = await sign_in(client, person, PASSWORD, **{"X-Forwarded-For": "198.51.100.99"})
        assert refused.status_code == 429
        assert refused.json() == {"detail": "Too many attempts, try again in 1 s"}
    async with browser_at(next_address()) as other:
        assert (await sign_in(other, person, PASSWORD)).status_code == 200


async def test_an_unknown_email_costs_the_same_work_as_a_known_one(server: None, person: str) -> None:
    """Timing told which emails have accounts (29 ms vs 2 ms: argon2 ran only for real users).
    Measured in this process's CPU time (the hash check's thread included), which a busy machine
    slows far less than the wall clock: the unknown email must cost at least half as much."""
    known: list[float] = []
    unknown: list[float] = []
    async with browser_at(next_address()) as client:
        for i in range(4):
            started = time.process_time()
            answer_known = await sign_in(client, person, f"guess-{i}")
            known.append(time.process_time() - started)
            started = time.process_time()
            answer_unknown = await sign_in(client, f"nobody-{uuid.uuid4().hex[:8]}@example.com", f"guess-{i}")
            unknown.append(time.process_time() - started)
            assert (answer_known.status_code, answer_known.json()) == (
                answer_unknown.status_code,
                answer_unknown.json(),
            )
    assert statistics.median(unknown) >= 0.5 * statistics.median(known), (known, unknown)


@pytest.fixture
async def stopped_database(database_url: str) -> AsyncIterator[Database]:
    """A pool whose database was up when it opened and has since gone away: its connections are
    cut, and new ones are refused (as while Postgres restarts)."""
    name = f"vt_down_{uuid.uuid4().hex[:10]}"
    info = psycopg.conninfo.conninfo_to_dict(database_url)
    info["dbname"] = name
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    down = Database(
        psycopg.conninfo.make_conninfo(**{k: v for k, v in info.items() if v is not None}), max_size=1
    )
    await down.open()
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute(f'alter database "{name}" allow_connections false')
        admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", (name,))
    try:
        yield down
    finally:
        await down.close()
        with psycopg.connect(database_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


async def test_while_the_database_is_down_sign_in_says_so(
    server: None, person: str, stopped_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    address = next_address()
    async with browser_at(address) as client:
        token = (await sign_in(client, person, PASSWORD)).cookies["access_token"]
    monkeypatch.setattr(app, "_db", stopped_database)
    # The first request meets the pool's dead connection; later ones wait for the pool (cut short).
    monkeypatch.setattr(app, "SIGN_IN_DB_SECONDS", 0.5)
    async with browser_at(address) as client:
        for password in (PASSWORD, "guess"):
            answer = await sign_in(client, person, password)
            assert (answer.status_code, answer.json()) == (503, {"detail": UNAVAILABLE})
    # Nor is a logout pretended: the session could not be ended, and the person is told why.
    async with browser_at(address, token) as client:
        answer = await client.post("/logout")
        assert (answer.status_code, answer.json()) == (503, {"detail": UNAVAILABLE})


async def test_logout_ends_the_session_on_the_server(server: None, person: str) -> None:
    address = next_address()
    async with browser_at(address) as client:
        first = (await sign_in(client, person, PASSWORD)).cookies["access_token"]
    async with browser_at(address) as client:
        second = (await sign_in(client, person, PASSWORD)).cookies["access_token"]  # another browser
    for token in (first, second):
        async with browser_at(address, token) as client:
            answer = await client.get("/user")
            assert answer.status_code == 200 and answer.json()["identifier"] == person
    async with browser_at(address, first) as client:
        assert (await client.post("/logout")).json() == {"success": True}
    for token in (first, second):
        async with browser_at(address, token) as client:
            assert (await client.get("/user")).status_code == 401
        async with browser_at(address) as client:
            assert (
                await client.get("/user", headers={"Authorization": f"Bearer {token}"})
            ).status_code == 401
    async with browser_at(address) as client:
        fresh = (await sign_in(client, person, PASSWORD)).cookies["access_token"]
    async with browser_at(address, fresh) as client:
        assert (await client.get("/user")).status_code == 200


def test_our_doors_stand_in_front_of_chainlit(server: None) -> None:
    """Our middleware outermost, then our CORS rules (not "any origin"), with Chainlit's own CORS
    allowing nothing more (it sits inside ours); our password callback unwrapped (Chainlit's wrapper
    would turn its 429 and 503 into "wrong password"): the one patch of Chainlit's that is left."""
    middleware = web_app().user_middleware
    assert [m.cls for m in middleware] == [WebSecurityMiddleware, CORSMiddleware]
    assert middleware[1].kwargs["allow_origins"] == AllowedOrigins(get_settings().web_origins()).origins
    assert "*" not in middleware[1].kwargs["allow_origins"]
    assert chainlit_config.project.allow_origins == []
    assert chainlit_config.code.password_auth_callback is app.password_auth


async def test_the_chats_socket_is_not_polled_from_another_site(server: None) -> None:
    """socket.io's long-polling carries the chat too: a page elsewhere may not open it, even to read."""
    polling = "/ws/socket.io/?EIO=4&transport=polling"
    async with browser_at(next_address()) as client:
        refused = await client.get(polling, headers={"Origin": "http://127.0.0.1:1"})
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "Requests from other sites are not accepted."},
        )
        opened = await client.get(polling, headers={"Origin": "http://127.0.0.1:8000"})
        assert opened.status_code == 200 and opened.text.startswith("0{")


# -- The real server, over the wire ---------------------------------------------------------------

OTHER_SITE = "http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def chat_app(database_url: str, demo: Any) -> Iterator[tuple[str, str]]:
    """`viraltracker chat` on a free port, with one more allowed origin; (its URL, that origin)."""
    port = _free_port()
    partner = f"http://127.0.0.1:{_free_port()}"
    with chat_app_process(
        database_url,
        port,
        CHAINLIT_AUTH_SECRET=SECRET,
        VIRALTRACKER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        VIRALTRACKER_ALLOWED_ORIGINS=partner,
        VIRALTRACKER_EMBEDDED_WORKER="0",
    ) as url:
        yield url, partner


async def signed_in_token(url: str, email: str) -> str:
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await sign_in(client, email, PASSWORD)
        assert answer.status_code == 200, answer.text
        return answer.cookies["access_token"]


async def test_only_our_own_and_configured_origins_read_with_a_cookie(
    chat_app: tuple[str, str], person: str
) -> None:
    url, partner = chat_app
    foreign = OTHER_SITE.format(port=_free_port())
    token = await signed_in_token(url, person)
    threads = {"pagination": {"first": 5}, "filter": {}}
    async with httpx.AsyncClient(base_url=url, cookies={"access_token": token}) as client:
        # A page on another port of the same host: the browser sends the cookie, but may not read.
        read = await client.get("/user", headers={"Origin": foreign})
        assert "access-control-allow-origin" not in read.headers
        preflight = await client.options(
            "/project/threads",
            headers={"Origin": foreign, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers
        posted = await client.post("/project/threads", json=threads, headers={"Origin": foreign})
        assert posted.status_code == 403
        assert posted.json() == {"detail": "Requests from other sites are not accepted."}
        assert "access-control-allow-origin" not in posted.headers
        # The configured partner may, and the app's own page of course.
        for allowed in (partner, url):
            read = await client.post("/project/threads", json=threads, headers={"Origin": allowed})
            assert read.status_code == 200 and "data" in read.json()
            assert read.headers["access-control-allow-origin"] == allowed
            assert read.headers["access-control-allow-credentials"] == "true"


@contextlib.asynccontextmanager
async def open_socket(url: str, token: str, origin: str) -> AsyncIterator[tuple[str, ClientConnection]]:
    """Chainlit's socket.io connection opened as a browser page at `origin` would: the server's
    answer to the connect packet (`40…` connected, `44…` refused) and the open socket."""
    ws_url = url.replace("http://", "ws://") + "/ws/socket.io/?EIO=4&transport=websocket"
    auth = {"sessionId": str(uuid.uuid4()), "clientType": "webapp", "userEnv": "{}", "threadId": None}
    async with websocket_connect(
        ws_url,
        origin=origin,
        additional_headers={"Cookie": f"access_token={token}"},
        open_timeout=15,  # type: ignore[arg-type]
    ) as socket:
        async with asyncio.timeout(15):
            opened = str(await socket.recv())
            assert opened.startswith("0{"), opened
            await socket.send("40" + json.dumps(auth))
            for _ in range(10):
                packet = str(await socket.recv())
                if packet.startswith("4"):
                    break
            else:
                raise AssertionError("no answer to the connect packet")
        yield packet, socket


async def socket_connect(url: str, token: str, origin: str) -> str:
    async with open_socket(url, token, origin) as (answer, _):
        return answer


async def test_a_socket_from_another_site_is_refused(chat_app: tuple[str, str], person: str) -> None:
    url, partner = chat_app
    token = await signed_in_token(url, person)
    with pytest.raises(InvalidStatus) as refused:
        await socket_connect(url, token, OTHER_SITE.format(port=_free_port()))
    assert refused.value.response.status_code == 403  # the handshake is refused: no socket at all
    for allowed in (url, partner):
        assert (await socket_connect(url, token, allowed)).startswith("40{")


async def test_logout_closes_open_sockets_and_the_old_token_opens_no_more(
    chat_app: tuple[str, str], person: str
) -> None:
    url, _ = chat_app
    token = await signed_in_token(url, person)
    async with open_socket(url, token, url) as (connected, socket):
        assert connected.startswith("40{")
        async with httpx.AsyncClient(base_url=url, cookies={"access_token": token}) as client:
            assert (await client.post("/logout", headers={"Origin": url})).json() == {"success": True}
        # The chat open in another tab is disconnected by the server (socket.io's "41").
        packets = []
        async with asyncio.timeout(10):
            while not packets or packets[-1] != "41":
                packets.append(str(await socket.recv()))
    assert await socket_connect(url, token, url) == '44{"message":"Connection refused by server"}'


async def test_the_login_page_says_why_it_refuses(
    browser: Browser, chat_app: tuple[str, str], person: str
) -> None:
    """Chainlit's login form shows a translation of the status text (our .chainlit/translations
    say why), and a toast with the server's own words (how long to wait)."""
    url, _ = chat_app
    context = await browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    try:
        page = await context.new_page()
        await page.goto("/login")
        alert = page.get_by_role("alert")
        for attempt in range(10):  # five wrong passwords, then the delay (however slow the browser)
            await page.locator("#email").fill(person)
            await page.locator("#password").fill(f"guess-{attempt}")
            await page.get_by_role("button", name="Sign In").click()
            throttled = page.get_by_text("Too many attempts, try again in a few seconds")
            wrong = page.get_by_text("Sign in failed. Check the details you provided are correct")
            await expect(throttled.or_(wrong).first).to_be_visible()
            if await throttled.count():
                break
            assert attempt < 8, "still no delay after five wrong passwords (and 1 s, 2 s to spare)"
        else:
            raise AssertionError("the login page never said to wait")
        await expect(alert.first).to_contain_text("Too many attempts, try again in a few seconds")
        toast = page.get_by_text(re.compile(r"Too many attempts, try again in \d+ s"))
        await expect(toast.first).to_be_visible()
    finally:
        await context.close()


def test_an_allowed_origin_that_is_not_one_stops_the_start() -> None:
    with pytest.raises(
        ValidationError, match=r"'example\.com' is not an origin: write it as https://host or http"
    ):
        Settings(VIRALTRACKER_ALLOWED_ORIGINS="https://partner.example, example.com")  # type: ignore[call-arg]
