"""`/classify brand:` in chat and `viraltracker classify --brand` in the CLI: a brand's ads classified
now, answered with new / cached / skipped counts that match the rows written; a second run writes nothing;
another organization's brand is unknown."""

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
from tests.ad_helpers import offline_home
from tests.chat_helpers import Team, make_team
from tests.cli_helpers import run_cli

HOOKS = (
    "Tired of dull skin? Meet the serum that works overnight.",
    "Why do 9 out of 10 dermatologists recommend this cream?",
    "Stop wasting money on creams that do nothing.",
    "Free shipping today only: your glow starts now.",
    "I tried every moisturiser for years. This one finally worked.",
)
OFFLINE = "the offline rules (text only; set ANTHROPIC_API_KEY or GEMINI_API_KEY for full classification)"
NO_TEXT = "2 skipped (2 ads without text (the offline rules read text only))"


class Watching:
    """A surface that shows progress: what the chat's tool step would show."""

    def __init__(self) -> None:
        self.progress: list[str] = []

    async def on_text(self, delta: str) -> None:
        pass

    async def on_tool_start(self, call_id: str, tool: str, args: dict[str, Any]) -> None:
        pass

    async def on_tool_end(self, call_id: str, tool: str, result: Any, error: str | None) -> None:
        pass

    def on_progress(self, call_id: str | None, message: str) -> None:
        self.progress.append(message)


@dataclass(frozen=True)
class Brand:
    team: Team
    name: str
    id: UUID


@pytest.fixture
async def brand(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Brand]:
    """A brand with 5 ads whose copy can be read and 2 image ads with no copy, none classified."""
    team = await make_team(db, "Classify Co")
    tag = uuid.uuid4().hex[:8]
    name = f"Northwind {tag}"
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (team.org, name)
        )
        row = await cur.fetchone()
        assert row is not None
        copies: list[str | None] = [*HOOKS, None, None]
        for i, copy in enumerate(copies):
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, ad_copy,"
                " thumbnail_url) values (%s, %s, %s, %s, 'image', %s, %s)",
                (f"cls-{tag}-{i}", row["id"], team.org, f"Ad {i}", copy, f"https://cdn.example/{tag}/{i}.jpg"),
            )  # fmt: skip
    with offline_home(tmp_path, monkeypatch):
        yield Brand(team, name, row["id"])
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = any(%s)", ([team.org, team.outsider_org],))


async def stored(db: Database, brand_id: UUID) -> tuple[int, object]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n, max(classified_at) as last from ad_creative_classifications"
            " where brand_id = %s",
            (brand_id,),
        )
        row = await cur.fetchone()
    assert row is not None
    return row["n"], row["last"]


async def test_classify_in_chat_counts_what_it_wrote_then_reports_it_cached(
    db: Database, brand: Brand
) -> None:
    watching = Watching()
    first = await run_turn(
        db=db, caller=brand.team.member, message=f'/classify brand:"{brand.name}"', listener=watching
    )
    assert not first.refused, first.text
    assert first.text.startswith(
        f"Classified 5 new or changed ads for {brand.name} with {OFFLINE};"
        f" 0 unchanged ads kept their classification; {NO_TEXT}."
    ), first.text
    assert watching.progress == [
        f"Classified 5 of 5 ads for {brand.name}",
        f"Classified ads for {brand.name}",
    ]
    count, last = await stored(db, brand.id)
    assert count == 5

    again = await run_turn(db=db, caller=brand.team.member, message=f'/classify brand:"{brand.name}"')
    assert again.text.startswith(
        f"Classified 0 new or changed ads for {brand.name} with {OFFLINE};"
        f" 5 unchanged ads kept their classification; {NO_TEXT}."
    ), again.text
    assert await stored(db, brand.id) == (5, last)


async def test_another_organizations_brand_is_unknown(db: Database, brand: Brand) -> None:
    refused = await run_turn(db=db, caller=brand.team.outsider, message=f'/classify brand:"{brand.name}"')
    assert refused.refused and refused.text == f"No brand named '{brand.name}'. You have no brands yet."
    assert await stored(db, brand.id) == (0, None)


async def test_cli_prints_the_summary(db: Database, brand: Brand, tmp_path: Path) -> None:
    elsewhere = run_cli(
        db.url,
        tmp_path,
        "classify",
        "--brand",
        brand.name,
        "--org",
        f"Elsewhere {brand.team.name.split()[-1]}",
    )
    assert elsewhere.returncode == 2, elsewhere.stdout + elsewhere.stderr
    assert f"No brand named '{brand.name}'." in elsewhere.stderr
    assert await stored(db, brand.id) == (0, None)

    done = run_cli(db.url, tmp_path, "classify", "--brand", brand.name)
    assert done.returncode == 0, done.stderr
    assert (
        f"Classified 5 new or changed ads for {brand.name} with {OFFLINE};"
        f" 0 unchanged ads kept their classification; {NO_TEXT}."
    ) in " ".join(done.stdout.split())
    assert (await stored(db, brand.id))[0] == 5


async def test_a_brand_made_from_nothing_is_told_where_ads_come_from(db: Database, tmp_path: Path) -> None:
    """A brand created by `viraltracker brand create` has no ads: /classify says how to get some."""
    team = await make_team(db, "Empty Co")
    name = f"Fresh {uuid.uuid4().hex[:8]}"
    made = run_cli(db.url, tmp_path, "brand", "create", name, "--org", team.name)
    assert made.returncode == 0, made.stderr
    turn = await run_turn(db=db, caller=team.admin, message=f'/classify brand:"{name}"')
    assert turn.text.startswith(
        f"{name} has no ads to classify yet: link its Meta ad account (/meta_account or /connect_meta)"
    ), turn.text
