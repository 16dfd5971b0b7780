"""Which voice/tone a piece of copy should use: persona override → offer variant override → brand voice.

One rule for blueprints, persona synthesis and content gaps, so each says the same thing about where
the tone came from.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from core.errors import NotFound
from db.pool import Conn

VoiceLevel = Literal["persona", "offer_variant", "brand", "none"]
LEVEL_LABELS: dict[VoiceLevel, str] = {
    "persona": "the persona's voice/tone override",
    "offer_variant": "the offer variant's voice/tone override",
    "brand": "the brand's voice/tone",
    "none": "nothing on file (no persona, offer variant or brand voice/tone)",
}


class VoiceTone(BaseModel):
    """The tone to write in, the level that supplied it, and every level as it was looked up."""

    text: str | None
    level: VoiceLevel
    chain: list[tuple[VoiceLevel, str | None]]
    """(level, value or None) from the most specific (persona) to the brand."""

    @property
    def source(self) -> str:
        """'the offer variant's voice/tone override', for the answer to say where the tone came from."""
        return LEVEL_LABELS[self.level]


def _clean(value: object) -> str | None:
    text = " ".join(str(value).split()) if value is not None else ""
    return text or None


async def _override(conn: Conn, query: str, id_: UUID | None, brand_id: UUID, missing: str) -> str | None:
    """One level's override (None when the level is not given or has none); a row of another brand is
    refused rather than silently skipped."""
    if id_ is None:
        return None
    cur = await conn.execute(query, (id_, brand_id))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(missing)
    return _clean(row["voice_tone_override"])


async def resolve_voice_tone(
    conn: Conn, *, brand_id: UUID, offer_variant_id: UUID | None = None, persona_id: UUID | None = None
) -> VoiceTone:
    """The first non-empty of the persona's override, the offer variant's override and the brand's
    `brand_voice_tone`. The persona must be the brand's and the variant one of the brand's products'."""
    cur = await conn.execute("select brand_voice_tone from brands where id = %s", (brand_id,))
    brand = await cur.fetchone()
    if brand is None:
        raise NotFound(f"The brand {brand_id} does not exist (or is not yours).")
    persona_value = await _override(
        conn,
        "select voice_tone_override from personas_4d where id = %s and brand_id = %s",
        persona_id,
        brand_id,
        f"The persona {persona_id} is not one of this brand's personas.",
    )
    variant_value = await _override(
        conn,
        "select v.voice_tone_override from product_offer_variants v join products p on p.id = v.product_id"
        " where v.id = %s and p.brand_id = %s",
        offer_variant_id,
        brand_id,
        f"The offer variant {offer_variant_id} is not one of this brand's offer variants.",
    )
    chain: list[tuple[VoiceLevel, str | None]] = [
        ("persona", persona_value),
        ("offer_variant", variant_value),
        ("brand", _clean(brand["brand_voice_tone"])),
    ]
    for level, value in chain:
        if value is not None:
            return VoiceTone(text=value, level=level, chain=chain)
    return VoiceTone(text=None, level="none", chain=chain)
