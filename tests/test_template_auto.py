"""Auto-recommendations on the real database: approving templates queues one platform scoring run;
the run scores them (offline scorer) for opted-in products only, recommends those at or above each
product's threshold, and notifies the product's organization once. The chat toggle is for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest

from agent.runner import run_turn
from core.errors import InvalidArgument
from db.pool import Caller, Database
from jobs import api
from jobs.runs import execute_run
from services.templates.auto import on_templates_approved
from services.templates.library import finalize_approval, set_reviewer
from services.templates.scoring import OFFLINE_VERSION
from settings import Settings
from tests.ad_helpers import (
    Shop,
    add_score,
    add_template,
    drop_shop,
    drop_templates,
    new_shop,
    offline_home,
    offline_settings,
    quadrants,
)

RED, GREEN, BLUE, GREY = (220, 40, 40), (40, 180, 80), (40, 80, 220), (128, 128, 128)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with offline_home(tmp_path, monkeypatch):
        yield tmp_path


@pytest.fixture
def settings(home: Path) -> Settings:
    return offline_settings(home)


@pytest.fixture
async def shop(db: Database) -> AsyncIterator[Shop]:
    found = await new_shop(db, "auto", ["Joint Chews", "Calming Bites"])
    async with db.as_owner() as conn:  # Joint Chews opted in at 70; Calming Bites not
        await conn.execute(
            "update products set auto_recommend_templates = true, auto_template_threshold = 70 where id = %s",
            (found.products["Joint Chews"],),
        )
        await set_reviewer(conn, email=found.admin.email)
    yield found
    await drop_shop(db, found)


async def _recommendations(db: Database, product_id: UUID) -> dict[UUID, dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select template_id, score, auto_recommended_at from template_recommendations"
            " where product_id = %s and methodology = 'ai_match'",
            (product_id,),
        )
        return {row["template_id"]: row for row in await cur.fetchall()}


async def _notifications(db: Database, org: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select type, category, title, message, metadata from notifications"
            " where organization_id = %s and type = 'template_recommended' order by created_at",
            (org,),
        )
        return list(await cur.fetchall())


async def test_approval_recommends_above_the_threshold_and_notifies_once(
    db: Database, shop: Shop, settings: Settings
) -> None:
    jc, cb = shop.products["Joint Chews"], shop.products["Calming Bites"]
    strong = await add_template(
        db, settings, f"Strong {shop.tag}", quadrants((RED, GREEN, BLUE, GREY)), status="pending"
    )
    weak = await add_template(db, settings, f"Weak {shop.tag}", quadrants((GREY,) * 4), status="pending")
    fresh = await add_template(
        db, settings, f"Senior dog joints UGC {shop.tag}", quadrants((GREEN,) * 4), status="pending",
        description="A senior dog owner talks about stiff joints and joint chews",
    )  # fmt: skip
    templates = [strong, weak, fresh]
    # Two were scored for Joint Chews earlier (the scorer keeps them); the third is scored by this run.
    await add_score(db, jc, shop.org, strong, 91, version=OFFLINE_VERSION)
    await add_score(db, jc, shop.org, weak, 40, version=OFFLINE_VERSION)
    try:
        review = await finalize_approval(db, shop.admin, templates, "approved", settings=settings)
        assert review.auto_note is not None and review.auto_note.startswith("Scoring 3 new template(s) for")
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select id, organization_id, brand_id, params from job_runs where job_type = 'template_scoring'"
                " and params -> 'template_ids' ? %s",
                (str(strong),),
            )
            [run] = await cur.fetchall()
        assert run["organization_id"] is None and run["brand_id"] is None  # a platform run
        result = await execute_run(db, settings, run["id"], attempt=1)
        assert result is not None and result["recommended"] >= 1

        scores = await _recommendations(db, jc)
        assert set(scores) == set(templates)  # all three scored for the opted-in product
        assert scores[strong]["auto_recommended_at"] is not None
        assert scores[weak]["auto_recommended_at"] is None  # 40 < 70
        fresh_recommended = scores[fresh]["score"] >= 70
        assert (scores[fresh]["auto_recommended_at"] is not None) == fresh_recommended
        assert await _recommendations(db, cb) == {}  # not opted in: not even scored

        [notice] = await _notifications(db, shop.org)
        count = 1 + fresh_recommended
        assert notice["title"] == f"{count} new template(s) recommended for Joint Chews {shop.tag}"
        assert notice["category"] == "templates"
        assert f"Strong {shop.tag} (91/100)" in notice["message"]
        assert f"Weak {shop.tag}" not in notice["message"]
        assert notice["message"].endswith(
            f'/recommend_templates product:"Joint Chews {shop.tag}" filter:recommended.'
        )
        assert str(strong) in notice["metadata"]["template_ids"]
        # The platform run is readable by everyone: it names no product or brand.
        assert "Joint Chews" not in str(result) and shop.brand not in str(result)

        # Running it again (or approving again) finds them recommended already: no second notice.
        again = await api.run_now(
            db, job_type="template_scoring", params={"template_ids": [str(t) for t in templates]},
            organization_id=None, brand_id=None,
        )  # fmt: skip
        await execute_run(db, settings, again, attempt=1)
        assert len(await _notifications(db, shop.org)) == 1
    finally:
        await drop_templates(db, templates)


async def test_without_opted_in_products_approval_queues_nothing(
    db: Database, shop: Shop, settings: Settings
) -> None:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "update products set auto_recommend_templates = false where auto_recommend_templates returning id"
        )
        switched_off = [row["id"] for row in await cur.fetchall()]
    try:
        outcome = await on_templates_approved(db, [], settings)
        assert outcome.run_id is None and outcome.errors == []
        assert outcome.summary == "No product has auto-recommendations on: nothing to score."
    finally:
        async with db.as_owner() as conn:
            await conn.execute(
                "update products set auto_recommend_templates = true where id = any(%s)", (switched_off,)
            )


async def test_template_scoring_is_platform_only(db: Database, shop: Shop) -> None:
    with pytest.raises(InvalidArgument, match=r"^template_scoring is a platform-level job"):
        await api.create_schedule(
            db,
            job_type="template_scoring",
            cron="0 6 * * *",
            organization_id=shop.org,
            brand_id=shop.brand_id,
        )
    with pytest.raises(InvalidArgument, match=r"^template_scoring is a platform-level job"):
        await api.run_now(db, job_type="template_scoring", organization_id=shop.org, brand_id=shop.brand_id)
    with pytest.raises(psycopg.errors.CheckViolation):
        async with db.as_owner() as conn:
            await conn.execute(
                "insert into scheduled_jobs (organization_id, brand_id, job_type, cron)"
                " values (%s, %s, 'template_scoring', '0 6 * * *')",
                (shop.org, shop.brand_id),
            )


async def _setting(db: Database, product_id: UUID) -> tuple[bool, float]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select auto_recommend_templates as on_, auto_template_threshold as t from products where id = %s",
            (product_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    return row["on_"], row["t"]


async def test_admins_turn_it_on_in_chat_after_a_preview(
    db: Database, shop: Shop, home: Path, leo: Caller
) -> None:
    cb = shop.products["Calming Bites"]
    name = f"Calming Bites {shop.tag}"
    turn = await run_turn(db=db, caller=shop.member, message=f'/template_auto product:"{name}" enabled:true')
    assert turn.refused
    assert turn.text == (
        f"Only admins of {shop.brand}'s organization can change auto-recommendations; you are a member."
        " Ask an admin to do it."
    )
    turn = await run_turn(
        db=db, caller=shop.admin, message=f'/template_auto "{name}" enabled:true threshold:120'
    )
    assert turn.text == "threshold must be between 0 and 100 (got 120)."
    turn = await run_turn(
        db=db, caller=shop.admin, message=f'/template_auto product:"{name}" enabled:true threshold:60'
    )
    assert turn.text.startswith(f"Change {name} ({shop.brand}) to: Auto-recommendations are on for {name}:")
    assert turn.text.endswith("Nothing has changed yet: confirm to go ahead."), turn.text
    assert await _setting(db, cb) == (False, 70)
    turn = await run_turn(
        db=db, caller=shop.admin,
        message=f'/template_auto product:"{name}" enabled:true threshold:60 confirm:true',
    )  # fmt: skip
    assert turn.text.startswith(f"Saved. Auto-recommendations are on for {name}: newly approved templates")
    assert "Scoring the approved library for" in turn.text
    assert await _setting(db, cb) == (True, 60)
    run_id = turn.tool_calls[0].result["run_id"]  # type: ignore[index]
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select job_type, organization_id, params from job_runs where id = %s", (run_id,)
        )
        row = await cur.fetchone()
    assert row == {
        "job_type": "template_scoring",
        "organization_id": None,
        "params": {"product_ids": [str(cb)], "template_ids": None},
    }
    # Another organization can't even find the product.
    turn = await run_turn(
        db=db, caller=leo, message=f'/template_auto product:"{name}" enabled:false confirm:true'
    )
    assert turn.refused and turn.text.startswith(f"No product named '{name}'.")
    assert await _setting(db, cb) == (True, 60)
    # Listing: the caller's products with their settings.
    turn = await run_turn(db=db, caller=shop.member, message="/template_auto")
    assert turn.text.startswith("Auto-recommendations are on for 2 of your 2 product(s)")
