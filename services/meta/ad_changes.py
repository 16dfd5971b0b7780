"""Pausing, resuming and re-budgeting a brand's ads, ad sets and campaigns in Meta, safely.

Every change is planned the same way, for its preview and again when confirmed (Meta is read afresh):
the caller may write (`action_log.check_may_write`), each object is one of the brand's stored ones
and Meta says it sits in one of the brand's linked accounts, the connection's token holds
`ads_management`, and a budget stays within ±50 % (unless forced) and above the account's minimum,
in the account's currency. Confirmed, each object gets one POST through the SDK, never repeated
blindly: when Meta does not answer, the object is read back first. The audit gets a row per object
tried; stored ad statuses change at once; the organization is notified.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, SecretStr

from core.errors import InvalidArgument, NeedsReconnect, NotAllowed, NotFound
from db.pool import Caller, Conn, Database
from services import money as money_shown
from services.brands import brand_by_id, resolve_brand
from services.meta import action_log
from services.meta.api import THROTTLE_CODES, Limits, MetaClient, MetaRefused, MetaUnanswered
from services.meta.connections import Connection, connections_for, paused_until_reconnect
from services.models import BrandRef
from services.presentable import Column, Presentable, Table, table_of
from settings import Settings

ObjectType = Literal["ad", "adset", "campaign"]
WORD = {"ad": "ad", "adset": "ad set", "campaign": "campaign"}
MAX_OBJECTS = 20
MAX_CHANGE = 0.5
"""A budget change beyond ±50 % needs force:true."""
WRITE_SCOPE = "ads_management"
BUDGET_TOO_LOW = 1885272
"""Currencies Meta counts in whole units (no cents): their amounts are not multiplied by 100."""
NODE_FIELDS = {
    "ad": "id,name,account_id,status,effective_status",
    "adset": "id,name,account_id,status,effective_status,daily_budget,lifetime_budget",
    "campaign": "id,name,account_id,status,effective_status,daily_budget,lifetime_budget",
}
_STORED_ID = {"ad": "a.meta_ad_id", "adset": "a.adset_id", "campaign": "a.campaign_id"}
_STORED_NAME = {"ad": "a.name", "adset": "a.adset", "campaign": "a.campaign"}
ClientFactory = Callable[[SecretStr], MetaClient]


def money(minor: int, currency: str) -> str:
    """An amount in the account's currency, Meta's minor units in: $50.00, ¥5,000."""
    shown = money_shown.current()
    return money_shown.format_money(
        money_shown.from_minor(minor, currency), money=money_shown.Money(currency, shown.locale)
    )


class Change(BaseModel):
    """One object's change: what Meta has now and what it will have, with its last 7 days."""

    object_type: ObjectType
    object_id: str
    name: str
    account_id: str
    field: Literal["status", "daily_budget", "lifetime_budget"]
    before: str | None
    after: str
    now: str
    """What it is now, in words: 'active', '$50.00 a day'."""
    change: str
    """What changes, in words: 'pause', '$50.00 → $60.00 a day'."""
    spend_7d: float
    purchases_7d: int
    outcome: str | None = None
    """After the write: changed, refused, unknown (no answer, not read back), not tried."""
    meta_answer: str | None = None
    reason: str | None = None
    """Why it was not changed, in words."""
    action: str | None = None
    """The audit row's short id (`/undo action:`)."""
    currency: str | None = None
    """A budget's currency (its account's): `before`/`after` are in its minor units."""

    def label(self) -> str:
        return f"'{self.name}' ({self.object_id})"


class ChangePlan(BaseModel, Presentable):
    brand: str
    verb: str
    """'Pause', 'Resume', 'Change the budget of', 'Undo'."""
    changes: list[Change]
    unchanged: list[str] = []
    """Objects left as they are (already in the asked state), in words."""
    summary: str = ""

    def as_tables(self) -> list[Table]:
        columns: list[str | Column] = ["name", Column("object_id", "ad_id"), "object_type", "now", "change",
                   Column("spend_7d", "money", "Spend, 7 days"), Column("purchases_7d", "integer", "Purchases, 7 days"),
                   "outcome", "meta_answer", "action"]  # fmt: skip
        return [table_of(f"{self.verb} — {self.brand}", self.changes, columns)]


@dataclass
class Target:
    """What the write needs about the brand: its connections and a client per ad account."""

    brand: BrandRef
    organization: str
    clients: dict[str, MetaClient] = field(default_factory=dict)


