"""Blueprints of a demo landing page: offline and model-written, failure and re-run, exports that open
in their own libraries, side-by-side comparison, and tenancy."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from docx import Document
from pydantic_ai import models
from pypdf import PdfReader

from agent.render import files_of, tables_for
from agent.runner import run_turn
from core.errors import InvalidArgument, NotFound
from db.pool import Caller, Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
from services.blueprints.build import BlueprintContent, get_blueprint, run_blueprint, start_blueprint
from services.demo.seed import DemoSummary, seed_demo
from services.platform.accounts import find_caller
from settings import Settings, get_settings
from tests.file_helpers import mode, open_umask
from tools.registry import for_model


@dataclass
class Page:
    db: Database
    analysis_id: UUID
    url: str
    headings: list[str]
    """The demo page's headings, in order (the first is the hero)."""


# Blueprints are stored against the demo's pages: this module writes them into a demo of its own (its own
# database, seeded the same way), so the shared demo every other test reads stays as seeded.
@pytest.fixture(scope="module")
def db(own_db: Database) -> Database:
    return own_db


@pytest.fixture(scope="module")
async def demo(db: Database) -> DemoSummary:
    return await seed_demo(db, seed=7)


@pytest.fixture(scope="module")
async def maya(db: Database, demo: DemoSummary) -> Caller:
    async with db.as_owner() as conn:
        return await find_caller(conn, email="maya@northwind.example")


@pytest.fixture(scope="module")
async def leo(db: Database, demo: DemoSummary) -> Caller:
    async with db.as_owner() as conn:
        return await find_caller(conn, email="leo@summit.example")


@pytest.fixture(scope="module")
async def page(db: Database, demo: DemoSummary) -> AsyncIterator[Page]:
    """An analysis of Acme Pets' first product page (the demo has pages but no analyses)."""
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select lp.id, lp.url, lp.raw_markdown, lp.organization_id, lp.brand_id from brand_landing_pages lp"
            " join brands b on b.id = lp.brand_id join products p on p.id = lp.product_id"
            " where b.name = 'Acme Pets' order by p.created_at, p.name limit 1"
        )
        lp = await cur.fetchone()
        assert lp is not None
        cur = await conn.execute(
            "insert into landing_page_analyses (organization_id, brand_id, landing_page_id, url, sections)"
            " values (%s, %s, %s, %s, '{}') returning id",
            (lp["organization_id"], lp["brand_id"], lp["id"], lp["url"]),
        )
        analysis_id = (await cur.fetchone())["id"]  # type: ignore[index]
    headings = [
        re.sub(r"[*_`]", "", h).strip() for h in re.findall(r"^#{1,3} (.+)$", lp["raw_markdown"], re.M)
    ]
    yield Page(db, analysis_id, lp["url"], headings)
    async with db.as_service() as conn:
        await conn.execute("delete from blueprints where landing_page_analysis_id = %s", (analysis_id,))
        await conn.execute("delete from landing_page_analyses where id = %s", (analysis_id,))


def offline(home: Path) -> Settings:
    return Settings(_env_file=None, VIRALTRACKER_MODEL="offline", VIRALTRACKER_HOME=home)  # type: ignore[call-arg]


@pytest.fixture
def allow_model_requests() -> Iterator[None]:
    with models.override_allow_model_requests(True):
        yield


async def _make(page: Page, caller: Caller, settings: Settings, **options: Any) -> Any:
    blueprint_id = await start_blueprint(
        page.db, caller, landing_page=page.url, **{"brand": "Acme Pets", **options}
    )
    return await run_blueprint(page.db, caller, blueprint_id=blueprint_id, settings=settings)


async def test_offline_blueprint_has_every_section_and_names_the_voice_level(
    page: Page, maya: Caller, tmp_path: Path
) -> None:
    result = await _make(page, maya, offline(tmp_path), offer_variant="for", fmt="md")
    row = result.blueprint
    assert row.status == "succeeded" and row.error is None and row.generator == "offline"
    content: BlueprintContent = row.content
    # Every section of the page, in page order (nothing precedes the page's first heading).
    assert [s.heading for s in content.sections] == page.headings
    assert len(page.headings) == 6
    # The demo variant has no override and no persona was given: the brand's voice speaks, and says so.
    assert content.voice_level == "brand" and content.voice_tone
    assert "Voice/tone: '" in result.summary and "from the brand's voice/tone" in result.summary
    assert "offline" in result.summary and content.note and "Offline blueprint" in content.note
    by_heading = {s.heading: s for s in content.sections}
    assert "hook" in content.sections[0].patterns
    assert "social_proof" in by_heading["What customers say"].patterns
    assert "mechanism" in by_heading["How it works"].patterns
    assert "guarantee" in by_heading["Our guarantee"].patterns
    assert "objections" in by_heading["FAQ"].patterns
    # What to write is filled with the brand's own offer variant fields, in the resolved voice.
    assert all(content.voice_tone in s.write_for_brand for s in content.sections)
    assert "not on file" not in by_heading["How it works"].write_for_brand
    [(_, path)] = files_of(result)
    text = Path(path).read_text(encoding="utf-8")
    assert path.startswith(str(tmp_path / "exports" / str(row.organization_id)))
    assert all(f"## {h}" in text for h in page.headings)
    [table] = tables_for(result)
    assert [r[0] for r in table.rows] == page.headings


