"""Voice/tone precedence: persona override → offer variant override → brand voice, all 8 combinations.

Each combination is set on the demo's Acme Pets rows inside a transaction that is rolled back, so the
shared demo data stays as seeded."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from core.errors import NotFound
from db.pool import Caller, Database
from services.research.voice import VoiceTone, resolve_voice_tone


class _Rollback(Exception):
    pass


async def _ids(db: Database) -> dict[str, Any]:
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select b.id as brand_id, (select id from personas_4d where brand_id = b.id limit 1) as persona_id,"
            " (select v.id from product_offer_variants v join products p on p.id = v.product_id"
            "  where p.brand_id = b.id limit 1) as variant_id"
            " from brands b where b.name = 'Acme Pets'"
        )
        row = await cur.fetchone()
    assert row is not None and row["persona_id"] and row["variant_id"]
    return row


@pytest.mark.parametrize(("persona", "variant", "brand"), list(itertools.product([True, False], repeat=3)))
async def test_precedence(
    db: Database, demo: Any, maya: Caller, persona: bool, variant: bool, brand: bool
) -> None:
    ids = await _ids(db)
    values = {
        "persona": "Persona: playful, first-name basis" if persona else None,
        "offer_variant": "  Variant:   clinical and calm " if variant else None,
        "brand": "Brand: warm, plain-spoken" if brand else ("   " if persona else None),  # blank = unset
    }
    seen: VoiceTone | None = None
    with pytest.raises(_Rollback):
        async with db.as_service() as conn:
            await conn.execute(
                "update personas_4d set voice_tone_override = %s where id = %s",
                (values["persona"], ids["persona_id"]),
            )
            await conn.execute(
                "update product_offer_variants set voice_tone_override = %s where id = %s",
                (values["offer_variant"], ids["variant_id"]),
            )
            await conn.execute(
                "update brands set brand_voice_tone = %s where id = %s", (values["brand"], ids["brand_id"])
            )
            seen = await resolve_voice_tone(
                conn,
                brand_id=ids["brand_id"],
                offer_variant_id=ids["variant_id"],
                persona_id=ids["persona_id"],
            )
            raise _Rollback
    assert seen is not None
    expected_level = "persona" if persona else "offer_variant" if variant else "brand" if brand else "none"
    assert seen.level == expected_level
    expected_text = {
        "persona": "Persona: playful, first-name basis",
        "offer_variant": "Variant: clinical and calm",  # whitespace normalised
        "brand": "Brand: warm, plain-spoken",
        "none": None,
    }[expected_level]
    assert seen.text == expected_text
    assert [level for level, _ in seen.chain] == ["persona", "offer_variant", "brand"]
    assert [value is not None for _, value in seen.chain] == [persona, variant, brand]
    if expected_level == "none":
        assert "nothing on file" in seen.source


async def test_without_persona_or_variant_the_brand_speaks(db: Database, demo: Any, maya: Caller) -> None:
    ids = await _ids(db)
    async with db.as_user(maya) as conn:
        tone = await resolve_voice_tone(conn, brand_id=ids["brand_id"])
    assert tone.level == "brand" and tone.text
    assert tone.chain[:2] == [("persona", None), ("offer_variant", None)]
    assert tone.source == "the brand's voice/tone"


async def test_another_orgs_brand_is_not_found(db: Database, demo: Any, leo: Caller) -> None:
    ids = await _ids(db)
    async with db.as_user(leo) as conn:
        with pytest.raises(NotFound, match="does not exist"):
            await resolve_voice_tone(conn, brand_id=ids["brand_id"])


async def test_a_persona_of_another_brand_is_refused(db: Database, demo: Any, maya: Caller) -> None:
    ids = await _ids(db)
    async with db.as_service() as conn:
        cur = await conn.execute("select id from brands where name = 'Bloom Botanicals'")
        other = (await cur.fetchone())["id"]  # type: ignore[index]
    async with db.as_user(maya) as conn:
        with pytest.raises(NotFound, match="is not one of this brand's personas"):
            await resolve_voice_tone(conn, brand_id=other, persona_id=ids["persona_id"])
