"""`/jobs` in chat and the CLI: schedules, recent runs, failures with their error, and the confirmed
actions (Retry, Run now, Pause/Resume) that only an organization's admins may take."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import chainlit as cl
import pytest
from psycopg.types.json import Jsonb

import app
from agent.runner import run_turn
from db.pool import Database
from tests.chat_helpers import OpenChat, Team, app_on_test_database, make_team
from tests.cli_helpers import run_cli

ERROR = "Meta refused the token for act_42 (code 190): the brand must reconnect Facebook."


@dataclass(frozen=True)
class Jobs:
    team: Team
    brand: str
    schedule: UUID
    failed: UUID
    succeeded: UUID


@pytest.fixture(scope="module")
async def jobs(db: Database) -> AsyncIterator[Jobs]:
    """A brand with a daily sync schedule, one run that succeeded and one that failed for good,
    written directly as the service role (no worker involved)."""
    team = await make_team(db, "Jobs Co")
    brand = "Fern & Co"
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (team.org, brand)
        )
        row = await cur.fetchone()
        assert row is not None
        brand_id = row["id"]
        params = Jsonb({"brand_id": str(brand_id)})
        cur = await conn.execute(
            "insert into scheduled_jobs (organization_id, brand_id, job_type, cron, params, next_run_at)"
            " values (%s, %s, 'meta_sync', '0 5 1 1 *', %s, now() + interval '200 days') returning id",
            (team.org, brand_id, params),
        )
        row = await cur.fetchone()
        assert row is not None
        schedule = row["id"]
        ids = []
        for status, error, minutes in (("succeeded", None, 90), ("failed", ERROR, 30)):
            cur = await conn.execute(
                "insert into job_runs (scheduled_job_id, organization_id, brand_id, job_type, status, params,"
                " error, attempts, started_at, finished_at, created_at)"
                " values (%s, %s, %s, 'meta_sync', %s, %s, %s, 3, now() - make_interval(mins => %s),"
                " now() - make_interval(mins => %s) + interval '42 seconds', now() - make_interval(mins => %s))"
                " returning id",
                (schedule, team.org, brand_id, status, params, error, minutes, minutes, minutes),
            )
            row = await cur.fetchone()
            assert row is not None
            ids.append(row["id"])
    yield Jobs(team=team, brand=brand, schedule=schedule, succeeded=ids[0], failed=ids[1])
    # Runs queued by these tests never reach a worker of another test.
    async with db.as_owner() as conn:
        await conn.execute(
            "delete from procrastinate_jobs where status = 'todo' and id in"
            " (select procrastinate_job_id from job_runs where organization_id = %s)",
            (team.org,),
        )


@pytest.fixture
async def chat_app(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[None]:
    async with app_on_test_database(db, monkeypatch, tmp_path):
        yield


async def _runs(db: Database, *, retry_of: UUID) -> list[dict[str, object]]:
    async with db.as_owner() as conn:
        cur = await conn.execute("select id, status, job_type from job_runs where retry_of = %s", (retry_of,))
        return list(await cur.fetchall())


async def test_jobs_lists_schedules_and_runs_with_status_duration_and_error(db: Database, jobs: Jobs) -> None:
    turn = await run_turn(db=db, caller=jobs.team.member, message="/jobs")
    assert not turn.refused, turn.text
    [call] = turn.tool_calls
    result = call.result
    assert result is not None
    [schedule] = [s for s in result["schedules"] if s["id"] == str(jobs.schedule)]
    assert schedule["scope"] == jobs.brand and schedule["cron"] == "0 5 1 1 *" and schedule["enabled"]
    assert schedule["last_run_status"] == "failed"
    assert any(s["scope"] == "platform" for s in result["schedules"])  # platform schedules are listed too
    runs = {r["id"]: r for r in result["runs"]}
    assert runs[str(jobs.succeeded)]["status"] == "succeeded"
    assert runs[str(jobs.succeeded)]["duration_seconds"] == 42.0
    assert runs[str(jobs.failed)]["error"] == ERROR
    assert f"latest failure: meta_sync for {jobs.brand}: {ERROR}" in turn.text
    assert result["actions"] == []  # a member gets no buttons for changes


async def test_jobs_failed_shows_the_error_and_offers_retry_to_an_admin(
    db: Database, jobs: Jobs, chat_app: None
) -> None:
    chat = OpenChat(jobs.team.admin)
    await chat.say("/jobs failed")
    assert (
        f"Latest: meta_sync for {jobs.brand} ({str(jobs.failed)[:8]}, 3 attempt(s)): {ERROR}" in chat.answer()
    )
    tables = [t for e in chat.of("element") if e["type"] == "custom" for t in e["props"]["tables"]]
    assert [t["title"] for t in tables] == ["Failed runs"]
    [retry] = chat.buttons()
    assert retry.label == f"Retry meta_sync · {jobs.brand}"
    assert retry.payload == {
        "label": retry.label,
        "tool": "jobs",
        "args": {"retry": str(jobs.failed)[:8]},
        "once": False,
    }
    # The click previews; nothing is queued until Confirm.
    await chat.click(retry.label)
    assert chat.answer().startswith(f"Retry the failed meta_sync for {jobs.brand} ({jobs.team.name})?")
    assert "Nothing has changed yet" in chat.answer()
    assert [b.label for b in chat.buttons()] == ["Retry", "Cancel"]
    assert await _runs(db, retry_of=jobs.failed) == []
    await chat.click("Cancel")
    assert chat.answer() == "Cancelled: nothing was changed."
    assert await _runs(db, retry_of=jobs.failed) == []
    # Again, and confirm: one new queued run, and the confirmation's buttons are gone.
    await chat.say(f"/jobs retry:{str(jobs.failed)[:8]}")
    preview = chat.answers()[-1]["id"]
    await chat.click("Retry")
    assert chat.buttons(preview) == []
    [queued] = await _runs(db, retry_of=jobs.failed)
    assert queued["status"] == "queued" and queued["job_type"] == "meta_sync"
    assert chat.answer().startswith(
        f"Queued meta_sync for {jobs.brand} again as run {str(queued['id'])[:8]}."
    )


async def test_a_member_is_refused_every_job_change(db: Database, jobs: Jobs, chat_app: None) -> None:
    chat = OpenChat(jobs.team.member)
    await chat.say("/jobs failed")
    assert ERROR in chat.answer()
    assert chat.buttons() == []  # no buttons for what they can't do
    refusal = f"Only admins of {jobs.team.name} can retry jobs; you are a member. Ask an admin to do it."
    # A button's payload names only the object: the person clicking is the one checked.
    forged = cl.Action(
        name=app.ACTION,
        label="Retry",
        payload={"label": "Retry", "tool": "jobs", "args": {"retry": str(jobs.failed), "confirm": True}},
    )
    with chat.active():
        await app.on_action(forged)
    assert chat.answer() == refusal
    for change in ("run_now", "pause"):
        await chat.say(f"/jobs {change}:{jobs.schedule} confirm:true")
        verb = "run" if change == "run_now" else change
        assert chat.answer().startswith(f"Only admins of {jobs.team.name} can {verb} jobs")
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select enabled, (select count(*) from job_runs where scheduled_job_id = s.id) as runs"
            " from scheduled_jobs s where id = %s",
            (jobs.schedule,),
        )
        row = await cur.fetchone()
    assert row is not None and row["enabled"] is True and row["runs"] == 2  # nothing changed


async def test_another_organization_can_not_see_or_touch_the_jobs(db: Database, jobs: Jobs) -> None:
    turn = await run_turn(db=db, caller=jobs.team.outsider, message="/jobs failed")
    [call] = turn.tool_calls
    assert call.result is not None
    assert str(jobs.failed) not in {r["id"] for r in call.result["runs"]}
    turn = await run_turn(
        db=db, caller=jobs.team.outsider, message=f"/jobs retry:{str(jobs.failed)[:8]} confirm:true"
    )
    assert turn.refused
    assert (
        turn.text
        == f"No job run '{str(jobs.failed)[:8]}' among yours; /jobs view:failed lists them with their ids."
    )


async def test_an_admin_pauses_resumes_and_runs_a_schedule_now(
    db: Database, jobs: Jobs, chat_app: None
) -> None:
    chat = OpenChat(jobs.team.admin)
    await chat.say("/jobs view:schedules")
    labels = [b.label for b in chat.buttons()]
    assert labels == [f"Run now: meta_sync · {jobs.brand}", f"Pause: meta_sync · {jobs.brand}"]
    await chat.click(f"Pause: meta_sync · {jobs.brand}")
    assert chat.answer().startswith(f"Pause the meta_sync for {jobs.brand} schedule ({jobs.team.name})?")
    await chat.click("Pause")
    assert chat.answer().startswith(f"Paused the meta_sync schedule for {jobs.brand}.")
    await chat.say("/jobs view:schedules")
    assert f"Resume: meta_sync · {jobs.brand}" in [b.label for b in chat.buttons()]
    await chat.click(f"Resume: meta_sync · {jobs.brand}")
    await chat.click("Resume")
    assert chat.answer().startswith(f"Resumed the meta_sync schedule for {jobs.brand}.")
    await chat.say("/jobs view:schedules")
    await chat.click(f"Run now: meta_sync · {jobs.brand}")
    await chat.click("Run now")
    assert chat.answer().startswith(f"Queued meta_sync for {jobs.brand} as run ")
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select s.enabled, s.next_run_at > now() as planned, (select count(*) from job_runs r"
            "   where r.brand_id = s.brand_id and r.status = 'queued' and r.retry_of is null) as queued"
            " from scheduled_jobs s where s.id = %s",
            (jobs.schedule,),
        )
        row = await cur.fetchone()
    assert row is not None and row["enabled"] is True and row["planned"] is True and row["queued"] == 1


async def test_platform_jobs_can_not_be_changed_from_an_organization(db: Database, jobs: Jobs) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute("select id from scheduled_jobs where organization_id is null limit 1")
        row = await cur.fetchone()
    assert row is not None
    turn = await run_turn(db=db, caller=jobs.team.admin, message=f"/jobs pause:{row['id']}")
    assert turn.refused
    assert "is a platform-wide job that runs for everyone on its own schedule" in turn.text


async def test_bad_job_arguments_are_refused_clearly(db: Database, jobs: Jobs) -> None:
    admin = jobs.team.admin
    turn = await run_turn(db=db, caller=admin, message="/jobs retry:abc")
    assert turn.text == "Give at least the first 6 characters of the job run's id (got 'abc')."
    turn = await run_turn(db=db, caller=admin, message=f"/jobs retry:{jobs.failed} pause:{jobs.schedule}")
    assert turn.text == "Give one of run_now, retry, pause or resume at a time."
    turn = await run_turn(db=db, caller=admin, message="/jobs view:broken")
    assert turn.text == "view must be one of: all, failed, schedules (got 'broken')."
    turn = await run_turn(db=db, caller=admin, message=f"/jobs retry:{str(jobs.succeeded)[:8]} confirm:true")
    assert turn.text == f"Run {jobs.succeeded} is succeeded: only failed runs can be retried."


def test_the_cli_prints_actions_as_commands(database_url: str, tmp_path: Path, jobs: Jobs) -> None:
    listed = run_cli(database_url, tmp_path, "ask", "/jobs failed", "--user", jobs.team.admin.email)
    assert listed.returncode == 0, listed.stderr
    assert "Failed runs" in listed.stdout and "code 190" in listed.stdout
    assert f"Retry meta_sync · {jobs.brand}: /jobs retry:{str(jobs.failed)[:8]}" in listed.stdout
    refused = run_cli(
        database_url,
        tmp_path,
        "ask",
        f"/jobs retry:{str(jobs.failed)[:8]} confirm:true",
        "--user",
        jobs.team.member.email,
        "--json",
    )
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["text"].startswith(f"Only admins of {jobs.team.name} can retry jobs")
