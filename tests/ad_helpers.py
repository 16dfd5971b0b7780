"""Test data for auto-recommendations and ad runs: an organization with an admin and a member, a brand
with products, and approved library templates whose images are in storage (all written directly)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from PIL import Image, ImageDraw

from db.pool import Caller, Database
from services.platform.accounts import add_user, create_organization
from services.platform.storage import storage_for
from settings import Settings, get_settings


@contextmanager
def offline_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tools' settings (`get_settings`) point at `home`, with no model keys."""
    monkeypatch.setenv("VIRALTRACKER_HOME", str(home))
    for key in ("ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "VIRALTRACKER_MODEL"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()


def offline_settings(home: Path) -> Settings:
    """No model keys whatever the environment: scoring and generation run offline."""
    return Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=home,
        VIRALTRACKER_MODEL=None,
        ANTHROPIC_API_KEY=None,
        GEMINI_API_KEY=None,
        GOOGLE_API_KEY=None,
    )


@dataclass
class Shop:
    org: UUID
    admin: Caller
    member: Caller
    brand_id: UUID
    brand: str
    products: dict[str, UUID] = field(default_factory=dict)
    tag: str = ""


async def new_shop(db: Database, label: str, products: list[str]) -> Shop:
    tag = uuid.uuid4().hex[:8]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Shop {label} {tag}")
        admin = await add_user(conn, email=f"admin-{tag}@shop.example", organization_id=org, role="admin")
        member = await add_user(conn, email=f"member-{tag}@shop.example", organization_id=org, role="member")
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org, f"Brand {tag}")
        )
        row = await cur.fetchone()
        assert row is not None
        shop = Shop(
            org,
            Caller(admin, f"admin-{tag}@shop.example"),
            Caller(member, f"member-{tag}@shop.example"),
            row["id"],
            f"Brand {tag}",
            tag=tag,
        )
        for name in products:
            cur = await conn.execute(
                "insert into products (brand_id, organization_id, name, description) values (%s, %s, %s, %s)"
                " returning id",
                (shop.brand_id, org, f"{name} {tag}", f"{name} for senior dogs with stiff joints"),
            )
            found = await cur.fetchone()
            assert found is not None
            shop.products[name] = found["id"]
    return shop


async def drop_shop(db: Database, shop: Shop) -> None:
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (shop.org,))
        await conn.execute(
            "delete from auth.users where id = any(%s)", ([shop.admin.user_id, shop.member.user_id],)
        )


def quadrants(colours: tuple[tuple[int, int, int], ...], size: tuple[int, int] = (400, 300)) -> bytes:
    """A PNG in four solid quadrants (top-left, top-right, bottom-left, bottom-right)."""
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    w, h = size
    boxes = [(0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)]
    for box, colour in zip(boxes, colours, strict=True):
        draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


async def add_template(
    db: Database, settings: Settings, name: str, image: bytes, *, status: str = "approved", **meta: Any
) -> UUID:
    """A library template with its image in storage (as the service role, like an import)."""
    storage = storage_for(settings)
    path = f"templates/test/{uuid.uuid4().hex}.png"
    staged = storage.staging / f"{uuid.uuid4().hex}.part"
    staged.write_bytes(image)
    await storage.put(path, staged, "image/png")
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into scraped_templates (status, name, category, format, description, image_path)"
            " values (%s, %s, %s, 'image', %s, %s) returning id",
            (status, name, meta.get("category", "ugc"), meta.get("description", name), path),
        )
        row = await cur.fetchone()
    assert row is not None
    template_id: UUID = row["id"]
    return template_id


async def add_score(
    db: Database, product_id: UUID, org: UUID, template_id: UUID, score: float, *, version: str
) -> None:
    """An ai_match score as a scoring run stores it."""
    async with db.as_service() as conn:
        await conn.execute(
            "insert into template_recommendations (product_id, organization_id, template_id, methodology,"
            " score, reason, prompt_version) values (%s, %s, %s, 'ai_match', %s, 'test score', %s)",
            (product_id, org, template_id, score, version),
        )


PALETTES = [
    ((230, 30, 30), (30, 200, 60), (30, 60, 230), (240, 200, 20)),
    ((250, 120, 0), (0, 180, 180), (150, 40, 200), (20, 20, 20)),
    ((255, 255, 255), (200, 0, 120), (0, 120, 0), (90, 90, 200)),
    ((10, 10, 120), (120, 10, 10), (10, 120, 10), (200, 200, 200)),
]
"""Quadrant colours for library templates (`scored_library`), one palette per template."""


HOOK = "Stiff joints? Not anymore."
"""The sample hook of the product `scored_library` makes: the first headline of its ads."""


async def scored_library(
    db: Database,
    settings: Settings,
    label: str,
    palettes: list[tuple[tuple[int, int, int], ...]],
    scores: list[float],
) -> tuple[Shop, list[UUID]]:
    """A shop with the product "Joint Chews" (an offer variant with HOOK and one benefit) and one approved
    template per palette, named "Layout {n} {tag}", in quadrants of its colours, scored for the product."""
    from services.templates.scoring import OFFLINE_VERSION

    shop = await new_shop(db, label, ["Joint Chews"])
    product_id = shop.products["Joint Chews"]
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into product_offer_variants (product_id, organization_id, name, benefits, sample_hooks)"
            " values (%s, %s, 'Joint Chews for senior dogs', %s::jsonb, %s::jsonb)",
            (product_id, shop.org, '["Moves like a puppy again"]', f'["{HOOK}"]'),
        )
    templates = []
    for i, (palette, score) in enumerate(zip(palettes, scores, strict=True)):
        template = await add_template(db, settings, f"Layout {i + 1} {shop.tag}", quadrants(palette))
        await add_score(db, product_id, shop.org, template, score, version=OFFLINE_VERSION)
        templates.append(template)
    return shop, templates


async def drop_templates(db: Database, template_ids: list[UUID]) -> None:
    async with db.as_owner() as conn:
        await conn.execute("delete from scraped_templates where id = any(%s)", (template_ids,))


async def generated_ads(db: Database, where: str, *args: Any) -> list[dict[str, Any]]:
    """The generated ads matching `where` (SQL with %s placeholders for `args`), in position order."""
    async with db.as_owner() as conn:
        cur = await conn.execute(f"select * from generated_ads where {where} order by position", args)
        return list(await cur.fetchall())
