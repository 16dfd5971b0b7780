"""`content_gaps`: which brand, product, offer variant and persona fields are empty, what could fill
each (with evidence snippets from the same ranking as the persona synthesis), and a fill that writes
a suggestion or a value (replacing a value already there only with `confirm_overwrite`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotFound
from db.jsonb import jsonb
from db.pool import Conn
from services.creative.ad_classifier import AwarenessLevel
from services.research.evidence import (
    SOURCE_LABELS,
    Category,
    Evidence,
    SourceCounts,
    ad_source,
    check_available_sources,
    gather,
    most_common,
    rank,
)
from services.research.personas import resolve_scope
from services.research.voice import resolve_voice_tone
from services.storable import numeric_max

Level = Literal["brand", "product", "offer_variant", "persona"]
PRICE_MAX = numeric_max(12, 2)  # products.price is numeric(12, 2)
Kind = Literal["list", "signals", "text", "url", "mechanism", "awareness", "price"]
SHORT = 8
# level -> field -> (how it is stored, the evidence categories that could fill it)
SPECS: dict[Level, dict[str, tuple[Kind, tuple[Category, ...]]]] = {
    "brand": {"brand_voice_tone": ("text", ("voice",)), "website_url": ("url", ("site",)), "niche": ("text", ())},
    "product": {
        "description": ("text", ("mechanism", "benefits")),
        "product_url": ("url", ("page",)),
        "price": ("price", ()),
    },
    "offer_variant": {
        "benefits": ("list", ("benefits",)), "pain_points": ("list", ("pains",)),
        "objections": ("list", ("objections",)), "desires": ("list", ("desires",)),
        "sample_hooks": ("list", ("hooks",)), "mechanism": ("mechanism", ("mechanism",)),
        "voice_tone_override": ("text", ("voice",)),
    },
    "persona": {
        "demographics": ("signals", ("demographics",)), "psychographics": ("signals", ("psychographics",)),
        "pains": ("list", ("pains",)), "desires": ("list", ("desires", "benefits")),
        "objections": ("list", ("objections",)), "language": ("list", ("language", "hooks")),
        "awareness_level": ("awareness", ("awareness",)), "voice_tone_override": ("text", ("voice",)),
    },
}  # fmt: skip
TABLES: dict[Level, str] = {
    "brand": "brands", "product": "products", "offer_variant": "product_offer_variants", "persona": "personas_4d",
}  # fmt: skip
# Overrides are optional (an empty one inherits down the voice/tone chain): fillable, never a gap.
OVERRIDES = ("voice_tone_override",)
PREFIX: dict[Level, str] = {
    "brand": "brand",
    "product": "product",
    "offer_variant": "variant",
    "persona": "persona",
}


class Gap(BaseModel):
    target: str
    """What `fill:` names: brand.niche, product:1f0c2a9e.description, variant:…, persona:…"""
    level: Level
    owner: str
    field: str
    sources: str
    """The sources that could fill it, with how many evidence items each has."""
    suggestion: str | None = None
    evidence: list[str] = Field(default_factory=list)


class VoiceLink(BaseModel):
    level: Literal["persona", "offer_variant", "brand"]
    owner: str
    voice_tone: str | None


class GapsReport(BaseModel):
    brand: str
    product: str | None = None
    available: SourceCounts
    gaps: list[Gap] = Field(default_factory=list)
    checked_fields: int = 0
    voice_chain: list[VoiceLink] = Field(default_factory=list)
    voice_tone: str | None = None
    voice_resolved_from: str | None = None


class _Owner(BaseModel):
    level: Level
    id: UUID
    name: str
    product_id: UUID | None
    values: dict[str, Any]


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, dict):
        return all(is_empty(v) for v in value.values())
    if isinstance(value, list):
        return not value
    return False


async def _owners(conn: Conn, *, brand_id: UUID, product_id: UUID | None) -> list[_Owner]:
    """The brand, its products (or the one), their offer variants and the brand's personas."""
    owners: list[_Owner] = []
    one = {"brand": brand_id, "product": product_id}
    queries: list[tuple[Level, str]] = [
        ("brand", "select id, name, null::uuid as product_id, brand_voice_tone, website_url, niche"
                  " from brands where id = %(brand)s"),
        ("product", "select id, name, id as product_id, description, product_url, price from products"
                    " where brand_id = %(brand)s and archived_at is null"
                    " and (%(product)s::uuid is null or id = %(product)s) order by name"),
        ("offer_variant", "select v.id, v.name, v.product_id, v.benefits, v.pain_points, v.objections, v.desires,"
                          " v.sample_hooks, v.mechanism, v.voice_tone_override from product_offer_variants v join products p"
                          " on p.id = v.product_id where p.brand_id = %(brand)s and p.archived_at is null"
                          " and (%(product)s::uuid is null or v.product_id = %(product)s) order by v.name, v.id"),
        ("persona", "select id, name, product_id, demographics, psychographics, pains, desires, objections,"
                    " language, awareness_level, voice_tone_override from personas_4d x where brand_id = %(brand)s"
                    " and (%(product)s::uuid is null or product_id is null or product_id = %(product)s)"
                    " and not exists (select 1 from products p where p.id = x.product_id and p.archived_at is not null)"
                    " order by created_at, id"),
    ]  # fmt: skip
    for level, query in queries:
        cur = await conn.execute(query, one)
        for row in await cur.fetchall():
            values = {k: v for k, v in row.items() if k not in ("id", "name", "product_id")}
            owners.append(
                _Owner(
                    level=level, id=row["id"], name=row["name"], product_id=row["product_id"], values=values
                )
            )
    return owners


