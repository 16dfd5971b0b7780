"""Who may change ads in Meta from here, and the audit of every change (`ad_actions`, under RLS).

An organization turns writes on for its admins, or for everyone (`organization_ad_writes`); no row
means off. Every object a confirmed action tried is one `ad_actions` row: who, when, which object,
before → after, and Meta's answer. Rows are only ever added: an undo is a new row naming the one it
undoes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from core.errors import InvalidArgument, NotAllowed, NotFound
from db.pool import Caller, Conn
from services.models import BrandRef
from services.platform.accounts import memberships
from services.presentable import Column, Presentable, Table, table_of

Allowed = Literal["off", "admins", "members"]
SHORT_ID = 8
"""An action is named by the first 8 characters of its id (`/undo action:1f0c2a9e`)."""


async def writes_allowed(conn: Conn, *, organization_id: UUID) -> Allowed:
    cur = await conn.execute(
        "select allowed from organization_ad_writes where organization_id = %s", (organization_id,)
    )
    row = await cur.fetchone()
    return "off" if row is None else row["allowed"]


async def set_writes_allowed(conn: Conn, *, organization_id: UUID, caller: Caller, allowed: Allowed) -> None:
    """Store the organization's choice (RLS: its admins only)."""
    if allowed == "off":
        await conn.execute(
            "delete from organization_ad_writes where organization_id = %s", (organization_id,)
        )
        return
    await conn.execute(
        "insert into organization_ad_writes (organization_id, allowed, updated_by) values (%s, %s, %s)"
        " on conflict (organization_id) do update set allowed = excluded.allowed,"
        " updated_by = excluded.updated_by, updated_at = now()",
        (organization_id, allowed, caller.user_id),
    )


async def check_may_write(conn: Conn, *, caller: Caller, brand: BrandRef) -> str:
    """The organization's name if the caller may change the brand's ads in Meta; else `NotAllowed`
    saying why (writes off, or for admins only) and who can change that."""
    roles = await memberships(conn, user_id=caller.user_id)
    member = roles.get(brand.organization_id)
    organization = member.organization if member else "this organization"
    allowed = await writes_allowed(conn, organization_id=brand.organization_id)
    if allowed == "off":
        raise NotAllowed(
            f"Changing ads in Meta is off for {organization}. An admin can turn it on with"
            f' `/ad_writes brand:"{brand.name}" allow:admins`, then reconnect Facebook to grant ads_management.'
        )
    if allowed == "admins" and (member is None or member.role != "admin"):
        raise NotAllowed(
            f"Only admins of {organization} can change ads in Meta; you are a"
            f" {member.role if member else 'guest'}. Ask an admin to do it, or to allow members with"
            f' `/ad_writes brand:"{brand.name}" allow:members`.'
        )
    return organization


class ActionRecord(BaseModel):
    """One audited change, as `/actions` lists it."""

    action: str
    """The short id `/undo action:` takes."""
    id: UUID
    when: datetime
    email: str
    object_type: str
    object_id: str
    object_name: str | None
    account_id: str
    field: str
    before: str | None
    after: str
    outcome: str
    meta_answer: str
    undoes: str | None
    undone: bool


async def record(
    conn: Conn,
    *,
    caller: Caller,
    brand: BrandRef,
    batch_id: UUID,
    object_type: str,
    object_id: str,
    object_name: str | None,
    account_id: str,
    field: str,
    before: str | None,
    after: str,
    outcome: str,
    meta_answer: str,
    undoes: UUID | None,
) -> str:
    """Add one audit row as the caller (RLS: their own organization, their own name); its short id."""
    cur = await conn.execute(
        "insert into ad_actions (organization_id, brand_id, batch_id, user_id, email, object_type, object_id,"
        " object_name, account_id, field, before, after, outcome, meta_answer, undoes)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (brand.organization_id, brand.id, batch_id, caller.user_id, caller.email, object_type, object_id,
         object_name, account_id, field, before, after, outcome, meta_answer, undoes),
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    return str(row["id"])[:SHORT_ID]


_SELECT = (
    'select a.id, a.brand_id, a.created_at as "when", a.email, a.object_type, a.object_id, a.object_name,'
    " a.account_id, a.field, a.before, a.after, a.outcome, a.meta_answer,"
    " left(a.id::text, 8) as action, left(a.undoes::text, 8) as undoes,"
    " exists (select 1 from ad_actions u where u.undoes = a.id and u.outcome = 'changed') as undone"
    " from ad_actions a"
)


async def list_actions(conn: Conn, *, brand: BrandRef, limit: int) -> list[ActionRecord]:
    """The brand's audited changes, newest first."""
    cur = await conn.execute(
        f"{_SELECT} where a.brand_id = %s order by a.created_at desc, a.id limit %s", (brand.id, limit)
    )
    return [ActionRecord(**row) for row in await cur.fetchall()]


async def find_action(conn: Conn, *, action: str) -> tuple[ActionRecord, UUID]:
    """The change `action` names (its short id, or the whole id) among the caller's organizations',
    with its brand's id; `NotFound` or `InvalidArgument` saying what is wrong."""
    wanted = action.strip().lower()
    if not 8 <= len(wanted) <= 36 or any(c not in "0123456789abcdef-" for c in wanted):
        raise InvalidArgument(
            f"'{action}' is not an action id: /actions lists them (8 characters, like 1f0c2a9e)."
        )
    cur = await conn.execute(f"{_SELECT} where a.id::text like %s || '%%' limit 2", (wanted,))
    rows = await cur.fetchall()
    if not rows:
        raise NotFound(f"No action {wanted} in your organizations' audit: /actions lists them.")
    if len(rows) > 1:
        raise InvalidArgument(f"Several actions start with {wanted}: give more of its id.")
    return ActionRecord(**rows[0]), UUID(str(rows[0]["brand_id"]))


class ActionsResult(BaseModel, Presentable):
    brand: str
    actions: list[ActionRecord]
    summary: str

    def as_tables(self) -> list[Table]:
        columns: list[str | Column] = ["action", Column("when", "text"), "email", "object_type", Column("object_id", "ad_id"),
                   "object_name", "field", "before", "after", "outcome", "meta_answer", "undone"]  # fmt: skip
        return [table_of(f"Changes to {self.brand}'s ads in Meta", self.actions, columns)]
