"""The chat's tables in a real browser (Debian chromium), at a desktop and a phone size: stacked and
titled, in the answer text's formats under human titles, sorted by their numbers, each downloadable
as a CSV of its rows; nothing wider than the window. Every command's tables, at both sizes and after a
reload, are swept by tests/test_browser_acceptance.py.

Reuses tests/test_browser.py's app process and browser; every expectation comes from the same
result computed with `agent.runner.run_turn` against the same database.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect

from agent.render import tables_for
from agent.runner import run_turn
from db.pool import Caller, Database
from services.presentable import Table
from tests.test_browser import ANSWER, MAYA, WAIT_MS, app_url, browser, chat_ready, sign_in
from tools.registry import get_spec

__all__ = ["app_url", "browser"]  # the fixtures, shared with tests/test_browser.py

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
AD_PERFORMANCE = '/ad_performance brand:"Acme Pets" days:30'
MONEY = re.compile(r"^\$\d{1,3}(,\d{3})*\.\d\d$")


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1440x900", "390x844"])
async def sized(
    request: pytest.FixtureRequest, browser: Browser, app_url: str
) -> AsyncIterator[BrowserContext]:
    """A fresh browser profile at a desktop or a phone's window size."""
    fresh = await browser.new_context(base_url=app_url, viewport=request.param, accept_downloads=True)
    fresh.set_default_timeout(WAIT_MS)
    try:
        yield fresh
    finally:
        await fresh.close()


async def expected_tables(db: Database, maya: Caller, message: str) -> tuple[str, list[Table]]:
    """The answer's text and its tables, as the app computes them."""
    turn = await run_turn(db=db, caller=maya, message=message)
    [call] = turn.tool_calls
    spec = get_spec(call.tool)
    assert spec is not None and call.result is not None, call
    result = spec.result_type.model_validate(call.result)
    return turn.text, tables_for(result)


async def send(page: Page, message: str, first_line: str) -> Locator:
    """Type a command, send it, and wait for its answer (found by its first line)."""
    composer = page.locator("#chat-input")
    await composer.click()
    await composer.fill(message)
    await composer.press("Escape")  # close the command menu: the message is sent as typed
    await composer.press("Enter")
    answer = page.locator(ANSWER).filter(has_text=first_line)
    await expect(answer).to_have_count(1)
    return answer


async def threads_with(db: Database, answer: str) -> set[str]:
    """maya's threads that hold this answer and its tables."""
    async with db.as_owner() as conn:
        cur = await conn.execute(
            """select distinct s."threadId" from steps s join threads t on t.id = s."threadId"
               join elements e on e."forId" = s.id and e.type = 'custom'
               where t."userIdentifier" = %s and s.output = %s""",
            (MAYA[0], answer),
        )
        return {str(row["threadId"]) for row in await cur.fetchall()}


async def new_thread(db: Database, answer: str, before: set[str]) -> str:
    """The thread this answer and its tables were just kept in (written a moment after they are shown)."""
    for _ in range(50):
        if made := await threads_with(db, answer) - before:
            [thread] = made
            return thread
        await asyncio.sleep(0.1)
    raise AssertionError(f"the answer was not kept in a new thread: {answer[:80]}")


async def no_sideways_scrolling(page: Page) -> None:
    width = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page is {width[0]} px wide in a {width[1]} px window"


async def test_tables_read_as_the_text_sort_by_number_and_download(
    sized: BrowserContext, db: Database, maya: Caller, tmp_path: Path
) -> None:
    text, tables = await expected_tables(db, maya, AD_PERFORMANCE)
    assert len(tables) == 2  # the ads, then the brand's baseline per format
    ads = tables[0]
    spend = ads.columns.index("Spend")
    assert ads.columns[:4] == ["Ad", "Ad ID", "Format", "Spend"] and len(ads.values) >= 3

    page = await sign_in(sized, *MAYA)
    await chat_ready(page)
    before = await threads_with(db, text)
    answer = await send(page, AD_PERFORMANCE, text.splitlines()[0])

    # Stacked full width in the answer's order, each under its title.
    shown = answer.locator(".vt-table")
    await expect(shown.locator(".vt-table-title")).to_have_text([t.title for t in tables])
    first = shown.nth(0)
    await expect(first.locator("thead th")).to_have_text(ads.columns)
    rows = first.locator("tbody tr")
    await expect(rows).to_have_count(len(ads.rows))
    await expect(rows.nth(0).locator("td")).to_have_text(ads.for_chat()["rows"][0])
    assert MONEY.match(ads.rows[0][spend]), ads.rows[0][spend]
    # The table says what the text says: the first ad's ROAS and spend ("#1 is '…' at 6.40x … on $356.35").
    roas = ads.columns.index("ROAS")
    assert (
        f"#1 is '{ads.rows[0][0]}' at {ads.rows[0][roas]} " in text
        and f"on {ads.rows[0][spend]} spend" in text
    )
    boxes = [await shown.nth(i).bounding_box() for i in range(len(tables))]
    assert all(b is not None for b in boxes)
    assert boxes[0]["y"] + boxes[0]["height"] <= boxes[1]["y"]  # type: ignore[index]  # one above the other
    assert boxes[0]["width"] == boxes[1]["width"]  # type: ignore[index]  # both as wide as the answer
    await no_sideways_scrolling(page)

    # A long ad id is shortened; the full one is in its tooltip.
    ad_id = str(ads.values[0][1])
    id_cell = rows.nth(0).locator("td").nth(1)
    await expect(id_cell).to_have_text("…" + ad_id[-6:])
    await expect(id_cell).to_have_attribute("title", f"Ad ID {ad_id} (click to copy)")
    await sized.grant_permissions(["clipboard-read", "clipboard-write"])
    await id_cell.click()
    await expect(page.get_by_text(f"Copied ad ID {ad_id}")).to_be_visible()
    assert await page.evaluate("navigator.clipboard.readText()") == ad_id

    # Sorting by Spend sorts by the number, highest first, not by the text ("$980.00" > "$1,200.00").
    await first.locator("thead th").nth(spend).click()
    by_spend = sorted(range(len(ads.values)), key=lambda i: -float(ads.values[i][spend]))
    await expect(rows.locator(f"td:nth-child({spend + 1})")).to_have_text(
        [ads.rows[i][spend] for i in by_spend]
    )

    # The CSV: every row, raw, under the human titles.
    async with page.expect_download() as download_info:
        await first.get_by_role("link", name="CSV").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    assert saved.name.endswith(".csv")
    assert saved.read_text(encoding="utf-8-sig") == ads.csv().replace("\r\n", "\n")

    # Reopened from the history (a reload): the same tables, in the same order.
    thread = await new_thread(db, text, before)
    reopened = page.locator(ANSWER).filter(has_text=text.splitlines()[0])
    for _ in range(3):  # Chainlit stores an answer's elements a moment after showing them
        await page.goto(f"/thread/{thread}")
        try:
            await expect(reopened.locator(".vt-table")).to_have_count(len(tables), timeout=5000)
            break
        except AssertionError:
            continue
    await expect(reopened.locator(".vt-table .vt-table-title")).to_have_text([t.title for t in tables])
    await expect(reopened.locator(".vt-table").nth(0).locator("thead th")).to_have_text(ads.columns)
    await no_sideways_scrolling(page)