async def test_a_persona_override_wins_and_the_answer_says_so(
    db: Database, page: Page, maya: Caller, tmp_path: Path
) -> None:
    # A persona of this test's own, with an override: the demo's personas stay as seeded.
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into personas_4d (brand_id, organization_id, name, voice_tone_override)"
            " select id, organization_id, 'Cheeky dog parents', 'Cheeky, short sentences' from brands"
            " where name = 'Acme Pets' returning id"
        )
        persona = await cur.fetchone()
        assert persona is not None
    try:
        result = await _make(page, maya, offline(tmp_path), persona="Cheeky dog parents", offer_variant="for")
    finally:
        async with db.as_service() as conn:
            await conn.execute("delete from blueprints where persona_id = %s", (persona["id"],))
            await conn.execute("delete from personas_4d where id = %s", (persona["id"],))
    content = result.blueprint.content
    assert content.voice_level == "persona" and content.voice_tone == "Cheeky, short sentences"
    assert "from the persona's voice/tone override" in result.summary


async def test_exports_open_in_their_own_libraries(page: Page, maya: Caller, tmp_path: Path) -> None:
    settings = offline(tmp_path)
    docx = await _make(page, maya, settings, fmt="docx")
    [(_, docx_path)] = files_of(docx)
    headings = [
        p.text for p in Document(docx_path).paragraphs if p.style is not None and p.style.name == "Heading 1"
    ]
    assert headings == page.headings

    pdf = await _make(page, maya, settings, fmt="pdf")
    [(_, pdf_path)] = files_of(pdf)
    assert Path(pdf_path).read_bytes().startswith(b"%PDF")
    text = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(pdf_path).pages)
    for heading in page.headings:
        assert " ".join(heading.replace("—", "-").split()) in text

    data = await _make(page, maya, settings, fmt="json")
    [(_, json_path)] = files_of(data)
    assert BlueprintContent.model_validate(json.loads(Path(json_path).read_text())) == data.blueprint.content