def refusal(error: MetaRefused, *, what: str, account: str) -> str:
    """Meta's refusal as a person reads it."""
    code = error.code
    if code in (10, 200):
        return (
            f"Meta refused: this connection may not manage {what} (code {code}). It needs the"
            f" ads_management permission and a role on {account}."
        )
    if code == 17:
        return "Meta is limiting this Facebook user's calls (code 17): try again in a few minutes."
    if code == 80004:
        return f"Meta is limiting calls to {account} (code 80004): try again in a few minutes."
    if code in THROTTLE_CODES:
        return f"Meta is limiting calls (code {code}): try again in a few minutes."
    if code == 100 and error.subcode == BUDGET_TOO_LOW:
        return f"Meta says the budget is too low: {error.user_message or error.message}"
    if code == 100:
        return f"Meta refused an invalid parameter for {what}: {error.message} (code 100)."
    if code == 190:
        return (
            "Meta no longer accepts this brand's token (expired or revoked). Reconnect it with /connect_meta."
        )
    return f"Meta refused the change to {what}: {error.message} (code {code})."


def stops_batch(error: MetaRefused) -> bool:
    return error.code in THROTTLE_CODES or error.code == 190


async def _read(
    client: MetaClient, path: tuple[str, ...], fields: str, *, what: str, account: str
) -> dict[str, Any]:
    try:
        return await asyncio.to_thread(client.send_once, "GET", path, {"fields": fields})
    except MetaRefused as error:
        if error.code == 100 and error.subcode == 33:
            raise NotFound(f"Meta has no {what} that this connection can read.") from None
        raise NotAllowed(refusal(error, what=what, account=account)) from None
    except MetaUnanswered:
        raise NotAllowed(
            f"Meta did not answer while reading {what}: nothing was changed. Try again."
        ) from None


async def _stored(
    conn: Conn, brand: BrandRef, kind: ObjectType, ids: list[str], today: date
) -> dict[str, dict[str, Any]]:
    """The brand's stored objects among `ids` (RLS: the caller's organizations only): name, account,
    last-7-day spend and purchases."""
    key, name = _STORED_ID[kind], _STORED_NAME[kind]
    cur = await conn.execute(
        f"select {key} as id, min({name}) as name, min(a.meta_ad_account_id) as account,"
        " coalesce(sum(p.spend), 0)::float8 as spend, coalesce(sum(p.purchases), 0)::int as purchases"
        " from meta_ads a left join meta_ads_performance p on p.meta_ad_id = a.meta_ad_id"
        "   and p.date between %s and %s"
        f" where a.brand_id = %s and {key} = any(%s) group by 1",
        (today - timedelta(days=7), today - timedelta(days=1), brand.id, ids),
    )
    return {str(row["id"]): row for row in await cur.fetchall()}


def _missing(kind: ObjectType, ids: list[str], brand: BrandRef) -> NotFound:
    word = WORD[kind] if len(ids) == 1 else f"{WORD[kind]}s"
    return NotFound(f"No {word} {', '.join(ids)} in {brand.name}.")


