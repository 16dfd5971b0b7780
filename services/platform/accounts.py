"""Organizations and users: onboarding and sign-in."""

from __future__ import annotations

import asyncio
import secrets
from functools import cache
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from pydantic import BaseModel

from core.errors import InvalidArgument, NotFound
from db.pool import Caller, Conn

# OWASP's argon2id setting (19 MiB, 2 passes, 1 lane): ~25 ms of one core per check, where the
# library default (64 MiB, 3 passes, 4 lanes) takes ~0.2 s of both. Older hashes keep verifying
# with the parameters they carry and are upgraded on the next sign-in (`upgrade_password_hash`).
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

ROLES = ("admin", "member")


async def create_organization(conn: Conn, *, name: str) -> UUID:
    """Create an organization, or return the existing one of that name."""
    name = name.strip()
    if not name:
        raise InvalidArgument("An organization needs a name.")
    cur = await conn.execute(
        "insert into organizations (name) values (%s) on conflict (name) do update set name = excluded.name"
        " returning id",
        (name,),
    )
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))


async def find_organization(conn: Conn, *, name: str) -> UUID:
    cur = await conn.execute("select id from organizations where lower(name) = lower(%s)", (name.strip(),))
    row = await cur.fetchone()
    if row is None:
        raise NotFound(f"No organization named '{name}'. Create it with: viraltracker org create \"{name}\"")
    return UUID(str(row["id"]))


async def add_user(
    conn: Conn, *, email: str, organization_id: UUID, role: str = "member", password: str | None = None
) -> UUID:
    """Create the user if new (or update their password) and add them to the organization."""
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise InvalidArgument(f"'{email}' is not an email address.")
    if role not in ROLES:
        raise InvalidArgument(f"Role must be admin or member (got '{role}').")
    cur = await conn.execute("select id from auth.users where lower(email) = %s", (email,))
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute("insert into auth.users (email) values (%s) returning id", (email,))
        row = await cur.fetchone()
        assert row is not None
    user_id = UUID(str(row["id"]))
    if password is not None:
        await conn.execute(
            "insert into user_credentials (user_id, password_hash) values (%s, %s)"
            " on conflict (user_id) do update set password_hash = excluded.password_hash, updated_at = now()",
            (user_id, _hasher.hash(password)),
        )
    await conn.execute(
        "insert into user_organizations (user_id, organization_id, role) values (%s, %s, %s)"
        " on conflict (user_id, organization_id) do update set role = excluded.role",
        (user_id, organization_id, role),
    )
    return user_id


class Membership(BaseModel):
    organization_id: UUID
    organization: str
    role: str


async def memberships(conn: Conn, *, user_id: UUID) -> dict[UUID, Membership]:
    """The person's organizations and their role in each (admin or member)."""
    cur = await conn.execute(
        "select m.organization_id, o.name as organization, m.role from user_organizations m"
        " join organizations o on o.id = m.organization_id where m.user_id = %s",
        (user_id,),
    )
    return {row["organization_id"]: Membership(**row) for row in await cur.fetchall()}


async def find_caller(conn: Conn, *, email: str) -> Caller:
    """The user with this email, or a clear message."""
    cur = await conn.execute(
        "select id, email from auth.users where lower(email) = lower(%s)", (email.strip(),)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFound(
            f"No user with email '{email}'. Add one with: viraltracker user add {email} --org NAME"
        )
    return Caller(user_id=UUID(str(row["id"])), email=str(row["email"]))


# argon2 is deliberately slow: off the event loop, one at a time (one core), so a burst of sign-ins
# can't stall every chat on the server.
_PASSWORD_CHECKS = asyncio.Semaphore(1)


USERS_LISTED = 10
"""Most users a "say who is asking" message names."""


async def default_caller(conn: Conn, *, email: str | None, flag: str = "--user EMAIL") -> Caller:
    """Who a one-person command runs as: `email` (--user or VIRALTRACKER_USER) when given, else the only
    user there is; with several (or none), a message saying how to choose, naming the users there are."""
    if email:
        return await find_caller(conn, email=email)
    cur = await conn.execute(
        "select id, email, count(*) over () as users from auth.users order by lower(email) limit %s",
        (USERS_LISTED,),
    )
    rows = await cur.fetchall()
    if len(rows) == 1:
        return Caller(user_id=UUID(str(rows[0]["id"])), email=str(rows[0]["email"]))
    if not rows:
        raise NotFound(
            "There are no users yet: add one with `viraltracker user add EMAIL --org NAME`"
            " (or load the demo with `viraltracker demo seed`)."
        )
    more = int(rows[0]["users"]) - len(rows)
    names = ", ".join(str(r["email"]) for r in rows) + (f" and {more} more" if more else "")
    raise InvalidArgument(f"Say who is asking: {flag}, or set VIRALTRACKER_USER. The users here: {names}.")


async def password_hash_of(conn: Conn, *, email: str) -> tuple[Caller, str] | None:
    """The user with this email and their stored hash (None when there is no such user or no password)."""
    cur = await conn.execute(
        "select u.id, u.email, c.password_hash from auth.users u join user_credentials c on c.user_id = u.id"
        " where lower(u.email) = lower(%s)",
        (email.strip(),),
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Caller(user_id=UUID(str(row["id"])), email=str(row["email"])), str(row["password_hash"])


@cache
def _dummy_hash() -> str:
    # A hash of nothing anyone knows, with the same parameters as real ones: the same work to refuse.
    return _hasher.hash(secrets.token_urlsafe(32))


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether the password matches the stored hash. With no hash (no such user, or no password)
    the same argon2 work is done against a dummy hash, so the time taken tells nothing, and False."""

    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
        except VerificationError:
            return False

    async with _PASSWORD_CHECKS:
        return await asyncio.to_thread(check)


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


async def upgrade_password_hash(conn: Conn, *, caller: Caller, password_hash: str, password: str) -> bool:
    """After a successful check: re-hash a password stored with other argon2 parameters."""
    if not password_needs_rehash(password_hash):
        return False
    fresh = await asyncio.to_thread(_hasher.hash, password)
    cur = await conn.execute(
        "update user_credentials set password_hash = %s, updated_at = now()"
        " where user_id = %s and password_hash = %s",
        (fresh, caller.user_id, password_hash),
    )
    return cur.rowcount == 1


async def verify_password(conn: Conn, *, email: str, password: str) -> Caller | None:
    """The caller when the password matches, else None (same answer for unknown users)."""
    found = await password_hash_of(conn, email=email)
    if not await password_matches(found[1] if found else None, password) or found is None:
        return None
    caller, password_hash = found
    await upgrade_password_hash(conn, caller=caller, password_hash=password_hash, password=password)
    return caller
