"""The template library: imports from a folder and from web addresses into the pending queue (clear
refusals, nothing half-stored, re-imports change nothing), review in chat by platform reviewers only
(preview, then confirm), approved templates for everyone, and the demo set with its images."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import chainlit as cl
import httpx
import pytest
from PIL import Image

import app
from agent.runner import run_turn
from core.errors import InvalidArgument
from db.pool import Database
from services.demo.seed import seed_demo
from services.platform import public_fetch
from services.templates.library import (
    REVIEWERS_ONLY,
    ImportResult,
    TemplateMeta,
    import_templates,
    list_templates,
    set_reviewer,
)
from settings import Settings, get_settings
from tests.chat_helpers import OpenChat, Team, app_on_test_database, make_team
from tests.cli_helpers import run_cli
from tests.file_helpers import mode

MB = 1_048_576


def _png(color: tuple[int, int, int], size: tuple[int, int] = (64, 48), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format=fmt)
    return out.getvalue()


# Colours unique to this module: other tests' imports never hold the same bytes.
HERO, OFFER, WEB = _png((11, 200, 17)), _png((12, 30, 201), fmt="JPEG"), _png((13, 99, 7), (80, 80))


class _Site(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        if self.path == "/ad.png":
            self._send(200, "image/png", WEB)
        elif self.path == "/page.html":
            self._send(200, "text/html; charset=utf-8", b"<html><body>Not an image</body></html>")
        elif self.path == "/big.png":
            self._send(200, "image/png", b"\0" * int(14.2 * MB))
        elif self.path == "/endless.png":  # no length given: the cap is found while reading
            self._send(200, "image/png", b"\0" * (11 * MB), length=False)
        else:
            self._send(404, "text/plain", b"not found")

    def _send(self, status: int, content_type: str, body: bytes, *, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for start in range(0, len(body), 256 * 1024):
                self.wfile.write(body[start : start + 256 * 1024])
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading: that is the point

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home of our own for the module: the tools' storage (get_settings) points here too."""
    path = tmp_path_factory.mktemp("templates-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIRALTRACKER_HOME", str(path))
        patch.setenv("VIRALTRACKER_FETCH_PRIVATE_ADDRESSES", "1")  # the site is on 127.0.0.1
        get_settings.cache_clear()
        yield path
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def settings(home: Path) -> Settings:
    return Settings(VIRALTRACKER_HOME=home, VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("library")
    (path / "hero.png").write_bytes(HERO)
    (path / "offer.jpg").write_bytes(OFFER)
    (path / "notes.txt").write_text("call the designer")
    with (path / "big.png").open("wb") as big:
        big.truncate(int(14.2 * MB))
    (path / "templates.json").write_text(
        json.dumps(
            {
                "hero.png": {
                    "name": "Hero UGC",
                    "category": "UGC testimonial",
                    "format": "static",
                    "tags": "ugc, face",
                    "description": "A face to camera",
                },
                "offer.jpg": {"category": "Offer banner", "tags": ["sale"]},
            }
        )
    )
    return path


@dataclass
class Imported:
    folder: ImportResult
    web: ImportResult


async def _rows(db: Database, where: str = "true", *params: Any) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(f"select * from scraped_templates where {where} order by id", params)
        return list(await cur.fetchall())


def _messages(result: ImportResult) -> dict[str, str]:
    return {item.ref: item.message for item in result.items if item.outcome == "refused"}


@pytest.fixture(scope="module")
async def imported(db: Database, settings: Settings, folder: Path, site: str) -> Imported:
    meta = TemplateMeta(source="Swipe file", tags=["q4"])
    from_folder = await import_templates(db, refs=[str(folder)], settings=settings, meta=meta)
    urls = [f"{site}/{name}" for name in ("ad.png", "page.html", "big.png", "endless.png", "missing.png")]
    from_web = await import_templates(
        db, refs=urls, settings=settings, meta=TemplateMeta(category="listicle")
    )
    return Imported(folder=from_folder, web=from_web)


async def test_a_folder_lands_pending_with_its_metadata_and_refusals(
    db: Database, imported: Imported, settings: Settings
) -> None:
    result = imported.folder
    assert (result.imported, result.already_had, result.refused) == (2, 0, 2)
    assert _messages(result) == {
        "big.png": "big.png is 14.2 MB; the limit is 10 MB",
        "notes.txt": "notes.txt is not an image we can read (PNG, JPEG, WebP or GIF)",
    }
    assert "Imported 2 template(s) into the pending queue; 2 refused: " in result.summary
    ids = [item.template_id for item in result.items if item.outcome == "imported"]
    rows = {r["name"]: r for r in await _rows(db, "id = any(%s)", ids)}
    hero, offer = rows["Hero UGC"], rows["Offer"]
    assert hero["status"] == offer["status"] == "pending"
    assert (hero["category"], hero["format"], hero["tags"]) == ("ugc_testimonial", "image", ["ugc", "face"])
    assert (hero["source"], hero["description"], hero["width"], hero["height"]) == (
        "Swipe file", "A face to camera", 64, 48
    )  # fmt: skip
    assert (offer["category"], offer["tags"], offer["content_type"]) == (
        "offer_banner",
        ["sale"],
        "image/jpeg",
    )
    root = settings.viraltracker_home / "assets"
    assert (root / hero["image_path"]).read_bytes() == HERO
    with Image.open(root / hero["thumbnail_path"]) as thumb:
        assert thumb.format == "PNG" and thumb.size == (64, 48)


async def test_web_addresses_are_checked_before_anything_is_stored(
    db: Database, imported: Imported, settings: Settings, site: str
) -> None:
    result = imported.web
    assert (result.imported, result.already_had, result.refused) == (1, 0, 4)
    assert _messages(result) == {
        f"{site}/page.html": f"{site}/page.html is not an image (text/html)",
        f"{site}/big.png": f"{site}/big.png is 14.2 MB; the limit is 10 MB",
        f"{site}/endless.png": f"{site}/endless.png is larger than the 10 MB limit",
        f"{site}/missing.png": f"{site}/missing.png could not be fetched: HTTP 404",
    }
    rows = await _rows(db, "source_url like %s", f"{site}/%")
    assert [(r["source_url"], r["name"], r["category"], r["source"]) for r in rows] == [
        (f"{site}/ad.png", "Ad", "listicle", "web")
    ]
    # Nothing half-stored: exactly the imported images and their thumbnails, no staging leftovers.
    root = settings.viraltracker_home / "assets"
    stored = sorted(p.name for p in (root / "templates").rglob("*") if p.is_file())
    assert len(stored) == 6 and sum(name.endswith(".thumb.png") for name in stored) == 3
    assert list((root / ".staging").iterdir()) == []


async def test_a_private_address_or_a_redirect_to_one_is_refused_and_nothing_is_imported(
    db: Database, site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Template import reads public addresses only, as landing pages do: not 127.0.0.1, not the cloud
    metadata address, not a public address that redirects to 127.0.0.1 (each hop is checked first)."""
    public = "http://93.184.215.14/swipe/ad.png"
    asked: list[str] = []

    def internet(request: httpx.Request) -> httpx.Response:  # a public server that redirects inside
        asked.append(request.headers["host"])
        return httpx.Response(302, headers={"location": f"{site}/ad.png"})

    monkeypatch.setattr(public_fetch, "_internet", lambda: httpx.MockTransport(internet))
    settings = Settings(VIRALTRACKER_HOME=tmp_path, VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=False)
    before, hits = await _rows(db), len(_Site.hits)
    metadata, octal = "http://169.254.169.254/latest/meta-data/x.png", "http://0177.0.0.1/x.png"
    nowhere = "http://no-such-host.invalid/x.png"
    refs = [f"{site}/ad.png", metadata, public, octal, nowhere]
    result = await import_templates(db, refs=refs, settings=settings)
    reason = "a private network address: only public web addresses can be read"
    assert _messages(result) == {
        f"{site}/ad.png": f"{site}/ad.png points at {reason}",
        metadata: f"{metadata} points at {reason}",
        public: f"{public} redirects to {site}/ad.png, {reason}",
        octal: f"{octal} is not a web address that can be read (Invalid IPv4 address: '0177.0.0.1')",
        nowhere: f"Could not find the server of {nowhere} (no-such-host.invalid does not resolve)",
    }
    assert (result.imported, result.already_had, result.refused) == (0, 0, 5)
    assert asked == ["93.184.215.14"]  # the public hop was asked; the private ones never
    assert len(_Site.hits) == hits and await _rows(db) == before
    assert list((tmp_path / "assets" / ".staging").iterdir()) == []


async def test_a_bad_metadata_entry_refuses_its_image_and_a_deep_file_is_refused_whole(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """templates.csv with a NUL byte in one entry, a number where a name goes in another: those images
    are refused with the reason, the third is imported; a templates.json 100,000 deep is refused."""
    folder = tmp_path / "sidecar"
    folder.mkdir()
    for name, colour in (("good.png", (15, 77, 3)), ("nul.png", (16, 78, 4)), ("odd.png", (17, 79, 5))):
        (folder / name).write_bytes(_png(colour))
    (folder / "templates.json").write_text(
        json.dumps({"good.png": {"name": "Sidecar good"}, "nul.png": {"name": "Bad\x00name"},
                    "odd.png": {"name": 10**40}})
    )  # fmt: skip
    before = len(await _rows(db))
    result = await import_templates(db, refs=[str(folder)], settings=settings)
    assert _messages(result) == {
        "nul.png": "nul.png was not imported: in the metadata file, name contains a NUL byte (\\x00),"
        " which can't be stored",
        "odd.png": "odd.png was not imported: in the metadata file, name must be text",
    }
    assert (result.imported, result.refused) == (1, 2)
    assert [r["name"] for r in await _rows(db, "name like 'Sidecar%%'")] == ["Sidecar good"]
    assert len(await _rows(db)) == before + 1

    (folder / "templates.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidArgument) as deep:
        await import_templates(db, refs=[str(folder)], settings=settings)
    assert deep.value.message == (
        f'{folder / "templates.json"} is nested too deeply to read: give a list of objects, each with a "file".'
    )
    assert len(await _rows(db)) == before + 1


async def test_importing_again_changes_nothing(
    db: Database, imported: Imported, settings: Settings, folder: Path, site: str
) -> None:
    before = await _rows(db)
    again = await import_templates(db, refs=[str(folder), f"{site}/ad.png"], settings=settings)
    assert (again.imported, again.already_had, again.refused) == (0, 3, 2)
    assert {i.ref: i.message for i in again.items if i.outcome == "already_had"} == {
        "hero.png": "hero.png is already in the library as 'Hero UGC' (pending)",
        "offer.jpg": "offer.jpg is already in the library as 'Offer' (pending)",
        f"{site}/ad.png": f"{site}/ad.png is already in the library as 'Ad' (pending)",
    }
    assert await _rows(db) == before


async def test_a_reviewer_approves_in_chat_after_a_preview(
    db: Database, imported: Imported, team: Team, home: Path, chat_app: None
) -> None:
    hero = next(i.template_id for i in imported.folder.items if i.ref == "hero.png")
    assert hero is not None
    chat = OpenChat(team.admin)
    await chat.say("/templates status:pending")
    assert "template(s) pending review" in chat.answer()
    images = [e for e in chat.of("element") if e["type"] == "image"]
    assert "Hero UGC · " + str(hero)[:8] in {e["name"] for e in images}
    labels = [b.label for b in chat.buttons()]
    assert {"Approve Hero UGC", "Reject Hero UGC"} <= set(labels)
    # The button previews; nothing changes until Approve.
    await chat.click("Approve Hero UGC")
    assert chat.answer().startswith("Approve 1 template(s): Hero UGC? They become available to every")
    assert chat.answer().endswith("Nothing has changed yet: confirm to go ahead.")
    assert [b.label for b in chat.buttons()] == ["Approve", "Cancel"]
    assert (await _rows(db, "id = %s", hero))[0]["status"] == "pending"
    preview = chat.answers()[-1]["id"]
    await chat.click("Approve")
    assert chat.buttons(preview) == []
    assert chat.answer().startswith("Approved 1 template(s): Hero UGC.")
    assert "auto-recommendations" in chat.answer()  # the auto-recommendation step ran and said so
    async with db.as_owner() as conn:  # a scoring run it may have queued never reaches other tests' workers
        await conn.execute(
            "delete from procrastinate_jobs where status = 'todo' and id in (select procrastinate_job_id"
            " from job_runs where job_type = 'template_scoring' and params->'template_ids' ? %s)",
            (str(hero),),
        )
    [row] = await _rows(db, "id = %s", hero)
    assert row["status"] == "approved" and row["reviewed_by"] == team.admin.user_id
    assert row["reviewed_at"] is not None
    # Rejecting with a reason, by command.
    offer = next(i.template_id for i in imported.folder.items if i.ref == "offer.jpg")
    turn = await run_turn(
        db=db, caller=team.admin,
        message=f'/review_templates ids:{str(offer)[:8]} decision:reject reason:"low resolution" confirm:true',
    )  # fmt: skip
    assert turn.text.startswith("Rejected 1 template(s): Offer."), turn.text
    [row] = await _rows(db, "id = %s", offer)
    assert (row["status"], row["review_reason"]) == ("rejected", "low resolution")
    # Already reviewed: nothing to do, nothing changes.
    turn = await run_turn(
        db=db, caller=team.admin, message=f"/review_templates {str(offer)[:8]} decision:approve"
    )
    assert turn.text == "Nothing to review: Offer is already rejected."


async def test_someone_who_is_not_a_reviewer_is_refused_and_nothing_changes(
    db: Database, imported: Imported, team: Team, chat_app: None
) -> None:
    web = imported.web.items[0].template_id
    assert web is not None
    before = await _rows(db, "id = %s", web)
    chat = OpenChat(team.member)
    await chat.say(f"/review_templates ids:{str(web)[:8]} decision:approve confirm:true")
    assert chat.answer() == REVIEWERS_ONLY
    # A forged button: the person clicking is the one checked.
    forged = cl.Action(
        name=app.ACTION,
        label="Approve",
        payload={"label": "Approve", "tool": "review_templates",
                 "args": {"ids": str(web), "decision": "approve", "confirm": True}},
    )  # fmt: skip
    with chat.active():
        await app.on_action(forged)
    assert chat.answer() == REVIEWERS_ONLY
    await chat.say("/templates status:pending")
    assert chat.answer() == REVIEWERS_ONLY
    # Row-level security holds even if a tool forgot to ask.
    async with db.as_user(team.member) as conn:
        cur = await conn.execute("update scraped_templates set status = 'approved' where id = %s", (web,))
        assert cur.rowcount == 0
        assert await list_templates(conn, status="pending") == []
    assert await _rows(db, "id = %s", web) == before


async def test_another_organization_sees_approved_templates_but_no_queue_actions(
    db: Database, imported: Imported, team: Team, home: Path, settings: Settings, tmp_path: Path
) -> None:
    async with db.as_service() as conn:
        await conn.execute(
            "update scraped_templates set status = 'approved' where id = %s",
            (imported.web.items[0].template_id,),
        )
    turn = await run_turn(db=db, caller=team.outsider, message="/templates category:listicle limit:100")
    [call] = turn.tool_calls
    assert call.result is not None
    assert "Ad" in {t["name"] for t in call.result["templates"]}
    assert {t["status"] for t in call.result["templates"]} == {"approved"}
    assert call.result["actions"] == []
    assert "waiting for your review" not in turn.text
    (tmp_path / "waiting.png").write_bytes(_png((15, 15, 15)))
    await import_templates(db, refs=[str(tmp_path / "waiting.png")], settings=settings)
    turn = await run_turn(db=db, caller=team.admin, message="/templates category:listicle")
    assert "template(s) are waiting for your review: /templates status:pending" in turn.text
    # The chat opens the stored thumbnail (owner-only); the answer the model and MCP get names it only.
    [shown] = [t for t in turn.results[0].templates if t.name == "Ad"]  # type: ignore[attr-defined]
    assert shown.image_file.startswith(str(home)) and mode(Path(shown.image_file)) == 0o600
    image = next(t["image_file"] for t in turn.tool_calls[0].result["templates"] if t["name"] == "Ad")  # type: ignore[index]
    assert image == Path(shown.image_file).name


async def test_the_cli_imports_and_lists(database_url: str, db: Database, tmp_path: Path, site: str) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cli-one.png").write_bytes(_png((14, 1, 250)))
    done = run_cli(
        database_url, tmp_path, "templates", "import", str(tmp_path / "in"), f"{site}/page.html",
        "--category", "Before/after", "--format", "carousel", "--tags", "spring,bold",
        env={"VIRALTRACKER_FETCH_PRIVATE_ADDRESSES": "1"},
    )  # fmt: skip
    assert done.returncode == 1, done.stderr  # one refused
    assert "+ cli-one.png: pending review" in done.stdout
    assert f"x {site}/page.html is not an image (text/html)" in done.stdout
    assert "Imported 1 template(s) into the pending queue; 1 refused" in done.stdout
    [row] = await _rows(db, "name = 'Cli one'")
    assert (row["category"], row["format"], row["tags"]) == ("before_after", "carousel", ["spring", "bold"])
    assert (tmp_path / "assets" / row["image_path"]).is_file()
    listed = run_cli(database_url, tmp_path, "templates", "list", "--status", "pending", "--limit", "1000")
    assert listed.returncode == 0, listed.stderr
    assert "Cli one" in listed.stdout and str(row["id"])[:8] in listed.stdout
    bad = run_cli(database_url, tmp_path, "templates", "import", str(tmp_path / "in"), "--format", "poster")
    assert bad.returncode == 2
    refusal = "'poster' is not a template format; use one of: image (static), carousel, story, video."
    assert " ".join(bad.stderr.split()) == refusal


async def test_the_demo_library_has_its_images_and_a_reviewer(own_db: Database, tmp_path: Path) -> None:
    db = own_db  # seeding replaces the demo organizations the rest of the suite reads
    settings = Settings(VIRALTRACKER_HOME=tmp_path)
    summary = await seed_demo(db, seed=7, settings=settings)
    rows = await _rows(db, "source = 'demo'")
    assert len(rows) == summary.templates == 12
    assert sum(r["status"] == "approved" for r in rows) == 8
    assert len({r["sha256"] for r in rows}) == 12  # distinct images
    for row in rows:
        with Image.open(tmp_path / "assets" / row["image_path"]) as image:
            assert (image.format, image.size) == ("PNG", (256, 256)) == ("PNG", (row["width"], row["height"]))
    # Deterministic: seeding again draws the same bytes.
    await seed_demo(db, seed=7, settings=settings)
    assert {r["sha256"] for r in await _rows(db, "source = 'demo'")} == {r["sha256"] for r in rows}
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select u.email from platform_roles p join auth.users u on u.id = p.user_id"
            " where p.role = 'template_reviewer' and u.email like '%%.example'"
        )
        assert [r["email"] for r in await cur.fetchall()] == ["maya@northwind.example"]


@pytest.fixture(scope="module")
async def team(db: Database) -> Team:
    team = await make_team(db, "Templates Co")
    async with db.as_owner() as conn:
        await set_reviewer(conn, email=team.admin.email)
    return team


@pytest.fixture
async def chat_app(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[None]:
    async with app_on_test_database(db, monkeypatch, tmp_path):
        yield
