"""What the chat shows reads exactly as typed and written, and one Enter sends a typed command.

The real `viraltracker chat` process and Debian's chromium at 1440×900 (fixtures from test_browser).
Screenshots go to the test's tmp_path (printed).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect
from playwright.async_api import Error as PlaywrightError

from agent.runner import run_turn
from db.pool import Caller, Database
from tests.test_browser import (  # noqa: F401 (app_url and browser are fixtures used by name)
    ANSWER,
    MAYA,
    TOOL_STEP,
    USER_MESSAGE,
    WAIT_MS,
    app_url,
    browser,
    chat_ready,
    sign_in,
    thread_id_of,
)

BRIEFING = '/briefing brand:"Acme Pets" period:week'


@pytest.fixture
async def wide(browser: Browser, app_url: str) -> AsyncIterator[BrowserContext]:  # noqa: F811
    """One person at 1440×900, a fresh profile."""
    fresh = await browser.new_context(base_url=app_url, viewport={"width": 1440, "height": 900})
    fresh.set_default_timeout(WAIT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


async def shot(page: Page, folder: Path, name: str) -> None:
    path = folder / f"{name}.png"
    await page.screenshot(path=path)
    print(f"screenshot: {path}")


async def send_as_text(page: Page, text: str) -> None:
    """Type `text` and send it with the command menu closed (as a message, never a command chip)."""
    composer = page.locator("#chat-input")
    for _ in range(3):  # on a loaded machine the previous answer's end can clear what was just typed
        await expect(composer).to_be_editable()
        await composer.fill(text)
        await composer.press("Escape")
        if await composer.input_value() == text:
            break
        await page.wait_for_timeout(500)
    await expect(composer).to_have_value(text)
    await composer.press("Enter")


async def inner_text(page: Page, selector: str, has_text: str) -> str:
    """The text a person reads (innerText: rendered, only what is visible) of the one match."""
    found = page.locator(selector).filter(has_text=has_text)
    await expect(found).to_have_count(1)
    return await found.inner_text()


async def test_help_hints_and_the_persons_own_messages_read_as_written(
    wide: BrowserContext, db: Database, maya: Caller, tmp_path: Path
) -> None:
    page = await sign_in(wide, *MAYA)
    await chat_ready(page)

    await send_as_text(page, "/help")
    shown = await inner_text(page, ANSWER, "Commands (type /help COMMAND")
    assert "previews unless confirm:true; ask first" in shown
    assert 'Arguments are key:value or key:"quoted value"; windows are days:N' in shown
    assert "promote:<pattern id>" in shown
    # What a person copies from the answer (a triple-click selects the paragraph) is what it says.
    await wide.grant_permissions(["clipboard-read", "clipboard-write"])
    paragraph = page.get_by_role("article").filter(has_text="Arguments are key:value")
    selected = "() => window.getSelection().toString().includes('Arguments are key:value')"
    for _ in range(3):  # a toast arriving over the paragraph can take a click: click again
        try:
            await paragraph.click(click_count=3, position={"x": 5, "y": 5}, timeout=5000)  # its first line
            await page.wait_for_function(selected, timeout=3000)
            break
        except PlaywrightError:
            continue
    await page.wait_for_function(selected)
    await page.keyboard.press("Control+C")
    copied = ""
    for _ in range(40):  # the clipboard is written a moment after the key: 2 s at most
        copied = await page.evaluate("navigator.clipboard.readText()")
        if copied:
            break
        await page.wait_for_timeout(50)
    assert copied.startswith('Arguments are key:value or key:"quoted value"; windows are days:N'), copied
    await shot(page, tmp_path, "help")

    await send_as_text(page, "/help briefing")
    shown = await inner_text(page, ANSWER, "Example: /briefing")
    assert 'Example: /briefing brand:"Acme Pets" period:day' in shown

    # Hints and echoed commands in answers, and the person's own messages, as written.
    for typed in ("/recommend_templates filter:recommended", '/sync_meta brand:"Acme Pets"', BRIEFING):
        # The chat's brand picker starts on maya's first brand: commands that name none get it.
        expected = await run_turn(db=db, caller=maya, message=typed, brand="Acme Pets")
        before = await page.locator(ANSWER).count()
        await send_as_text(page, typed)
        bubble = page.locator(USER_MESSAGE).last
        await expect(bubble).to_have_text(typed, use_inner_text=True)
        await expect(page.locator(ANSWER).nth(before)).to_contain_text(expected.text, use_inner_text=True)
    assert "filter:recommended" in await page.locator(ANSWER).nth(2).inner_text()
    assert "account:act_1234567890" in await page.locator(ANSWER).nth(3).inner_text()
    # The failed tool step says it too, as written.
    step = page.locator(TOOL_STEP).filter(has_text="Syncing Acme Pets from Meta")
    await step.get_by_role("button", name=re.compile(r"Syncing Acme Pets from Meta")).click()
    await expect(step).to_contain_text("account:act_1234567890 (or connect", use_inner_text=True)

    await page.reload()  # the stored messages read the same
    await expect(page.locator(USER_MESSAGE)).to_have_count(5)
    # The thread keeps the name of its first message (later ones never rename it).
    thread = page.locator(f'#thread-history a[href="/thread/{thread_id_of(page)}"]')
    await expect(thread).to_have_text("/help")
    sent = [text.strip() for text in await page.locator(USER_MESSAGE).all_inner_texts()]
    assert sent == [
        "/help",
        "/help briefing",
        "/recommend_templates filter:recommended",
        '/sync_meta brand:"Acme Pets"',
        BRIEFING,
    ]
    shown = await inner_text(page, ANSWER, "Commands (type /help COMMAND")
    assert "previews unless confirm:true; ask first" in shown
    await expect(page.locator(ANSWER).last).to_contain_text("Acme Pets, last 7 days", use_inner_text=True)
    await page.locator(ANSWER).nth(3).scroll_into_view_if_needed()
    await shot(page, tmp_path, "hints-reloaded")


async def typing_in_a_new_chat(wide: BrowserContext, typed: str) -> tuple[Page, Locator]:
    """Maya signed in to a new chat, `typed` typed key by key into the composer (not sent)."""
    page = await sign_in(wide, *MAYA)
    await chat_ready(page)
    composer = page.locator("#chat-input")
    await composer.click()
    await composer.press_sequentially(typed)
    return page, composer


async def reopens_with(message: str, page: Page, folder: Path, name: str) -> None:
    """After a reload the thread shows its one message as sent, and is named after it."""
    await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
    thread = page.locator(f'#thread-history a[href="/thread/{thread_id_of(page)}"]')
    for _ in range(5):  # Chainlit stores the message a moment after showing it: a reload at once may be early
        await page.reload()
        try:
            await expect(page.locator(USER_MESSAGE)).to_have_count(1, timeout=3000)
            break
        except AssertionError:
            continue
    await expect(page.locator(USER_MESSAGE)).to_have_count(1)
    assert (await page.locator(USER_MESSAGE).inner_text()).strip() == message
    await expect(thread).to_have_text(message)
    await shot(page, folder, name)


async def test_one_enter_sends_a_typed_command_and_the_thread_keeps_it(
    wide: BrowserContext, tmp_path: Path
) -> None:
    page, composer = await typing_in_a_new_chat(wide, "/brands")
    await expect(page.get_by_role("option", name=re.compile(r"^brands"))).to_be_visible()
    await composer.press("Enter")

    sent = page.locator(USER_MESSAGE)
    await expect(sent).to_have_count(1)
    assert (await sent.inner_text()).strip() == "/brands"
    await expect(page.locator(ANSWER).filter(has_text="Acme Pets")).not_to_have_count(0)
    await expect(composer).to_have_value("")
    await expect(page.locator("#command-button")).to_have_text("Tools")  # no command chosen (no chip)
    await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
    await shot(page, tmp_path, "brands-sent")

    await reopens_with("/brands", page, tmp_path, "brands-reloaded")


async def test_a_command_picked_from_the_menu_keeps_its_name_in_the_thread(
    wide: BrowserContext, tmp_path: Path
) -> None:
    page, composer = await typing_in_a_new_chat(wide, "/")
    await page.get_by_role("option", name=re.compile(r"^brands")).click()
    await composer.click()
    await composer.press("Enter")  # the command alone, no arguments
    await expect(page.locator(ANSWER).filter(has_text="Acme Pets")).not_to_have_count(0)

    await reopens_with("/brands", page, tmp_path, "picked-reloaded")


async def test_a_bare_slash_and_enter_keeps_the_menu_open_and_sends_nothing(
    wide: BrowserContext, tmp_path: Path
) -> None:
    page, composer = await typing_in_a_new_chat(wide, "/")
    first = page.get_by_role("option").first
    await expect(first).to_be_visible()
    await composer.press("Enter")
    await page.wait_for_timeout(500)  # long enough for a message to be sent and shown
    await expect(first).to_be_visible()
    await expect(composer).to_have_value("/")
    await expect(page.locator(USER_MESSAGE)).to_have_count(0)
    await expect(page.locator("#command-button")).to_have_text("Tools")  # no command chosen (no chip)
    await shot(page, tmp_path, "bare-slash")
