"""Landing page analysis and promotion to offer variants, against local HTML pages served on 127.0.0.1,
real Postgres (RLS as `authenticated`) and a local fake of the Anthropic Messages API."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import psycopg
import pytest
from pydantic_ai import models

from agent.render import tables_for
from agent.runner import TurnResult, run_turn
from core.errors import ExternalServiceError, InvalidArgument
from db.jsonb import jsonb
from db.pool import Caller, Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
from services.platform.accounts import add_user, create_organization
from services.research import landing_pages as pages
from services.research.lp_extract import OFFLINE_LABEL, OFFLINE_METHOD
from services.research.page_fetch import (
    CHUNK_CHARS,
    MAX_BYTES,
    USER_AGENT,
    FetchedPage,
    chunk_markdown,
    fetch_page,
    pick_chunks_for_fields,
)
from settings import Settings, get_settings

PRODUCT_PAGE = """<!doctype html><html><head><title>Calm Chews | Ridgeline Pets</title>
<style>.hero { color: red }</style><script>var tracking = "PIXEL";</script></head>
<body><nav><a href="/">Home</a> <a href="/shop">NAVLINK Shop</a></nav>
<h1>Calm Chews: calmer walks in 14 days</h1>
<p>Made for anxious rescue dogs and the owners tired of pulling on every walk.</p>
<h2>Why owners love it</h2>
<ul><li>Calmer walks without sedation</li><li>Better sleep through storms</li><li>Vet-formulated with L-theanine</li></ul>
<h2>How it works</h2>
<p>The root cause of leash reactivity is a cortisol spike at every trigger. Our chews work by lowering
cortisol with L-theanine and chamomile, because a calm brain can't panic.</p>
<h2>What customers say</h2>
<blockquote>"Bella finally walks past other dogs without lunging." — Dana K., verified buyer</blockquote>
<blockquote>"Storm nights are quiet again at our house." — Tom R.</blockquote>
<h2>FAQ</h2>
<p><strong>Will it make my dog drowsy?</strong></p><p>No. It calms without sedation.</p>
<p><strong>How long until I see results?</strong></p><p>Most owners see calmer walks in 14 days.</p>
<h2>Our guarantee</h2><p>Try it for 60 days or your money back.</p>
<footer>FOOTERLINK Terms</footer></body></html>"""

PLAIN_PAGE = (
    "<html><body>"
    + "".join(
        f"<p>Paragraph {i}: our oat shampoo is gentle on itchy skin and rinses clean in one go, "
        f"so bath night stays short and calm for you and your dog.</p>"
        for i in range(40)
    )
    + '<p>"My itchy beagle finally stopped scratching after two baths." — Priya S., verified buyer</p>'
    + "</body></html>"
)
HUGE_PAGE = "<html><body>" + "<p>" + "filler text " * 320_000 + "</p></body></html>"


@dataclass
class Site:
    base: str
    hits: list[tuple[str, str]] = field(default_factory=list)
    """(path, user agent) of every request, in order."""


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            site.hits.append((self.path, self.headers.get("User-Agent", "")))
            path = self.path.split("?")[0]
            if path in ("/product", "/calm"):
                self._send(200, "text/html; charset=utf-8", PRODUCT_PAGE.encode())
            elif path == "/plain":
                self._send(200, "text/html", PLAIN_PAGE.encode())
            elif path == "/huge":
                self._send(200, "text/html", HUGE_PAGE.encode())
            elif path == "/feed.json":
                self._send(200, "application/json", b'{"items": []}')
            elif path in ("/loop-a", "/loop-b"):
                self.send_response(302)
                self.send_header("Location", "/loop-b" if path == "/loop-a" else "/loop-a")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, "text/html", b"<h1>Not here</h1>")

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)  # the client may stop reading at its size cap

    return Handler


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    found = Site(base="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass
class Shop:
    db: Database
    caller: Caller
    outsider: Caller
    organization_id: UUID
    brand_id: UUID
    product_id: UUID


@pytest.fixture(scope="module")
async def shop(db: Database) -> AsyncIterator[Shop]:
    tag = uuid.uuid4().hex[:6]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Ridgeline LP {tag}")
        user = await add_user(conn, email=f"lp-{tag}@ridgeline.example", organization_id=org)
        other_org = await create_organization(conn, name=f"Elsewhere LP {tag}")
        outsider = await add_user(conn, email=f"out-{tag}@elsewhere.example", organization_id=other_org)
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, 'Ridgeline Pets') returning id", (org,)
        )
        brand_id = (await cur.fetchone())["id"]  # type: ignore[index]
        cur = await conn.execute(
            "insert into products (brand_id, organization_id, name) values (%s, %s, 'Calm Chews') returning id",
            (brand_id, org),
        )
        product_id = (await cur.fetchone())["id"]  # type: ignore[index]
        await conn.execute(
            "insert into brands (organization_id, name) values (%s, 'Elsewhere Goods')", (other_org,)
        )
    yield Shop(
        db, Caller(user, f"lp-{tag}@ridgeline.example"), Caller(outsider, f"out-{tag}@elsewhere.example"),
        org, brand_id, product_id,
    )  # fmt: skip


async def _count(db: Database, table: str, where: str = "true", *params: Any) -> int:
    async with db.as_service() as conn:
        cur = await conn.execute(f"select count(*) as n from {table} where {where}", params)  # type: ignore[arg-type]
        return int((await cur.fetchone())["n"])  # type: ignore[index]


async def _read(url: str) -> FetchedPage:
    return await fetch_page(url, allow_private=True)  # the fixtures are on 127.0.0.1


@pytest.fixture(scope="module", autouse=True)
def fetch_loopback() -> Iterator[None]:
    """The tools read pages on 127.0.0.1 here (refused by default: see the test below)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VIRALTRACKER_FETCH_PRIVATE_ADDRESSES", "1")
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


