"""An answer's tables and charts stay: stored under $VIRALTRACKER_HOME (never in the checkout's
`.files`, which Chainlit deletes when any server started there stops), read live and after a reload
from the same stored copy; an element that cannot be stored is said so in the answer."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import chainlit.config
import chainlit.data
import psycopg
import pytest
from playwright.async_api import Browser, expect

import app  # noqa: F401  (installs the tuning, as the server does)
from agent.chainlit_tuning import SESSION_FILES
from agent.chat_storage import LocalChatStorage
from agent.history import HistoryDataLayer, make_data_layer
from agent.runner import run_turn
from db.pool import Caller, Database
from settings import get_settings
from tests.chat_helpers import OpenChat, app_on_test_database
from tests.test_browser import (
    ANSWER,
    MAYA,
    QUESTION,
    WAIT_MS,
    _free_port,
    browser,  # noqa: F401  (the module's browser fixture)
    chat_app_process,
    chat_ready,
)

NOT_KEPT = (
    "Not shown: the table “Top hooks by hook rate — Acme Pets, last 30 days” and the chart “Top hooks by"
    " hook rate — Acme Pets, last 30 days”, not saved just now. Ask again in a moment; if it keeps happening,"
    " tell whoever runs ViralTracker (the server log says why)."
)


@pytest.fixture
async def history_layers() -> AsyncIterator[list[HistoryDataLayer]]:
    """Chat-history layers a test puts in place, closed after it."""
    layers: list[HistoryDataLayer] = []
    yield layers
    for layer in layers:
        await layer.close()


def use_history(
    layers: list[HistoryDataLayer], monkeypatch: pytest.MonkeyPatch, database_url: str, storage: Path
) -> None:
    """The app's chat history on the test database, its chat storage rooted at `storage`."""
    layer = make_data_layer(database_url, storage_provider=LocalChatStorage(storage))
    layers.append(layer)
    monkeypatch.setattr(chainlit.data, "_data_layer", layer)


def test_session_files_are_this_servers_own_under_the_home() -> None:
    """Chainlit's session files (uploads; elements it persists itself) are in a folder of this
    process under $VIRALTRACKER_HOME, which no other server's shutdown removes."""
    files = chainlit.config.FILES_DIRECTORY
    assert files.parent == get_settings().viraltracker_home / SESSION_FILES
    assert files.name.startswith(f"{os.getpid()}-")
    assert not files.is_relative_to(Path.cwd())


async def test_an_answers_table_and_chart_are_read_from_the_chat_storage(
    db: Database,
    maya: Caller,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    history_layers: list[HistoryDataLayer],
) -> None:
    """Live, the table and chart come from their stored copy under the home, not from a server's folder."""
    storage = tmp_path / "home" / "storage" / "chat"
    async with app_on_test_database(db, monkeypatch, tmp_path / "session-files"):
        use_history(history_layers, monkeypatch, database_url, storage)
        chat = OpenChat(maya)
        await chat.say(QUESTION)
    elements = chat.of("element")
    assert sorted(e["type"] for e in elements) == ["custom", "plotly"]  # the tables' element, the chart
    for element in elements:
        assert element["chainlitKey"] is None
        header, _, data = element["url"].partition(",")
        # As Chainlit types them (the table component parses its JSON itself and fails on a typed one).
        assert (
            header
            == {
                "custom": "data:application/json;base64",
                "plotly": "data:application/json;base64",
            }[element["type"]]
        )
        stored = [p for p in storage.rglob("*") if p.is_file() and not p.name.endswith(".mime")]
        assert base64.b64decode(data) in {p.read_bytes() for p in stored}
    [tables] = [e for e in elements if e["type"] == "custom"]
    [frame] = json.loads(base64.b64decode(tables["url"].partition(",")[2]))["tables"]
    expected = await run_turn(db=db, caller=maya, message=QUESTION)
    [call] = expected.tool_calls
    assert call.result is not None
    assert [row[0] for row in frame["values"]] == [row["hook_text"] for row in call.result["rows"]]
    # Nothing of the answer went to the session's temporary folder.
    assert not (tmp_path / "session-files").exists() or not any((tmp_path / "session-files").rglob("*"))


