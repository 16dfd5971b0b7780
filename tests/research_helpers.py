"""Test data for the research tools (personas, content gaps): a fresh organization with one user,
and inserts that return the new row's id."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from db.pool import Caller, Conn, Database
from services.platform.accounts import add_user, create_organization


async def new_tenant(db: Database, *, organization: str, person: str) -> tuple[UUID, Caller]:
    """A new organization (its name made unique) and its one member, as a caller."""
    tag = uuid.uuid4().hex[:6]
    email = f"{person}-{tag}@example.test"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"{organization} {tag}")
        user_id = await add_user(conn, email=email, organization_id=org)
    return org, Caller(user_id=user_id, email=email)


async def insert(conn: Conn, query: str, *args: Any) -> Any:
    """Run an insert and return the new row's id."""
    cur = await conn.execute(query + " returning id", args)
    row = await cur.fetchone()
    assert row is not None
    return row["id"]
