"""content_gaps over real rows: empty fields with the sources and evidence that could fill them, a
confirmed fill that makes the gap disappear, overwrite refused without confirm_overwrite, the
voice/tone chain, and tenancy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest

from agent.render import tables_for
from agent.runner import run_turn
from core.errors import InvalidArgument, NotFound
from db.jsonb import jsonb
from db.pool import Caller, Database
from services.research.content_gaps import GapsReport, content_gaps, fill_gap
from tests.research_helpers import insert, new_tenant


@dataclass
class Candles:
    db: Database
    caller: Caller
    brand_id: UUID
    product_id: UUID
    variant_id: UUID
    persona_id: UUID
    review_analysis_id: UUID
    page_id: UUID


@pytest.fixture(scope="module")
async def candles(db: Database) -> AsyncIterator[Candles]:
    """A brand with almost nothing filled in, and research that could fill it: a landing page and a
    review analysis for its one product; an offer variant and a persona with empty fields."""
    org, caller = await new_tenant(db, organization="Quillmark", person="ivy")
    async with db.as_service() as conn:

        async def one(query: str, *args: Any) -> Any:
            return await insert(conn, query, *args)

        brand = await one("insert into brands (organization_id, name) values (%s, 'Quillmark Candles')", org)
        product = await one(
            "insert into products (brand_id, organization_id, name) values (%s, %s, 'Cedar Candle')",
            brand,
            org,
        )
        page = await one(
            "insert into brand_landing_pages (brand_id, organization_id, product_id, url, benefits,"
            " persona_signals, belief_first_analysis) values (%s, %s, %s, %s, %s, %s, %s)",
            brand, org, product, "https://quillmark.example/products/cedar-candle",
            jsonb(["Burns clean for 60 hours"]), jsonb(["apartment dwellers"]),
            jsonb({"mechanism": "Coconut-soy wax with a cotton wick burns without soot"}),
        )  # fmt: skip
        review = await one(
            "insert into amazon_review_analysis (brand_id, organization_id, product_id, analysis)"
            " values (%s, %s, %s, %s)", brand, org, product,
            jsonb({"pain_points": ["black soot on the walls"], "objections": ["Too expensive for a candle"]}),
        )  # fmt: skip
        variant = await one(
            "insert into product_offer_variants (product_id, organization_id, name, benefits, voice_tone_override)"
            " values (%s, %s, 'Clean burn bundle', %s, 'cosy and unhurried')", product, org,
            jsonb(["Burns clean for 60 hours"]),
        )  # fmt: skip
        persona = await one(
            "insert into personas_4d (brand_id, organization_id, product_id, name, desires)"
            " values (%s, %s, %s, 'Calm-home seeker', %s)", brand, org, product, jsonb(["a calm evening"]),
        )  # fmt: skip
    yield Candles(db, caller, brand, product, variant, persona, review, page)


async def report(c: Candles, product: str | None = "Cedar Candle") -> GapsReport:
    async with c.db.as_user(c.caller) as conn:
        return await content_gaps(conn, brand="quillmark candles", product=product)


async def fill(c: Candles, target: str, **kw: Any) -> Any:
    args = {"value": None, "confirm": False, "confirm_overwrite": False, **kw}
    async with c.db.as_user(c.caller) as conn:
        return await fill_gap(conn, brand="Quillmark Candles", product="Cedar Candle", target=target, **args)


async def column(c: Candles, table: str, name: str, row_id: UUID) -> Any:
    async with c.db.as_owner() as conn:
        cur = await conn.execute(f"select {name} as v from {table} where id = %s", (row_id,))
        return (await cur.fetchone())["v"]  # type: ignore[index]


async def test_gaps_name_their_sources_and_evidence_and_a_fill_closes_them(candles: Candles) -> None:
    before = await report(candles)
    assert before.available.review_analyses == 1 and before.available.landing_pages == 1
    assert before.available.offer_variants == 1 and before.available.ads == 0
    gaps = {g.target: g for g in before.gaps}
    variant = f"variant:{str(candles.variant_id)[:8]}"
    pains = gaps[f"{variant}.pain_points"]
    assert pains.suggestion == "black soot on the walls" and pains.sources == "Amazon reviews (1)"
    assert pains.evidence == [
        f"“black soot on the walls” (amazon_review_analysis {str(candles.review_analysis_id)[:8]})"
    ]
    assert f"{variant}.benefits" not in gaps  # already filled
    assert gaps["brand.website_url"].suggestion == "https://quillmark.example"
    assert gaps["brand.niche"].suggestion is None and gaps["brand.niche"].sources.startswith("none")
    persona = f"persona:{str(candles.persona_id)[:8]}"
    assert gaps[f"{persona}.demographics"].suggestion == "apartment dwellers"
    assert f"{persona}.desires" not in gaps

    preview = await fill(candles, f"{variant}.pain_points")
    assert not preview.written and preview.new_value == "black soot on the walls"
    assert await column(candles, "product_offer_variants", "pain_points", candles.variant_id) == []

    done = await fill(candles, f"{variant}.pain_points", confirm=True)
    assert done.written
    assert await column(candles, "product_offer_variants", "pain_points", candles.variant_id) == [
        "black soot on the walls"
    ]
    await fill(candles, f"{persona}.demographics", confirm=True)
    assert await column(candles, "personas_4d", "demographics", candles.persona_id) == {
        "signals": ["apartment dwellers"]
    }
    after = {g.target for g in (await report(candles)).gaps}
    assert f"{variant}.pain_points" not in after and f"{persona}.demographics" not in after
    assert len(after) == len(gaps) - 2


async def test_overwrite_needs_confirm_overwrite(candles: Candles) -> None:
    await fill(candles, "brand.niche", value="home fragrance", confirm=True)
    assert await column(candles, "brands", "niche", candles.brand_id) == "home fragrance"
    preview = await fill(candles, "brand.niche", value="candles")
    assert preview.has_value and preview.current == "home fragrance"
    with pytest.raises(
        InvalidArgument, match=r"niche already has a value \(home fragrance\); nothing was changed"
    ):
        await fill(candles, "brand.niche", value="candles", confirm=True)
    assert await column(candles, "brands", "niche", candles.brand_id) == "home fragrance"
    await fill(candles, "brand.niche", value="candles", confirm=True, confirm_overwrite=True)
    assert await column(candles, "brands", "niche", candles.brand_id) == "candles"


async def test_voice_tone_chain_shows_which_level_wins(candles: Candles) -> None:
    first = await report(candles)
    assert [(v.level, v.voice_tone) for v in first.voice_chain] == [
        ("persona", None), ("offer_variant", "cosy and unhurried"), ("brand", None),
    ]  # fmt: skip
    assert first.voice_resolved_from == "offer variant 'Clean burn bundle'"
    assert first.voice_tone == "cosy and unhurried"
    assert "brand.brand_voice_tone" in {g.target for g in first.gaps}
    persona = f"persona:{str(candles.persona_id)[:8]}.voice_tone_override"
    await fill(candles, persona, value="quiet and warm", confirm=True)
    second = await report(candles)
    assert (
        second.voice_resolved_from == "persona 'Calm-home seeker'" and second.voice_tone == "quiet and warm"
    )


async def test_bad_targets_and_values_are_refused(candles: Candles) -> None:
    with pytest.raises(
        NotFound, match=r"No field 'variant:zzzz\.pain_points' here: use a target from /content_gaps"
    ):
        await fill(candles, "variant:zzzz.pain_points")
    with pytest.raises(InvalidArgument, match="'colour' is not a field I fill on a brand: brand_voice_tone"):
        await fill(candles, "brand.colour")
    with pytest.raises(InvalidArgument, match=r"'cheap' is not a price: write it like 39\.00\."):
        await fill(candles, f"product:{str(candles.product_id)[:8]}.price", value="cheap", confirm=True)
    with pytest.raises(InvalidArgument, match="Nothing in the research suggests a price"):
        await fill(candles, f"product:{str(candles.product_id)[:8]}.price")
    price = f"product:{str(candles.product_id)[:8]}.price"
    for value, message in (
        ("9" * 40, f"A price can be at most 9,999,999,999.99 (got '{'9' * 40}')."),
        ("NaN", "'NaN' is not a price: write it like 39.00."),
        ("$Infinity", "'$Infinity' is not a price: write it like 39.00."),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await fill(candles, price, value=value, confirm=True)
        assert refused.value.message == message
    assert await column(candles, "products", "price", candles.product_id) is None  # nothing changed


async def test_chat_fill_buttons_preview_then_write(candles: Candles) -> None:
    turn = await run_turn(
        db=candles.db, caller=candles.caller, message='/content_gaps brand:"Quillmark Candles"'
    )
    [call] = turn.tool_calls
    assert call.error is None, call.error
    result = call.result or {}
    target = f"product:{str(candles.product_id)[:8]}.product_url"
    tables = tables_for(turn.results[0])
    assert [t.title for t in tables] == [
        "Content gaps — Quillmark Candles", "Evidence for the suggestions", "Voice/tone chain (first set wins)",
    ]  # fmt: skip
    assert [
        target,
        "Cedar Candle",
        "product_url",
        "landing pages (1)",
        "https://quillmark.example/products/cedar-candle",
    ] in tables[0].rows
    button = next(a for a in result["actions"] if a["args"].get("fill") == target)
    command = "/content_gaps " + " ".join(f'{k}:"{v}"' for k, v in button["args"].items())
    turn = await run_turn(db=candles.db, caller=candles.caller, message=command)
    preview = turn.tool_calls[0].result or {}
    assert "Nothing is written until you confirm." in preview["summary"]
    assert await column(candles, "products", "product_url", candles.product_id) is None
    confirm = next(a for a in preview["actions"] if a["label"] == "Fill")
    assert confirm["args"]["confirm"] is True
    command += " confirm:true"
    turn = await run_turn(db=candles.db, caller=candles.caller, message=command)
    assert turn.tool_calls[0].error is None, turn.tool_calls[0].error
    url = await column(candles, "products", "product_url", candles.product_id)
    assert url == "https://quillmark.example/products/cedar-candle"


async def test_another_organization_gets_no_brand(candles: Candles, leo: Caller) -> None:
    for message in ('/content_gaps brand:"Quillmark Candles"',
                    '/content_gaps brand:"Quillmark Candles" fill:brand.niche value:x confirm:true'):  # fmt: skip
        turn = await run_turn(db=candles.db, caller=leo, message=message)
        assert "No brand named 'Quillmark Candles'" in turn.text


async def test_demo_brand_gaps_use_the_classifications(db: Database, maya: Caller) -> None:
    async with db.as_user(maya) as conn:
        found = await content_gaps(conn, brand="Acme Pets", product="Joint Chews")
    assert found.available.ad_classifications > 0 and found.available.ads == 0
    assert found.voice_resolved_from == "brand 'Acme Pets'"
    assert found.checked_fields > 10
