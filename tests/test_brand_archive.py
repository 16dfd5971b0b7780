"""Archiving a brand: hidden from brand names (CLI, chat), its schedules stopped in the same
transaction, its history kept, and `unarchive` to bring it back; content gaps skip archived products."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from db.pool import Caller, Database
from jobs.schedules import create_schedule
from services.platform.accounts import add_user, create_organization
from tests.cli_helpers import run_cli


@dataclass
class Org:
    id: UUID
    name: str
    admin: Caller
    member: Caller


@pytest.fixture
async def org(db: Database) -> AsyncIterator[Org]:
    """A fresh organization with an admin and a member, and no brand."""
    tag = uuid.uuid4().hex[:8]
    name = f"Archive Co {tag}"
    async with db.as_owner() as conn:
        org_id = await create_organization(conn, name=name)
        admin = await add_user(
            conn, email=f"admin-{tag}@archive.example", organization_id=org_id, role="admin"
        )
        member = await add_user(conn, email=f"member-{tag}@archive.example", organization_id=org_id)
    yield Org(
        org_id,
        name,
        Caller(admin, f"admin-{tag}@archive.example"),
        Caller(member, f"member-{tag}@archive.example"),
    )
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org_id,))
        await conn.execute("delete from auth.users where id = any(%s)", ([admin, member],))


async def new_brand(db: Database, org: Org, name: str, *, schedules: int) -> UUID:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org.id, name)
        )
        row = await cur.fetchone()
    assert row is not None
    for cron in ("0 6 * * *", "0 18 * * *")[:schedules]:
        await create_schedule(db, job_type="meta_sync", cron=cron, organization_id=org.id, brand_id=row["id"])
    return UUID(str(row["id"]))


async def state_of(db: Database, brand_id: UUID) -> dict[str, Any]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select b.archived_at is not null as archived,"
            " array(select enabled from scheduled_jobs s where s.brand_id = b.id order by cron) as enabled"
            " from brands b where b.id = %s",
            (brand_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    return dict(row)


async def test_the_cli_archives_a_brand_stops_its_schedules_and_brings_it_back(
    db: Database, database_url: str, tmp_path: Path, org: Org
) -> None:
    cli = lambda *args: run_cli(database_url, tmp_path, *args)  # noqa: E731
    brand = f"Old Leaf {org.name[-8:]}"
    brand_id = await new_brand(db, org, brand, schedules=2)
    archived = cli("brand", "archive", brand, "--org", org.name)
    assert archived.returncode == 0, archived.stderr
    assert archived.stdout.strip() == (
        f"Archived '{brand}': hidden from /brands and brand names; its ads, reports and history are kept."
        " Stopped its 2 schedules (meta_sync, meta_sync)."
    )
    assert await state_of(db, brand_id) == {"archived": True, "enabled": [False, False]}
    taken = cli("brand", "create", brand.lower(), "--org", org.name)
    assert taken.returncode == 2
    assert " ".join(taken.stderr.split()) == (
        f"{org.name} has an archived brand named '{brand.lower()}': bring it back (brand unarchive,"
        " /brand unarchive) or choose another name."
    )
    hidden = cli("product", "list", "--brand", brand, "--org", org.name)
    assert hidden.returncode == 2 and "Traceback" not in hidden.stderr
    assert " ".join(hidden.stderr.split()) == f"No brand named '{brand}'. You have no brands yet."

    back = cli("brand", "unarchive", brand, "--org", org.name)
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip() == (
        f"Restored '{brand}': it shows in /brands again. Its schedules stay paused:"
        " resume the ones you want with /schedules."
    )
    assert await state_of(db, brand_id) == {"archived": False, "enabled": [False, False]}
    listed = cli("product", "list", "--brand", brand, "--org", org.name)
    assert listed.returncode == 0, listed.stderr
    again = cli("brand", "unarchive", brand, "--org", org.name)
    assert again.returncode == 2
    assert " ".join(again.stderr.split()) == f"'{brand}' is not archived: nothing to bring back."
    unknown = cli("brand", "unarchive", "No Such Leaf", "--org", org.name)
    assert unknown.returncode == 2
    assert " ".join(unknown.stderr.split()) == "No archived brand named 'No Such Leaf'."


async def test_chat_archive_is_for_admins_previewed_confirmed_and_hides_the_brand(
    db: Database, org: Org
) -> None:
    from agent.runner import run_turn

    async def ask(caller: Caller, message: str) -> Any:
        return await run_turn(db=db, caller=caller, message=message)

    brand = f"Chat Leaf {org.name[-8:]}"
    brand_id = await new_brand(db, org, brand, schedules=1)
    await new_brand(db, org, f"{brand} Two", schedules=0)
    preview = await ask(org.admin, f'/brand archive name:"{brand}"')
    assert preview.text == (
        f"Archive '{brand}' ({org.name})? It will be hidden from /brands and brand names and its 1 running"
        " schedule stop; its history stays. Nothing has changed yet: confirm to go ahead."
    )
    assert await state_of(db, brand_id) == {"archived": False, "enabled": [True]}
    member = await ask(org.member, f'/brand archive name:"{brand}" confirm:true')
    assert member.refused and member.text == (
        f"Only admins of {org.name} can archive its brands; you are a member. Ask an admin to do it."
    )
    done = await ask(org.admin, f'/brand archive name:"{brand}" confirm:true')
    assert done.text == (
        f"Archived '{brand}': hidden from /brands and brand names; its ads, reports and history are kept."
        " Stopped its 1 schedule (meta_sync)."
    )
    assert await state_of(db, brand_id) == {"archived": True, "enabled": [False]}
    gone = await ask(org.admin, f'/products brand:"{brand}"')
    assert gone.refused and gone.text == f"No brand named '{brand}'. Did you mean '{brand} Two'?"
    listing = await ask(org.admin, "/brands")
    names = [row["name"] for row in listing.tool_calls[0].result["brands"]]
    assert brand not in names and f"{brand} Two" in names, names

    restore = await ask(org.admin, f'/brand unarchive name:"{brand}"')
    assert restore.text == (
        f"Bring back the archived brand '{brand}' ({org.name})? Nothing has changed yet: confirm to go ahead."
    )
    restored = await ask(org.admin, f'/brand unarchive name:"{brand}" confirm:true')
    assert restored.text == (
        f"Restored '{brand}': it shows in /brands again. Its schedules stay paused:"
        " resume the ones you want with /schedules."
    )
    assert brand in [row["name"] for row in (await ask(org.admin, "/brands")).tool_calls[0].result["brands"]]
    listed = await ask(org.member, f'/products brand:"{brand}"')
    assert not listed.refused and listed.text.startswith(brand), listed.text
    assert await state_of(db, brand_id) == {"archived": False, "enabled": [False]}


async def test_content_gaps_do_not_read_archived_products(db: Database, org: Org) -> None:
    from agent.runner import run_turn

    brand = f"Gap Leaf {org.name[-8:]}"
    await new_brand(db, org, brand, schedules=0)
    for product in ("Green Tea", "Old Tea"):
        added = await run_turn(
            db=db,
            caller=org.admin,
            message=f'/products brand:"{brand}" action:add name:"{product}" confirm:true',
        )
        assert added.text == f"Added '{product}' to {brand}.", added.text
    archived = await run_turn(
        db=db,
        caller=org.admin,
        message=f'/products brand:"{brand}" action:archive name:"Old Tea" confirm:true',
    )
    assert archived.text.startswith("Archived 'Old Tea'"), archived.text
    report = await run_turn(db=db, caller=org.admin, message=f'/content_gaps brand:"{brand}"')
    gaps = report.tool_calls[0].result["report"]["gaps"]
    assert {g["owner"] for g in gaps if g["level"] == "product"} == {"Green Tea"}
