"""Acting on ads in Meta: pause, resume, re-budget, the audit of changes and undo. Every write is
previewed first and runs only with confirm:true (the preview's Confirm button)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from core.errors import InvalidArgument
from services.brands import resolve_brand
from services.meta import action_log, ad_changes
from services.meta.ad_writes import apply_plan
from services.metrics import format_number
from services.money import from_minor
from services.platform.accounts import memberships
from tools.actions import ActionButton, admin_of, ask_first
from tools.common import MOST_SPEND, Limit
from tools.deps import Deps
from tools.registry import tool

AdIds = Annotated[str, Field(max_length=2000)]
Amount = Annotated[float, Field(gt=0, le=MOST_SPEND)]
ObjectId = Annotated[str, Field(pattern=r"^\d{1,30}$")]


class AdChangeAnswer(ad_changes.ChangePlan):
    actions: list[ActionButton] = Field(default_factory=list)


def ad_ids(text: str) -> list[str]:
    """'1202…, 1202…' → the ids in order, once each; a clear message for anything not an id."""
    ids = [part for part in re.split(r"[\s,]+", text) if part]
    if bad := [part for part in ids if not part.isdigit() or len(part) > 30]:
        raise InvalidArgument(f"'{bad[0]}' is not an ad id (digits, like 120210000000001).")
    if not ids:
        raise InvalidArgument("Which ads? Give their ids: ads:120210000000001,120210000000002.")
    return list(dict.fromkeys(ids))


def _question(plan: ad_changes.ChangePlan) -> str:
    items = "; ".join(
        f"{c.label()}: {c.now}{'' if c.field == 'status' else ' → ' + c.change.split(' → ')[-1]},"
        f" {format_number('money', c.spend_7d)} spent and {c.purchases_7d} purchases in the last 7 days"
        for c in plan.changes
    )
    n = len(plan.changes)
    what = f"{n} {ad_changes.WORD[plan.changes[0].object_type]}{'s' if n != 1 else ''}"
    return f"{plan.verb} {what} of {plan.brand}? {items}.{_unchanged(plan)}"


def _unchanged(plan: ad_changes.ChangePlan) -> str:
    return f" Left as they are: {'; '.join(plan.unchanged)}." if plan.unchanged else ""


def _answer(
    plan: ad_changes.ChangePlan, *, tool_name: str, args: dict[str, str | int | bool], label: str
) -> AdChangeAnswer:
    if not plan.changes:
        return AdChangeAnswer(
            **plan.model_dump(exclude={"summary"}), summary=f"Nothing to change:{_unchanged(plan)}"
        )
    return ask_first(AdChangeAnswer, _question(plan), tool=tool_name, args=args, label=label,
                     **plan.model_dump(exclude={"summary"}))  # fmt: skip


async def _pause_or_resume(
    deps: Deps, brand: str, ads: str, confirm: bool, status: Literal["PAUSED", "ACTIVE"]
) -> AdChangeAnswer:
    plan, target = await ad_changes.plan_status(deps.db, deps.caller, brand=brand, ids=ad_ids(ads), status=status,
                                                today=deps.today, settings=deps.settings)  # fmt: skip
    name = "pause_ads" if status == "PAUSED" else "resume_ads"
    if not confirm or not plan.changes:
        args: dict[str, str | int | bool] = {
            "brand": plan.brand,
            "ads": ",".join(c.object_id for c in plan.changes),
        }
        return _answer(plan, tool_name=name, args=args, label=plan.verb)
    done = await apply_plan(deps.db, deps.caller, plan=plan, target=target)
    return AdChangeAnswer(**done.model_dump(exclude={"summary"}), summary=done.summary + _unchanged(done))


@tool(
    example='/pause_ads brand:"Acme Pets" ads:120210000000001,120210000000002', step="Pausing ads of {brand}"
)
async def pause_ads(deps: Deps, brand: str, ads: AdIds, confirm: bool = False) -> AdChangeAnswer:
    """Pause a brand's ads in Meta. Previews first; confirm:true (after the person agreed) writes.

    Args:
        ads: Ad ids, comma-separated (at most 20).
        confirm: true to write after the person saw the preview.
    """
    return await _pause_or_resume(deps, brand, ads, confirm, "PAUSED")


@tool(example='/resume_ads brand:"Acme Pets" ads:120210000000001', step="Resuming ads of {brand}")
async def resume_ads(deps: Deps, brand: str, ads: AdIds, confirm: bool = False) -> AdChangeAnswer:
    """Resume a brand's paused ads in Meta. Previews first; confirm:true (after the person agreed) writes.

    Args:
        ads: Ad ids, comma-separated (at most 20).
        confirm: true to write after the person saw the preview.
    """
    return await _pause_or_resume(deps, brand, ads, confirm, "ACTIVE")


@tool(
    example='/set_budget brand:"Acme Pets" adset:120210000000010 daily:60',
    step="Changing a budget of {brand}",
    help="""daily:60 sets a daily budget of 60.00 in the ad account's currency; change takes a percent such as
    +20% or -15% instead of an amount.""",
)
async def set_budget(
    deps: Deps,
    brand: str,
    adset: ObjectId | None = None,
    campaign: ObjectId | None = None,
    daily: Amount | None = None,
    lifetime: Amount | None = None,
    change: Annotated[str, Field(max_length=12)] | None = None,
    force: bool = False,
    confirm: bool = False,
) -> AdChangeAnswer:
    """Set an ad set's or campaign's budget in Meta, in the ad account's currency. Previews first;
    confirm:true writes. A change beyond ±50% needs force:true.

    Args:
        adset: Ad set id (or campaign).
        campaign: Campaign id (or adset).
        daily: New daily budget.
        lifetime: New lifetime budget.
        change: Or a percent change, e.g. +20%.
        force: true to allow beyond ±50%.
        confirm: true to write after the person saw the preview.
    """
    if (adset is None) == (campaign is None):
        raise InvalidArgument("Give one of adset:ID or campaign:ID.")
    kind: Literal["adset", "campaign"] = "adset" if adset is not None else "campaign"
    object_id = adset or campaign or ""
    plan, target = await ad_changes.plan_budget(
        deps.db, deps.caller, brand=brand, kind=kind, object_id=object_id, daily=daily, lifetime=lifetime,
        change=change, force=force, today=deps.today, settings=deps.settings,
    )  # fmt: skip
    if not confirm or not plan.changes:
        args: dict[str, str | int | bool] = {"brand": plan.brand, kind: object_id}
        given: dict[str, str | float | None] = {"daily": daily, "lifetime": lifetime, "change": change}
        args.update({k: str(v) for k, v in given.items() if v is not None})
        if change is not None and plan.changes and plan.changes[0].currency:
            # Confirm writes the amount the person saw, so a repeat or a change made meanwhile never compounds.
            agreed = plan.changes[0]
            del args["change"]
            args["daily" if agreed.field == "daily_budget" else "lifetime"] = str(
                from_minor(int(agreed.after), agreed.currency or "")
            )
        if force:
            args["force"] = True
        return _answer(plan, tool_name="set_budget", args=args, label="Change budget")
    done = await apply_plan(deps.db, deps.caller, plan=plan, target=target)
    return AdChangeAnswer(**done.model_dump(exclude={"summary"}), summary=done.summary)


@tool(example='/actions brand:"Acme Pets"', step="Listing changes to {brand}'s ads in Meta")
async def actions(deps: Deps, brand: str, limit: Limit = 20) -> action_log.ActionsResult:
    """The changes made from here to a brand's ads in Meta (who, when, before and after, Meta's answer),
    newest first, with their ids for undo.
    """
    async with deps.db.as_user(deps.caller) as conn:
        found = await resolve_brand(conn, name=brand)
        rows = await action_log.list_actions(conn, brand=found, limit=limit)
    if not rows:
        return action_log.ActionsResult(
            brand=found.name, actions=[], summary=f"No changes to {found.name}'s ads in Meta yet."
        )
    latest = rows[0]
    summary = (
        f"{len(rows)} change{'s' if len(rows) != 1 else ''} to {found.name}'s ads in Meta, newest first; the latest:"
        f" {latest.email} set {latest.field.replace('_', ' ')} of {latest.object_type} {latest.object_id}"
        f" from {latest.before} to {latest.after} ({latest.outcome}), action {latest.action}."
    )
    return action_log.ActionsResult(brand=found.name, actions=rows, summary=summary)


@tool(
    example="/undo action:1f0c2a9e",
    step="Undoing change {action}",
    help="A change is undone only while Meta still has what it set.",
)
async def undo(
    deps: Deps, action: Annotated[str, Field(max_length=40)], confirm: bool = False
) -> AdChangeAnswer:
    """Undo one change from actions: restores the status or budget it replaced. Previews first; confirm:true
    writes.

    Args:
        action: The change's id from actions.
        confirm: true to write after the person saw the preview.
    """
    plan, target, undoes = await ad_changes.plan_undo(deps.db, deps.caller, action=action, today=deps.today,
                                                      settings=deps.settings)  # fmt: skip
    if not confirm:
        return _answer(plan, tool_name="undo", args={"action": action}, label="Undo")
    done = await apply_plan(deps.db, deps.caller, plan=plan, target=target, undoes=undoes)
    return AdChangeAnswer(**done.model_dump(exclude={"summary"}), summary=done.summary)


class AdWritesAnswer(AdChangeAnswer):
    pass


@tool(
    example='/ad_writes brand:"Acme Pets" allow:admins',
    step="Writes to Meta for {brand}'s organization",
    help="""Changing ads means pausing, resuming and re-budgeting them. Turning it on makes Connect Facebook ask
    for ads_management.""",
)
async def ad_writes(
    deps: Deps, brand: str, allow: Literal["off", "admins", "members"] | None = None, confirm: bool = False
) -> AdWritesAnswer:
    """Who in the brand's organization may change ads in Meta (off, admins or members). Without allow it
    shows the setting; admins change it (preview, then confirm:true).

    Args:
        confirm: true to apply after the preview.
    """
    async with deps.db.as_user(deps.caller) as conn:
        found = await resolve_brand(conn, name=brand)
        roles = await memberships(conn, user_id=deps.caller.user_id)
        organization = roles[found.organization_id].organization
        now = await action_log.writes_allowed(conn, organization_id=found.organization_id)
        said = {"off": "off", "admins": "on for admins", "members": "on for everyone"}
        if allow is None:
            return AdWritesAnswer(brand=found.name, verb="Writes", changes=[],
                                  summary=f"Changing ads in Meta is {said[now]} in {organization}.")  # fmt: skip
        admin_of(roles, found.organization_id, organization=organization, to="change who may write to Meta")
        if not confirm:
            note = (
                " Connect Facebook will then ask for ads_management (reconnect to grant it)."
                if allow != "off"
                else ""
            )
            return ask_first(AdWritesAnswer, f"Turn changing ads in Meta {said[allow]} in {organization}?",
                             tool="ad_writes", args={"brand": found.name, "allow": allow}, label="Save",
                             note=note, brand=found.name, verb="Writes", changes=[])  # fmt: skip
        await action_log.set_writes_allowed(
            conn, organization_id=found.organization_id, caller=deps.caller, allowed=allow
        )
    return AdWritesAnswer(brand=found.name, verb="Writes", changes=[],
                          summary=f"Changing ads in Meta is now {said[allow]} in {organization}.")  # fmt: skip
