"""Brands and products set up from nothing, with the CLI (as the operator) and in chat (admins, previewed,
confirmed): unique names, adding twice changes nothing, archiving hides, and product pages drive the
sync's match of ads to products."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.sync import MetaSync
from services.platform.accounts import add_user, create_organization
from settings import Settings
from tests.cli_helpers import run_cli

TOKEN = "EAAB-system-user-token-" + uuid.uuid4().hex
TODAY = date.today()


@dataclass
class Org:
    name: str
    admin: Caller
    member: Caller


@pytest.fixture
async def org(db: Database) -> AsyncIterator[Org]:
    """A fresh organization with an admin and a member, and no brand."""
    tag = uuid.uuid4().hex[:8]
    name = f"Fresh Start {tag}"
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=name)
        admin = await add_user(conn, email=f"admin-{tag}@fresh.example", organization_id=org_id, role="admin")
        member = await add_user(conn, email=f"member-{tag}@fresh.example", organization_id=org_id)
    yield Org(
        name, Caller(admin, f"admin-{tag}@fresh.example"), Caller(member, f"member-{tag}@fresh.example")
    )
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org_id,))
        await conn.execute("delete from auth.users where id = any(%s)", ([admin, member],))


async def _products(db: Database, brand: str) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select p.name, p.price, p.description, p.product_url, p.product_pages, p.archived_at is not null"
            " as archived from products p join brands b on b.id = p.brand_id where b.name = %s order by p.name",
            (brand,),
        )
        return list(await cur.fetchall())


async def test_the_cli_creates_brands_and_products_once_and_archives_them(
    db: Database, database_url: str, tmp_path: Path, org: Org
) -> None:
    cli = lambda *args: run_cli(database_url, tmp_path, *args)  # noqa: E731
    brand = f"Northwind {org.name[-8:]}"
    made = cli(
        "brand",
        "create",
        brand,
        "--org",
        org.name,
        "--website",
        "https://northwind.example",
        "--niche",
        "tea",
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"Created the brand '{brand}' in {org.name}."
    again = cli("brand", "create", brand.upper(), "--org", org.name)
    assert again.returncode == 2
    assert " ".join(again.stderr.split()) == (
        f"{org.name} already has a brand named '{brand.upper()}': choose another name."
    )
    edited = cli("brand", "edit", brand, "--voice", "warm and plain")
    assert edited.stdout.strip() == f"Updated the brand '{brand}': voice.", edited.stderr
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select website_url, niche, brand_voice_tone from brands where name = %s", (brand,)
        )
        assert await cur.fetchone() == {
            "website_url": "https://northwind.example", "niche": "tea", "brand_voice_tone": "warm and plain"
        }  # fmt: skip

    added = cli(
        "product", "add", "Morning Blend", "--brand", brand, "--price", "24.5", "--description", "Black tea",
        "--url", "https://WWW.Northwind.example/products/morning/?utm_source=ig&fbclid=x",
        "--url", "https://northwind.example/products/morning",
    )  # fmt: skip
    assert added.stdout.strip() == f"Added 'Morning Blend' to {brand} with 1 product page.", added.stderr
    before = await _products(db, brand)
    assert before == [
        {"name": "Morning Blend", "price": 24.5, "description": "Black tea",
         "product_url": "https://northwind.example/products/morning",
         "product_pages": ["https://northwind.example/products/morning"], "archived": False}
    ]  # fmt: skip
    twice = cli("product", "add", "morning blend", "--brand", brand, "--price", "99")
    assert twice.returncode == 0
    assert twice.stdout.strip() == (
        f"'Morning Blend' is already there for {brand}; nothing changed. To change it: product edit."
    )
    assert await _products(db, brand) == before
    changed = cli("product", "edit", "Morning Blend", "--brand", brand, "--price", "26")
    assert changed.stdout.strip() == f"Updated 'Morning Blend' ({brand}): price.", changed.stderr
    assert (await _products(db, brand))[0]["price"] == 26
    cli("product", "add", "Evening Blend", "--brand", brand)
    taken = cli("product", "edit", "Evening Blend", "--brand", brand, "--rename", "MORNING BLEND")
    assert taken.returncode == 2
    assert " ".join(taken.stderr.split()) == (
        f"{brand} already has a product named 'Morning Blend': choose another name."
    )
    bad = cli("product", "add", "Night Blend", "--brand", brand, "--url", "northwind.example/night")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert " ".join(bad.stderr.split()) == (
        "'northwind.example/night' is not a web address: product pages start with https://."
    )
    archived = cli("product", "archive", "Evening Blend", "--brand", brand)
    assert archived.stdout.strip() == (
        f"Archived 'Evening Blend' ({brand}): hidden from lists and matching, its history kept."
    )
    listed = cli("product", "list", "--brand", brand)
    assert listed.stdout.splitlines()[0] == f"{brand} has 1 product: Morning Blend"
    gone = cli("product", "edit", "Evening Blend", "--brand", brand, "--price", "1")
    assert gone.returncode == 2
    assert " ".join(gone.stderr.split()) == "No product named 'Evening Blend'. Did you mean 'Morning Blend'?"
    assert [p["archived"] for p in await _products(db, brand)] == [True, False]  # kept for history
    async with db.as_owner() as conn:  # another organization has a brand of the same name
        other = await create_organization(conn, name=f"Twin {org.name}")
    try:
        assert cli("brand", "create", brand, "--org", f"Twin {org.name}").returncode == 0
        which = cli("product", "list", "--brand", brand)
        assert which.returncode == 2
        assert " ".join(which.stderr.split()) == (
            f"Several organizations have a brand named '{brand}': say which with --org NAME."
        )
        listed = cli("product", "list", "--brand", brand, "--org", org.name)
        assert listed.stdout.splitlines()[0] == f"{brand} has 1 product: Morning Blend"
    finally:
        async with db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (other,))


async def test_a_products_pages_match_the_synced_ads_that_link_to_them(
    db: Database, database_url: str, tmp_path: Path, org: Org
) -> None:
    """A product added with the CLI, its page pasted as a marketer would (www, tracking, trailing
    slash), is matched by the sync to every ad whose destination is that page."""
    brand = f"Sync Tea {org.name[-8:]}"
    assert run_cli(database_url, tmp_path, "brand", "create", brand, "--org", org.name).returncode == 0
    account = f"act_{uuid.uuid4().int % 10**9 + 10**9}"
    with FakeGraph() as fake:
        fake.add_account(account, name=f"{brand} US", tokens={TOKEN})
        fake.generate(account, n_ads=12, since=TODAY - timedelta(days=6), days=7, seed=5)
        settings = Settings(  # type: ignore[call-arg]
            META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url, VIRALTRACKER_HOME=tmp_path
        )

        def client(token: SecretStr) -> MetaClient:
            quick = Limits(backoff_base=0.001, backoff_cap=0.002, throttle_wait=0.5, breaker_after=5)
            return MetaClient(token=token, graph_url=fake.url, limits=quick, sleep=lambda _s: None)

        await link_account(
            db, org.admin, brand_name=brand, account=account, settings=settings, client_factory=client
        )
        sync = MetaSync(db, org.admin, settings=settings, client_factory=client)
        [first] = (await sync.run(brand, today=TODAY, ads_only=True)).accounts
        assert first.ads_matched_to_products == 0
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select d.canonical_url, count(distinct d.meta_ad_id) as ads from meta_ad_destinations d"
                " join meta_ads a using (meta_ad_id) where a.meta_ad_account_id = %s"
                " group by 1 order by 2 desc, 1 limit 1",
                (account,),
            )
            top = await cur.fetchone()
        assert top is not None and top["ads"] > 0
        pasted = top["canonical_url"].replace("https://", "https://www.") + "/?utm_campaign=spring"
        added = run_cli(
            database_url, tmp_path, "product", "add", "Hero", "--brand", brand,
            "--url", "https://elsewhere.example/hero", "--url", pasted,
        )  # fmt: skip
        # The ads already synced are matched at once, not at the next sync.
        assert added.stdout.strip() == (
            f"Added 'Hero' to {brand} with 2 product pages. {top['ads']} of {brand}'s ads link to it."
        ), added.stderr
        [again] = (await sync.run(brand, today=TODAY, ads_only=True)).accounts
        assert again.ads_matched_to_products == top["ads"]
        assert top["canonical_url"] not in again.top_unmatched_pages
        # An archived product is no longer matched to new ads.
        archived = run_cli(database_url, tmp_path, "product", "archive", "Hero", "--brand", brand)
        assert archived.returncode == 0, archived.stderr
        [third] = (await sync.run(brand, today=TODAY, ads_only=True)).accounts
        assert third.ads_matched_to_products == 0


async def test_chat_brand_and_products_are_for_admins_previewed_confirmed_and_private(
    db: Database, org: Org
) -> None:
    from agent.runner import run_turn

    async def ask(caller: Caller, message: str) -> Any:
        return await run_turn(db=db, caller=caller, message=message)

    brand = f"Chat Tea {org.name[-8:]}"
    preview = await ask(org.admin, f'/brand name:"{brand}" niche:tea')
    assert preview.text == (
        f"Create the brand '{brand}' in {org.name}? Nothing has changed yet: confirm to go ahead."
    )
    async with db.as_owner() as conn:
        cur = await conn.execute("select count(*) as n from brands where name = %s", (brand,))
        assert await cur.fetchone() == {"n": 0}
    member = await ask(org.member, f'/brand name:"{brand}" confirm:true')
    assert member.refused and member.text == (
        f"Only admins of {org.name} can create brands; you are a member. Ask an admin to do it."
    )
    made = await ask(org.admin, f'/brand name:"{brand}" niche:tea confirm:true')
    assert made.text.startswith(f"Created the brand '{brand}' in {org.name}."), made.text
    await ask(org.admin, f'/brand name:"{brand} Two" confirm:true')
    same = await ask(org.admin, f'/brand name:"{brand.upper()}" confirm:true')
    assert same.text == (
        f"{org.name} already has a brand named '{brand}'; nothing changed."
        " To change it, add rename:…, website:…, niche:… or voice:…."
    )
    edit = await ask(org.admin, f'/brand name:"{brand}" voice:calm')
    assert edit.text == f"Change {brand}'s voice to 'calm'? Nothing has changed yet: confirm to go ahead."
    clash = await ask(org.admin, f'/brand name:"{brand} Two" rename:"{brand.lower()}" confirm:true')
    assert clash.refused and clash.text == (
        f"Another brand is already named '{brand.lower()}' in its organization: choose another name."
    )

    add = f'/products brand:"{brand}" action:add name:"Green Tea" urls:"https://WWW.chattea.example/green/?utm_source=fb"'
    preview = await ask(org.admin, add)
    assert preview.text == (
        f"Add 'Green Tea' to {brand} with 1 product page? Nothing has changed yet: confirm to go ahead."
    )
    assert await _products(db, brand) == []
    refused = await ask(org.member, add + " confirm:true")
    assert refused.refused and refused.text == (
        f"Only admins of {org.name} can change its products; you are a member. Ask an admin to do it."
    )
    added = await ask(org.admin, add + " confirm:true")
    assert added.text == f"Added 'Green Tea' to {brand} with 1 product page."
    before = await _products(db, brand)
    assert before[0]["product_pages"] == ["https://chattea.example/green"]
    twice = await ask(
        org.admin, f'/products brand:"{brand}" action:add name:"green tea" price:3 confirm:true'
    )
    assert twice.text == (
        f"'Green Tea' is already there for {brand}; nothing changed. To change it: product edit."
    )
    assert await _products(db, brand) == before
    listed = await ask(org.member, f'/products brand:"{brand}"')  # members may read
    assert listed.text == f"{brand} has 1 product: Green Tea"
    assert listed.tool_calls[0].result["products"][0]["pages"] == "https://chattea.example/green"

    # Another organization's admin neither sees nor touches them.
    async with db.as_owner() as conn:
        other = await create_organization(conn, name=f"Elsewhere {org.name[-8:]}")
        outsider = await add_user(
            conn, email=f"boss@{org.name[-8:]}.elsewhere.example", organization_id=other, role="admin"
        )
    try:
        stranger = Caller(outsider, f"boss@{org.name[-8:]}.elsewhere.example")
        hidden = await ask(
            stranger, f'/products brand:"{brand}" action:archive name:"Green Tea" confirm:true'
        )
        assert hidden.refused and hidden.text == f"No brand named '{brand}'. You have no brands yet."
        assert await _products(db, brand) == before
    finally:
        async with db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (other,))
            await conn.execute("delete from auth.users where id = %s", (outsider,))

    edit = (
        f'/products brand:"{brand}" action:edit name:"Green Tea" price:4.5 urls:"https://chattea.example/g/"'
    )
    preview = await ask(org.admin, edit)
    assert preview.text == (
        f"Change 'Green Tea' ({brand}): urls, price? Nothing has changed yet: confirm to go ahead."
    )
    edited = await ask(org.admin, edit + " confirm:true")
    assert edited.text == f"Updated 'Green Tea' ({brand}): pages, price."
    [row] = await _products(db, brand)
    assert (row["price"], row["product_pages"]) == (4.5, ["https://chattea.example/g"])
    archived = await ask(org.admin, f'/products brand:"{brand}" action:archive name:"Green Tea" confirm:true')
    assert (
        archived.text == f"Archived 'Green Tea' ({brand}): hidden from lists and matching, its history kept."
    )
    overview = await ask(org.admin, "/brands")  # an archived product is not counted
    counts = {b["name"]: b["products"] for b in overview.tool_calls[0].result["brands"]}
    assert counts == {brand: 0, f"{brand} Two": 0}
    listed = await ask(org.admin, f'/products brand:"{brand}"')
    assert (
        listed.text == f'{brand} has no products yet. Add one: /products brand:"{brand}" action:add name:"…"'
    )
