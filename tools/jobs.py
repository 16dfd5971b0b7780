"""Background jobs in chat: schedules, recent runs and failures, and (for admins) run now, retry,
pause and resume, each previewed first and done only on confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, TypeVar
from uuid import UUID

from pydantic import BaseModel

from core.errors import Ambiguous, InvalidArgument, NotAllowed, NotFound
from jobs import api as jobs_api
from jobs.cron import describe_cron
from services.platform.accounts import Membership, memberships
from services.presentable import Column, Presentable, Table
from tools.actions import ActionButton, admin_of, ask_first
from tools.common import Limit
from tools.deps import Deps
from tools.registry import tool

View = Literal["all", "failed", "schedules"]
Change = Literal["run_now", "retry", "pause", "resume"]
SHORT_ID = 8
MIN_ID = 6
MOST_BUTTONS = 5
RUN_LOOKUP = 500
Found = TypeVar("Found", jobs_api.Run, jobs_api.Schedule)


class ScheduleRow(BaseModel):
    id: UUID
    job_type: str
    scope: str
    """The brand, or "platform" for a platform-wide schedule."""
    cron: str
    enabled: bool
    next_run_at: datetime | None
    last_run_status: str | None


class RunRow(BaseModel):
    id: UUID
    job_type: str
    scope: str
    status: str
    attempts: int
    created_at: datetime
    duration_seconds: float | None
    error: str | None


class JobsResult(BaseModel, Presentable):
    summary: str
    view: View
    schedules: list[ScheduleRow] = []
    runs: list[RunRow] = []
    actions: list[ActionButton] = []

    def as_tables(self) -> list[Table]:
        tables = []
        if self.schedules:
            fields = ["job_type", "scope", "enabled", "next_run_at", "last_run_status"]
            rows = [
                [
                    short(s.id),
                    s.job_type,
                    s.scope,
                    describe_cron(s.cron),
                    *(getattr(s, f) for f in fields[2:]),
                ]
                for s in self.schedules
            ]
            tables.append(
                Table(
                    "Schedules", ["id", "job_type", "scope", Column("runs", title="Runs"), *fields[2:]], rows
                )
            )
        if self.runs:
            fields = ["job_type", "scope", "status", "attempts", "created_at", "duration_seconds", "error"]
            rows = [[short(r.id), *(getattr(r, f) for f in fields)] for r in self.runs]
            tables.append(
                Table("Failed runs" if self.view == "failed" else "Recent runs", ["id", *fields], rows)
            )
        return tables


def short(id_: UUID) -> str:
    return str(id_)[:SHORT_ID]


@tool(
    example="/jobs view:failed",
    step="Checking background jobs",
    help="""Schedules show their next run; recent runs their status and duration; failures their last error. An
    id's first 8 characters are enough.""",
)
async def jobs(
    deps: Deps,
    view: View = "all",
    run_now: str | None = None,
    retry: str | None = None,
    pause: str | None = None,
    resume: str | None = None,
    confirm: bool = False,
    limit: Limit = 20,
) -> JobsResult:
    """Background jobs (Meta syncs, classification, asset downloads, template scoring, token checks):
    schedules, recent runs, failures. Admins can run a schedule now, retry a failed run, or pause/resume
    a schedule; previews unless confirm:true; ask first.

    Args:
        view: failed = runs that failed for good.
        run_now: A schedule's id to run now.
        retry: A failed run's id to queue again.
        pause: A schedule's id to pause.
        resume: A paused schedule's id.
        confirm: true to apply.
    """
    asked: list[tuple[Change, str | None]] = [
        ("run_now", run_now), ("retry", retry), ("pause", pause), ("resume", resume)
    ]  # fmt: skip
    changes = {name: value for name, value in asked if value}
    if len(changes) > 1:
        raise InvalidArgument("Give one of run_now, retry, pause or resume at a time.")
    caller = deps.caller
    async with deps.db.as_user(caller) as conn:
        roles = await memberships(conn, user_id=caller.user_id)
        schedules = await jobs_api.list_schedules(conn)
        if "retry" in changes:
            runs = await jobs_api.recent_runs(conn, limit=RUN_LOOKUP)
        else:
            runs = await jobs_api.recent_runs(
                conn, status="failed" if view == "failed" else None, limit=limit
            )
    done = ""
    if changes:
        [(change, ref)] = changes.items()
        if change == "retry":
            target: jobs_api.Run | jobs_api.Schedule = find_by_id(runs, ref, what="job run")
        else:
            target = find_by_id(schedules, ref, what="schedule")
        membership = _admin_of(target, roles, change)
        if not confirm:
            return _preview(change, target, membership)
        done = await _apply(deps, change, target)
        async with deps.db.as_user(caller) as conn:
            schedules = await jobs_api.list_schedules(conn)
            runs = await jobs_api.recent_runs(
                conn, status="failed" if view == "failed" else None, limit=limit
            )
    return _listing(view, schedules, runs[:limit], roles, done=done)