async def _prepare(
    db: Database, caller: Caller, *, brand: BrandRef | str, kind: ObjectType, ids: list[str], today: date,
    settings: Settings, client_factory: ClientFactory | None,
) -> tuple[Target, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:  # fmt: skip
    """Checks common to every change; the target, the stored rows and Meta's nodes by id."""
    if len(ids) > MAX_OBJECTS:
        raise InvalidArgument(f"At most {MAX_OBJECTS} {WORD[kind]}s per action (got {len(ids)}): split them.")
    async with db.as_user(caller) as conn:
        found = brand if isinstance(brand, BrandRef) else await resolve_brand(conn, name=brand)
        organization = await action_log.check_may_write(conn, caller=caller, brand=found)
        stored = await _stored(conn, found, kind, ids, today)
        if missing := [i for i in ids if i not in stored]:
            raise _missing(kind, missing, found)
        connections = {c.account_id: c for c in await connections_for(conn, found, settings)}
    target = Target(found, organization)
    nodes: dict[str, dict[str, Any]] = {}
    for object_id in ids:
        account = str(stored[object_id]["account"] or "")
        connection = connections.get(account)
        if connection is None:
            raise _missing(kind, [object_id], found)
        client = target.clients.get(account) or await _client(connection, settings, client_factory)
        target.clients[account] = client
        what = f"{WORD[kind]} {object_id}"
        node = await _read(client, (object_id,), NODE_FIELDS[kind], what=what, account=account)
        if f"act_{node.get('account_id')}" != account:  # Meta's word on where it lives, not our copy's
            raise _missing(kind, [object_id], found)
        nodes[object_id] = node
    return target, stored, nodes


async def _client(
    connection: Connection, settings: Settings, client_factory: ClientFactory | None
) -> MetaClient:
    """A client for the connection's token, once Meta confirms the token may manage ads."""
    if connection.expired:
        raise NeedsReconnect(
            f"The Meta token for {connection.account_id} expired or was revoked. "
            + paused_until_reconnect(connection.account_id, connection.brand.name)
        )
    client = (client_factory or _default_client(settings))(connection.token)
    granted = await _read(client, ("me", "permissions"), "permission,status",
                          what="the connection's permissions", account=connection.account_id)  # fmt: skip
    scopes = {p.get("permission") for p in granted.get("data") or [] if p.get("status") == "granted"}
    if WRITE_SCOPE not in scopes:
        raise NotAllowed(
            f"{connection.brand.name}'s Meta connection for {connection.account_id} can only read ads (its token"
            f' lacks ads_management): nothing was changed. Reconnect with `/connect_meta brand:"{connection.brand.name}"`'
            " to grant it, or give the system user ads_management in Business Settings."
        )
    return client


def _default_client(settings: Settings) -> ClientFactory:
    return lambda token: MetaClient(token=token, graph_url=settings.meta_graph_url, limits=Limits(timeout=30))


def _status_words(node: dict[str, Any]) -> str:
    return str(node.get("effective_status") or node.get("status") or "unknown").lower().replace("_", " ")


async def plan_status(
    db: Database, caller: Caller, *, brand: str, ids: list[str], status: Literal["PAUSED", "ACTIVE"],
    today: date, settings: Settings, client_factory: ClientFactory | None = None,
) -> tuple[ChangePlan, Target]:  # fmt: skip
    """Pause or resume the brand's ads: each one's name, status now and last 7 days; those already
    in that state are left out (and named)."""
    target, stored, nodes = await _prepare(db, caller, brand=brand, kind="ad", ids=ids, today=today,
                                           settings=settings, client_factory=client_factory)  # fmt: skip
    verb = "Pause" if status == "PAUSED" else "Resume"
    plan = ChangePlan(brand=target.brand.name, verb=verb, changes=[])
    for object_id in ids:
        node, row = nodes[object_id], stored[object_id]
        name = str(node.get("name") or row["name"])
        if node.get("status") == status:
            plan.unchanged.append(f"'{name}' ({object_id}) is already {status.lower()}")
            continue
        plan.changes.append(Change(
            object_type="ad", object_id=object_id, name=name, account_id=str(row["account"]), field="status",
            before=node.get("status"), after=status, now=_status_words(node), change=verb.lower(),
            spend_7d=row["spend"], purchases_7d=row["purchases"],
        ))  # fmt: skip
    return plan, target


def parse_change(text: str) -> float:
    """'+20%' → 0.2; a clear message for anything else."""
    found = re.fullmatch(r"\s*([+-]?\d{1,4}(?:\.\d+)?)\s*%\s*", text)
    if found is None:
        raise InvalidArgument(f"change must be a percentage like +20% or -15% (got '{text}').")
    return float(found[1]) / 100


async def plan_budget(
    db: Database, caller: Caller, *, brand: str, kind: Literal["adset", "campaign"], object_id: str,
    daily: float | None, lifetime: float | None, change: str | None, force: bool, today: date,
    settings: Settings, client_factory: ClientFactory | None = None,
) -> tuple[ChangePlan, Target]:  # fmt: skip
    """Set an ad set's or campaign's daily or lifetime budget (an amount in the account's currency, or
    a change in percent), checked against ±50 % and the account's minimum daily budget."""
    if [daily, lifetime, change].count(None) != 2:
        raise InvalidArgument("Give one of daily:AMOUNT, lifetime:AMOUNT or change:+20%.")
    pct = parse_change(change) if change is not None else None
    target, stored, nodes = await _prepare(db, caller, brand=brand, kind=kind, ids=[object_id], today=today,
                                           settings=settings, client_factory=client_factory)  # fmt: skip
    node, row = nodes[object_id], stored[object_id]
    account = str(row["account"])
    name, what = (
        str(node.get("name") or row["name"]),
        f"{WORD[kind]} '{node.get('name') or row['name']}' ({object_id})",
    )
    info = await _read(
        target.clients[account], (account,), "currency,min_daily_budget", what=account, account=account
    )
    currency, minimum = str(info.get("currency") or "USD"), int(info.get("min_daily_budget") or 0)
    has = {
        f: int(node[f])
        for f in ("daily_budget", "lifetime_budget")
        if str(node.get(f) or "0") not in ("", "0")
    }
    if not has:
        holder = "its campaign sets the budget" if kind == "adset" else "its ad sets carry the budgets"
        raise InvalidArgument(f"The {what} has no budget of its own: {holder}. Change that one instead.")
    budget_field: Literal["daily_budget", "lifetime_budget"] = (
        "daily_budget" if "daily_budget" in has else "lifetime_budget"
    )
    per = " a day" if budget_field == "daily_budget" else " lifetime"
    asked = (
        "daily_budget" if daily is not None else "lifetime_budget" if lifetime is not None else budget_field
    )
    current = has[budget_field]
    if asked != budget_field:
        raise InvalidArgument(
            f"The {what} has a {budget_field.split('_')[0]} budget ({money(current, currency)}{per}):"
            f" give {budget_field.split('_')[0]}:AMOUNT or change:+N%."
        )
    unit = 10 ** money_shown.minor_units(currency)
    amount = daily if daily is not None else lifetime
    new = round(current * (1 + pct)) if pct is not None else round((amount or 0) * unit)
    if new <= 0:
        raise InvalidArgument(f"A budget must be more than 0 (got {money(new, currency)}).")
    moved = new / current - 1
    words = f"{money(current, currency)} → {money(new, currency)}{per}"
    if budget_field == "daily_budget" and new < minimum:
        raise InvalidArgument(
            f"{account}'s minimum daily budget is {money(minimum, currency)}; {money(new, currency)} is below it."
        )
    if abs(moved) > MAX_CHANGE and not force:
        raise InvalidArgument(
            f"That changes the {what}'s budget by {moved:+.0%} ({words}); more than ±50% needs force:true."
        )
    plan = ChangePlan(brand=target.brand.name, verb="Change the budget of", changes=[])
    if new == current:
        plan.unchanged.append(f"The {what}'s budget is already {money(current, currency)}{per}")
        return plan, target
    plan.changes.append(Change(
        object_type=kind, object_id=object_id, name=name, account_id=account, field=budget_field,
        before=str(current), after=str(new), now=f"{money(current, currency)}{per}", change=words,
        spend_7d=row["spend"], purchases_7d=row["purchases"], currency=currency,
    ))  # fmt: skip
    return plan, target


async def plan_undo(
    db: Database, caller: Caller, *, action: str, today: date, settings: Settings,
    client_factory: ClientFactory | None = None,
) -> tuple[ChangePlan, Target, UUID]:  # fmt: skip
    """Restore what one audited change replaced, if Meta still has what it set."""
    async with db.as_user(caller) as conn:
        record, brand_id = await action_log.find_action(conn, action=action)
        brand = await brand_by_id(conn, brand_id)
    if record.outcome != "changed":
        raise InvalidArgument(
            f"Action {record.action} did not change anything ({record.outcome}): nothing to undo."
        )
    if record.undone:
        raise InvalidArgument(f"Action {record.action} was already undone.")
    if record.before is None:
        raise InvalidArgument(f"Action {record.action} has no earlier value to restore.")
    kind: ObjectType = record.object_type  # type: ignore[assignment]
    target, stored, nodes = await _prepare(db, caller, brand=brand, kind=kind, ids=[record.object_id],
                                           today=today, settings=settings, client_factory=client_factory)  # fmt: skip
    node, row = nodes[record.object_id], stored[record.object_id]
    now = str(node.get(record.field) or "")
    what = f"{WORD[kind]} '{node.get('name') or row['name']}' ({record.object_id})"
    if now != record.after:
        raise InvalidArgument(
            f"Can't undo {record.action}: the {what} has {record.field.replace('_', ' ')} {now or 'none'} now,"
            f" not the {record.after} it set (changed since). Nothing was changed."
        )
    now_words, change = record.after.lower(), {"ACTIVE": "resume", "PAUSED": "pause"}.get(record.before, "")
    if record.field != "status":
        client, account = target.clients[record.account_id], record.account_id
        currency = str(
            (await _read(client, (account,), "currency", what=account, account=account)).get("currency")
            or "USD"
        )
        per = " a day" if record.field == "daily_budget" else " lifetime"
        now_words = f"{money(int(record.after), currency)}{per}"
        change = f"{now_words} → {money(int(record.before), currency)}{per}"
    plan = ChangePlan(brand=brand.name, verb="Undo", changes=[Change(
        object_type=kind, object_id=record.object_id, name=str(node.get("name") or row["name"]),
        account_id=record.account_id, field=record.field,
        before=record.after, after=record.before,
        now=now_words, change=change,
        spend_7d=row["spend"], purchases_7d=row["purchases"],
    )])  # fmt: skip
    return plan, target, UUID(str(record.id))