def _only_call(turn: TurnResult) -> dict[str, Any]:
    [call] = turn.tool_calls
    assert call.result is not None, call.error
    return call.result


# -- fetching ---------------------------------------------------------------------------------------


async def test_a_page_becomes_markdown_without_scripts_styles_or_navigation(site: Site) -> None:
    page = await _read(f"{site.base}/product")
    assert page.title == "Calm Chews | Ridgeline Pets"
    assert page.markdown.startswith("# Calm Chews: calmer walks in 14 days")
    assert "## What customers say" in page.markdown and "Calmer walks without sedation" in page.markdown
    for furniture in ("PIXEL", "color: red", "NAVLINK", "FOOTERLINK"):
        assert furniture not in page.markdown
    assert not page.truncated and page.note is None
    assert site.hits[-1] == ("/product", USER_AGENT)


async def test_bad_pages_get_clear_messages(site: Site) -> None:
    with pytest.raises(ExternalServiceError) as missing:
        await _read(f"{site.base}/missing")
    assert missing.value.message == f"{site.base}/missing answered 404 (Not Found)."
    with pytest.raises(ExternalServiceError) as loop:
        await _read(f"{site.base}/loop-a")
    assert loop.value.message == (
        f"{site.base}/loop-a redirects in a loop ({site.base}/loop-a → {site.base}/loop-b → {site.base}/loop-a)."
    )
    with pytest.raises(InvalidArgument) as feed:
        await _read(f"{site.base}/feed.json")
    assert feed.value.message == f"{site.base}/feed.json is not a web page (application/json)."
    with pytest.raises(InvalidArgument, match="'ftp://x/y' is not a web address"):
        await _read("ftp://x/y")
    hits = len(site.hits)
    for private in (f"{site.base}/product", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.8/"):
        with pytest.raises(InvalidArgument) as inside:
            await fetch_page(private)  # the default: public pages only
        assert (
            inside.value.message
            == f"{private} points at a private network address: only public web addresses can be read."
        )
    assert len(site.hits) == hits


async def test_a_huge_page_is_cut_at_the_cap_and_says_so(site: Site) -> None:
    assert len(HUGE_PAGE) > MAX_BYTES
    page = await _read(f"{site.base}/huge")
    assert page.truncated and page.bytes_read == MAX_BYTES
    assert page.note == f"{site.base}/huge is larger than 3 MB: only its first 3 MB were read."
    assert page.markdown.startswith("filler text filler text")


# -- chunks -----------------------------------------------------------------------------------------


async def test_chunks_follow_headings_and_picks_respect_the_budget(site: Site) -> None:
    chunks = chunk_markdown((await _read(f"{site.base}/product")).markdown)
    assert [c.heading for c in chunks] == [
        "Calm Chews: calmer walks in 14 days", "Why owners love it", "How it works", "What customers say",
        "FAQ", "Our guarantee",
    ]  # fmt: skip
    fields = ["testimonials", "objections", "mechanism", "benefits"]
    budget = 1200
    picked = pick_chunks_for_fields(chunks, fields, budget)
    assert picked["testimonials"][0].heading == "What customers say"
    assert "Bella finally walks past other dogs" in picked["testimonials"][0].text
    assert picked["objections"][0].heading == "FAQ"
    assert "How it works" in [c.heading for c in picked["mechanism"]]
    for name in fields:  # whole chunks only, each field within its share of the budget
        assert sum(c.chars for c in picked[name]) <= budget // len(fields)
        assert all(c in chunks for c in picked[name])
    tiny = pick_chunks_for_fields(chunks, ["testimonials"], 50)
    assert tiny["testimonials"] == []  # nothing fits: no chunk is cut blindly
    with pytest.raises(InvalidArgument, match="Unknown field"):
        pick_chunks_for_fields(chunks, ["vibes"], 100)


async def test_a_page_without_headings_falls_back_to_paragraph_chunks_with_hints(site: Site) -> None:
    markdown = (await _read(f"{site.base}/plain")).markdown
    chunks = chunk_markdown(markdown)
    assert len(chunks) >= 3 and all(c.heading is None for c in chunks)
    assert all(c.chars <= CHUNK_CHARS for c in chunks)
    assert "\n\n".join(c.text for c in chunks) == markdown  # cut at paragraphs, nothing lost
    [last] = [c for c in chunks if "Priya S." in c.text]
    assert "testimonials" in last.hints
    picked = pick_chunks_for_fields(chunks, ["testimonials"], 3000)
    assert picked["testimonials"][0] == last


# -- analysis ---------------------------------------------------------------------------------------


async def test_offline_analysis_is_labelled_and_a_same_page_is_stored_once(shop: Shop, site: Site) -> None:
    url = f"{site.base}/product"
    turn = await run_turn(
        db=shop.db, caller=shop.caller, message=f'/analyze_landing_page url:{url} brand:"Ridgeline Pets" product:"Calm Chews"'
    )  # fmt: skip
    result = _only_call(turn)
    assert result["summary"].startswith(OFFLINE_LABEL)
    assert result["stored_new"] is True and result["method"] == OFFLINE_METHOD
    assert {s["section"]: s["status"] for s in result["sections"]} == dict.fromkeys(
        [
            "benefits",
            "persona_signals",
            "copy_patterns",
            "objection_handling",
            "belief_first_analysis",
            "testimonials",
        ],
        "offline",
    )
    async with shop.db.as_user(shop.caller) as conn:
        cur = await conn.execute("select * from brand_landing_pages where brand_id = %s", (shop.brand_id,))
        [page] = await cur.fetchall()
    assert page["product_id"] == shop.product_id and page["content_hash"]
    assert page["benefits"] == [
        "Calmer walks without sedation", "Better sleep through storms", "Vet-formulated with L-theanine",
    ]  # fmt: skip
    assert {"quote": "Bella finally walks past other dogs without lunging.", "name": "Dana K"} in page[
        "testimonials"
    ]
    assert {"objection": "Will it make my dog drowsy?", "answer": "No. It calms without sedation."} in page[
        "objection_handling"
    ]
    belief = page["belief_first_analysis"]
    assert belief["ump"].startswith("The root cause of leash reactivity is a cortisol spike")
    assert "Calm Chews: calmer walks in 14 days" in belief["sample_hooks"]
    assert any("tired of pulling on every walk" in s for s in page["persona_signals"])
    assert "Risk-reversal guarantee" in page["copy_patterns"]
    assert any(b["label"] == "Promote to an offer variant" for b in result["actions"])

    again = _only_call(
        await run_turn(
            db=shop.db, caller=shop.caller, message=f'/analyze_landing_page url:{url} brand:"Ridgeline Pets"'
        )
    )
    assert again["stored_new"] is False and again["landing_page_id"] == result["landing_page_id"]
    assert "unchanged since it was last stored" in again["summary"]
    assert await _count(shop.db, "brand_landing_pages", "brand_id = %s", shop.brand_id) == 1
    assert await _count(shop.db, "landing_page_analyses", "landing_page_id = %s", page["id"]) == 2
    listed = _only_call(await run_turn(db=shop.db, caller=shop.caller, message="/landing_page_analyses"))
    assert [a["url"] for a in listed["analyses"]] == [url, url]
    assert listed["analyses"][0]["sections_done"] == 6


MODEL_SECTIONS: dict[str, dict[str, Any]] = {
    "benefits": {"benefits": ["Calmer walks", "Quiet storm nights"]},
    "persona_signals": {"persona_signals": ["Owners of anxious rescue dogs", "Tired of pulling on walks"]},
    "copy_patterns": {"copy_patterns": ["Outcome-in-14-days headline"]},
    "objection_handling": {"objection_handling": [{"objection": "Drowsy?", "answer": "No sedation."}]},
    "belief_first_analysis": {
        "mechanism": "Lowers cortisol",
        "ump": "Cortisol spikes",
        "ums": "L-theanine calms",
        "desires": ["Relaxed walks"],
        "sample_hooks": ["Is your rescue pulling?"],
    },
}


async def test_one_failed_section_is_reported_and_the_others_are_stored(shop: Shop, site: Site) -> None:
    def responder(request: FakeRequest) -> Reply:
        section = request.user_text.split("\n", 1)[0].removeprefix("Section: ")
        if section == "testimonials":
            return Reply.error(500, "The testimonials call broke.")
        return Reply.tool(MODEL_SECTIONS[section])

    with models.override_allow_model_requests(True), FakeAnthropic(responder) as fake:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            VIRALTRACKER_MODEL="anthropic:claude-sonnet-4-6", ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=fake.url,
            VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True,
        )  # fmt: skip
        result = await pages.analyze_landing_page(
            shop.db, shop.caller, url=f"{site.base}/product", brand="Ridgeline Pets", settings=settings
        )
        assert len(fake.requests) == 6
    status = {s.section: (s.status, s.error) for s in result.sections}
    assert status["testimonials"] == ("failed", "HTTP 500 api_error: The testimonials call broke.")
    assert all(v == ("ok", None) for k, v in status.items() if k != "testimonials")
    assert "5 of 6 sections done" in result.summary
    assert "Failed: testimonials (HTTP 500 api_error: The testimonials call broke.)" in result.summary
    async with shop.db.as_user(shop.caller) as conn:
        cur = await conn.execute("select * from landing_page_analyses where id = %s", (result.analysis_id,))
        row = await cur.fetchone()
        cur = await conn.execute("select * from brand_landing_pages where id = %s", (result.landing_page_id,))
        page = await cur.fetchone()
    assert row is not None and page is not None
    assert set(row["sections"]) == set(MODEL_SECTIONS) and set(row["errors"]) == {"testimonials"}
    assert row["prompt_version"] == pages.prompt_version()
    assert page["benefits"] == ["Calmer walks", "Quiet storm nights"]
    # The failed section keeps what the page had (the offline run's quotes).
    assert page["testimonials"][0]["quote"] == "Bella finally walks past other dogs without lunging."


