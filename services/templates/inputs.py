"""What template scoring reads: a library template and a product (offers, personas, brand voice)."""

from __future__ import annotations

import json
import mimetypes
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic_ai import BinaryContent, ImageUrl

from core.errors import NotFound
from db.pool import Conn
from services.platform.storage import Storage, storage_for
from settings import Settings

MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the Messages API's limit for one image


class TemplateBrief(BaseModel):
    """One approved library template, as scoring reads it."""

    id: UUID
    name: str | None = None
    category: str | None = None
    format: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None
    description: str | None = None
    image_path: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name or 'Untitled'} ({str(self.id)[:8]})"

    def text(self) -> str:
        """The template's words, for text similarity."""
        parts = [self.name, self.category, self.format, " ".join(self.tags), self.description]
        return ". ".join(p for p in parts if p)

    def describe(self) -> str:
        return "\n".join(
            [
                f"Template: {self.name or 'Untitled'}",
                f"Category: {self.category or '(none)'}; format: {self.format or '(unknown)'}",
                f"Tags: {', '.join(self.tags) or '(none)'}",
                f"Description: {self.description or '(none)'}",
                "Its image is attached." if self.image_path else "No image on file.",
            ]
        )


class ProductBrief(BaseModel):
    """One product with what a marketer sells it on: offers, personas, the brand's voice."""

    id: UUID
    name: str
    description: str | None = None
    brand_id: UUID
    brand_name: str
    organization_id: UUID
    brand_voice: str | None = None
    niche: str | None = None
    offers: list[dict[str, Any]] = Field(default_factory=list)
    personas: list[dict[str, Any]] = Field(default_factory=list)

    def facets(self) -> list[tuple[str, str]]:
        """(label, text) pieces the offline similarity compares a template with."""
        out = [(f"the product '{self.name}'", f"{self.name}. {self.description or ''}".strip())]
        for offer in self.offers:
            words = [offer["name"], *_strings(offer.get("benefits")), *_strings(offer.get("desires"))]
            words += _strings(offer.get("pain_points")) + _strings(offer.get("sample_hooks"))
            out.append((f"the offer '{offer['name']}'", ". ".join(words)))
        for persona in self.personas:
            words = [persona["name"], *_strings(persona.get("pains")), *_strings(persona.get("desires"))]
            out.append((f"the persona '{persona['name']}'", ". ".join(words)))
        return out

    def describe(self) -> str:
        lines = [
            f"Product: {self.name} (brand {self.brand_name}{f', niche {self.niche}' if self.niche else ''})",
            f"Description: {self.description or '(none)'}",
            f"Brand voice: {self.brand_voice or '(not on file)'}",
        ]
        for offer in self.offers:
            lines.append(f"Offer variant '{offer['name']}':")
            for key in ("benefits", "pain_points", "objections", "desires", "sample_hooks"):
                if values := _strings(offer.get(key)):
                    lines.append(f"  {key.replace('_', ' ')}: {'; '.join(values)}")
            if offer.get("mechanism"):
                lines.append(f"  mechanism: {json.dumps(offer['mechanism'])}")
            if offer.get("voice_tone_override"):
                lines.append(f"  voice: {offer['voice_tone_override']}")
        for persona in self.personas:
            lines.append(
                f"Persona '{persona['name']}' (awareness: {persona.get('awareness_level') or 'n/a'}):"
            )
            for key in ("pains", "desires", "objections", "language"):
                if values := _strings(persona.get(key)):
                    lines.append(f"  {key}: {'; '.join(values)}")
        if not self.offers and not self.personas:
            lines.append("No offer variants or personas on file: judge from the description.")
        return "\n".join(lines)


def _strings(value: Any) -> list[str]:
    """A JSON list of phrases (or of objects with a text field) as strings."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            text = item.get("text") or item.get("name") or item.get("value")
            if text:
                out.append(str(text))
    return out


async def load_product(conn: Conn, *, product_id: UUID) -> ProductBrief:
    cur = await conn.execute(
        """select p.id, p.name, p.description, p.brand_id, b.name as brand_name, p.organization_id,
                  b.brand_voice_tone as brand_voice, b.niche
           from products p join brands b on b.id = p.brand_id where p.id = %s""",
        (product_id,),
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"No product with id {product_id}.")
    cur = await conn.execute(
        """select name, benefits, pain_points, objections, mechanism, desires, sample_hooks, voice_tone_override
           from product_offer_variants where product_id = %s order by created_at, name""",
        (product_id,),
    )
    offers = await cur.fetchall()
    cur = await conn.execute(
        """select name, pains, desires, objections, language, awareness_level from personas_4d
           where brand_id = %s and (product_id = %s or product_id is null)
           order by product_id nulls last, created_at, name limit 5""",
        (row["brand_id"], product_id),
    )
    personas = await cur.fetchall()
    return ProductBrief(**row, offers=[dict(o) for o in offers], personas=[dict(p) for p in personas])


_TEMPLATE_COLUMNS = "id, name, category, format, tags, source, description, image_path"


async def load_templates(conn: Conn, *, template_ids: list[UUID] | None = None) -> list[TemplateBrief]:
    """Approved templates (all, or those among `template_ids`), oldest first."""
    if template_ids is None:
        cur = await conn.execute(
            f"select {_TEMPLATE_COLUMNS} from scraped_templates where status = 'approved' order by created_at, id"
        )
    else:
        cur = await conn.execute(
            f"select {_TEMPLATE_COLUMNS} from scraped_templates where status = 'approved' and id = any(%s)"
            " order by created_at, id",
            (list(template_ids),),
        )
    return [
        TemplateBrief(**{**row, "tags": [str(t) for t in row["tags"] or []]}) for row in await cur.fetchall()
    ]


async def image_content(
    image_path: str | None, *, settings: Settings, storage: Storage | None = None
) -> BinaryContent | ImageUrl | None:
    """The template's image for the model: a public URL as is; a stored file (a storage key, e.g.
    `templates/demo/x.png`) as bytes. None when there is no readable image of a kind the API takes."""
    if not image_path:
        return None
    if image_path.startswith("https://"):
        return ImageUrl(url=image_path)
    media_type = mimetypes.guess_type(image_path)[0] or ""
    if media_type not in ("image/png", "image/jpeg", "image/gif", "image/webp"):
        return None
    try:
        data = await (storage or storage_for(settings)).read(image_path)
    except OSError:  # gone from storage: scored on its words alone
        return None
    if len(data) > MAX_IMAGE_BYTES:
        return None
    return BinaryContent(data=data, media_type=media_type)
