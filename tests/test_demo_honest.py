"""The offline demo's strategy tools show something real: its product pages can be analysed, AI match
recommends some templates, patterns are not all certain, and the help's examples run on the demo."""

from __future__ import annotations

from typing import Any

import pytest

from agent.runner import TurnResult, run_turn
from agent.slash import parse_slash
from db.pool import Caller, Database
from services.demo.seed import seed_demo
from services.platform.accounts import find_caller
from services.templates.similarity import LABEL as OFFLINE_LABEL
from tools.patterns import SHOWN
from tools.registry import all_specs, get_spec


@pytest.fixture(scope="module")
def db(own_db: Database) -> Database:
    """These tests write (analyses, scores, patterns): the demo is seeded into this module's own database."""
    return own_db


@pytest.fixture(scope="module")
async def maya(db: Database) -> Caller:
    await seed_demo(db, seed=7)
    async with db.as_owner() as conn:
        return await find_caller(conn, email="maya@northwind.example")


def only_result(turn: TurnResult) -> dict[str, Any]:
    [call] = turn.tool_calls
    assert call.error is None, call.error
    assert call.result is not None
    return call.result


async def test_demo_pages_come_analysed_so_a_blueprint_needs_no_fetch(db: Database, maya: Caller) -> None:
    listed = only_result(
        await run_turn(db=db, caller=maya, message='/landing_page_analyses brand:"Acme Pets"')
    )
    assert sorted(a["url"] for a in listed["analyses"]) == [
        "https://acmepets.example/products/calming-bites",
        "https://acmepets.example/products/joint-chews",
        "https://acmepets.example/products/skin-coat-oil",
    ]
    assert {a["method"] for a in listed["analyses"]} == {"demo-seed"}
    spec = get_spec("blueprint")
    assert spec is not None
    built = only_result(await run_turn(db=db, caller=maya, message=spec.example))
    assert built["blueprint"]["status"] == "succeeded"


async def test_a_demo_product_page_is_analysed_from_its_stored_copy(db: Database, maya: Caller) -> None:
    url = "https://acmepets.example/products/joint-chews"
    turn = await run_turn(db=db, caller=maya, message=f'/analyze_landing_page url:{url} brand:"Acme Pets"')
    result = only_result(turn)
    assert result["url"] == url and result["title"] == "Joint Chews | Acme Pets"
    assert [s["status"] for s in result["sections"]] == ["offline"] * 6
    assert all(s["found"] > 0 for s in result["sections"])
    assert result["note"] == (
        "acmepets.example is a reserved example address that never resolves, so the copy stored with"
        " Acme Pets was read instead of the web."
    )
    assert "The page is unchanged since it was last stored (kept once)." in turn.text
    async with db.as_user(maya) as conn:
        cur = await conn.execute(
            "select prompt_version from landing_page_analyses where url = %s order by created_at", (url,)
        )
        methods = [r["prompt_version"] for r in await cur.fetchall()]
    assert methods == ["demo-seed", "offline-extractive-1"]

    missing = "https://acmepets.example/products/nothing-here"
    turn = await run_turn(
        db=db, caller=maya, message=f'/analyze_landing_page url:{missing} brand:"Acme Pets"'
    )
    [call] = turn.tool_calls
    assert call.error == (
        "acmepets.example is a reserved example address that never resolves, and Acme Pets has no stored"
        f" copy of {missing}: give the address of a live page."
    )


async def test_offline_ai_match_scores_differ_and_recommend_some(db: Database, maya: Caller) -> None:
    everything = only_result(
        await run_turn(
            db=db, caller=maya, message='/recommend_templates brand:"Acme Pets" product:"Joint Chews"'
        )
    )
    scores = [r["score"] for r in everything["rows"]]
    assert len(scores) == 8 and len(set(scores)) >= 6, scores
    assert all(OFFLINE_LABEL in r["reason"] for r in everything["rows"])
    turn = await run_turn(
        db=db,
        caller=maya,
        message='/recommend_templates brand:"Acme Pets" product:"Joint Chews" filter:recommended',
    )
    recommended = only_result(turn)
    assert [r["name"] for r in recommended["rows"]] == ["Split-screen before/after"]
    assert recommended["rows"][0]["score"] >= 70
    assert "None passes the filter" not in turn.text


async def test_demo_patterns_do_not_all_read_certain(db: Database, maya: Caller) -> None:
    turn = await run_turn(db=db, caller=maya, message='/discover_patterns brand:"Acme Pets"')
    report = only_result(turn)["report"]
    shown = [p["confidence"] for p in report["patterns"][:SHOWN]]
    assert len(shown) == SHOWN and min(shown) < 1.0, shown
    # The FAQ pasted on every product page is one piece of evidence, not three.
    faq = next(p for p in report["patterns"] if p["name"] == "Can I cancel my subscription?")
    assert faq["rows"] >= 5 and faq["confidence"] < 1.0


async def test_every_example_names_what_the_demo_has_and_runs(db: Database, maya: Caller) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute("select name from brands")
        brands = {r["name"] for r in await cur.fetchall()}
        cur = await conn.execute("select name from products")
        products = {r["name"] for r in await cur.fetchall()}
        cur = await conn.execute("select url from brand_landing_pages")
        pages = {r["url"] for r in await cur.fetchall()}
        cur = await conn.execute("select meta_ad_id, name from meta_ads")
        ads = {v for r in await cur.fetchall() for v in (r["meta_ad_id"], r["name"])}
        cur = await conn.execute("select id::text as id, status from scraped_templates")
        templates = {r["id"][:8]: r["status"] for r in await cur.fetchall()}
    for spec in all_specs():
        args = parse_slash(spec.example).args
        if spec.name != "brand":  # /brand name:… creates a brand
            assert args.get("brand", "Acme Pets") in brands, spec.example
        if spec.name != "products":  # /products action:add name:… creates a product
            assert args.get("product", "Joint Chews") in products, spec.example
        for key in ("url", "landing_page"):
            assert args.get(key, "https://acmepets.example/products/joint-chews") in pages, spec.example
        if spec.name != "link_generated_ad":  # its ad: is one made here (/create_ads)
            assert args.get("ad", "JC_Podcast_Demo_v1") in ads, spec.example
        assert args.get("meta_ad", "JC_Podcast_Demo_v1") in ads, spec.example
        for template in filter(None, str(args.get("ids", "")).split(",")):  # one waiting for review
            assert templates.get(template) == "pending", spec.example
    for name in (
        "recommend_templates",
        "analyze_landing_page",
        "blueprint",
        "congruence_check",
        "deep_analysis",
        "review_templates",
    ):
        spec = get_spec(name)
        assert spec is not None
        turn = await run_turn(db=db, caller=maya, message=spec.example)
        only_result(turn)


def test_no_step_title_reads_none() -> None:
    for spec in all_specs():
        title = spec.step_title({name: "X" for name in spec.required})
        assert "None" not in title, (spec.name, title)
    blueprint = get_spec("blueprint")
    assert blueprint is not None
    assert blueprint.step_title({"rerun": "1a2b3c4d"}) == "Re-running blueprint 1a2b3c4d"
    assert blueprint.step_title({"brand": "Acme Pets"}) == "Building a blueprint for Acme Pets"
    landing = get_spec("analyze_landing_page")
    assert landing is not None and landing.step_title({"brand": "Acme Pets"}) == (
        "Analysing a landing page for Acme Pets"
    )