# -- promote ----------------------------------------------------------------------------------------


async def test_promote_previews_with_edits_and_writes_only_on_confirm(shop: Shop, site: Site) -> None:
    url = f"{site.base}/calm"
    _only_call(
        await run_turn(
            db=shop.db, caller=shop.caller, message=f'/analyze_landing_page url:{url} brand:"Ridgeline Pets"'
        )
    )
    before = await _count(shop.db, "product_offer_variants", "product_id = %s", shop.product_id)
    plain = _only_call(
        await run_turn(
            db=shop.db, caller=shop.caller, message=f'/promote_lp_to_variant url:{url} product:"Calm Chews"'
        )
    )
    card = {f["field"]: f["value"] for f in plain["fields"]}
    assert (
        card["benefits"]
        == "Calmer walks without sedation | Better sleep through storms | Vet-formulated with L-theanine"
    )
    assert "tired of pulling on every walk" in card["pain_points"]
    assert card["objections"].startswith("Will it make my dog drowsy? | How long until I see results?")
    assert card["mechanism.ump"].startswith("The root cause of leash reactivity")
    assert card["name"] == "Calm Chews — Calm Chews | Ridgeline Pets"
    command = (
        f'/promote_lp_to_variant url:{url} product:"Calm Chews" name:"Rescue calm bundle" '
        'set:"benefits=Calmer walks | Quiet storm nights; ump=Cortisol spikes; sample_hooks+=Still pulling?"'
    )
    edited_turn = await run_turn(db=shop.db, caller=shop.caller, message=command)
    edited = _only_call(edited_turn)
    [table] = tables_for(edited_turn.results[0])
    assert table.title == "Draft offer variant (not saved)" and ["name", "Rescue calm bundle"] in table.rows
    card = {f["field"]: f["value"] for f in edited["fields"]}
    assert card["name"] == "Rescue calm bundle"
    assert card["benefits"] == "Calmer walks | Quiet storm nights"
    assert card["mechanism.ump"] == "Cortisol spikes"
    assert card["sample_hooks"].endswith(" | Still pulling?")
    assert "Nothing is saved yet" in edited["summary"] and edited["created_id"] is None
    # The same call again gives the same card: the preview is deterministic.
    assert (
        _only_call(await run_turn(db=shop.db, caller=shop.caller, message=command))["fields"]
        == edited["fields"]
    )
    bad = await run_turn(
        db=shop.db, caller=shop.caller, message=f'/promote_lp_to_variant url:{url} set:"colour=blue"'
    )
    assert "'colour' is not a field of an offer variant" in bad.text
    assert await _count(shop.db, "product_offer_variants", "product_id = %s", shop.product_id) == before

    [confirm] = [a for a in edited["actions"] if a["label"] == "Create variant"]
    assert confirm["args"]["confirm"] is True
    done = _only_call(await run_turn(db=shop.db, caller=shop.caller, message=command + " confirm:true"))
    assert (
        done["summary"] == f"Created the offer variant 'Rescue calm bundle' for Calm Chews, linked to {url}."
    )
    async with shop.db.as_user(shop.caller) as conn:
        cur = await conn.execute(
            "select v.*, p.url as page_url from product_offer_variants v"
            " join brand_landing_pages p on p.id = v.source_landing_page_id where v.product_id = %s",
            (shop.product_id,),
        )
        [variant] = await cur.fetchall()
    assert variant["name"] == "Rescue calm bundle" and variant["page_url"] == url
    assert variant["benefits"] == ["Calmer walks", "Quiet storm nights"]
    assert variant["mechanism"]["ump"] == "Cortisol spikes"
    twice = await run_turn(db=shop.db, caller=shop.caller, message=command + " confirm:true")
    assert "already has an offer variant named 'Rescue calm bundle'" in twice.text
    assert await _count(shop.db, "product_offer_variants", "product_id = %s", shop.product_id) == before + 1


