"""Brands the caller can see: resolving a name a person typed, and what data each has."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from core.errors import Ambiguous, InvalidArgument, NotFound
from db.pool import Conn
from services import money
from services.models import BrandRef

_BRAND_COLUMNS = (
    "b.id, b.name, b.organization_id, b.currency, b.timezone, o.locale"
    " from brands b join organizations o on o.id = b.organization_id"
)


async def visible_brands(conn: Conn, *, archived: bool = False) -> list[BrandRef]:
    """Every brand the caller's organizations own (RLS decides), by name: the live ones, or with
    `archived` the archived ones (hidden everywhere else)."""
    cur = await conn.execute(
        f"select {_BRAND_COLUMNS} where (b.archived_at is not null) = %s order by b.name", (archived,)
    )
    return [BrandRef(**row) for row in await cur.fetchall()]


async def brand_by_id(conn: Conn, brand_id: UUID) -> BrandRef:
    """A brand by its id (jobs name brands by id: names repeat across organizations)."""
    cur = await conn.execute(f"select {_BRAND_COLUMNS} where b.id = %s", (brand_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"The brand {brand_id} no longer exists.")
    brand = BrandRef(**row)
    money.use(brand.money)
    return brand


def _quote_list(names: list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


async def resolve_brand(
    conn: Conn, *, name: str, organization_id: UUID | None = None, archived: bool = False
) -> BrandRef:
    """The brand a person meant (in one organization if given): an exact name (any case, any spacing);
    otherwise 'did you mean'. Archived brands are not found, unless `archived` (then only they are)."""
    wanted = " ".join(name.split()).casefold()
    brands = [
        b
        for b in await visible_brands(conn, archived=archived)
        if organization_id in (None, b.organization_id)
    ]
    if archived and not any(b.name.casefold() == wanted for b in brands):
        live = [b for b in await visible_brands(conn) if b.name.casefold() == wanted]
        raise NotFound(
            f"'{live[0].name}' is not archived: nothing to bring back."
            if live
            else f"No archived brand named '{name}'."
        )
    if not wanted:
        raise NotFound(f"Which brand? Your brands: {_quote_list([b.name for b in brands])}.")
    exact = [b for b in brands if b.name.casefold() == wanted]
    if len(exact) == 1:
        # The brand's money is how this tool call shows figures from here on (services.money).
        money.use(exact[0].money)
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


async def has_archived_brand(conn: Conn, *, organization_id: UUID, name: str) -> bool:
    """Whether the organization's brand of this name (any case) is archived."""
    cur = await conn.execute(
        "select 1 from brands where organization_id = %s and lower(name) = lower(%s) and archived_at is not null",
        (organization_id, name),
    )
    return await cur.fetchone() is not None


class BrandArchived(BaseModel):
    brand: BrandRef
    schedules_stopped: list[str]
    """The job types of the schedules archiving stopped."""
    summary: str


async def running_schedules(conn: Conn, *, brand: BrandRef) -> list[str]:
    """The job types of the brand's enabled schedules (what archiving would stop)."""
    cur = await conn.execute(
        "select job_type from scheduled_jobs where brand_id = %s and enabled order by job_type, created_at",
        (brand.id,),
    )
    return [str(row["job_type"]) for row in await cur.fetchall()]


def _schedules(job_types: list[str]) -> str:
    n = len(job_types)
    return f"{n} schedule{'s' if n != 1 else ''} ({', '.join(job_types)})"


async def archive_brand(conn: Conn, *, brand: BrandRef) -> BrandArchived:
    """Hide the brand from lists and name resolution and stop its schedules, in the caller's
    transaction (both or neither); its ads, reports and history stay."""
    cur = await conn.execute(
        "update brands set archived_at = now() where id = %s and archived_at is null returning id",
        (brand.id,),
    )
    if await cur.fetchone() is None:
        raise NotFound(f"'{brand.name}' is already archived.")
    cur = await conn.execute(
        "update scheduled_jobs set enabled = false where brand_id = %s and enabled returning job_type",
        (brand.id,),
    )
    stopped = sorted(str(row["job_type"]) for row in await cur.fetchall())
    what = f"Stopped its {_schedules(stopped)}." if stopped else "It had no running schedules."
    return BrandArchived(
        brand=brand,
        schedules_stopped=stopped,
        summary=f"Archived '{brand.name}': hidden from /brands and brand names; its ads, reports and"
        f" history are kept. {what}",
    )


async def unarchive_brand(conn: Conn, *, brand: BrandRef) -> BrandArchived:
    """Bring an archived brand back. Its schedules stay paused: which to resume is the person's call."""
    await conn.execute("update brands set archived_at = null where id = %s", (brand.id,))
    return BrandArchived(
        brand=brand,
        schedules_stopped=[],
        summary=f"Restored '{brand.name}': it shows in /brands again. Its schedules stay paused:"
        " resume the ones you want with /schedules.",
    )


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
        if await has_archived_brand(conn, organization_id=organization_id, name=name):
            raise InvalidArgument(
                f"{organization} has an archived brand named '{name}': bring it back (brand unarchive,"
                " /brand unarchive) or choose another name."
            )
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
