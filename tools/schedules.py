"""A brand's schedules in chat: Meta sync, creative downloads, classification and briefings, each on a
cron in UTC shown in words. Admins create, edit, pause, resume and delete them, previewed first and
done only on confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel

from core.errors import InvalidArgument
from jobs import api as jobs_api
from jobs.schedules import check_cron
from services.brands import resolve_brand
from services.models import BrandRef
from services.platform.accounts import Membership, memberships
from services.presentable import Presentable, Table
from tools.actions import ActionButton, admin_of, ask_first
from tools.deps import Deps
from tools.jobs import MOST_BUTTONS, find_by_id, short
from tools.registry import tool

Action = Literal["list", "create", "edit", "pause", "resume", "delete"]
JobKind = Literal["meta_sync", "asset_download", "ad_classification", "briefing"]
KINDS: tuple[str, ...] = ("meta_sync", "asset_download", "ad_classification", "briefing")
EXAMPLE_CRON = "0 6 * * *"


class ScheduleLine(BaseModel):
    id: UUID
    brand: str
    job_type: str
    when: str
    """The cron in words, e.g. "every day at 06:00 UTC"."""
    cron: str
    enabled: bool
    next_run_at: datetime | None
    last_run_status: str | None


class SchedulesResult(BaseModel, Presentable):
    summary: str
    schedules: list[ScheduleLine] = []
    actions: list[ActionButton] = []
    schedule_id: UUID | None = None

    def as_tables(self) -> list[Table]:
        if not self.schedules:
            return []
        fields = ["brand", "job_type", "when", "enabled", "next_run_at", "last_run_status"]
        rows = [[short(s.id), *(getattr(s, f) for f in fields)] for s in self.schedules]
        return [Table("Schedules", ["id", *fields], rows)]


@tool(
    example='/schedules brand:"Acme Pets"',
    step="Checking schedules",
    help="""Each schedule says when it runs in words. A cron such as "0 6 * * *" runs every day at 06:00 UTC; a
    briefing posts to its channel, e.g. "#marketing".""",
)
async def schedules(
    deps: Deps,
    brand: str | None = None,
    action: Action = "list",
    job_type: JobKind | None = None,
    cron: str | None = None,
    schedule: str | None = None,
    channel: str | None = None,
    confirm: bool = False,
) -> SchedulesResult:
    """A brand's schedules (meta_sync, asset_download, ad_classification, briefing) with when each runs and
    its next run. Admins create, edit, pause, resume or delete one; previews unless confirm:true; ask first.

    Args:
        brand: Needed to create; otherwise narrows the list.
        action: create needs brand, job_type, cron; edit needs schedule, cron; the rest need schedule.
        cron: Five cron fields, in UTC.
        schedule: A schedule's id (8+ characters).
        channel: For a briefing: the Slack channel.
        confirm: true to apply.
    """
    caller = deps.caller
    async with deps.db.as_user(caller) as conn:
        found = await resolve_brand(conn, name=brand) if brand is not None else None
        roles = await memberships(conn, user_id=caller.user_id)
        listed = _brand_schedules(await jobs_api.list_schedules(conn), found)
    if action == "list":
        return _listing(listed, found, roles)
    if action == "create":
        return await _create(
            deps, found, roles, listed, job_type=job_type, cron=cron, channel=channel, confirm=confirm
        )
    if schedule is None:
        raise InvalidArgument(
            f"Which schedule? Give schedule: with its id (/schedules lists them) to {action} it."
        )
    target = find_by_id(listed, schedule, what="schedule", listing="/schedules")
    assert target.organization_id is not None and target.brand is not None  # brand schedules only
    membership = roles.get(target.organization_id)
    organization = membership.organization if membership else f"{target.brand}'s organization"
    admin_of(roles, target.organization_id, organization=organization, to="change schedules")
    what = f"the {target.job_type} schedule for {target.brand} ({jobs_api.describe_cron(target.cron)})"
    args: dict[str, str | int | bool] = {"action": action, "schedule": short(target.id)}
    if action == "edit":
        if cron is None:
            raise InvalidArgument(f'Give the new cron to edit it, e.g. cron:"{EXAMPLE_CRON}" (UTC).')
        cron = check_cron(cron)
        twin = _twin(
            listed, brand_id=target.brand_id, job_type=target.job_type, cron=cron, other_than=target.id
        )
        if twin is not None:
            return _exists(twin, listed, roles)
        question = f"Change {what} to run {jobs_api.describe_cron(cron)}?"
        args["cron"] = cron
    else:
        question = {
            "pause": f"Pause {what}? Nothing runs until it is resumed.",
            "resume": f"Resume {what}?",
            "delete": f"Delete {what}? Its past runs stay in /jobs.",
        }[action]
    if not confirm:
        return ask_first(SchedulesResult, question, tool="schedules", args=args, label=action.capitalize())
    if action == "edit":
        assert cron is not None
        changed = await jobs_api.update_schedule(
            deps.db, target.id, cron=cron, organization_id=target.organization_id
        )
        done = (
            f"Changed: {target.job_type} for {target.brand} now runs {jobs_api.describe_cron(changed.cron)}."
        )
    elif action == "delete":
        await jobs_api.delete_schedule(deps.db, target.id, organization_id=target.organization_id)
        done = f"Deleted {what}."
    else:
        await jobs_api.set_enabled(
            deps.db, target.id, action == "resume", organization_id=target.organization_id
        )
        done = f"{'Resumed' if action == 'resume' else 'Paused'} {what}."
    return await _after(deps, found, roles, done, changed_id=target.id)


async def _create(
    deps: Deps,
    found: BrandRef | None,
    roles: dict[UUID, Membership],
    listed: list[jobs_api.Schedule],
    *,
    job_type: str | None,
    cron: str | None,
    channel: str | None,
    confirm: bool,
) -> SchedulesResult:
    if found is None or job_type is None or cron is None:
        raise InvalidArgument(
            "To create a schedule give brand:, job_type: (meta_sync, asset_download, ad_classification"
            f' or briefing) and cron: in UTC, e.g. cron:"{EXAMPLE_CRON}" for every day at 06:00 UTC.'
        )
    cron = check_cron(cron)
    membership = roles.get(found.organization_id)
    organization = membership.organization if membership else f"{found.name}'s organization"
    admin_of(roles, found.organization_id, organization=organization, to="change schedules")
    params: dict[str, str] = {}
    if job_type == "briefing":
        if not channel:
            raise InvalidArgument(
                'A briefing schedule needs channel: the Slack channel to post to, e.g. channel:"#marketing".'
            )
        params["channel"] = channel
    twin = _twin(listed, brand_id=found.id, job_type=job_type, cron=cron)
    if twin is not None:
        return _exists(twin, listed, roles)
    what = f"{_a(job_type)} {job_type} schedule for {found.name}, {jobs_api.describe_cron(cron)}"
    if not confirm:
        args: dict[str, str | int | bool] = {
            "action": "create",
            "brand": found.name,
            "job_type": job_type,
            "cron": cron,
        }
        args.update(params)
        return ask_first(SchedulesResult, f"Create {what}?", tool="schedules", args=args, label="Create")
    created = await jobs_api.create_schedule(
        deps.db,
        job_type=job_type,
        cron=cron,
        params=params,
        organization_id=found.organization_id,
        brand_id=found.id,
        refuse_duplicates=True,
    )
    return await _after(deps, found, roles, f"Created {what} ({short(created)}).", changed_id=created)


async def _after(
    deps: Deps, found: BrandRef | None, roles: dict[UUID, Membership], done: str, *, changed_id: UUID
) -> SchedulesResult:
    async with deps.db.as_user(deps.caller) as conn:
        listed = _brand_schedules(await jobs_api.list_schedules(conn), found)
    result = _listing(listed, found, roles)
    return result.model_copy(update={"summary": f"{done} {result.summary}", "schedule_id": changed_id})


def _a(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _brand_schedules(
    all_schedules: list[jobs_api.Schedule], found: BrandRef | None
) -> list[jobs_api.Schedule]:
    return [
        s for s in all_schedules
        if s.job_type in KINDS and s.brand_id is not None and (found is None or s.brand_id == found.id)
    ]  # fmt: skip


def _twin(
    listed: list[jobs_api.Schedule],
    *,
    brand_id: UUID | None,
    job_type: str,
    cron: str,
    other_than: UUID | None = None,
) -> jobs_api.Schedule | None:
    """The brand's schedule of this job type on this very cron, if there is one."""
    return next(
        (
            s
            for s in listed
            if (s.brand_id, s.job_type, s.cron) == (brand_id, job_type, cron) and s.id != other_than
        ),
        None,
    )


