"""The chat as a product in the browser: name, logo, favicon, theme, status, brand picker."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from tests.test_browser import ANSWER, MAYA, WAIT_MS, app_url, browser, chat_ready, sign_in  # noqa: F401

SHOTS = Path("/tmp/brandui_shots")


async def test_explore(browser: Browser, app_url: str) -> None:  # noqa: F811
    for name, viewport, scheme in (
        ("desktop-dark", {"width": 1440, "height": 900}, "dark"),
        ("desktop-light", {"width": 1440, "height": 900}, "light"),
        ("phone-light", {"width": 390, "height": 844}, "light"),
    ):
        context = await browser.new_context(base_url=app_url, viewport=viewport, color_scheme=scheme)
        await context.add_init_script(f"localStorage.setItem('vite-ui-theme', '{scheme}')")
        context.set_default_timeout(WAIT_MS)
        page = await context.new_page()
        await page.goto("/")
        await page.wait_for_timeout(1500)
        await page.screenshot(path=SHOTS / f"login-{name}.png")
        await page.close()
        page = await sign_in(context, *MAYA)
        await chat_ready(page)
        await page.wait_for_timeout(5500)
        await page.screenshot(path=SHOTS / f"chat-{name}.png")
        await page.locator("#chat-settings-open-modal, [id*=settings]").first.click()
        await page.wait_for_timeout(800)
        await page.screenshot(path=SHOTS / f"settings-{name}.png")
        await page.keyboard.press("Escape")
        composer = page.locator("#chat-input")
        await composer.fill("/brands")
        await composer.press("Escape")
        await composer.press("Enter")
        await expect(page.locator(ANSWER).first).to_be_visible()
        await page.wait_for_timeout(1500)
        await page.screenshot(path=SHOTS / f"thread-{name}.png")
        await context.close()
