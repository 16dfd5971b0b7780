"""Issue 19 item 5 in a real browser (Debian chromium) at a desktop and a phone size: one ad reads as a
card beside its creative, the Tools menu fits the window, a tool step's arguments read as words.

Reuses tests/test_browser.py's browser and app process; the app runs with a VIRALTRACKER_HOME of its own
so the test can store an ad's picture where the app's asset downloads would have."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, expect

from db.pool import Database
from tests.test_browser import (
    MAYA,
    TOOL_STEP,
    WAIT_MS,
    _free_port,
    browser,
    chat_app_process,
    chat_ready,
    sign_in,
)
from tests.test_browser_tables import DESKTOP, PHONE, no_sideways_scrolling, send

__all__ = ["browser"]  # the fixture, shared with tests/test_browser.py

PICTURE = "test-creatives/ad.png"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("vt-layout-home")


@pytest.fixture(scope="module")
def app_url(database_url: str, demo: Any, home: Path) -> Iterator[str]:
    """`viraltracker chat` offline on the test database, its files under `home`."""
    with chat_app_process(database_url, _free_port(), VIRALTRACKER_HOME=str(home)) as url:
        yield url


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1440x900", "390x844"])
async def sized(
    request: pytest.FixtureRequest, browser: Browser, app_url: str
) -> AsyncIterator[BrowserContext]:
    fresh = await browser.new_context(base_url=app_url, viewport=request.param)
    fresh.set_default_timeout(WAIT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


def png(width: int, height: int) -> bytes:
    """A plain orange picture, as a PNG (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xf0\x80\x30" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def ad_with_picture(db: Database, demo: Any, home: Path) -> AsyncIterator[str]:
    """A classified Acme Pets ad whose thumbnail the asset downloads stored; its name. Removed after."""
    picture = png(120, 90)
    (home / "assets" / PICTURE).parent.mkdir(parents=True, exist_ok=True)
    (home / "assets" / PICTURE).write_bytes(picture)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            """select a.meta_ad_id, a.name, a.brand_id, a.organization_id from meta_ads a
               join brands b on b.id = a.brand_id
               where b.name = 'Acme Pets' and exists (select 1 from ad_creative_classifications c
                                                     where c.meta_ad_id = a.meta_ad_id)
               order by a.name limit 1"""
        )
        ad = await cur.fetchone()
        assert ad is not None
        await conn.execute(
            """insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path,
                                      content_type, bytes, sha256)
               values (%(meta_ad_id)s, %(brand_id)s, %(organization_id)s, 'image', 'test', 'https://x.invalid/a.png',
                       %(path)s, 'image/png', %(bytes)s, 'test')""",
            {**ad, "path": PICTURE, "bytes": len(picture)},
        )
    try:
        yield str(ad["name"])
    finally:
        async with db.as_owner() as conn:
            await conn.execute(
                "delete from ad_assets where meta_ad_id = %s and media_key = 'test'", (ad["meta_ad_id"],)
            )


async def test_one_ad_shows_its_creative_and_a_card_and_its_step_reads_as_words(
    sized: BrowserContext, ad_with_picture: str, tmp_path: Path
) -> None:
    page = await sign_in(sized, *MAYA)
    await chat_ready(page)
    answer = await send(
        page, f'/deep_analysis brand:"Acme Pets" ad:{ad_with_picture} days:30', f"'{ad_with_picture}'"
    )

    # The card: the ad's name as its heading, its facts in words; no narrow tables.
    await expect(answer.locator("h3")).to_have_text(ad_with_picture)
    await expect(answer).to_contain_text("Format video")
    await expect(answer).to_contain_text("Key figures, last 30 days")
    await expect(answer.locator(".vt-table")).to_have_count(0)
    # The creative, loaded.
    picture = page.locator(f'img[alt="{ad_with_picture}"]')
    await expect(picture).to_be_visible()
    assert await picture.evaluate("img => img.decode().then(() => img.naturalWidth)") == 120
    await no_sideways_scrolling(page)

    # Its transcript and storyboard: beside the answer on a desktop; on a phone no drawer covers the
    # answer until the person taps a panel's name, which opens it.
    panel = page.locator("#side-view-title")
    link = answer.locator(".element-link").first
    if (page.viewport_size or {}).get("width", 0) >= 768:
        await expect(panel).to_be_visible()
        await expect(page.get_by_role("dialog")).to_have_count(0)
    else:
        await page.wait_for_timeout(500)  # a drawer Chainlit opens comes at once: none has
        await expect(page.get_by_role("dialog")).to_have_count(0)
        await expect(answer).to_be_in_viewport()
        name = ((await link.text_content()) or "").strip()
        await link.click()
        await expect(page.get_by_role("dialog")).to_be_visible()
        await expect(panel).to_have_text(name)
        await page.keyboard.press("Escape")
        await expect(page.get_by_role("dialog")).to_have_count(0)

    # The tool step, expanded, says its arguments in words.
    step = page.locator(TOOL_STEP).first
    await step.get_by_role("button", name="Used").first.click()
    await expect(step).to_contain_text("brand: Acme Pets · ad: " + ad_with_picture + " · days: 30")
    await page.screenshot(path=tmp_path / "deep_analysis.png", full_page=True)
    print(f"screenshot: {tmp_path / 'deep_analysis.png'}")  # for a person to look at (run with -s)


async def test_the_tools_menu_fits_the_window(sized: BrowserContext, tmp_path: Path) -> None:
    page = await sign_in(sized, *MAYA)
    await chat_ready(page)
    await page.locator("#command-button").click()
    menu = page.locator("#command-popover")
    await expect(menu).to_be_visible()
    await expect(menu).to_contain_text("Everything about one ad")
    box = await menu.bounding_box()
    width = await page.evaluate("window.innerWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (box, width)
    await page.screenshot(path=tmp_path / "tools_menu.png")
    print(f"screenshot: {tmp_path / 'tools_menu.png'}")
    await no_sideways_scrolling(page)
