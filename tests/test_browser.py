"""The chat app end to end: the real `viraltracker chat` process, driven by Debian's chromium.

One app process per module (on the session's test database, demo data seeded), one browser,
a fresh browser context per person. The app runs offline (no model key), so slash commands and
simple questions go through the deterministic router; every expectation is computed
independently with `agent.runner.run_turn` against the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from agent.runner import run_turn
from db.pool import Caller, Database

CLI = str(Path(sys.executable).parent / "viraltracker")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STARTUP_SECONDS = 60
WAIT_MS = 20_000  # every browser wait is bounded by this (≤ 30 s)

MAYA = ("maya@northwind.example", "northwind-demo")
LEO = ("leo@summit.example", "summit-demo")

# Selectors (Chainlit 2.12).
ANSWER = '[data-step-type="assistant_message"] .message-content'
USER_MESSAGE = '[data-step-type="user_message"]'
TOOL_STEP = '[data-step-type="tool"]'

TOP_HOOKS_ARGS = 'brand:"Acme Pets" days:30 limit:5'
STEP_TITLE = "Ranking hooks by hook_rate for Acme Pets, last 30 days"
QUESTION = "which hooks worked best for Acme Pets in the last 30 days?"
FOLLOW_UP = "and for the last 90 days?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


@pytest.fixture(scope="module")
def app_url(database_url: str, demo: Any) -> Iterator[str]:
    """`viraltracker chat` on a free port, offline, on the test database; stopped with its children."""
    with chat_app_process(database_url, _free_port()) as url:
        yield url


@contextlib.contextmanager
def chat_app_process(database_url: str, port: int, **settings: str) -> Iterator[str]:
    """`viraltracker chat` on this port (with these settings too) until the block ends; its URL."""
    home = Path(tempfile.mkdtemp(prefix="vt-browser-"))
    log_path = home / "chat.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "VIRALTRACKER_HOME": str(home),
        "CHAINLIT_AUTH_SECRET": "browser-test-secret-" + "x" * 44,
        # Pinned, winning over the environment and any .env: offline, our own password sign-in, no telemetry.
        "VIRALTRACKER_MODEL": "offline",
        "VIRALTRACKER_AUTH": "password",
        "SUPABASE_URL": "",
        "SUPABASE_KEY": "",
        "LOGFIRE_TOKEN": "",
        **settings,
    }
    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [CLI, "chat", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop it and anything it started
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while _status(url + "/") != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the chat app did not answer on {url} (exit code {process.poll()}):\n"
                    + log_path.read_text(errors="replace")[-4000:]
                )
            time.sleep(0.25)
        yield url
    finally:
        _stop(process)
        print(f"chat app log: {log_path}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the group (the CLI and chainlit), SIGKILL whatever is left after 10 s."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)
    process.wait(timeout=5)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian chromium is not installed: `make test` installs it (apt-get install chromium)")
    expect.set_options(timeout=WAIT_MS)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser, app_url: str) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile (no cookies): one person."""
    fresh = await browser.new_context(base_url=app_url, viewport={"width": 1280, "height": 900})
    fresh.set_default_timeout(WAIT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


async def sign_in(context: BrowserContext, email: str, password: str) -> Page:
    page = await context.new_page()
    await page.goto("/")
    await expect(page).to_have_url(re.compile(r"/login$"))
    await page.locator("#email").fill(email)
    await page.locator("#password").fill(password)
    await page.get_by_role("button", name="Sign In").click()
    await expect(page.locator("#chat-input")).to_be_visible()
    return page


async def chat_ready(page: Page) -> None:
    """Wait until the chat start has run: commands set and the offline note shown (a toast)."""
    await expect(page.locator("#command-button")).to_be_visible()
    await expect(page.get_by_text("Running offline.").first).to_be_visible()


async def starter_labels(page: Page) -> list[str]:
    """The starters the app gives this signed-in person (what the UI receives)."""
    response = await page.request.get("/project/settings?language=en-US")
    assert response.ok, await response.text()
    return [s["label"] for s in (await response.json())["starters"]]


def thread_id_of(page: Page) -> str:
    match = re.search(r"/thread/([0-9a-f-]{36})$", page.url)
    assert match, page.url
    return match.group(1)


async def test_maya_runs_a_command_asks_in_english_and_finds_the_thread_again(
    context: BrowserContext, db: Database, maya: Caller, tmp_path: Path
) -> None:
    expected = await run_turn(db=db, caller=maya, message=f"/top_hooks {TOP_HOOKS_ARGS}")
    [call] = expected.tool_calls
    assert call.result is not None and call.error is None
    hooks = [row["hook_text"] for row in call.result["rows"]]
    assert len(hooks) == 5
    assert expected.text.startswith("Top 5 hooks for Acme Pets")

    page = await sign_in(context, *MAYA)
    labels = await starter_labels(page)
    assert any("Acme Pets" in label for label in labels), labels
    assert not any(b in label for label in labels for b in ("Peak Fuel", "Lumen Sleep")), labels
    await chat_ready(page)

    # /top_hooks through the command menu: "/" opens it, pick the command, then its arguments.
    composer = page.locator("#chat-input")
    await composer.click()
    await composer.press_sequentially("/")
    option = page.get_by_role("option", name=re.compile(r"^top_hooks"))
    await expect(option).to_be_visible()
    await option.click()
    await expect(page.locator("#message-composer").get_by_text("top_hooks", exact=True)).to_be_visible()
    await composer.click()
    await composer.press_sequentially(TOP_HOOKS_ARGS)
    await composer.press("Enter")

    sent = page.locator(USER_MESSAGE).filter(has_text=TOP_HOOKS_ARGS)
    await expect(sent).to_contain_text("top_hooks")
    answer = page.locator(ANSWER).filter(has_text="Top 5 hooks for Acme Pets")
    await expect(answer).to_have_count(1)
    await expect(answer).to_contain_text(expected.text)
    await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
    thread_id = thread_id_of(page)

    # The tool call as a named step (collapsed under "Used …"): its arguments and summary inside.
    step = page.locator(TOOL_STEP).filter(has_text=STEP_TITLE)
    await expect(step).to_have_count(1)
    toggle = step.get_by_role("button", name=f"Used {STEP_TITLE}")
    await expect(toggle).to_be_visible()
    await toggle.click()
    await expect(step).to_contain_text("limit: 5")
    await expect(step).to_contain_text(call.result["summary"])

    # The full result as a table (the hooks, in order) and as a Plotly chart (one bar per hook).
    rows = answer.locator(".dataframe table tbody tr")
    await expect(rows).to_have_count(5)
    await expect(rows.locator("td:first-child")).to_have_text(hooks)
    await expect(answer.locator(".dataframe table thead th").first).to_have_text("Hook")
    chart = answer.locator(".js-plotly-plot")
    await expect(chart).to_be_visible()
    await expect(chart.locator("g.point")).to_have_count(5)
    # The title's " — " tail is its second line.
    await expect(chart).to_contain_text("Top hooks by hook rate")
    await expect(chart).to_contain_text("Acme Pets, last 30 days")

    # A plain-English question in the same thread.
    expected_en = await run_turn(db=db, caller=maya, message=QUESTION, history=expected.messages)
    [call_en] = expected_en.tool_calls
    assert call_en.tool == "top_hooks" and call_en.args == {"brand": "Acme Pets", "days": 30}
    assert call_en.result is not None
    answers_before = await page.locator(ANSWER).count()
    await composer.fill(QUESTION)
    await composer.press("Enter")
    await expect(page.locator(USER_MESSAGE).filter(has_text=QUESTION)).to_be_visible()
    answer_en = page.locator(ANSWER).nth(answers_before)
    await expect(answer_en).to_contain_text(expected_en.text)
    await expect(answer_en.locator(".dataframe table tbody tr")).to_have_count(len(call_en.result["rows"]))
    await expect(answer_en.locator(".js-plotly-plot")).to_be_visible()
    await expect(page.locator(TOOL_STEP).filter(has_text=STEP_TITLE)).to_have_count(2)
    assert thread_id_of(page) == thread_id

    # History: after a reload the thread is in the sidebar; from a new chat, open it again.
    await page.reload()
    in_sidebar = page.locator(f'#thread-history a[href="/thread/{thread_id}"]')
    await expect(in_sidebar).to_be_visible()
    await page.goto("/")
    await chat_ready(page)
    await expect(in_sidebar).to_contain_text("Acme Pets")
    await in_sidebar.click()
    await expect(page).to_have_url(re.compile(f"/thread/{thread_id}$"))
    await expect(page.locator(ANSWER).filter(has_text=expected.text)).to_have_count(1)
    await expect(page.locator(ANSWER).filter(has_text=expected_en.text)).to_have_count(1)
    await expect(page.locator(USER_MESSAGE).filter(has_text=TOP_HOOKS_ARGS)).to_have_count(1)
    await expect(page.locator(TOOL_STEP).filter(has_text=STEP_TITLE)).to_have_count(2)
    # The reopened thread shows its tables and charts again (kept by the chat storage).
    reopened = page.locator(ANSWER).filter(has_text=expected.text)
    await expect(reopened.locator(".dataframe table tbody tr")).to_have_count(5)
    await expect(page.locator(".js-plotly-plot")).to_have_count(2)

    shot = tmp_path / "chat.png"
    await page.screenshot(path=shot)
    print(f"screenshot: {shot}")


async def test_leo_sees_only_his_own_brands_and_threads(
    context: BrowserContext, db: Database, leo: Caller
) -> None:
    expected = await run_turn(db=db, caller=leo, message="/brands")
    [call] = expected.tool_calls
    assert call.result is not None
    names = [brand["name"] for brand in call.result["brands"]]
    assert "Peak Fuel" in names and "Acme Pets" not in names

    page = await sign_in(context, *LEO)
    labels = await starter_labels(page)
    assert labels and not any(b in label for label in labels for b in ("Acme Pets", "Bloom Botanicals"))
    await chat_ready(page)

    # Typed as text this time: close the command menu and send "/brands" as it is.
    composer = page.locator("#chat-input")
    await composer.click()
    await composer.press_sequentially("/brands")
    await composer.press("Escape")
    await expect(composer).to_have_value("/brands")
    await composer.press("Enter")

    answer = page.locator(ANSWER).filter(has_text="Peak Fuel")
    # As read on the page: the Markdown's list marks and code spans rendered, not shown.
    for line in expected.text.replace("`", "").splitlines():
        await expect(answer).to_contain_text(line.removeprefix("- "))
    for table in (0, 1):  # the brands' figures, then their setup: a row per brand in each
        rows = answer.locator(".dataframe").nth(table).locator("table tbody tr td:first-child")
        await expect(rows).to_have_text(names)
    await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
    # The sidebar has loaded leo's threads (this one at least) before we look for maya's.
    await expect(page.locator(f'#thread-history a[href="/thread/{thread_id_of(page)}"]')).to_be_visible()

    body = page.locator("body")
    for other in ("Acme Pets", "Bloom Botanicals"):
        await expect(body).not_to_contain_text(other)  # textContent: hidden text counts too

    # Maya's threads (test 1 made one when run before this): not listed, and not opened by URL.
    async with db.as_owner() as conn:
        cursor = await conn.execute(
            'select id from threads where "userIdentifier" = %s order by "createdAt" desc', (MAYA[0],)
        )
        maya_threads = [row["id"] for row in await cursor.fetchall()]
    for thread in maya_threads:
        await expect(page.locator(f'#thread-history a[href="/thread/{thread}"]')).to_have_count(0)
    if maya_threads:
        await page.goto(f"/thread/{maya_threads[0]}")
        await expect(page.get_by_text("Couldn't resume chat")).to_be_visible()
        for other in ("Acme Pets", "Bloom Botanicals"):
            await expect(body).not_to_contain_text(other)


async def test_a_reopened_thread_keeps_its_context(
    context: BrowserContext, db: Database, maya: Caller
) -> None:
    first = await run_turn(db=db, caller=maya, message=QUESTION)
    expected = await run_turn(db=db, caller=maya, message=FOLLOW_UP, history=first.messages)
    assert "hooks for Acme Pets by hook_rate in last 90 days" in expected.text

    page = await sign_in(context, *MAYA)
    await chat_ready(page)
    composer = page.locator("#chat-input")
    await composer.fill(QUESTION)
    await composer.press("Enter")
    await expect(page.locator(ANSWER).filter(has_text=first.text)).to_have_count(1)
    await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))

    await page.reload()  # the socket disconnects, Chainlit persists the session; the thread resumes
    await expect(page.locator(ANSWER).filter(has_text=first.text)).to_have_count(1)
    answers_before = await page.locator(ANSWER).count()
    await composer.fill(FOLLOW_UP)
    await composer.press("Enter")
    reply = page.locator(ANSWER).nth(answers_before)
    # Either answer ends the wait at once: the right one, or the router's "I can't tell" reply.
    await expect(reply).to_contain_text(re.compile(r"last 90 days|I'm the offline assistant"))
    await expect(reply).to_contain_text(expected.text, timeout=2000)


