"""Brands the caller can see: resolving a name a person typed, and what data each has."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from core.errors import Ambiguous, InvalidArgument, NotFound
from db.pool import Conn
from services.models import BrandRef


async def visible_brands(conn: Conn) -> list[BrandRef]:
    """Every brand the caller's organizations own (RLS decides), by name."""
    cur = await conn.execute("select id, name, organization_id from brands order by name")
    return [BrandRef(**row) for row in await cur.fetchall()]


async def brand_by_id(conn: Conn, brand_id: UUID) -> BrandRef:
    """A brand by its id (jobs name brands by id: names repeat across organizations)."""
    cur = await conn.execute("select id, name, organization_id from brands where id = %s", (brand_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"The brand {brand_id} no longer exists.")
    return BrandRef(**row)


def _quote_list(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


async def resolve_brand(conn: Conn, *, name: str, organization_id: UUID | None = None) -> BrandRef:
    """The brand a person meant (in one organization if given): an exact name (any case, any spacing);
    otherwise 'did you mean'."""
    wanted = " ".join(name.split()).casefold()
    brands = [b for b in await visible_brands(conn) if organization_id in (None, b.organization_id)]
    if not wanted:
        raise NotFound(f"Which brand? Your brands: {_quote_list([b.name for b in brands])}.")
    exact = [b for b in brands if b.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        raise Ambiguous(
            f"'{name}' is the name of brands in several of your organizations. "
            "Ask an admin to rename one of them."
        )
    # Names containing what was typed come first, then close spellings.
    best = [b.name for b in brands if wanted in b.name.casefold()]
    close = process.extract(
        wanted, {b.name: b.name.casefold() for b in brands}, scorer=fuzz.WRatio, limit=3, score_cutoff=70
    )
    best += [str(match[2]) for match in close if str(match[2]) not in best]
    best = best[:3]
    if best:
        if len(best) == 1:
            raise NotFound(f"No brand named '{name}'. Did you mean '{best[0]}'?")
        raise NotFound(f"No brand named '{name}'. Did you mean one of {_quote_list(best)}?")
    if not brands:
        raise NotFound(f"No brand named '{name}'. You have no brands yet.")
    raise NotFound(f"No brand named '{name}'. Your brands: {_quote_list([b.name for b in brands])}.")


class BrandSaved(BaseModel):
    brand: BrandRef
    summary: str


def _clean(value: str | None) -> str | None:
    """An option as typed: surrounding spaces dropped; an empty value clears the field."""
    return None if value is None else (value.strip() or None)


async def _name_taken(conn: Conn, *, organization_id: UUID, name: str, other_than: UUID | None) -> bool:
    cur = await conn.execute(
        "select 1 from brands where organization_id = %s and lower(name) = lower(%s)"
        " and (%s::uuid is null or id <> %s)",
        (organization_id, name, other_than, other_than),
    )
    return await cur.fetchone() is not None


async def create_brand(
    conn: Conn,
    *,
    organization_id: UUID,
    organization: str,
    name: str,
    website: str | None = None,
    niche: str | None = None,
    voice: str | None = None,
) -> BrandSaved:
    """A new brand in the organization; a name already used there (in any case) is refused."""
    name = " ".join(name.split())
    if not name:
        raise InvalidArgument("A brand needs a name.")
    if await _name_taken(conn, organization_id=organization_id, name=name, other_than=None):
        raise InvalidArgument(f"{organization} already has a brand named '{name}': choose another name.")
    cur = await conn.execute(
        "insert into brands (organization_id, name, website_url, niche, brand_voice_tone)"
        " values (%s, %s, %s, %s, %s) returning id, name, organization_id",
        (organization_id, name, _clean(website), _clean(niche), _clean(voice)),
    )
    row = await cur.fetchone()
    assert row is not None
    return BrandSaved(brand=BrandRef(**row), summary=f"Created the brand '{name}' in {organization}.")


async def edit_brand(
    conn: Conn,
    *,
    brand: BrandRef,
    rename: str | None = None,
    website: str | None = None,
    niche: str | None = None,
    voice: str | None = None,
) -> BrandSaved:
    """Change what was given (None leaves a field as it is; an empty value clears it)."""
    new_name = brand.name if rename is None else " ".join(rename.split())
    if not new_name:
        raise InvalidArgument("A brand needs a name.")
    if new_name != brand.name and await _name_taken(
        conn, organization_id=brand.organization_id, name=new_name, other_than=brand.id
    ):
        raise InvalidArgument(
            f"Another brand is already named '{new_name}' in its organization: choose another name."
        )
    changes: dict[str, str | None] = {"name": new_name}
    for column, value in (("website_url", website), ("niche", niche), ("brand_voice_tone", voice)):
        if value is not None:
            changes[column] = _clean(value)
    sets = ", ".join(f"{column} = %({column})s" for column in changes)
    await conn.execute(f"update brands set {sets} where id = %(id)s", {**changes, "id": brand.id})
    given = {"name": rename, "website": website, "niche": niche, "voice": voice}
    changed = [field for field, value in given.items() if value is not None]
    what = ", ".join(changed) if changed else "nothing (no changes given)"
    return BrandSaved(
        brand=BrandRef(id=brand.id, name=new_name, organization_id=brand.organization_id),
        summary=f"Updated the brand '{new_name}': {what}.",
    )