async def _evidence(conn: Conn, *, brand_id: UUID, product_id: UUID | None) -> list[Evidence]:
    ads = await ad_source(conn, brand_id=brand_id)
    return await gather(
        conn,
        brand_id=brand_id,
        product_id=product_id,
        sources=(ads, "reviews", "landing_pages", "offer_variants"),
    )


def _target(owner: _Owner, field: str) -> str:
    return (
        f"brand.{field}"
        if owner.level == "brand"
        else f"{PREFIX[owner.level]}:{str(owner.id)[:SHORT]}.{field}"
    )


def suggest(
    evidence: list[Evidence], kind: Kind, categories: tuple[Category, ...]
) -> tuple[Any, list[Evidence]]:
    """The value evidence suggests for a field (None when there is none), and the evidence behind it."""
    if not categories:
        return None, []
    items = [e.model_copy(update={"category": categories[0]}) for e in evidence if e.category in categories]
    signals = rank(items, categories[0], most=5)
    if not signals:
        return None, []
    refs = [s.refs[0] for s in signals]
    texts = [s.text for s in signals]
    if kind == "list":
        return texts, refs
    if kind == "signals":
        return {"signals": texts}, refs
    if kind == "awareness":
        level = most_common(items, categories[0])
        return (
            (level, [e for e in items if e.text == level][:3])
            if level in get_args(AwarenessLevel)
            else (None, [])
        )
    if kind == "mechanism":
        return {"name": texts[0]}, refs[:1]
    if kind == "text" and categories[0] == "voice":
        return "; ".join(texts[:3]), refs[:3]
    return texts[0], refs[:1]


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("signals") or value.get("name") or value
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _snippet(e: Evidence) -> str:
    return f"“{e.text[:160]}” ({e.table} {e.row_id[:SHORT]})"


async def content_gaps(conn: Conn, *, brand: str, product: str | None = None) -> GapsReport:
    """The empty fields of the brand (and product), what could fill each, and the voice/tone chain."""
    brand_id, brand_name, _, product_ref = await resolve_scope(conn, brand=brand, product=product)
    pid = product_ref.id if product_ref else None
    report = GapsReport(
        brand=brand_name, product=product_ref.name if product_ref else None,
        available=await check_available_sources(conn, brand_id=brand_id, product_id=pid),
    )  # fmt: skip
    evidence_by_product: dict[UUID | None, list[Evidence]] = {}
    owners = await _owners(conn, brand_id=brand_id, product_id=pid)
    for owner in owners:
        scope = owner.product_id if owner.level != "brand" else None
        if scope not in evidence_by_product:
            evidence_by_product[scope] = await _evidence(conn, brand_id=brand_id, product_id=scope)
        evidence = evidence_by_product[scope]
        for field, (kind, categories) in SPECS[owner.level].items():
            if field in OVERRIDES:
                continue
            report.checked_fields += 1
            if not is_empty(owner.values.get(field)):
                continue
            value, refs = suggest(evidence, kind, categories)
            counts = {
                s: sum(1 for e in evidence if e.category in categories and e.source == s)
                for s in SOURCE_LABELS
            }
            sources = ", ".join(f"{SOURCE_LABELS[s]} ({n})" for s, n in counts.items() if n)
            report.gaps.append(Gap(
                target=_target(owner, field), level=owner.level, owner=owner.name, field=field,
                sources=sources or "none: fill it by hand with value:",
                suggestion=_shown(value) if value is not None else None, evidence=[_snippet(e) for e in refs],
            ))  # fmt: skip
    await _voice_chain(conn, report, owners, brand_id)
    return report