async def test_discover_variants_from_ads_and_promote_one(shop: Shop) -> None:
    tag = uuid.uuid4().hex[:6]
    ads = [
        (f"d1-{tag}", "https://ridgeline.example/calm-kit", "Tired of pulling on every walk? Calm Chews settle "
         "reactive dogs in 14 days. Vet-formulated, no sedation."),
        (f"d2-{tag}", "https://ridgeline.example/calm-kit", "Storm nights, finally quiet. Calm Chews help anxious "
         "dogs sleep through thunder."),
        (f"d3-{tag}", "https://ridgeline.example/sale", "Save 20% on your first box this week."),
    ]  # fmt: skip
    async with shop.db.as_service() as conn:
        for ad_id, url, copy in ads:
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, ad_copy) values (%s, %s, %s, %s, %s)",
                (ad_id, shop.brand_id, shop.organization_id, ad_id, copy),
            )
            await conn.execute(
                "insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)"
                " values (%s, %s, %s, %s)",
                (ad_id, shop.organization_id, url + "?utm_source=fb", url),
            )
    result = _only_call(
        await run_turn(db=shop.db, caller=shop.caller, message='/discover_variants brand:"Ridgeline Pets"')
    )
    rows = {r["url"]: r for r in result["variants"]}
    kit = rows["https://ridgeline.example/calm-kit"]
    assert (kit["ads"], kit["scraped"], kit["product"]) == (2, False, "Calm Chews")
    assert "Tired of pulling on every walk?" in kit["sample_hooks"]
    assert "Tired of pulling on every walk?" in kit["pain_points"]
    assert list(rows) == [
        "https://ridgeline.example/calm-kit",
        "https://ridgeline.example/sale",
    ]  # most ads first
    promote = result["actions"][0]
    assert (
        promote["tool"] == "promote_lp_to_variant"
        and promote["args"]["url"] == "https://ridgeline.example/calm-kit"
    )
    before = await _count(shop.db, "product_offer_variants", "product_id = %s", shop.product_id)
    preview = _only_call(
        await run_turn(
            db=shop.db, caller=shop.caller,
            message='/promote_lp_to_variant url:https://ridgeline.example/calm-kit product:"Calm Chews" name:"Calm kit"',
        )
    )  # fmt: skip
    assert "from 2 ad(s)' copy pointing at https://ridgeline.example/calm-kit" in preview["summary"]
    assert await _count(shop.db, "product_offer_variants", "product_id = %s", shop.product_id) == before
    await run_turn(
        db=shop.db, caller=shop.caller,
        message='/promote_lp_to_variant url:https://ridgeline.example/calm-kit product:"Calm Chews" name:"Calm kit" confirm:true',
    )  # fmt: skip
    async with shop.db.as_user(shop.caller) as conn:
        cur = await conn.execute("select * from product_offer_variants where name = 'Calm kit'")
        [variant] = await cur.fetchall()
    assert variant["source_landing_page_id"] is None
    assert variant["landing_page_url"] == "https://ridgeline.example/calm-kit"