async def test_a_reloaded_thread_resumes_when_the_sockets_cookie_answers_come_back_out_of_order(
    context: BrowserContext, db: Database
) -> None:
    """Reloading /thread/<id>, Chainlit connects twice (a new chat, then the thread), each after its own
    POST to /set-session-cookie. Under load those answers can come back in either order; the thread must
    still be the one that stays: it shows, and the next message goes on in it."""
    page = await sign_in(context, *MAYA)
    await chat_ready(page)
    composer = page.locator("#chat-input")
    await composer.fill(QUESTION)
    await composer.press("Enter")
    await expect(page.locator(ANSWER)).to_have_count(1)
    await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
    thread = thread_id_of(page)
    first_answer = (await page.locator(ANSWER).first.inner_text()).split("\n")[0]  # its text, not its table

    asked: list[float] = []
    answered: list[float] = []

    async def first_answered_last(route: Any) -> None:
        asked.append(time.monotonic())
        if len(asked) == 1:  # the first connect's answer comes back a second after the others
            await asyncio.sleep(1.0)
        await route.continue_()
        answered.append(time.monotonic())

    await page.route("**/set-session-cookie", first_answered_last)
    await page.reload()
    await expect(page.locator(ANSWER).first).to_contain_text(first_answer)
    for _ in range(100):  # both connects have run (at most 10 s)
        if len(answered) >= 2:
            break
        await asyncio.sleep(0.1)
    assert len(asked) >= 2, "the reload connected once: the out-of-order case was not exercised"
    await asyncio.sleep(1.0)  # a socket the late answer would open, opened
    await expect(page.locator(ANSWER).first).to_contain_text(first_answer)

    await composer.fill(FOLLOW_UP)
    await composer.press("Enter")
    await expect(page.locator(ANSWER)).to_have_count(2)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            """select count(*) as n from steps where "threadId" = %s and type = 'user_message'""", (thread,)
        )
        row = await cur.fetchone()
    assert row is not None and row["n"] == 2, "the message after the reload went to another thread"
    await expect(page).to_have_url(re.compile(f"/thread/{thread}$"))


