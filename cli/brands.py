"""`viraltracker brand …` and `viraltracker product …`: an operator sets up a customer's brands and products."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.base import _run, app, console

brand_app = typer.Typer(help="Brands: create, edit, archive, unarchive.", no_args_is_help=True)
product_app = typer.Typer(help="A brand's products: add, edit, archive, list.", no_args_is_help=True)
app.add_typer(brand_app, name="brand")
app.add_typer(product_app, name="product")

Org = Annotated[
    str | None, typer.Option("--org", help="The brand's organization (needed when several share a name).")
]


async def _brand(conn: Any, *, name: str, org: str | None, archived: bool = False) -> Any:
    from core.errors import Ambiguous
    from services.brands import resolve_brand
    from services.platform.accounts import find_organization

    organization_id = await find_organization(conn, name=org) if org else None
    try:
        return await resolve_brand(conn, name=name, organization_id=organization_id, archived=archived)
    except Ambiguous:  # the operator sees every organization: let them say which
        raise Ambiguous(
            f"Several organizations have a brand named '{name}': say which with --org NAME."
        ) from None


@brand_app.command("create")
def brand_create(
    name: Annotated[str, typer.Argument(help="The brand's name (unique in its organization).")],
    org: Annotated[str, typer.Option("--org", help="The organization that owns it.")],
    website: Annotated[str | None, typer.Option(help="The brand's website.")] = None,
    niche: Annotated[str | None, typer.Option(help="What it sells, in a few words.")] = None,
    voice: Annotated[str | None, typer.Option(help="The brand's voice and tone.")] = None,
) -> None:
    """Create a brand in an organization."""
    from services.brands import create_brand
    from services.platform.accounts import find_organization

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            org_id = await find_organization(conn, name=org)
            return await create_brand(
                conn,
                organization_id=org_id,
                organization=org,
                name=name,
                website=website,
                niche=niche,
                voice=voice,
            )

    console.print(_run(work).summary, markup=False, highlight=False)


@brand_app.command("edit")
def brand_edit(
    name: Annotated[str, typer.Argument(help="The brand to change.")],
    org: Org = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    website: Annotated[str | None, typer.Option(help="The brand's website ('' clears it).")] = None,
    niche: Annotated[str | None, typer.Option(help="What it sells ('' clears it).")] = None,
    voice: Annotated[str | None, typer.Option(help="The brand's voice and tone ('' clears it).")] = None,
) -> None:
    """Change a brand's name, website, niche or voice."""
    from services.brands import edit_brand

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            brand = await _brand(conn, name=name, org=org)
            return await edit_brand(
                conn, brand=brand, rename=rename, website=website, niche=niche, voice=voice
            )

    console.print(_run(work).summary, markup=False, highlight=False)


@brand_app.command("archive")
def brand_archive(
    name: Annotated[str, typer.Argument(help="The brand to archive.")], org: Org = None
) -> None:
    """Hide a brand from lists and brand names and stop its schedules (its history stays)."""
    from services.brands import archive_brand

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            return await archive_brand(conn, brand=await _brand(conn, name=name, org=org))

    console.print(_run(work).summary, markup=False, highlight=False)


@brand_app.command("unarchive")
def brand_unarchive(
    name: Annotated[str, typer.Argument(help="The archived brand to bring back.")], org: Org = None
) -> None:
    """Bring an archived brand back (its schedules stay paused until you resume them)."""
    from services.brands import unarchive_brand

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            return await unarchive_brand(conn, brand=await _brand(conn, name=name, org=org, archived=True))

    console.print(_run(work).summary, markup=False, highlight=False)


Brand = Annotated[str, typer.Option("--brand", help="The brand that sells it.")]


@product_app.command("add")
def product_add(
    name: Annotated[str, typer.Argument(help="The product's name (unique in its brand).")],
    brand: Brand,
    org: Org = None,
    url: Annotated[
        list[str] | None, typer.Option("--url", help="A product page (repeat for several).")
    ] = None,
    price: Annotated[float | None, typer.Option(help="Its price.")] = None,
    description: Annotated[str | None, typer.Option(help="What it is, in a sentence or two.")] = None,
) -> None:
    """Add a product to a brand (adding it again changes nothing)."""
    from services.products import add_product

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            found = await _brand(conn, name=brand, org=org)
            return await add_product(
                conn, brand=found, name=name, urls=url or [], price=price, description=description
            )

    console.print(_run(work).summary, markup=False, highlight=False)


@product_app.command("edit")
def product_edit(
    name: Annotated[str, typer.Argument(help="The product to change.")],
    brand: Brand,
    org: Org = None,
    rename: Annotated[str | None, typer.Option(help="A new name.")] = None,
    url: Annotated[
        list[str] | None, typer.Option("--url", help="Its product pages (replace the current ones; repeat).")
    ] = None,
    price: Annotated[float | None, typer.Option(help="Its price.")] = None,
    description: Annotated[str | None, typer.Option(help="What it is ('' clears it).")] = None,
) -> None:
    """Change a product's name, pages, price or description."""
    from services.products import edit_product, resolve_product

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            found = await _brand(conn, name=brand, org=org)
            product = await resolve_product(conn, name=name, brand_id=found.id)
            return await edit_product(
                conn, product=product, rename=rename, urls=url, price=price, description=description
            )

    console.print(_run(work).summary, markup=False, highlight=False)


@product_app.command("archive")
def product_archive(
    name: Annotated[str, typer.Argument(help="The product to archive.")], brand: Brand, org: Org = None
) -> None:
    """Hide a product from lists and matching (its history stays)."""
    from services.products import archive_product, resolve_product

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            found = await _brand(conn, name=brand, org=org)
            product = await resolve_product(conn, name=name, brand_id=found.id)
            return await archive_product(conn, product=product)

    console.print(_run(work).summary, markup=False, highlight=False)


@product_app.command("list")
def product_list(brand: Brand, org: Org = None) -> None:
    """A brand's products (archived ones are not shown)."""
    from services.products import list_products

    async def work(db: Any) -> Any:
        async with db.as_owner() as conn:
            return await list_products(conn, brand=await _brand(conn, name=brand, org=org))

    result = _run(work)
    console.print(result.summary, markup=False, highlight=False)
    for product in result.products:
        console.print(
            f"  {product.name}  {product.price if product.price is not None else ''}  {product.pages}",
            markup=False,
            highlight=False,
        )