async def test_exports_are_owner_only_and_answers_name_them(
    page: Page, maya: Caller, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIRALTRACKER_HOME", str(tmp_path))
    monkeypatch.setenv("VIRALTRACKER_MODEL", "offline")
    get_settings.cache_clear()
    try:
        with open_umask():
            made = await _make(page, maya, get_settings(), fmt="docx")
            short = str(made.blueprint.id)[:8]
            turn = await run_turn(db=page.db, caller=maya, message=f"/blueprint export_id:{short} format:pdf")
    finally:
        get_settings.cache_clear()
    [(docx_name, docx_path)] = files_of(made)
    [(pdf_name, pdf_path)] = files_of(turn.results[0])
    for path in (Path(docx_path), Path(pdf_path)):
        assert (mode(path), mode(path.parent), mode(tmp_path / "exports")) == (0o600, 0o700, 0o700)
    assert made.summary.endswith(f". File: {docx_name}")
    assert turn.text == f"Exported blueprint {short}: {pdf_name}"
    [call] = turn.tool_calls
    assert call.result is not None and call.result["files"] == [
        {"name": pdf_name, "path": pdf_name, "format": "pdf"}
    ]
    assert str(tmp_path) not in json.dumps(for_model(made)) + json.dumps(call.result) + made.summary


def _draft(request: FakeRequest) -> dict[str, Any]:
    headings = re.findall(r"^### (.+)$", request.user_text, re.M)
    return {
        "sections": [
            {"heading": h, "says": f"It says {h}.", "why_it_works": "It earns trust.",
             "write_for_brand": f"Model copy for {h}.", "patterns": ["social_proof"]}
            for h in headings
        ]
    }  # fmt: skip


async def test_a_failed_model_call_is_stored_and_rerun_with_the_same_options(
    page: Page, maya: Caller, tmp_path: Path, allow_model_requests: None, monkeypatch: Any
) -> None:
    calls: list[FakeRequest] = []

    def responder(request: FakeRequest) -> Reply:
        calls.append(request)
        if len(calls) == 1:
            return Reply.error(400, "prompt is too long")
        return Reply.tool(_draft(request))

    with FakeAnthropic(responder) as fake:
        monkeypatch.setenv("VIRALTRACKER_MODEL", "anthropic:claude-sonnet-4-6")
        monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        monkeypatch.setenv("VIRALTRACKER_HOME", str(tmp_path))
        get_settings.cache_clear()
        try:
            turn = await run_turn(
                db=page.db, caller=maya,
                message=f'/blueprint brand:"Acme Pets" landing_page:{page.url} offer_variant:for format:pdf',
            )  # fmt: skip
            [call] = turn.tool_calls
            assert call.error is None, call.error
            failed = call.result or {}
            blueprint = failed["blueprint"]
            assert blueprint["status"] == "failed" and "prompt is too long" in blueprint["error"]
            assert "failed" in turn.text and f"/blueprint rerun:{blueprint['id'][:8]}" in turn.text
            assert failed["files"] == []
            # The stored options are what the person gave; the re-run needs none of them again.
            assert blueprint["options"]["format"] == "pdf" and blueprint["options"]["offer_variant_id"]
            assert "Acme Pets" in calls[0].user_text and page.url in calls[0].user_text
            turn = await run_turn(db=page.db, caller=maya, message=f"/blueprint rerun:{blueprint['id'][:8]}")
            [call] = turn.tool_calls
            assert call.error is None, call.error
            redone = call.result or {}
            assert redone["blueprint"]["id"] == blueprint["id"]
            assert redone["blueprint"]["status"] == "succeeded" and redone["blueprint"]["error"] is None
            assert redone["blueprint"]["generator"] == "model"
            assert [s["heading"] for s in redone["blueprint"]["content"]["sections"]] == page.headings
            assert redone["files"][0]["path"].endswith(".pdf")
            assert calls[1].user_text == calls[0].user_text  # same options, same input
        finally:
            get_settings.cache_clear()


async def test_two_brands_side_by_side(page: Page, maya: Caller, tmp_path: Path) -> None:
    settings = offline(tmp_path)
    acme = await _make(page, maya, settings)
    bloom = await _make(page, maya, settings, brand="Bloom Botanicals")
    ids = f"{str(acme.blueprint.id)[:8]},{str(bloom.blueprint.id)[:8]}"
    turn = await run_turn(db=page.db, caller=maya, message=f"/blueprint compare:{ids}")
    [call] = turn.tool_calls
    assert call.error is None, call.error
    result = call.result or {}
    assert result["compared_brands"] == ["Acme Pets", "Bloom Botanicals"]
    [table] = tables_for(turn.results[0])
    assert table.columns == ["Section", "Acme Pets", "Bloom Botanicals"]
    assert [r[0] for r in table.rows] == page.headings
    assert all(r[1] and r[2] and r[1] != r[2] for r in table.rows)  # each brand writes its own copy


async def test_bad_input_is_refused_and_stores_nothing(db: Database, page: Page, maya: Caller) -> None:
    async with db.as_service() as conn:
        before = (await (await conn.execute("select count(*) as n from blueprints")).fetchone())["n"]  # type: ignore[index]
    with pytest.raises(NotFound, match="has not been analysed yet: run /analyze_landing_page"):
        await start_blueprint(db, maya, brand="Acme Pets", landing_page="https://nowhere.example/page")
    with pytest.raises(NotFound, match="No persona 'Nobody' for this brand"):
        await start_blueprint(db, maya, brand="Acme Pets", landing_page=page.url, persona="Nobody")
    async with db.as_user(maya) as conn:
        with pytest.raises(InvalidArgument, match="is not a blueprint id"):
            await get_blueprint(conn, ref="zz")
    turn = await run_turn(db=db, caller=maya, message='/blueprint brand:"Acme Pets"')
    assert turn.refused and "Which landing page? Give its URL or its analysis id." in turn.text
    turn = await run_turn(db=db, caller=maya, message="/blueprint format:pdf")
    assert turn.refused and "Give brand: and landing_page:" in turn.text
    async with db.as_service() as conn:
        after = (await (await conn.execute("select count(*) as n from blueprints")).fetchone())["n"]  # type: ignore[index]
    assert after == before


async def test_another_organization_cannot_read_or_rerun(
    page: Page, maya: Caller, leo: Caller, tmp_path: Path
) -> None:
    mine = await _make(page, maya, offline(tmp_path))
    short = str(mine.blueprint.id)[:8]
    async with page.db.as_user(leo) as conn:
        with pytest.raises(NotFound, match=f"No blueprint {short}"):
            await get_blueprint(conn, ref=short)
    for message in (f"/blueprint rerun:{short}", f"/blueprint export_id:{short} format:pdf"):
        turn = await run_turn(db=page.db, caller=leo, message=message)
        assert turn.refused and f"No blueprint {short} in your organizations" in turn.text
    with pytest.raises(NotFound):
        await run_blueprint(page.db, leo, blueprint_id=mine.blueprint.id, settings=offline(tmp_path))
    # Nor can Leo build one on Maya's analysis.
    with pytest.raises(NotFound, match="No landing page analysis"):
        await start_blueprint(page.db, leo, brand="Peak Fuel", landing_page=str(page.analysis_id)[:8])


async def test_the_chat_offers_the_export_as_a_download(page: Page, maya: Caller, tmp_path: Path) -> None:
    import chainlit as cl

    from agent.chat_ui import elements_for
    from tests.chat_helpers import OpenChat

    result = await _make(page, maya, offline(tmp_path), fmt="docx")
    with OpenChat(maya).active():
        elements, _ = elements_for([result])
    [download] = [e for e in elements if isinstance(e, cl.File)]
    assert download.path == result.files[0].path and download.name.endswith(".docx")
    assert Path(download.path).is_file()