def find_by_id(items: list[Found], ref: str, *, what: str, listing: str | None = None) -> Found:
    """The one item whose id starts with `ref` (6+ characters), else a message saying where to look."""
    ref = ref.strip().lower()
    if len(ref) < MIN_ID:
        raise InvalidArgument(
            f"Give at least the first {MIN_ID} characters of the {what}'s id (got '{ref}')."
        )
    found = [item for item in items if str(item.id).startswith(ref)]
    if not found:
        listing = listing or ("/jobs view:failed" if what == "job run" else "/jobs view:schedules")
        raise NotFound(f"No {what} '{ref}' among yours; {listing} lists them with their ids.")
    if len(found) > 1:
        raise Ambiguous(f"'{ref}' starts several {what} ids; give more of it.")
    return found[0]


def _scope(item: jobs_api.Run | jobs_api.Schedule) -> str:
    return "platform" if item.organization_id is None else (item.brand or "organization")


def _admin_of(
    target: jobs_api.Run | jobs_api.Schedule, roles: dict[UUID, Membership], change: Change
) -> Membership:
    """The organization whose admin the caller must be to change this (platform jobs: nobody here)."""
    verb = {"run_now": "run", "retry": "retry", "pause": "pause", "resume": "resume"}[change]
    if target.organization_id is None:
        raise NotAllowed(
            f"{target.job_type} is a platform-wide job that runs for everyone on its own schedule;"
            " it can't be changed from an organization's chat."
        )
    membership = roles.get(target.organization_id)
    if membership is None:  # visible but not theirs: can't happen under RLS; refuse all the same
        raise NotFound(f"No such job in your organizations ({short(target.id)}).")
    return admin_of(roles, target.organization_id, organization=membership.organization, to=f"{verb} jobs")


def _label(change: Change, target: jobs_api.Run | jobs_api.Schedule) -> str:
    what = f"{target.job_type} for {_scope(target)}"
    return {
        "run_now": f"Run {what} now",
        "retry": f"Retry the failed {what}",
        "pause": f"Pause the {what} schedule",
        "resume": f"Resume the {what} schedule",
    }[change]


_CONFIRM: dict[Change, str] = {"run_now": "Run now", "retry": "Retry", "pause": "Pause", "resume": "Resume"}


def _preview(change: Change, target: jobs_api.Run | jobs_api.Schedule, membership: Membership) -> JobsResult:
    detail = ""
    if isinstance(target, jobs_api.Run):
        detail = f" It failed after {target.attempts} attempt(s): {target.error or 'no error recorded'}."
    elif change == "pause":
        detail = f" It runs on '{target.cron}' (UTC); nothing runs until it is resumed."
    text = f"{_label(change, target)} ({membership.organization})?{detail}"
    args: dict[str, str | int | bool] = {change: short(target.id)}
    return ask_first(JobsResult, text, tool="jobs", args=args, label=_CONFIRM[change], view="all")


