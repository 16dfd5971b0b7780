"""`/schedules` in chat and `viraltracker schedule` in the CLI: a brand's schedules with their cron in
words, created, edited, paused, resumed and deleted by admins only (previewed, then confirmed), and a
created schedule enqueued by the worker's maintenance tick when it is due."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from agent.runner import TurnResult, run_turn
from core.errors import InvalidArgument
from db.pool import Caller, Database
from jobs.schedules import create_schedule, describe_cron, tick
from tests.chat_helpers import Team, make_team
from tests.cli_helpers import run_cli
from tools.actions import ActionButton


@dataclass(frozen=True)
class Brand:
    team: Team
    name: str
    id: UUID


@pytest.fixture
async def brand(db: Database) -> AsyncIterator[Brand]:
    team = await make_team(db, "Schedules Co")
    name = f"Fernwood {uuid.uuid4().hex[:6]}"
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (team.org, name)
        )
        row = await cur.fetchone()
    assert row is not None
    yield Brand(team, name, row["id"])
    async with db.as_owner() as conn:  # runs queued here never reach another test's worker
        await conn.execute(
            "delete from procrastinate_jobs where status = 'todo' and id in"
            " (select procrastinate_job_id from job_runs where organization_id = %s)",
            (team.org,),
        )


async def ask(db: Database, who: Caller, message: str) -> TurnResult:
    return await run_turn(db=db, caller=who, message=message)


def result_of(turn: TurnResult) -> dict[str, Any]:
    [call] = turn.tool_calls
    assert call.result is not None, turn.text
    return call.result


async def rows(db: Database, brand_id: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select id, job_type, cron, enabled from scheduled_jobs where brand_id = %s order by job_type",
            (brand_id,),
        )
        return [dict(r) for r in await cur.fetchall()]


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("0 6 * * *", "every day at 06:00 UTC"),
        ("30 18 * * *", "every day at 18:30 UTC"),
        ("*/15 * * * *", "every 15 minutes"),
        ("*/1 * * * *", "every minute"),
        ("5 * * * *", "every hour at :05"),
        ("0 8 * * 1-5", "every weekday (Monday to Friday) at 08:00 UTC"),
        ("0 9 * * 1", "every Monday at 09:00 UTC"),
        ("0 9 * * 0", "every Sunday at 09:00 UTC"),
        ("0 9 * * 7", "every Sunday at 09:00 UTC"),
        ("15 7 1 * *", "every month on day 1 at 07:15 UTC"),
        ("0 5 1 1 *", "on cron '0 5 1 1 *' (UTC)"),
        ("0 */6 * * *", "on cron '0 */6 * * *' (UTC)"),
        ("5 4 1-7 * 1", "on cron '5 4 1-7 * 1' (UTC)"),
        ("0 6 * * 1,3", "on cron '0 6 * * 1,3' (UTC)"),
    ],
)
def test_cron_in_words(cron: str, words: str) -> None:
    assert describe_cron(cron) == words


async def test_an_admin_previews_then_creates_a_schedule_the_tick_enqueues_when_due(
    db: Database, brand: Brand
) -> None:
    create = f'/schedules action:create brand:"{brand.name}" job_type:ad_classification cron:"0 6 * * *"'
    preview = await ask(db, brand.team.admin, create)
    assert preview.text.startswith(
        f"Create an ad_classification schedule for {brand.name}, every day at 06:00 UTC?"
        " Nothing has changed yet: confirm to go ahead."
    )
    assert await rows(db, brand.id) == []
    [confirm, _cancel] = result_of(preview)["actions"]
    # Confirm runs the same command with confirm:true, as whoever clicks it.
    done = await ask(db, brand.team.admin, ActionButton(**confirm).command or "")
    [row] = await rows(db, brand.id)
    assert done.text.startswith(
        f"Created an ad_classification schedule for {brand.name}, every day at 06:00 UTC ({str(row['id'])[:8]})."
    )
    [line] = result_of(done)["schedules"]
    assert line["when"] == "every day at 06:00 UTC" and line["enabled"] is True
    # Not due yet: the tick leaves it; once due, it queues one classification run for the brand.
    await tick(db)
    async with db.as_owner() as conn:
        await conn.execute(
            "update scheduled_jobs set next_run_at = now() - interval '1 second' where id = %s", (row["id"],)
        )
    await tick(db)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select job_type, brand_id, status from job_runs where scheduled_job_id = %s", (row["id"],)
        )
        runs = await cur.fetchall()
    assert runs == [{"job_type": "ad_classification", "brand_id": brand.id, "status": "queued"}]
    # The same brand, job type and cron again: it says so and changes nothing.
    again = await ask(db, brand.team.admin, create + " confirm:true")
    assert again.text == (
        f"{brand.name} already has an ad_classification schedule every day at 06:00 UTC"
        f" ({str(row['id'])[:8]}): nothing changed."
    )
    assert len(await rows(db, brand.id)) == 1
    # The service refuses it too (a request racing the check above).
    with pytest.raises(
        InvalidArgument,
        match=rf"^This brand already has an ad_classification schedule every day at 06:00 UTC \({str(row['id'])[:8]}\): nothing changed\.$",
    ):
        await create_schedule(
            db,
            job_type="ad_classification",
            cron="0  6 * * *",
            organization_id=brand.team.org,
            brand_id=brand.id,
            refuse_duplicates=True,
        )
    assert len(await rows(db, brand.id)) == 1


async def test_edit_pause_resume_and_delete(db: Database, brand: Brand) -> None:
    base = f'/schedules action:create brand:"{brand.name}" job_type:meta_sync cron:"0 6 * * *" confirm:true'
    await ask(db, brand.team.admin, base)
    [row] = await rows(db, brand.id)
    ref = str(row["id"])[:8]
    admin = brand.team.admin
    preview = await ask(db, admin, f'/schedules action:edit schedule:{ref} cron:"0 8 * * 1"')
    assert preview.text.startswith(
        f"Change the meta_sync schedule for {brand.name} (every day at 06:00 UTC) to run every Monday at"
        " 08:00 UTC? Nothing has changed yet"
    )
    assert (await rows(db, brand.id))[0]["cron"] == "0 6 * * *"
    edited = await ask(db, admin, f'/schedules action:edit schedule:{ref} cron:"0 8 * * 1" confirm:true')
    assert edited.text.startswith(f"Changed: meta_sync for {brand.name} now runs every Monday at 08:00 UTC.")
    assert (await rows(db, brand.id))[0]["cron"] == "0 8 * * 1"
    paused = await ask(db, admin, f"/schedules action:pause schedule:{ref} confirm:true")
    assert paused.text.startswith(
        f"Paused the meta_sync schedule for {brand.name} (every Monday at 08:00 UTC)."
        f" 1 schedule(s): meta_sync for {brand.name} every Monday at 08:00 UTC (paused)."
    )
    assert (await rows(db, brand.id))[0]["enabled"] is False
    await ask(db, admin, f"/schedules action:resume schedule:{ref} confirm:true")
    assert (await rows(db, brand.id))[0]["enabled"] is True
    listed = await ask(db, admin, f'/schedules brand:"{brand.name}"')
    assert listed.text == f"1 schedule(s) for {brand.name}: meta_sync every Monday at 08:00 UTC."
    asked = await ask(db, admin, f"/schedules action:delete schedule:{ref}")
    assert asked.text.startswith(
        f"Delete the meta_sync schedule for {brand.name} (every Monday at 08:00 UTC)?"
    )
    assert len(await rows(db, brand.id)) == 1
    deleted = await ask(db, admin, f"/schedules action:delete schedule:{ref} confirm:true")
    assert deleted.text.startswith(f"Deleted the meta_sync schedule for {brand.name}")
    assert await rows(db, brand.id) == []


async def test_members_other_organizations_and_bad_crons_change_nothing(db: Database, brand: Brand) -> None:
    await ask(
        db,
        brand.team.admin,
        f'/schedules action:create brand:"{brand.name}" job_type:meta_sync cron:"0 6 * * *" confirm:true',
    )
    [row] = await rows(db, brand.id)
    ref = str(row["id"])[:8]
    member = await ask(
        db,
        brand.team.member,
        f'/schedules action:create brand:"{brand.name}" job_type:asset_download cron:"0 7 * * *" confirm:true',
    )
    assert member.refused
    assert (
        f"Only admins of {brand.team.name} can change schedules; you are a member. Ask an admin to do it."
        in member.text
    )
    paused = await ask(db, brand.team.member, f"/schedules action:pause schedule:{ref} confirm:true")
    assert paused.refused and "Only admins of" in paused.text
    # Listing is fine for a member.
    seen = await ask(db, brand.team.member, f'/schedules brand:"{brand.name}"')
    assert seen.text == f"1 schedule(s) for {brand.name}: meta_sync every day at 06:00 UTC."
    outsider = await ask(
        db,
        brand.team.outsider,
        f'/schedules action:create brand:"{brand.name}" job_type:meta_sync cron:"0 9 * * *" confirm:true',
    )
    assert outsider.refused and f"No brand named '{brand.name}'." in outsider.text
    theirs = await ask(db, brand.team.outsider, f"/schedules action:delete schedule:{ref} confirm:true")
    assert (
        theirs.refused
        and f"No schedule '{ref}' among yours; /schedules lists them with their ids." in theirs.text
    )
    bad = await ask(
        db,
        brand.team.admin,
        f'/schedules action:create brand:"{brand.name}" job_type:meta_sync cron:"every day" confirm:true',
    )
    assert (
        bad.refused
        and (
            "'every day' is not a cron expression: it takes 5 fields (minute hour day month weekday),"
            " e.g. '0 6 * * *' for every day at 06:00 UTC."
        )
        in bad.text
    )
    out_of_range = await ask(
        db, brand.team.admin, f'/schedules action:edit schedule:{ref} cron:"61 6 * * *" confirm:true'
    )
    assert out_of_range.refused and "'61 6 * * *' is not a valid cron expression" in out_of_range.text
    assert await rows(db, brand.id) == [row]


async def test_cli_round_trip(db: Database, brand: Brand, tmp_path: Path) -> None:
    admin = brand.team.admin.email
    common = ["--user", admin]
    preview = run_cli(
        db.url, tmp_path, "schedule", "create", *common, "--brand", brand.name,
        "--job-type", "asset_download", "--cron", "30 2 * * *",
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    assert f"Create an asset_download schedule for {brand.name}, every day at 02:30 UTC?" in preview.stdout
    assert "Create: /schedules action:create" in preview.stdout and "confirm:true" in preview.stdout
    assert await rows(db, brand.id) == []
    created = run_cli(
        db.url, tmp_path, "schedule", "create", *common, "--brand", brand.name,
        "--job-type", "asset_download", "--cron", "30 2 * * *", "--yes",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    [row] = await rows(db, brand.id)
    ref = str(row["id"])[:8]
    listed = run_cli(db.url, tmp_path, "schedule", "list", *common, "--brand", brand.name)
    assert f"1 schedule(s) for {brand.name}: asset_download every day at 02:30 UTC." in listed.stdout
    for step in (["edit", ref, "--cron", "0 3 * * *"], ["pause", ref], ["resume", ref]):
        done = run_cli(db.url, tmp_path, "schedule", *step, *common, "--yes")
        assert done.returncode == 0, done.stderr
    assert await rows(db, brand.id) == [
        {"id": row["id"], "job_type": "asset_download", "cron": "0 3 * * *", "enabled": True}
    ]
    refused = run_cli(db.url, tmp_path, "schedule", "delete", ref, "--user", brand.team.member.email, "--yes")
    assert refused.returncode == 2 and "Only admins of" in refused.stdout + refused.stderr
    deleted = run_cli(db.url, tmp_path, "schedule", "delete", ref, *common, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert await rows(db, brand.id) == []