# -- tenancy ----------------------------------------------------------------------------------------


async def test_another_organization_can_neither_analyse_into_nor_read_our_pages(
    shop: Shop, site: Site
) -> None:
    hits = len(site.hits)
    no_url = await run_turn(
        db=shop.db, caller=shop.caller, message='/analyze_landing_page brand:"Ridgeline Pets"'
    )
    assert "Which page? Give its address, e.g. url:https://example.com/products/calm-chews." in no_url.text
    refused = await run_turn(
        db=shop.db,
        caller=shop.outsider,
        message=f'/analyze_landing_page url:{site.base}/plain brand:"Ridgeline Pets"',
    )
    assert "No brand named 'Ridgeline Pets'" in refused.text
    assert len(site.hits) == hits  # refused before anything was fetched
    async with shop.db.as_user(shop.caller) as conn:
        cur = await conn.execute("select id from brand_landing_pages where brand_id = %s", (shop.brand_id,))
        page_ids = [r["id"] for r in await cur.fetchall()]
    assert page_ids
    async with shop.db.as_user(shop.outsider) as conn:
        assert await pages.list_analyses(conn) == []
        cur = await conn.execute(
            "select count(*) as n from brand_landing_pages where id = any(%s)", (page_ids,)
        )
        assert (await cur.fetchone())["n"] == 0  # type: ignore[index]
    stolen = await run_turn(
        db=shop.db,
        caller=shop.outsider,
        message=f"/promote_lp_to_variant url:{str(page_ids[0])[:8]} product:x",
    )
    assert f"No landing page with id {str(page_ids[0])[:8]} among your brands." in stolen.text
    listed = _only_call(await run_turn(db=shop.db, caller=shop.outsider, message="/landing_page_analyses"))
    assert listed["analyses"] == []
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        async with shop.db.as_user(shop.outsider) as conn:
            await conn.execute(
                "insert into landing_page_analyses (organization_id, brand_id, url, sections) values (%s, %s, 'x', %s)",
                (shop.organization_id, shop.brand_id, jsonb({})),
            )


async def test_a_demo_page_promotes_from_its_stored_research(db: Database, maya: Caller) -> None:
    async with db.as_user(maya) as conn:
        cur = await conn.execute(
            "select p.url, p.benefits, pr.name as product from brand_landing_pages p"
            " join products pr on pr.id = p.product_id order by p.url limit 1"
        )
        page = await cur.fetchone()
    assert page is not None
    before = await _count(db, "product_offer_variants")
    card = _only_call(await run_turn(db=db, caller=maya, message=f"/promote_lp_to_variant url:{page['url']}"))
    fields = {f["field"]: f["value"] for f in card["fields"]}
    assert fields["product"] == page["product"] and fields["benefits"] == " | ".join(page["benefits"])
    assert fields["mechanism.ump"].startswith("The root cause of")
    assert await _count(db, "product_offer_variants") == before