async def test_an_element_that_cannot_be_stored_is_named_in_the_answer(
    db: Database,
    maya: Caller,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    history_layers: list[HistoryDataLayer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The storage fails (its folder is a file): the answer says which table and chart are missing."""
    broken = tmp_path / "storage"
    broken.write_text("not a folder")
    async with app_on_test_database(db, monkeypatch, tmp_path / "session-files"):
        use_history(history_layers, monkeypatch, database_url, broken)
        chat = OpenChat(maya)
        with caplog.at_level(logging.ERROR, logger="agent.chat_elements"):
            await chat.say(QUESTION)
    assert chat.answer().endswith("\n\n" + NOT_KEPT)
    assert chat.answer().startswith("Top 10 hooks for Acme Pets")
    assert chat.of("element") == []
    logged = [r for r in caplog.records if r.name == "agent.chat_elements"]
    assert len(logged) == 2 and all(r.exc_info and r.exc_info[0] is NotADirectoryError for r in logged)


async def kept(database_url: str, message: str, elements: int) -> None:
    """Wait (at most 10 s) until the thread of this message has its elements stored: Chainlit writes them
    a moment after showing them, so a reload at once could read fewer."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        for _ in range(100):
            cur = await conn.execute(
                """select count(*) from elements where "threadId" = (
                     select "threadId" from steps where type = 'user_message' and output = %s
                     order by "createdAt" desc limit 1)""",
                (message,),
            )
            row = await cur.fetchone()
            if row is not None and row[0] >= elements:
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"the thread of {message!r} kept fewer than {elements} elements")


async def test_another_server_stopping_in_the_same_folder_takes_no_table_or_chart(
    browser: Browser,  # noqa: F811
    database_url: str,
    demo: object,
    tmp_path: Path,
) -> None:
    """Two servers started from the same folder; one stops. The other's answers keep their tables and
    charts, those shown before and those after, live and after a reload; its files are in its home."""
    home = tmp_path / "a"
    with chat_app_process(database_url, _free_port(), VIRALTRACKER_HOME=str(home)) as url:
        context = await browser.new_context(base_url=url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        try:
            page = await context.new_page()
            await page.goto("/login")
            await page.locator("#email").fill(MAYA[0])
            await page.locator("#password").fill(MAYA[1])
            await page.get_by_role("button", name="Sign In").click()
            await chat_ready(page)
            composer = page.locator("#chat-input")
            first = page.locator(ANSWER).filter(has_text=re.compile(r"hooks for Acme Pets[^\n]*last 30 days"))
            second = page.locator(ANSWER).filter(
                has_text=re.compile(r"hooks for Acme Pets[^\n]*last 90 days")
            )

            await composer.fill(QUESTION)
            await composer.press("Enter")
            await expect(first.locator(".dataframe table tbody tr").first).to_be_visible()
            await expect(first.locator(".js-plotly-plot")).to_be_visible()
            rows = await first.locator(".dataframe table tbody tr").count()
            # On DATABASE_URL the table and the chart are kept in the database, for every app process.
            assert not (home / "storage" / "chat").exists()
            checkout_files = Path.cwd() / ".files"
            assert not checkout_files.exists() or not any(p.is_file() for p in checkout_files.rglob("*"))

            # A second server from the same folder starts and stops (as a test run or a second app does).
            with chat_app_process(database_url, _free_port(), VIRALTRACKER_HOME=str(tmp_path / "b")):
                pass

            await composer.fill("and for the last 90 days?")
            await composer.press("Enter")
            await expect(second.locator(".dataframe table tbody tr").first).to_be_visible()
            await expect(second.locator(".js-plotly-plot")).to_be_visible()
            await expect(second).not_to_contain_text("Not shown")
            await kept(database_url, "and for the last 90 days?", 4)  # a reload reads what is stored

            for _ in range(3):  # Chainlit stores an answer's elements a moment after showing them
                await page.reload()
                try:
                    await expect(page.locator(".dataframe")).to_have_count(2, timeout=5000)
                    break
                except AssertionError:
                    continue
            await expect(page).to_have_url(re.compile(r"/thread/[0-9a-f-]{36}$"))
            await expect(page.locator(".dataframe")).to_have_count(2)
            await expect(first.locator(".dataframe table tbody tr")).to_have_count(rows)
            await expect(page.locator(".js-plotly-plot")).to_have_count(2)
            shot = tmp_path / "after-reload.png"
            await page.screenshot(path=shot, full_page=True)
            print(f"screenshot: {shot}")
        finally:
            await context.close()
    # It stopped: its own session files went with it.
    assert list((home / SESSION_FILES).iterdir()) == []