async def _voice_chain(conn: Conn, report: GapsReport, owners: list[_Owner], brand_id: UUID) -> None:
    """Every level of the chain in scope, and the voice the first persona and offer variant resolve to
    (persona override → offer variant override → brand voice, the one rule `services.research.voice` keeps)."""
    links = [
        VoiceLink(level=level, owner=o.name, voice_tone=o.values.get(column))
        for level, column in (("persona", "voice_tone_override"), ("offer_variant", "voice_tone_override"),
                              ("brand", "brand_voice_tone"))
        for o in owners
        if o.level == level
    ]  # fmt: skip
    report.voice_chain = links
    first = {
        level: next((o for o in owners if o.level == level), None) for level in ("persona", "offer_variant")
    }
    voice = await resolve_voice_tone(
        conn,
        brand_id=brand_id,
        persona_id=first["persona"].id if first["persona"] else None,
        offer_variant_id=first["offer_variant"].id if first["offer_variant"] else None,
    )
    owner = (
        first.get(voice.level) if voice.level != "brand" else next(o for o in owners if o.level == "brand")
    )
    report.voice_tone = voice.text
    report.voice_resolved_from = f"{voice.level.replace('_', ' ')} '{owner.name}'" if owner else None


class FillPreview(BaseModel):
    target: str
    level: Level
    owner: str
    field: str
    current: str
    new_value: str
    has_value: bool
    evidence: list[str] = Field(default_factory=list)
    written: bool = False


def _parse(kind: Kind, text: str) -> Any:
    parts = [p.strip() for p in text.replace("|", ";").split(";") if p.strip()]
    if kind == "list":
        return parts
    if kind == "signals":
        return {"signals": parts}
    if kind == "mechanism":
        return {"name": text.strip()}
    if kind == "awareness":
        if text.strip() not in get_args(AwarenessLevel):
            raise InvalidArgument(f"An awareness level is one of {', '.join(get_args(AwarenessLevel))}.")
        return text.strip()
    if kind == "price":
        try:
            price = Decimal(text.strip().lstrip("$"))
        except InvalidOperation:
            raise InvalidArgument(f"'{text}' is not a price: write it like 39.00.") from None
        if not price.is_finite():
            raise InvalidArgument(f"'{text}' is not a price: write it like 39.00.")
        if price < 0:
            raise InvalidArgument("A price can't be negative.")
        if price > PRICE_MAX:
            raise InvalidArgument(f"A price can be at most {PRICE_MAX:,} (got '{text}').")
        return price
    return text.strip()


async def fill_gap(
    conn: Conn,
    *,
    brand: str,
    product: str | None,
    target: str,
    value: str | None,
    confirm: bool,
    confirm_overwrite: bool,
) -> FillPreview:
    """Preview (or, with confirm, write) one field: the given value, else the evidence's suggestion."""
    brand_id, _, _, product_ref = await resolve_scope(conn, brand=brand, product=product)
    owner_ref, _, field = target.strip().partition(".")
    owners = await _owners(conn, brand_id=brand_id, product_id=product_ref.id if product_ref else None)
    kind_name, _, short = owner_ref.partition(":")
    level = next((lv for lv, p in PREFIX.items() if p == kind_name), None)
    matches = [
        o for o in owners if o.level == level and (level == "brand" or str(o.id).startswith(short.lower()))
    ]
    if level is None or len(matches) != 1 or (level != "brand" and not short):
        raise NotFound(f"No field '{target}' here: use a target from /content_gaps, e.g. brand.niche.")
    owner = matches[0]
    if field not in SPECS[owner.level]:
        raise InvalidArgument(f"'{field}' is not a field I fill on a {owner.level.replace('_', ' ')}: "
                              f"{', '.join(SPECS[owner.level])}.")  # fmt: skip
    kind, categories = SPECS[owner.level][field]
    refs: list[Evidence] = []
    if value is not None and value.strip():
        new = _parse(kind, value)
    else:
        scope = owner.product_id if owner.level != "brand" else None
        new, refs = suggest(await _evidence(conn, brand_id=brand_id, product_id=scope), kind, categories)
        if new is None:
            raise InvalidArgument(f'Nothing in the research suggests a {field}: give one with value:"…".')
    current = owner.values.get(field)
    preview = FillPreview(
        target=_target(owner, field), level=owner.level, owner=owner.name, field=field, current=_shown(current),
        new_value=_shown(new), has_value=not is_empty(current), evidence=[_snippet(e) for e in refs],
    )  # fmt: skip
    if not confirm:
        return preview
    if preview.has_value and not confirm_overwrite:
        raise InvalidArgument(
            f"{owner.name}'s {field} already has a value ({preview.current[:80]}); nothing was changed. "
            "To replace it, add confirm_overwrite:true."
        )
    stored = jsonb(new) if kind in ("list", "signals", "mechanism") else new
    await conn.execute(f"update {TABLES[owner.level]} set {field} = %s where id = %s", (stored, owner.id))
    preview.written = True
    return preview
