"""discover_patterns over real rows: planted themes across ad analyses, review analyses and landing
pages come out as patterns with their members; a one-source theme asks for the missing sources; a
theme equal to an existing angle is flagged; promotion writes one angle; embeddings are cached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

import numpy as np
import pytest

from agent.charts import charts_for
from agent.render import tables_for
from agent.runner import run_turn
from core.errors import NotFound
from db.pool import Database
from services.llm import embeddings
from services.research.patterns import PatternReport, confidence, discover_patterns
from settings import Settings
from tests.pattern_helpers import NOISE, THEMES, Barkwell, pattern_of, seed_barkwell
from tests.research_helpers import new_tenant

OFFLINE = Settings(_env_file=None, VIRALTRACKER_MODEL="offline")  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def barkwell(db: Database) -> AsyncIterator[Barkwell]:
    """One row per planted text, in its kind of source; one existing angle, 'Vet recommended'."""
    yield await seed_barkwell(db)


class CountingEmbedder:
    """The real MiniLM embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.texts += texts
        return embeddings.embed(texts)


async def _discover(b: Barkwell, embedder: CountingEmbedder) -> PatternReport:
    async with b.db.as_user(b.caller) as conn:
        return await discover_patterns(conn, brand="barkwell", settings=OFFLINE, embedder=embedder)


async def test_planted_themes_come_out_with_their_members_and_suggestions(barkwell: Barkwell) -> None:
    counter = CountingEmbedder()
    report = await _discover(barkwell, counter)
    planted = sum(len(rows) for rows in THEMES.values()) + len(NOISE)
    assert report.evidence_items == planted
    # Every planted text once, plus the one angle: nothing embedded twice.
    assert sorted(counter.texts) == sorted(
        [*barkwell.theme_of, "Vet recommended. Recommended by veterinarians"]
    )
    assert report.embedded_new == planted + 1
    for theme, rows in THEMES.items():
        pattern = pattern_of(report, barkwell.theme_of, theme)
        texts = [m.text for m in pattern.members]
        purity = sum(barkwell.theme_of[t] == theme for t in texts) / len(texts)
        recall = sum(barkwell.theme_of[t] == theme for t in texts) / len(rows)
        assert purity >= 0.8 and recall >= 0.8, (theme, texts)
    assert not any(
        sum(barkwell.theme_of[m.text] == "noise" for m in p.members) > len(p.members) / 2
        for p in report.patterns
    ), "noise should not form patterns"

    joint = pattern_of(report, barkwell.theme_of, "joint")
    assert joint.source_breakdown == {"ads": 2, "reviews": 2, "landing_pages": 2}
    assert joint.confidence == 1.0 and joint.novelty >= 0.5
    assert [s.kind for s in joint.suggestions] == ["promote"]
    assert {m.table for m in joint.members} == {
        "brand_ad_analysis",
        "amazon_review_analysis",
        "brand_landing_pages",
    }

    shed = pattern_of(report, barkwell.theme_of, "shed")
    assert shed.source_breakdown == {"reviews": 3} and shed.confidence == confidence(rows=3, kinds=1) == 0.3
    missing = [s for s in shed.suggestions if s.kind == "missing_source"]
    assert [s.command for s in missing] == [
        "/sync_meta brand:Barkwell",
        "/analyze_landing_page url:<page url> brand:Barkwell",
        "/discover_variants brand:Barkwell",
        f'/research_reddit brand:Barkwell query:"{shed.name}"',
        "/competitor_ads brand:Barkwell page:<competitor's Facebook page id>",
        '/analyze_landing_page url:<competitor page> brand:Barkwell competitor:"<name>"',
    ]
    assert "Not in ads yet" in missing[0].text and "Not in landing pages yet" in missing[1].text
    assert "Not in Reddit discussions yet" in missing[3].text

    vet = pattern_of(report, barkwell.theme_of, "vet")
    assert vet.similar_angle == "Vet recommended" and vet.novelty < 0.3
    assert any(s.text == "Similar to existing angle 'Vet recommended'." for s in vet.suggestions)
    assert not any(s.kind == "promote" for s in vet.suggestions)

    # A second run embeds nothing, finds the same patterns, and knows it has seen them all.
    again = CountingEmbedder()
    second = await _discover(barkwell, again)
    assert again.texts == [] and second.embedded_new == 0
    assert sorted(p.name for p in second.patterns) == sorted(p.name for p in report.patterns)
    assert not any(p.is_new for p in second.patterns)
    async with barkwell.db.as_service() as conn:
        cur = await conn.execute(
            "select count(*) as n from patterns where brand_id = %s and status = 'new'", (barkwell.brand_id,)
        )
        assert (await cur.fetchone() or {})["n"] == len(second.patterns)


async def test_promote_writes_one_angle_after_confirmation(barkwell: Barkwell) -> None:
    turn = await run_turn(db=barkwell.db, caller=barkwell.caller, message="/discover_patterns brand:Barkwell")
    [call] = turn.tool_calls
    assert call.error is None, call.error
    answer = turn.results[0]
    titles = [t.title for t in tables_for(answer)]
    assert titles == ["Patterns — Barkwell", "Pattern members"]
    [chart] = charts_for(answer)
    assert chart["layout"]["xaxis"]["title"]["text"] == "confidence (%)"
    promote = next(a for a in (call.result or {})["actions"] if a["label"].startswith("Promote"))
    short = promote["args"]["promote"][:8]  # as the table shows it
    preview = await run_turn(
        db=barkwell.db, caller=barkwell.caller, message=f"/discover_patterns brand:Barkwell promote:{short}"
    )
    summary = preview.tool_calls[0].result["summary"]  # type: ignore[index]
    assert summary.startswith("Promote pattern '") and "Nothing is written until you confirm" in summary
    bad = await run_turn(
        db=barkwell.db, caller=barkwell.caller, message="/discover_patterns brand:Barkwell promote:xyz"
    )
    assert "'xyz' is not a pattern id: run /discover_patterns to list them." in (
        bad.tool_calls[0].error or bad.text
    )
    assert await _angles(barkwell) == [("Vet recommended", None)]
    confirm = f"/discover_patterns brand:Barkwell promote:{promote['args']['promote']} confirm:true"
    done = await run_turn(db=barkwell.db, caller=barkwell.caller, message=confirm)
    assert done.tool_calls[0].error is None, done.tool_calls[0].error
    angles = await _angles(barkwell)
    assert len(angles) == 2 and angles[1][1] == UUID(promote["args"]["promote"])
    twice = await run_turn(db=barkwell.db, caller=barkwell.caller, message=confirm)
    assert "is already an angle" in (twice.tool_calls[0].error or twice.text)
    assert len(await _angles(barkwell)) == 2


async def _angles(b: Barkwell) -> list[tuple[str, UUID | None]]:
    async with b.db.as_service() as conn:
        cur = await conn.execute(
            "select name, source_pattern_id from angles where brand_id = %s order by created_at",
            (b.brand_id,),
        )
        return [(r["name"], r["source_pattern_id"]) for r in await cur.fetchall()]


async def test_another_organization_cannot_reach_the_brand(db: Database, barkwell: Barkwell) -> None:
    _, stranger = await new_tenant(db, organization="Other Co", person="sam")
    async with db.as_user(stranger) as conn:
        with pytest.raises(NotFound, match="No brand named 'Barkwell'"):
            await discover_patterns(conn, brand="Barkwell", settings=OFFLINE, embedder=CountingEmbedder())
    async with db.as_user(stranger) as conn:
        cur = await conn.execute("select count(*) as n from evidence_embeddings")
        assert (await cur.fetchone() or {})["n"] == 0