async def _apply(deps: Deps, change: Change, target: jobs_api.Run | jobs_api.Schedule) -> str:
    db, org = deps.db, target.organization_id
    if isinstance(target, jobs_api.Run):
        new = await jobs_api.retry(db, target.id, organization_id=org)
        return f"Queued {target.job_type} for {_scope(target)} again as run {short(new)}."
    if change == "run_now":
        new = await jobs_api.run_now(
            db, job_type=target.job_type, params=target.params, organization_id=org, brand_id=target.brand_id
        )
        return f"Queued {target.job_type} for {_scope(target)} as run {short(new)}."
    await jobs_api.set_enabled(db, target.id, change == "resume", organization_id=org)
    return f"{'Resumed' if change == 'resume' else 'Paused'} the {target.job_type} schedule for {_scope(target)}."


def _listing(
    view: View,
    schedules: list[jobs_api.Schedule],
    runs: list[jobs_api.Run],
    roles: dict[UUID, Membership],
    *,
    done: str,
) -> JobsResult:
    admin_of = {org for org, m in roles.items() if m.role == "admin"}
    schedule_rows = [
        ScheduleRow(
            id=s.id, job_type=s.job_type, scope=_scope(s), cron=s.cron, enabled=s.enabled,
            next_run_at=s.next_run_at if s.enabled else None, last_run_status=s.last_run_status,
        )
        for s in schedules
    ]  # fmt: skip
    run_rows = [
        RunRow(
            id=r.id, job_type=r.job_type, scope=_scope(r), status=r.status, attempts=r.attempts,
            created_at=r.created_at, duration_seconds=r.duration_seconds, error=r.error,
        )
        for r in runs
    ]  # fmt: skip
    actions: list[ActionButton] = []
    if view in ("all", "failed"):
        for r in [r for r in runs if r.status == "failed" and r.organization_id in admin_of][:MOST_BUTTONS]:
            actions.append(
                ActionButton(
                    label=f"Retry {r.job_type} · {_scope(r)}", tool="jobs", args={"retry": short(r.id)}
                )
            )
    if view in ("all", "schedules"):
        room = MOST_BUTTONS - len(actions) if view == "all" else MOST_BUTTONS
        for s in [s for s in schedules if s.organization_id in admin_of][: max(room, 0)]:
            scope = f"{s.job_type} · {_scope(s)}"
            actions.append(
                ActionButton(label=f"Run now: {scope}", tool="jobs", args={"run_now": short(s.id)})
            )
            toggle = "pause" if s.enabled else "resume"
            actions.append(
                ActionButton(label=f"{toggle.capitalize()}: {scope}", tool="jobs", args={toggle: short(s.id)})
            )
    return JobsResult(
        summary=(done + " " if done else "") + _summary(view, schedules, runs),
        view=view,
        schedules=schedule_rows if view != "failed" else [],
        runs=run_rows if view != "schedules" else [],
        actions=actions,
    )


def _summary(view: View, schedules: list[jobs_api.Schedule], runs: list[jobs_api.Run]) -> str:
    if view == "failed":
        if not runs:
            return "No failed runs: every job that ran has succeeded or is still being tried."
        latest = runs[0]
        return (
            f"{len(runs)} run(s) failed for good. Latest: {latest.job_type} for {_scope(latest)}"
            f" ({short(latest.id)}, {latest.attempts} attempt(s)): {latest.error or 'no error recorded'}"
        )
    paused = sum(1 for s in schedules if not s.enabled)
    parts = [f"{len(schedules)} schedule(s)" + (f" ({paused} paused)" if paused else "")]
    if view == "all":
        counts: dict[str, int] = {}
        for r in runs:
            counts[r.status] = counts.get(r.status, 0) + 1
        tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        parts.append(f"{len(runs)} recent run(s)" + (f": {tally}" if tally else ""))
        failed = [r for r in runs if r.status == "failed"]
        if failed:
            parts.append(
                f"latest failure: {failed[0].job_type} for {_scope(failed[0])}: {failed[0].error or 'no error'}"
                " (/jobs view:failed)"
            )
    return "Background jobs: " + "; ".join(parts) + "."