def _exists(
    twin: jobs_api.Schedule, listed: list[jobs_api.Schedule], roles: dict[UUID, Membership]
) -> SchedulesResult:
    result = _listing(listed, None, roles)
    said = (
        f"{twin.brand} already has {_a(twin.job_type)} {twin.job_type} schedule {jobs_api.describe_cron(twin.cron)}"
        f" ({short(twin.id)}): nothing changed."
    )
    return result.model_copy(update={"summary": said, "schedule_id": twin.id})


def _listing(
    listed: list[jobs_api.Schedule], found: BrandRef | None, roles: dict[UUID, Membership]
) -> SchedulesResult:
    lines = [
        ScheduleLine(
            id=s.id, brand=s.brand or "", job_type=s.job_type, when=jobs_api.describe_cron(s.cron), cron=s.cron,
            enabled=s.enabled, next_run_at=s.next_run_at if s.enabled else None, last_run_status=s.last_run_status,
        )
        for s in listed
    ]  # fmt: skip
    admin = {org for org, m in roles.items() if m.role == "admin"}
    actions = []
    for s in [s for s in listed if s.organization_id in admin][:MOST_BUTTONS]:
        toggle = "pause" if s.enabled else "resume"
        actions.append(
            ActionButton(
                label=f"{toggle.capitalize()}: {s.job_type} · {s.brand}",
                tool="schedules",
                args={"action": toggle, "schedule": short(s.id)},
            )
        )
    whose = f" for {found.name}" if found else ""
    if not lines:
        example = f'brand:"{found.name}"' if found else 'brand:"…"'
        summary = (
            f"No schedules{whose} yet. Create one: /schedules action:create {example} job_type:meta_sync"
            f' cron:"{EXAMPLE_CRON}" (every day at 06:00 UTC).'
        )
    else:
        each = "; ".join(
            f"{line.job_type}{'' if found else f' for {line.brand}'} {line.when}"
            + ("" if line.enabled else " (paused)")
            for line in lines
        )
        summary = f"{len(lines)} schedule(s){whose}: {each}."
    return SchedulesResult(summary=summary, schedules=lines, actions=actions)
