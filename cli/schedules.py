"""`viraltracker schedule …`: a brand's schedules, through the same `/schedules` command as the chat
(so the same checks: admins only for changes, each previewed unless --yes confirms it)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.base import _caller, _print_turn, _run, app
from settings import get_settings

schedule_app = typer.Typer(
    help="A brand's schedules: Meta sync, creative downloads, classification, briefings.",
    no_args_is_help=True,
)
app.add_typer(schedule_app, name="schedule")

User = Annotated[str, typer.Option("--user", help="Who is asking (their email).")]
Yes = Annotated[bool, typer.Option("--yes", help="Make the change (without it, only a preview).")]
ScheduleId = Annotated[str, typer.Argument(help="The schedule's id (its first 8 characters are enough).")]


def _schedules(user: str, args: dict[str, str | int | bool]) -> None:
    """Run `/schedules` with `args` as `user` and print the answer (exit 2 when refused)."""
    from agent.build import configured_model
    from agent.runner import run_turn
    from tools.actions import ActionButton

    command = ActionButton(label="", tool="schedules", args=args).command
    assert command is not None

    async def work(db: Any) -> Any:
        caller = await _caller(db, user)
        return await run_turn(db=db, caller=caller, message=command, model=configured_model(get_settings()))

    turn = _run(work)
    _print_turn(turn)
    if turn.refused:
        raise typer.Exit(2)


@schedule_app.command("list")
def schedule_list(
    user: User, brand: Annotated[str | None, typer.Option(help="Only this brand's schedules.")] = None
) -> None:
    """Schedules with when they run (in words, UTC), whether paused, and their next run."""
    _schedules(user, {"brand": brand} if brand else {})


@schedule_app.command("create")
def schedule_create(
    user: User,
    brand: Annotated[str, typer.Option(help="The brand.")],
    job_type: Annotated[str, typer.Option(help="meta_sync, asset_download, ad_classification or briefing.")],
    cron: Annotated[str, typer.Option(help="Five cron fields in UTC, e.g. '0 6 * * *'.")],
    channel: Annotated[str | None, typer.Option(help="A briefing's Slack channel.")] = None,
    yes: Yes = False,
) -> None:
    """Create a schedule (admins)."""
    args: dict[str, str | int | bool] = {
        "action": "create",
        "brand": brand,
        "job_type": job_type,
        "cron": cron,
    }
    if channel:
        args["channel"] = channel
    _schedules(user, {**args, "confirm": yes})


@schedule_app.command("edit")
def schedule_edit(
    schedule: ScheduleId,
    user: User,
    cron: Annotated[str, typer.Option(help="The new cron in UTC.")],
    yes: Yes = False,
) -> None:
    """Move a schedule to another cron (admins)."""
    _schedules(user, {"action": "edit", "schedule": schedule, "cron": cron, "confirm": yes})


@schedule_app.command("pause")
def schedule_pause(schedule: ScheduleId, user: User, yes: Yes = False) -> None:
    """Pause a schedule: nothing runs until it is resumed (admins)."""
    _schedules(user, {"action": "pause", "schedule": schedule, "confirm": yes})


@schedule_app.command("resume")
def schedule_resume(schedule: ScheduleId, user: User, yes: Yes = False) -> None:
    """Resume a paused schedule from its next time (admins)."""
    _schedules(user, {"action": "resume", "schedule": schedule, "confirm": yes})


@schedule_app.command("delete")
def schedule_delete(schedule: ScheduleId, user: User, yes: Yes = False) -> None:
    """Delete a schedule; its past runs stay in the history (admins)."""
    _schedules(user, {"action": "delete", "schedule": schedule, "confirm": yes})
