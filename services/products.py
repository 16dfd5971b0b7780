"""Products the caller can see: resolving a name a person typed (across their brands, or in one)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from core.errors import Ambiguous, NotFound
from db.pool import Conn


class ProductRef(BaseModel):
    id: UUID
    name: str
    brand_id: UUID
    brand: str
    organization_id: UUID


_SELECT = (
    "select p.id, p.name, p.brand_id, b.name as brand, p.organization_id"
    " from products p join brands b on b.id = p.brand_id"
)


async def product_by_id(conn: Conn, product_id: UUID) -> ProductRef:
    """A product by its id (jobs name products by id)."""
    cur = await conn.execute(_SELECT + " where p.id = %s", (product_id,))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"The product {product_id} no longer exists.")
    return ProductRef(**row)


async def resolve_product(conn: Conn, *, name: str, brand_id: UUID | None = None) -> ProductRef:
    """The product a person meant, among the products the connection may see (or one brand's): an exact
    name in any case and spacing; otherwise a 'did you mean' with the closest names."""
    cur = await conn.execute(
        _SELECT + " where %(brand)s::uuid is null or p.brand_id = %(brand)s order by b.name, p.name",
        {"brand": brand_id},
    )
    products = [ProductRef(**row) for row in await cur.fetchall()]
    wanted = " ".join(name.split()).casefold()
    exact = [p for p in products if p.name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    if len(exact) > 1:
        brands = ", ".join(f"'{p.brand}'" for p in exact)
        raise Ambiguous(f"Several of your brands sell a product named '{name}' ({brands}).")
    if not products:
        raise NotFound(f"No product named '{name}': there are no products yet.")
    names = [p.name for p in products]
    best = [n for n in names if wanted and wanted in n.casefold()]
    close = process.extract(
        wanted, {n: n.casefold() for n in names}, scorer=fuzz.WRatio, limit=3, score_cutoff=70
    )
    best += [str(match[2]) for match in close if str(match[2]) not in best]
    quoted = ", ".join(f"'{n}'" for n in dict.fromkeys(best[:3] or names))
    hint = f"Did you mean {quoted}?" if best else f"Your products: {quoted}."
    raise NotFound(f"No product named '{name}'. {hint}")