async def test_a_new_chat_shows_starters_for_the_persons_brands(context: BrowserContext) -> None:
    page = await sign_in(context, *MAYA)
    await expect(page.locator("#command-button")).to_be_visible()  # the chat start has run
    await page.wait_for_timeout(1000)  # and anything it sends has landed
    starters = page.locator("#starters")
    assert await starters.is_visible()
    await expect(starters).to_contain_text("Acme Pets", timeout=2000)


async def test_notifications_pop_up_live_and_mark_all_read_is_a_button(
    context: BrowserContext, db: Database
) -> None:
    import uuid

    from services.platform import notifications
    from services.platform.accounts import add_user, create_organization

    tag = uuid.uuid4().hex[:8]
    email, password = f"nia.{tag}@example.com", f"pw-{tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Live Co {tag}")
        await add_user(conn, email=email, organization_id=org, role="admin", password=password)

    async def notify(title: str, message: str) -> None:
        async with db.as_service() as conn:
            await notifications.create(
                conn, organization_id=org, type="sync_finished", category="meta", title=title, message=message
            )

    await notify("Welcome aboard", "Your workspace is ready.")
    page = await sign_in(context, email, password)
    await chat_ready(page)
    await expect(page.get_by_text("You have 1 unread notification — /notifications")).to_be_visible()
    await page.wait_for_timeout(500)  # the chat start has registered this chat for live notifications
    await notify("Meta sync finished for Fern & Co", "12 new ads")
    await expect(
        page.get_by_text("🔔 Meta sync finished for Fern & Co: 12 new ads — /notifications")
    ).to_be_visible()
    composer = page.locator("#chat-input")  # /notifications through the command menu
    await composer.click()
    await composer.press_sequentially("/")
    await page.get_by_role("option", name=re.compile(r"^notifications")).click()
    await composer.click()
    await composer.press_sequentially("limit:10")
    await composer.press("Enter")
    await expect(
        page.locator(ANSWER).filter(has_text="Your 2 latest notifications (2 unread)")
    ).to_have_count(1)
    await page.get_by_role("button", name="Mark all read").click()
    await expect(page.locator(ANSWER).filter(has_text="Marked 2 notifications read.")).to_have_count(1)


async def test_a_pasted_megabyte_is_answered_with_the_limit(context: BrowserContext, db: Database) -> None:
    """Over 1,000,000 characters Chainlit's socket used to drop the connection (nothing answered):
    the message now arrives, the reply states the limit, and the refused message is not kept."""
    page = await sign_in(context, *MAYA)
    await chat_ready(page)
    composer = page.locator("#chat-input")
    await composer.fill(("pasted brief. " * 78_572)[:1_100_000])
    await composer.press("Enter")
    refusal = (
        "That message is 1,100,000 characters; the limit is 100,000. Nothing was changed; send a shorter one."
    )
    await expect(page.locator(ANSWER).filter(has_text="the limit is 100,000")).to_have_text(refusal)
    counts: dict[str, Any] | None = None
    for _ in range(50):  # the reply's step is written to the history a moment after it is shown
        async with db.as_owner() as conn:
            cur = await conn.execute(
                """select count(*) filter (where type = 'user_message' and length(output) > 100000) as kept,
                          count(*) filter (where output = %s) as answered from steps""",
                (refusal,),
            )
            counts = await cur.fetchone()
        if counts and counts["answered"]:
            break
        await asyncio.sleep(0.1)
    assert counts == {"kept": 0, "answered": 1}
