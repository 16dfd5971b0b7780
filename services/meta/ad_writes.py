"""Writing a confirmed change plan to Meta: one POST per object, never repeated blindly, each
audited; then the stored ad statuses and a notification to the organization (and its Slack channel)."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from db.pool import Caller, Database
from services.meta import action_log
from services.meta.ad_changes import (
    NODE_FIELDS,
    WORD,
    Change,
    ChangePlan,
    Target,
    refusal,
    stops_batch,
)
from services.meta.api import MetaClient, MetaRefused, MetaUnanswered
from services.platform import notifications

PAST = {
    "Pause": "Paused",
    "Resume": "Resumed",
    "Change the budget of": "Changed the budget of",
    "Undo": "Undid",
}


async def _write_once(client: MetaClient, change: Change) -> tuple[str, str, str, bool]:
    """(outcome, Meta's answer, the reason in words when not changed, whether the rest of the batch
    stops) for one object. After no
    answer the object is read back before the one retry: a write that landed is not sent twice."""
    params: dict[str, str] = {change.field: change.after}
    what = f"{WORD[change.object_type]} {change.object_id}"
    try:
        await asyncio.to_thread(client.send_once, "POST", (change.object_id,), params)
        return "changed", "success", "", False
    except MetaRefused as error:
        reason = refusal(error, what=what, account=change.account_id)
        return "refused", f"code {error.code}: {error.message}", reason, stops_batch(error)
    except MetaUnanswered:
        pass
    try:
        node = await asyncio.to_thread(
            client.send_once, "GET", (change.object_id,), {"fields": NODE_FIELDS[change.object_type]}
        )
    except (MetaRefused, MetaUnanswered):
        why = (
            "Meta did not answer, and it could not be read back: check it in Ads Manager before trying again."
        )
        return "unknown", "no answer", why, True
    if str(node.get(change.field)) == change.after:
        return "changed", "no answer; read back: already applied", "", False
    try:
        await asyncio.to_thread(client.send_once, "POST", (change.object_id,), params)
        return "changed", "no answer; read back unchanged; sent once more: success", "", False
    except MetaRefused as error:
        reason = refusal(error, what=what, account=change.account_id)
        return "refused", f"no answer, then code {error.code}: {error.message}", reason, True
    except MetaUnanswered:
        why = "Meta did not answer twice: check it in Ads Manager before trying again."
        return "unknown", "no answer twice", why, True


async def apply_plan(
    db: Database, caller: Caller, *, plan: ChangePlan, target: Target, undoes: UUID | None = None
) -> ChangePlan:
    """Write the plan's changes in order; the plan back with each change's outcome, and its summary."""
    batch, stopped = uuid4(), False
    for change in plan.changes:
        if stopped:
            change.outcome, change.meta_answer = "not tried", "not sent: Meta refused an earlier one"
            continue
        outcome, answer, reason, stop = await _write_once(target.clients[change.account_id], change)
        change.outcome, change.meta_answer, change.reason, stopped = outcome, answer, reason, stop
        async with db.as_user(
            caller
        ) as conn:  # each row as soon as Meta answered: none lost to a later fault
            change.action = await action_log.record(
                conn, caller=caller, brand=target.brand, batch_id=batch, object_type=change.object_type,
                object_id=change.object_id, object_name=change.name, account_id=change.account_id,
                field=change.field, before=change.before, after=change.after, outcome=outcome,
                meta_answer=answer, undoes=undoes,
            )  # fmt: skip
    done = [c for c in plan.changes if c.outcome == "changed"]
    await _show_at_once(db, caller, target=target, done=done)
    plan.summary = _said(plan, done)
    if done:
        async with db.as_service() as conn:
            await notifications.create(
                conn, organization_id=target.brand.organization_id, type="ad_action", category="meta",
                title=f"{caller.email} {PAST[plan.verb].lower()} {_count(plan, done)} of {plan.brand} in Meta",
                message="; ".join(f"{c.label()}: {c.change}" for c in done),
                metadata={"brand": plan.brand, "objects": [c.object_id for c in done]},
            )  # fmt: skip
    return plan


async def _show_at_once(db: Database, caller: Caller, *, target: Target, done: list[Change]) -> None:
    """Stored statuses follow the writes now, not at the next sync: answers mark paused ads at once."""
    async with db.as_user(caller) as conn:
        for change in (c for c in done if c.field == "status"):
            paused = change.after == "PAUSED"
            if change.object_type == "ad":
                await conn.execute(
                    "update meta_ads set status = %s, updated_at = now() where brand_id = %s and meta_ad_id = %s",
                    ("paused" if paused else "active", target.brand.id, change.object_id),
                )
                continue
            column = "adset_id" if change.object_type == "adset" else "campaign_id"
            held = f"{change.object_type}_paused"
            await conn.execute(
                f"update meta_ads set status = %s, updated_at = now() where brand_id = %s and {column} = %s"
                " and status = %s",
                (held, target.brand.id, change.object_id, "active") if paused
                else ("active", target.brand.id, change.object_id, held),
            )  # fmt: skip


def _count(plan: ChangePlan, changes: list[Change]) -> str:
    kinds = {c.object_type for c in changes} or {c.object_type for c in plan.changes}
    word = WORD[kinds.pop()] if len(kinds) == 1 else "object"
    return f"{len(changes)} {word}{'s' if len(changes) != 1 else ''}"


def _said(plan: ChangePlan, done: list[Change]) -> str:
    """'Paused 2 ads of Acme Pets: …', or which changed, which were refused and why, which not tried."""
    total, past = len(plan.changes), PAST[plan.verb]
    names = ", ".join(c.label() for c in done)
    head = (
        f"{past} {_count(plan, done)} of {plan.brand}: {names}."
        if len(done) == total
        else f"{past} {len(done)} of {_count(plan, plan.changes)} of {plan.brand}"
        + (f": {names}." if done else ".")
    )
    refused = [f"{c.label()}: {c.reason}" for c in plan.changes if c.outcome in ("refused", "unknown")]
    untried = [c.label() for c in plan.changes if c.outcome == "not tried"]
    parts = [head]
    if refused:
        parts.append("Not changed: " + " ".join(refused))
    if untried:
        parts.append(f"Not tried: {', '.join(untried)}.")
    if done:
        parts.append(f'Each change is in `/actions brand:"{plan.brand}"`; undo one with `/undo action:ID`.')
    return " ".join(parts)
