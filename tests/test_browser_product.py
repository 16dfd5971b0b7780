"""The chat as a product in the browser: its name, logo, favicon and theme; the offline state and
unread notifications always in view; the brand picker. Reuses tests/test_browser.py's app and browser.

Screenshots of each page at 1440×900 (dark and light) and 390×844 go to the test's folder, for a
person to look at; the tests assert what they show."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

from agent.runner import run_turn
from db.pool import Caller, Database
from services.platform import notifications
from services.platform.accounts import add_user, create_organization
from tests.test_browser import (  # noqa: F401  (the fixtures, used by name)
    ANSWER,
    MAYA,
    WAIT_MS,
    app_url,
    browser,
    chat_ready,
    sign_in,
)

SIZES = {
    "desktop-dark": ({"width": 1440, "height": 900}, "dark"),
    "desktop-light": ({"width": 1440, "height": 900}, "light"),
    "phone": ({"width": 390, "height": 844}, "dark"),
}
HEADER_MARK = "ViralTracker: new chat"
OFFLINE_FOOTER = (
    "Offline: answers come from your synced ad data, each naming its formula. /help lists the commands."
)
TOAST = "[data-sonner-toast]"
STATUS = "#message-composer"  # the status picker sits in the composer's toolbar


async def person(browser: Browser, app_url: str, size: str) -> BrowserContext:  # noqa: F811
    viewport, scheme = SIZES[size]
    context = await browser.new_context(base_url=app_url, viewport=viewport, color_scheme=scheme)
    # Chainlit keeps the theme in localStorage (dark unless told): the person's choice, set up front.
    await context.add_init_script(f"localStorage.setItem('vite-ui-theme', '{scheme}')")
    context.set_default_timeout(WAIT_MS)
    return context


async def no_sideways_scrolling(page: Page) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


async def type_command(page: Page, text: str) -> None:
    composer = page.locator("#chat-input")
    await composer.click()
    await composer.fill(text)
    await composer.press("Escape")  # the command menu closed: the text is sent as typed
    await composer.press("Enter")


async def test_login_page_shows_the_name_and_logo_in_every_size(
    browser: Browser,  # noqa: F811
    app_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    for size, (_, scheme) in SIZES.items():
        context = await person(browser, app_url, size)
        page = await context.new_page()
        await page.goto("/login")
        await expect(page).to_have_title("ViralTracker")
        await expect(page.get_by_text("Sign in to ViralTracker", exact=True)).to_be_visible()
        logo = page.locator(f'img[src*="/logo?theme={scheme}"]').first
        await expect(logo).to_be_visible()
        assert await logo.evaluate("img => img.naturalWidth") > 0  # loaded, not a broken image
        await no_sideways_scrolling(page)
        await page.screenshot(path=tmp_path / f"login-{size}.png")
        await context.close()
    # The logo, the login picture and the favicon are the product's own (Chainlit's are its name).
    context = await person(browser, app_url, "desktop-dark")
    for path, needle in (
        ("/logo?theme=dark", "Tracker</tspan>"),
        ("/logo?theme=light", "Tracker</tspan>"),
        ("/favicon", "#7C3AED"),
        ("/public/login.svg", "Which hooks hold attention."),
    ):
        response = await context.request.get(path)
        assert response.ok and response.headers["content-type"].startswith("image/svg+xml"), path
        assert needle in await response.text(), path
    await context.close()
    print(f"screenshots: {tmp_path}")


async def test_the_header_shows_the_product_and_the_status_stays_in_view(
    browser: Browser,  # noqa: F811
    app_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Offline and unread notifications shown for as long as the chat is open, not as toasts that
    go after a few seconds; no "LLMs can make mistakes" under the composer offline."""
    for size in SIZES:
        context = await person(browser, app_url, size)
        page = await sign_in(context, *MAYA)
        await chat_ready(page)
        mark = page.locator("#header").get_by_role("link", name=HEADER_MARK)
        await expect(mark).to_be_visible()
        await expect(mark).to_have_attribute("href", "/")
        await expect(mark.locator('img[src$="/public/favicon.svg"]')).to_be_visible()
        status = page.locator(STATUS).get_by_text(re.compile(r"^Offline( · \d+ unread)?$"))
        await expect(status).to_be_visible()
        await expect(page.locator(TOAST)).to_have_count(0, timeout=10_000)  # the toasts have gone ...
        await expect(status).to_be_visible()  # ... the status has not
        await no_sideways_scrolling(page)
        await page.screenshot(path=tmp_path / f"welcome-{size}.png")
        await type_command(page, "/help")
        await expect(page.locator(ANSWER).first).to_be_visible()
        await expect(page.get_by_text(OFFLINE_FOOTER, exact=True)).to_be_visible()
        await expect(page.get_by_text("LLMs can make mistakes")).to_have_count(0)
        await expect(status).to_be_visible()
        await page.screenshot(path=tmp_path / f"thread-{size}.png")
        await context.close()
    print(f"screenshots: {tmp_path}")


