"""Sign-in throttling: failed attempts counted per account and per client address, in Postgres
(so every app process sees the same counts), with delays that grow after a few failures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.errors import UserFacingError
from db.pool import Conn


@dataclass(frozen=True)
class ThrottlePolicy:
    """After `free_failures` failures each further one blocks for twice as long, up to `max_delay`;
    failures older than `forget_after` no longer count."""

    free_failures: int
    first_delay: timedelta
    max_delay: timedelta
    forget_after: timedelta

    def delay_after(self, failures: int) -> timedelta | None:
        if failures < self.free_failures:
            return None
        # Bounded exponent: the cap is reached long before 2**30.
        return min(self.first_delay * 2 ** min(failures - self.free_failures, 30), self.max_delay)


# One account: 5 free tries, then 1 s, 2 s, 4 s … 5 min. A success starts the account over.
ACCOUNT = ThrottlePolicy(5, timedelta(seconds=1), timedelta(minutes=5), timedelta(hours=1))
# One address tries many accounts (password spraying); an office shares one address: more leeway,
# and a success does not wipe the address's failures on other accounts.
CLIENT = ThrottlePolicy(20, timedelta(seconds=1), timedelta(minutes=5), timedelta(hours=1))

_KEY_LENGTH = 320  # an email is at most 254 characters; longer input is cut, not stored whole


class TooManyAttempts(UserFacingError):
    """Too many failed sign-ins for this account or from this address: wait `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many attempts, try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class SignInAttempt:
    """Whose attempt it is: the email as typed (known or not) and the client's address, if known."""

    email: str
    client: str | None

    def keys(self) -> dict[str, ThrottlePolicy]:
        keys = {"account:" + self.email.strip().lower()[:_KEY_LENGTH]: ACCOUNT}
        if self.client:
            keys["client:" + self.client[:_KEY_LENGTH]] = CLIENT
        return keys


async def check_not_blocked(conn: Conn, *, attempt: SignInAttempt) -> None:
    """Raise `TooManyAttempts` while a delay runs for this email or this address (before the
    password is checked: a blocked attempt costs no hashing)."""
    cur = await conn.execute(
        "select max(blocked_until - now()) as wait from login_throttle where key = any(%s) and blocked_until > now()",
        (list(attempt.keys()),),
    )
    row = await cur.fetchone()
    if row is not None and row["wait"] is not None:
        raise TooManyAttempts(_seconds(row["wait"]))


async def record_attempt(conn: Conn, *, attempt: SignInAttempt, succeeded: bool) -> None:
    """After the password check: a failure counts for the email and the address (and may start a
    delay); a success starts the email over. Raises `TooManyAttempts`, whatever the password, when
    a delay began while this attempt was being checked: of a burst of parallel guesses only as many
    are answered as one after the other would be. Run in a transaction."""
    keys = attempt.keys()
    ordered = sorted(keys)  # rows locked in one order: two attempts never deadlock
    if not succeeded:
        await conn.execute(
            "insert into login_throttle (key) select unnest(%s::text[]) on conflict (key) do nothing",
            (ordered,),
        )
    cur = await conn.execute(
        "select key, failures, blocked_until, updated_at, now() as now from login_throttle"
        " where key = any(%s) order by key for update",
        (ordered,),
    )
    rows = await cur.fetchall()
    waits = [row["blocked_until"] - row["now"] for row in rows if _blocked(row["blocked_until"], row["now"])]
    if waits:
        raise TooManyAttempts(_seconds(max(waits)))
    if succeeded:
        await conn.execute(
            "delete from login_throttle where key = any(%s)", ([k for k in keys if keys[k] is ACCOUNT],)
        )
        # Rows nobody has touched for longer than they are remembered go too.
        await conn.execute(
            "delete from login_throttle where updated_at < now() - %s::interval"
            " and (blocked_until is null or blocked_until < now())",
            (max(ACCOUNT.forget_after, CLIENT.forget_after),),
        )
        return
    for row in rows:
        policy = keys[row["key"]]
        forgotten = row["updated_at"] < row["now"] - policy.forget_after
        failures = 1 if forgotten else row["failures"] + 1
        await conn.execute(
            "update login_throttle set failures = %s, blocked_until = now() + %s::interval, updated_at = now()"
            " where key = %s",
            (failures, policy.delay_after(failures), row["key"]),
        )


def _blocked(blocked_until: datetime | None, now: datetime) -> bool:
    return blocked_until is not None and blocked_until > now


def _seconds(wait: timedelta) -> int:
    return max(1, math.ceil(wait.total_seconds()))
