"""Products the caller can see: resolving a name a person typed (across their brands, or in one)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from rapidfuzz import fuzz, process

from core.errors import Ambiguous, InvalidArgument, NotFound
from db.pool import Conn
from services.meta.product_matches import match_products
from services.meta.rows import canonical_url
from services.models import BrandRef
from services.presentable import Presentable, Table, table_of


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
_LIVE = " and p.archived_at is null"


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
        _SELECT
        + " where (%(brand)s::uuid is null or p.brand_id = %(brand)s)"
        + _LIVE
        + " order by b.name, p.name",
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


class ProductSaved(BaseModel):
    product: ProductRef
    changed: bool
    summary: str


def product_pages(urls: list[str]) -> list[str]:
    """A product's pages as the sync compares ad destinations: canonical, each once, in the order given."""
    pages: list[str] = []
    for url in urls:
        if not url.strip():
            continue
        if not url.strip().lower().startswith(("http://", "https://")):
            raise InvalidArgument(f"'{url}' is not a web address: product pages start with https://.")
        page = canonical_url(url)
        if page not in pages:
            pages.append(page)
    return pages


def _price(price: float | None) -> Decimal | None:
    if price is None:
        return None
    if price < 0:
        raise InvalidArgument(f"A price can't be negative (got {price}).")
    return Decimal(str(price)).quantize(Decimal("0.01"))


async def _existing(conn: Conn, *, brand_id: UUID, name: str) -> dict[str, Any] | None:
    cur = await conn.execute(
        "select id, name, archived_at from products where brand_id = %s and lower(name) = lower(%s)",
        (brand_id, name),
    )
    return await cur.fetchone()


async def add_product(
    conn: Conn,
    *,
    brand: BrandRef,
    name: str,
    urls: list[str],
    price: float | None = None,
    description: str | None = None,
) -> ProductSaved:
    """A new product of the brand; one already there (same name, any case) is left as it is."""
    name = " ".join(name.split())
    if not name:
        raise InvalidArgument("A product needs a name.")
    pages = product_pages(urls)
    amount = _price(price)
    found = await _existing(conn, brand_id=brand.id, name=name)
    if found is not None:
        ref = ProductRef(
            id=found["id"],
            name=found["name"],
            brand_id=brand.id,
            brand=brand.name,
            organization_id=brand.organization_id,
        )
        archived = " (archived)" if found["archived_at"] is not None else ""
        return ProductSaved(
            product=ref,
            changed=False,
            summary=f"'{found['name']}' is already there for {brand.name}{archived}; nothing changed."
            " To change it: product edit.",
        )
    cur = await conn.execute(
        "insert into products (brand_id, organization_id, name, description, product_url, product_pages, price)"
        " values (%s, %s, %s, %s, %s, %s, %s) returning id",
        (
            brand.id,
            brand.organization_id,
            name,
            (description or "").strip() or None,
            pages[0] if pages else None,
            pages,
            amount,
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    ref = ProductRef(
        id=row["id"], name=name, brand_id=brand.id, brand=brand.name, organization_id=brand.organization_id
    )
    where = f" with {len(pages)} product page{'s' if len(pages) != 1 else ''}" if pages else ""
    linked = await _ads_linking_to(conn, ref) if pages else ""
    return ProductSaved(product=ref, changed=True, summary=f"Added '{name}' to {brand.name}{where}.{linked}")


async def edit_product(
    conn: Conn,
    *,
    product: ProductRef,
    rename: str | None = None,
    urls: list[str] | None = None,
    price: float | None = None,
    description: str | None = None,
) -> ProductSaved:
    """Change what was given (None leaves it as it is); new URLs replace the product's pages."""
    changes: dict[str, Any] = {}
    if rename is not None:
        new_name = " ".join(rename.split())
        if not new_name:
            raise InvalidArgument("A product needs a name.")
        found = await _existing(conn, brand_id=product.brand_id, name=new_name)
        if found is not None and found["id"] != product.id:
            raise InvalidArgument(
                f"{product.brand} already has a product named '{found['name']}': choose another name."
            )
        changes["name"] = new_name
    if urls is not None:
        pages = product_pages(urls)
        changes["product_pages"] = pages
        changes["product_url"] = pages[0] if pages else None
    if price is not None:
        changes["price"] = _price(price)
    if description is not None:
        changes["description"] = description.strip() or None
    if not changes:
        return ProductSaved(product=product, changed=False, summary=f"Nothing to change on '{product.name}'.")
    sets = ", ".join(f"{column} = %({column})s" for column in changes)
    await conn.execute(f"update products set {sets} where id = %(id)s", {**changes, "id": product.id})
    ref = product.model_copy(update={"name": changes.get("name", product.name)})
    fields = ", ".join("pages" if c == "product_pages" else c for c in changes if c != "product_url")
    linked = await _ads_linking_to(conn, ref) if urls else ""
    return ProductSaved(
        product=ref, changed=True, summary=f"Updated '{ref.name}' ({product.brand}): {fields}.{linked}"
    )


async def _ads_linking_to(conn: Conn, product: ProductRef) -> str:
    """Match the brand's stored ads to its product pages now (ads synced or imported before the
    product was added count too); how many link to this product, in words ("" when none)."""
    await match_products(conn, brand_id=product.brand_id)
    cur = await conn.execute(
        "select count(*) as n from meta_ad_product_matches where product_id = %s", (product.id,)
    )
    row = await cur.fetchone()
    n = int(row["n"]) if row else 0
    return f" {n:,} of {product.brand}'s ads link to it." if n else ""


async def archive_product(conn: Conn, *, product: ProductRef) -> ProductSaved:
    """Hide the product from lists, name resolution and matching; its history stays."""
    await conn.execute(
        "update products set archived_at = now() where id = %s and archived_at is null", (product.id,)
    )
    return ProductSaved(
        product=product,
        changed=True,
        summary=f"Archived '{product.name}' ({product.brand}): hidden from lists and matching, its history kept.",
    )


class ProductRow(BaseModel):
    name: str
    brand: str
    price: float | None
    pages: str
    description: str


class ProductsResult(BaseModel, Presentable):
    products: list[ProductRow]
    summary: str

    def as_tables(self) -> list[Table]:
        return [table_of("Products", self.products, ("name", "brand", "price", "pages", "description"))]


async def list_products(conn: Conn, *, brand: BrandRef) -> ProductsResult:
    """The brand's products that are not archived, by name."""
    cur = await conn.execute(
        "select name, price, product_pages, coalesce(description, '') as description from products"
        " where brand_id = %s and archived_at is null order by name",
        (brand.id,),
    )
    rows = [
        ProductRow(
            name=r["name"],
            brand=brand.name,
            price=float(r["price"]) if r["price"] is not None else None,
            pages=" ".join(r["product_pages"]),
            description=r["description"],
        )
        for r in await cur.fetchall()
    ]
    if not rows:
        summary = (
            f'{brand.name} has no products yet. Add one: /products brand:"{brand.name}" action:add name:"…"'
        )
    else:
        summary = f"{brand.name} has {len(rows)} product{'s' if len(rows) != 1 else ''}: " + ", ".join(
            r.name for r in rows
        )
    return ProductsResult(products=rows, summary=summary)
