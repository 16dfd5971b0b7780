"""The pipeline's stages tell the organization how they went: a classification run names what it newly
classified (ads with a hook, ads with no copy to read), a run with nothing new stays quiet, and a run that
fails for good names the stage, the brand, the reason and the command that retries it (which works)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from agent.runner import run_turn
from db.pool import Database
from jobs import api
from jobs.runs import RunFailed, execute_run
from tests.ad_helpers import offline_settings
from tests.chat_helpers import Team, make_team

COPIES: tuple[str | None, ...] = (
    "Tired of dull skin? Meet the serum that works overnight.",
    "Why do 9 out of 10 dermatologists recommend this cream?",
    "Stop wasting money on creams that do nothing.",
    None,
    None,
    None,
    None,
)


@dataclass(frozen=True)
class Brand:
    team: Team
    name: str
    id: UUID


@pytest.fixture
async def brand(db: Database) -> AsyncIterator[Brand]:
    """3 ads with copy and 4 with none (named "Ad 3" … "Ad 6", biggest spender first), none classified."""
    team = await make_team(db, "Stages Co")
    tag = uuid.uuid4().hex[:8]
    name = f"Northwind {tag}"
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (team.org, name)
        )
        row = await cur.fetchone()
        assert row is not None
        for i, copy in enumerate(COPIES):
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, ad_copy,"
                " thumbnail_url) values (%s, %s, %s, %s, 'image', %s, %s)",
                (f"stg-{tag}-{i}", row["id"], team.org, f"Ad {i}", copy, f"https://cdn.example/{tag}/{i}.jpg"),
            )  # fmt: skip
    yield Brand(team, name, row["id"])
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = any(%s)", ([team.org, team.outsider_org],))


async def notes_of(db: Database, org: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select type, title, message from notifications where organization_id = %s order by created_at",
            (org,),
        )
        return [dict(r) for r in await cur.fetchall()]


async def test_classification_names_what_it_classified_and_a_run_with_nothing_new_stays_quiet(
    db: Database, brand: Brand, tmp_path: Path
) -> None:
    settings = offline_settings(tmp_path)
    first = await api.run_now(
        db, job_type="ad_classification", params={}, organization_id=brand.team.org, brand_id=brand.id
    )
    await execute_run(db, settings, first, attempt=1)
    assert await notes_of(db, brand.team.org) == [
        {
            "type": "classification_finished",
            "title": f"Ad classification finished for {brand.name}",
            "message": f"Classified 3 new ads for {brand.name}: 3 with a hook,"
            " 4 with no copy to read (Ad 3, Ad 4, Ad 5 and 1 more).",
        }
    ]
    # The answer people read in /classify and the CLI names them too.
    again = await api.run_now(
        db, job_type="ad_classification", params={}, organization_id=brand.team.org, brand_id=brand.id
    )
    result = await execute_run(db, settings, again, attempt=1)
    assert result is not None and result["summary"].endswith(" No copy to read: Ad 3, Ad 4, Ad 5 and 1 more.")
    assert (result["new"], result["cached"]) == (0, 3)
    assert len(await notes_of(db, brand.team.org)) == 1  # nothing new: no second notification


async def test_a_stage_that_fails_for_good_says_which_brand_why_and_how_to_retry(
    db: Database, brand: Brand, tmp_path: Path
) -> None:
    settings = offline_settings(tmp_path)
    run_id = await api.run_now(
        db, job_type="meta_sync", params={}, organization_id=brand.team.org, brand_id=brand.id
    )
    with pytest.raises(RunFailed):
        await execute_run(db, settings, run_id, attempt=1)  # no account linked: trying again won't help
    short = str(run_id)[:8]
    assert await notes_of(db, brand.team.org) == [
        {
            "type": "job_failed",
            "title": f"Meta sync for {brand.name} failed",
            "message": f"{brand.name} has no Meta ad account linked. Link one with"
            f' /meta_account brand:"{brand.name}" account:act_1234567890 (or connect Facebook with'
            f" /connect_meta). Retry it with /jobs retry:{short} in chat, or"
            f' viraltracker ask "/jobs retry:{short} confirm:true" --user YOUR_EMAIL (run {run_id}).',
        }
    ]
    # The command it names does what it says.
    turn = await run_turn(db=db, caller=brand.team.admin, message=f"/jobs retry:{short} confirm:true")
    assert not turn.refused, turn.text
    async with db.as_owner() as conn:
        cur = await conn.execute("select job_type, status from job_runs where retry_of = %s", (run_id,))
        assert await cur.fetchall() == [{"job_type": "meta_sync", "status": "queued"}]
