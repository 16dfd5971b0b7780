"""`/brand` and `/products` in chat: an organization's admins create and edit brands and their products,
each change previewed then confirmed, as the caller (RLS decides what they can see)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotAllowed
from services import products as product_service
from services.brands import (
    archive_brand,
    create_brand,
    edit_brand,
    resolve_brand,
    running_schedules,
    unarchive_brand,
    visible_brands,
)
from services.models import BrandRef
from services.platform.accounts import Membership, memberships
from services.presentable import Column, Presentable, Table, table_of
from tools.actions import ActionButton, admin_of, ask_first
from tools.deps import Deps
from tools.registry import tool

Text = Annotated[str, Field(max_length=500)]
Price = Annotated[float, Field(ge=0, le=1_000_000)]
ProductAction = Literal["list", "add", "edit", "archive"]
BrandAction = Literal["save", "archive", "unarchive"]


class BrandAnswer(BaseModel, Presentable):
    summary: str
    actions: list[ActionButton] = []

    def as_tables(self) -> list[Table]:
        return []


def _organization(roles: dict[UUID, Membership], beside: BrandRef | None) -> Membership:
    """The organization of the brand named, else the only one the caller is an admin of (or in)."""
    if beside is not None:
        return roles[beside.organization_id]
    admins = [m for m in roles.values() if m.role == "admin"]
    if len(roles) == 1 or len(admins) == 1:
        return admins[0] if admins else next(iter(roles.values()))
    if not roles:
        raise NotAllowed("You are not in an organization yet: ask an admin to add you to one.")
    quoted = ", ".join(sorted(f"'{m.organization}'" for m in admins))
    raise InvalidArgument(
        f"You are an admin of several organizations ({quoted}): name one of the brands of the one you mean,"
        ' e.g. beside:"Acme Pets".'
    )


async def _archive_or_restore(
    deps: Deps, *, name: str, action: Literal["archive", "unarchive"], confirm: bool
) -> BrandAnswer:
    args: dict[str, str | int | bool] = {"action": action, "name": name}
    async with deps.db.as_user(deps.caller) as conn:
        found = await resolve_brand(conn, name=name, archived=action == "unarchive")
        roles = await memberships(conn, user_id=deps.caller.user_id)
        org = roles[found.organization_id].organization
        admin_of(roles, found.organization_id, organization=org, to=f"{action} its brands")
        if action == "unarchive":
            if not confirm:
                return ask_first(BrandAnswer, f"Bring back the archived brand '{found.name}' ({org})?",
                                 tool="brand", args=args, label="Unarchive")  # fmt: skip
            return BrandAnswer(summary=(await unarchive_brand(conn, brand=found)).summary)
        if not confirm:
            running = await running_schedules(conn, brand=found)
            stops = (
                f" and its {len(running)} running schedule{'s' if len(running) != 1 else ''} stop"
                if running
                else ""
            )
            return ask_first(BrandAnswer, f"Archive '{found.name}' ({org})? It will be hidden from /brands and brand"
                             f" names{stops}; its history stays.", tool="brand", args=args,
                             label="Archive")  # fmt: skip
        return BrandAnswer(summary=(await archive_brand(conn, brand=found)).summary)


@tool(
    example='/brand name:"Northwind Naturals" website:https://northwind.example',
    step="Brand {name}",
    help="""Names are unique in an organization. action:save creates or changes a brand; archive hides it from
    lists and brand names and stops its schedules, keeping its history; unarchive brings it back.""",
)
async def brand(
    deps: Deps,
    name: Text,
    action: BrandAction = "save",
    rename: Text | None = None,
    website: Text | None = None,
    niche: Text | None = None,
    voice: Text | None = None,
    beside: Text | None = None,
    confirm: bool = False,
) -> BrandAnswer:
    """Create a brand, change its name, website, niche or voice, or archive or unarchive it. Admins only;
    previews, then confirm.

    Args:
        name: The brand's name (a new name creates it).
        rename: New name.
        niche: What it sells, briefly.
        voice: Voice and tone.
        beside: One of your brands whose organization gets the new one (if you are in several).
        confirm: true after the preview.
    """
    if action != "save":
        return await _archive_or_restore(deps, name=name, action=action, confirm=confirm)
    args: dict[str, str | int | bool] = {"name": name}
    given = {
        "rename": rename,
        "website": website,
        "niche": niche,
        "voice": voice,
        "beside": beside,
    }
    args.update({key: value for key, value in given.items() if value is not None})
    async with deps.db.as_user(deps.caller) as conn:
        roles = await memberships(conn, user_id=deps.caller.user_id)
        visible = [
            b for b in await visible_brands(conn) if b.name.casefold() == " ".join(name.split()).casefold()
        ]
        if visible:
            found = visible[0] if len(visible) == 1 else await resolve_brand(conn, name=name)
            org = roles[found.organization_id].organization
            admin_of(roles, found.organization_id, organization=org, to="edit its brands")
            changes = ", ".join(f"{k} to '{v}'" for k, v in given.items() if v is not None and k != "beside")
            if not changes:  # creating a brand that exists: say so, and how to change it
                return BrandAnswer(
                    summary=f"{org} already has a brand named '{found.name}'; nothing changed."
                    " To change it, add rename:…, website:…, niche:… or voice:…."
                )
            if not confirm:
                return ask_first(BrandAnswer, f"Change {found.name}'s {changes}?", tool="brand", args=args,
                                 label="Save")  # fmt: skip
            saved = await edit_brand(
                conn, brand=found, rename=rename, website=website, niche=niche, voice=voice
            )
            return BrandAnswer(summary=saved.summary)
        if rename is not None:
            await resolve_brand(conn, name=name)  # no such brand: its 'did you mean'
        member = _organization(roles, await resolve_brand(conn, name=beside) if beside else None)
        admin_of(roles, member.organization_id, organization=member.organization, to="create brands")
        if not confirm:
            return ask_first(BrandAnswer, f"Create the brand '{' '.join(name.split())}' in {member.organization}?",
                             tool="brand", args=args, label="Create")  # fmt: skip
        saved = await create_brand(
            conn, organization_id=member.organization_id, organization=member.organization, name=name,
            website=website, niche=niche, voice=voice,
        )  # fmt: skip
    return BrandAnswer(
        summary=f'{saved.summary} Next: add its products (/products brand:"{saved.brand.name}" action:add name:…)'
        " and link its ad account (/meta_account)."
    )


class ProductsAnswer(BaseModel, Presentable):
    summary: str
    products: list[product_service.ProductRow] = []
    actions: list[ActionButton] = []

    def as_tables(self) -> list[Table]:
        return [
            table_of(
                "Products", self.products, ("name", "brand", Column("price", "money"), "pages", "description")
            )
        ]


@tool(
    example='/products brand:"Acme Pets" action:add name:"Dental Sticks" urls:https://acmepets.example/products/dental-sticks',
    step="Products of {brand}",
    help="The sync matches ads that link to a product's pages to that product.",
)
async def products(
    deps: Deps,
    brand: Text,
    action: ProductAction = "list",
    name: Text | None = None,
    urls: Annotated[str, Field(max_length=4000)] | None = None,
    price: Price | None = None,
    description: Annotated[str, Field(max_length=4000)] | None = None,
    rename: Text | None = None,
    confirm: bool = False,
) -> ProductsAnswer:
    """A brand's products: list them, or (admins; preview, then confirm) add, edit or archive one. Its URLs
    are product pages the sync matches ads to.

    Args:
        name: The product (add, edit, archive).
        urls: Product pages, space-separated (edit replaces them).
        description: A sentence or two.
        rename: New name (edit).
        confirm: true after the preview.
    """
    async with deps.db.as_user(deps.caller) as conn:
        found = await resolve_brand(conn, name=brand)
        if action == "list":
            listed = await product_service.list_products(conn, brand=found)
            return ProductsAnswer(summary=listed.summary, products=listed.products)
        if not name:
            raise InvalidArgument(f'Which product? Say name:"…" to {action} one.')
        roles = await memberships(conn, user_id=deps.caller.user_id)
        admin_of(roles, found.organization_id, organization=roles[found.organization_id].organization,
                 to="change its products")  # fmt: skip
        pages = None if urls is None else urls.split()
        args: dict[str, str | int | bool] = {"brand": found.name, "action": action, "name": name}
        extra = {"urls": urls, "price": price, "description": description, "rename": rename}
        args.update({key: str(value) for key, value in extra.items() if value is not None})
        if action == "add":
            checked = product_service.product_pages(pages or [])  # bad URLs refused before the preview
            if not confirm:
                what = (
                    f" with {len(checked)} product page{'s' if len(checked) != 1 else ''}" if checked else ""
                )
                return ask_first(ProductsAnswer, f"Add '{' '.join(name.split())}' to {found.name}{what}?",
                                 tool="products", args=args, label="Add")  # fmt: skip
            saved = await product_service.add_product(
                conn, brand=found, name=name, urls=pages or [], price=price, description=description
            )
            return ProductsAnswer(summary=saved.summary)
        product = await product_service.resolve_product(conn, name=name, brand_id=found.id)
        if action == "archive":
            if not confirm:
                return ask_first(ProductsAnswer, f"Archive '{product.name}' ({found.name})? It will be hidden from"
                                 " lists and matching; its history stays.", tool="products", args=args,
                                 label="Archive")  # fmt: skip
            return ProductsAnswer(
                summary=(await product_service.archive_product(conn, product=product)).summary
            )
        if pages is not None:
            product_service.product_pages(pages)
        if not confirm:
            changes = ", ".join(k for k, v in extra.items() if v is not None) or "nothing"
            return ask_first(ProductsAnswer, f"Change '{product.name}' ({found.name}): {changes}?", tool="products",
                             args=args, label="Save")  # fmt: skip
        saved = await product_service.edit_product(
            conn, product=product, rename=rename, urls=pages, price=price, description=description
        )
    return ProductsAnswer(summary=saved.summary)