async def test_unread_notifications_are_counted_in_view_as_they_arrive(
    browser: Browser,  # noqa: F811
    app_url: str,  # noqa: F811
    db: Database,
) -> None:
    tag = uuid.uuid4().hex[:8]
    email, password = f"ana.{tag}@example.com", f"pw-{tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Badge Co {tag}")
        await add_user(conn, email=email, organization_id=org, role="admin", password=password)

    async def notify(title: str) -> None:
        async with db.as_service() as conn:
            await notifications.create(
                conn, organization_id=org, type="sync_finished", category="meta", title=title, message="done"
            )

    await notify("Welcome aboard")
    context = await person(browser, app_url, "desktop-dark")
    page = await sign_in(context, email, password)
    await chat_ready(page)
    status = page.locator(STATUS)
    await expect(status.get_by_text("Offline · 1 unread", exact=True)).to_be_visible()
    await expect(page.locator(TOAST)).to_have_count(0, timeout=10_000)
    await notify("Meta sync finished")
    await expect(status.get_by_text("Offline · 2 unread", exact=True)).to_be_visible()
    await expect(page.locator(TOAST)).to_have_count(0, timeout=10_000)  # its toast goes, the count stays
    await expect(status.get_by_text("Offline · 2 unread", exact=True)).to_be_visible()
    await type_command(page, "/notifications mark_all_read:true")
    await expect(status.get_by_text("Offline", exact=True)).to_be_visible()
    await context.close()


async def test_the_brand_picker_sets_the_brand_of_commands_that_name_none(
    browser: Browser,  # noqa: F811
    app_url: str,  # noqa: F811
    db: Database,
    maya: Caller,
    tmp_path: Path,
) -> None:
    expected = await run_turn(db=db, caller=maya, message="/top_hooks days:30", brand="Bloom Botanicals")
    assert expected.text.startswith("Top 10 hooks for Bloom Botanicals")
    context = await person(browser, app_url, "desktop-dark")
    page = await sign_in(context, *MAYA)
    await chat_ready(page)
    starters = page.locator("#starters")
    await expect(starters).to_contain_text("Acme Pets")
    await expect(starters).to_contain_text("Bloom Botanicals")  # every brand of hers, not only the first
    await page.locator("#chat-settings-open-modal").click()
    await expect(page.get_by_text("Chat settings", exact=True)).to_be_visible()
    picker = page.get_by_role("combobox")
    await expect(picker).to_have_text("Acme Pets")
    await page.screenshot(path=tmp_path / "brand-picker.png")
    await picker.click()
    await page.get_by_role("option", name="Bloom Botanicals").click()
    await page.get_by_role("button", name="Confirm").click()
    await expect(
        page.get_by_text("Questions that name no brand are now about Bloom Botanicals.")
    ).to_be_visible()
    # The status beside the composer says which brand the chat is on.
    await page.locator(STATUS).get_by_text(re.compile(r"^Offline")).click()
    about = "Questions that name no brand are about Bloom Botanicals (change it with ⚙)."
    await expect(page.get_by_text(re.compile(re.escape(about)))).to_be_visible()
    await page.screenshot(path=tmp_path / "brand-status.png")
    await page.keyboard.press("Escape")
    await type_command(page, "/top_hooks days:30")
    answer = page.locator(ANSWER).filter(has_text="Top 10 hooks for Bloom Botanicals")
    await expect(answer).to_have_count(1)
    await expect(answer).to_contain_text(expected.text.splitlines()[0])
    await page.screenshot(path=tmp_path / "brand-answer.png")
    await context.close()
    print(f"screenshots: {tmp_path}")
