"""synthesize_persona over real rows: every source configuration on the demo brand, the ad
classifications fallback, the product filter, quotes traced to rows, the model path through the fake
Anthropic API, and saving only on confirmation."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from pydantic_ai import models

from agent.render import tables_for
from agent.runner import run_turn
from core.errors import InvalidArgument, NoData
from db.jsonb import jsonb
from db.pool import Caller, Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
from services.research.personas import EXTRACTIVE_LABEL, PersonaDraft, PersonaSources, synthesize_persona
from settings import Settings
from tests.research_helpers import insert, new_tenant

OFFLINE = Settings(_env_file=None, VIRALTRACKER_MODEL="offline")  # type: ignore[call-arg]


@dataclass
class Teas:
    db: Database
    caller: Caller
    brand_id: UUID
    sleep: UUID
    focus: UUID
    analyses: list[UUID]


@pytest.fixture(scope="module")
async def teas(db: Database) -> AsyncIterator[Teas]:
    """A brand with ad copy analyses: one tied to Sleep Tea by its product_id, two to Focus Tea through
    their ads' product matches; reviews for Sleep Tea only."""
    org, caller = await new_tenant(db, organization="Harbor Labs", person="hana")
    async with db.as_service() as conn:

        async def one(query: str, *args: Any) -> Any:
            return await insert(conn, query, *args)

        brand = await one("insert into brands (organization_id, name) values (%s, 'Tidewell Teas')", org)
        sleep = await one("insert into products (brand_id, organization_id, name) values (%s, %s, 'Sleep Tea')",
                          brand, org)  # fmt: skip
        focus = await one("insert into products (brand_id, organization_id, name) values (%s, %s, 'Focus Tea')",
                          brand, org)  # fmt: skip
        analyses = [
            await one(
                "insert into brand_ad_analysis (brand_id, organization_id, product_id, data_source, analysis)"
                " values (%s, %s, %s, 'meta_api', %s)", brand, org, sleep,
                jsonb({"pain_points": ["lying awake at 3am"], "desires": ["deep, unbroken sleep"],
                       "target_audience": ["new parents"], "hooks": ["Up at 3am again?"],
                       "awareness_level": "problem_aware"}),
            )
        ]  # fmt: skip
        for n, pain in enumerate(("afternoon brain fog", "afternoon brain fog")):
            ad = f"{str(org)[:8]}{n}"
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values (%s, %s, %s, %s)",
                (ad, brand, org, f"Focus ad {n}"),
            )
            await conn.execute(
                "insert into meta_ad_product_matches (meta_ad_id, product_id, organization_id) values (%s, %s, %s)",
                (ad, focus, org),
            )
            analyses.append(await one(
                "insert into brand_ad_analysis (brand_id, organization_id, meta_ad_id, data_source, analysis)"
                " values (%s, %s, %s, 'meta_api', %s)", brand, org, ad,
                jsonb({"pain_points": [pain], "desires": ["clear focus without jitters"],
                       "target_audience": ["remote workers"], "awareness_level": "solution_aware"}),
            ))  # fmt: skip
        await one(
            "insert into amazon_review_analysis (brand_id, organization_id, product_id, analysis)"
            " values (%s, %s, %s, %s)", brand, org, sleep,
            jsonb({"pain_points": ["Lying awake at 3am!"], "objections": ["Tastes grassy"]}),
        )  # fmt: skip
        await one(
            "insert into amazon_reviews (brand_id, organization_id, product_id, rating, body)"
            " values (%s, %s, %s, 5, 'I finally sleep through the night, no grogginess.')", brand, org, sleep,
        )  # fmt: skip
    yield Teas(db, caller, brand, sleep, focus, analyses)


async def persona(db: Database, caller: Caller, brand: str, sources: str, **kw: Any) -> PersonaDraft:
    async with db.as_user(caller) as conn:
        return await synthesize_persona(
            conn,
            brand=brand,
            sources=PersonaSources.parse(sources),
            settings=kw.pop("settings", OFFLINE),
            **kw,
        )


def used(draft: PersonaDraft) -> dict[str, int]:
    return {s.source: s.items for s in draft.source_breakdown if s.items}


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        ("ads", {"ad_classifications"}),
        ("reviews", {"reviews"}),
        ("landing_pages", {"landing_pages"}),
        ("offer_variants", {"offer_variants"}),
        ("all", {"ad_classifications", "reviews", "landing_pages", "offer_variants"}),
        ("reviews,landing_pages", {"reviews", "landing_pages"}),
    ],
)
async def test_each_source_configuration_draws_only_on_its_sources(
    db: Database, maya: Caller, sources: str, expected: set[str]
) -> None:
    draft = await persona(db, maya, "Acme Pets", sources)
    assert set(used(draft)) == expected
    assert draft.method == "extractive" and draft.notes[0] == EXTRACTIVE_LABEL
    assert abs(sum(s.share for s in draft.source_breakdown) - 1) < 0.01
    assert draft.pains or draft.desires
    # The brand has no ad copy analyses: the answer says the classifications stood in.
    fallback = any(
        "no ad copy analyses" in n and "classification(s) were used instead" in n for n in draft.notes
    )
    assert fallback == ("ad_classifications" in expected)


async def test_ads_with_analyses_use_them_not_the_classifications(teas: Teas) -> None:
    draft = await persona(teas.db, teas.caller, "Tidewell Teas", "ads")
    assert used(draft) == {"ads": used(draft)["ads"]}
    assert not any("classification" in n for n in draft.notes)
    assert draft.awareness_level in ("problem_aware", "solution_aware")


async def test_the_product_filter_changes_the_evidence(teas: Teas) -> None:
    sleep = await persona(teas.db, teas.caller, "Tidewell Teas", "ads", product="sleep tea")
    focus = await persona(teas.db, teas.caller, "Tidewell Teas", "ads", product="Focus Tea")
    brand = await persona(teas.db, teas.caller, "Tidewell Teas", "ads")
    assert sleep.pains == ["lying awake at 3am"] and sleep.demographics == ["new parents"]
    assert focus.pains == ["afternoon brain fog"] and focus.demographics == ["remote workers"]
    rows = {
        d.product: next(s.rows for s in d.source_breakdown if s.source == "ads")
        for d in (sleep, focus, brand)
    }
    assert rows == {"Sleep Tea": 1, "Focus Tea": 2, None: 3}
    # Recurring signals rank first: brain fog is said by two analyses (and counted once with its mentions).
    assert next(line for line in brand.lines if line.field == "pains").text == "afternoon brain fog"
    assert next(line for line in brand.lines if line.field == "pains").mentions == 2
    # Across sources, a pain said by both ads and reviews (case and punctuation aside) ranks first.
    mixed = await persona(teas.db, teas.caller, "Tidewell Teas", "ads,reviews", product="Sleep Tea")
    top = next(line for line in mixed.lines if line.field == "pains")
    assert top.text == "lying awake at 3am" and top.mentions == 2 and "Amazon reviews" in top.sources


async def test_every_quote_is_traced_to_an_existing_row(db: Database, maya: Caller, teas: Teas) -> None:
    drafts = [await persona(db, maya, "Acme Pets", "all", product="Joint Chews"),
              await persona(teas.db, teas.caller, "Tidewell Teas", "all")]  # fmt: skip
    checked = 0
    async with db.as_owner() as conn:
        for draft in drafts:
            assert draft.language
            for quote in draft.language:
                assert re.fullmatch(r"[a-z_0-9]+", quote.table)
                cur = await conn.execute(f"select to_jsonb(t) as row from {quote.table} t where id = %s",
                                         (quote.row_id,))  # fmt: skip
                row = await cur.fetchone()
                assert row is not None, quote
                assert quote.text in json.dumps(row["row"], ensure_ascii=False), quote
                checked += 1
    assert checked >= 4


async def test_bad_input_is_refused_clearly(db: Database, maya: Caller, teas: Teas) -> None:
    with pytest.raises(InvalidArgument, match="Unknown source 'tweets': use all, or any of ads, reviews"):
        PersonaSources.parse("ads,tweets")
    with pytest.raises(NoData, match="No research to build a persona from for Tidewell Teas / Focus Tea"):
        await persona(teas.db, teas.caller, "Tidewell Teas", "landing_pages", product="Focus Tea")


@pytest.fixture
def allow_model_requests() -> Iterator[None]:
    with models.override_allow_model_requests(True):
        yield


async def test_the_model_writes_from_evidence_chosen_per_field(
    db: Database, maya: Caller, allow_model_requests: None
) -> None:
    seen: list[FakeRequest] = []

    def responder(request: FakeRequest) -> Reply:
        seen.append(request)
        quote = re.search(r"## language\n\[(E\d+)\]", request.user_text)
        assert quote, request.user_text[:500]
        return Reply.tool({
            "name": "Worried senior-dog parent", "demographics": ["dog parents of senior dogs"],
            "psychographics": ["proof over hype"], "pains": ["stiff, achy joints"], "desires": ["more good years"],
            "objections": ["Price"], "quote_ids": [quote.group(1), "E999"], "awareness_level": "problem_aware",
        })  # fmt: skip

    with FakeAnthropic(responder) as fake:
        settings = Settings(_env_file=None, VIRALTRACKER_MODEL="anthropic:claude-sonnet-4-6",  # type: ignore[call-arg]
                            ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=fake.url)  # fmt: skip
        draft = await persona(db, maya, "Acme Pets", "all", product="Joint Chews", settings=settings)
    assert len(seen) == 1
    sent = seen[0].user_text
    for field in ("demographics", "psychographics", "pains", "desires", "objections", "language"):
        assert f"## {field}" in sent
    assert "stiff, achy joints" in sent and "Calming" not in sent  # the product filter reached the model
    assert draft.method == "model" and draft.model == "anthropic:claude-sonnet-4-6"
    assert draft.name == "Worried senior-dog parent" and draft.pains == ["stiff, achy joints"]
    assert len(draft.language) == 1 and draft.language[0].text in sent  # the unknown id E999 is dropped
    assert draft.notes[0].startswith("Written by anthropic:claude-sonnet-4-6 from")


async def personas_of(db: Database, brand_id: UUID) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute("select * from personas_4d where brand_id = %s", (brand_id,))
        return list(await cur.fetchall())


async def test_nothing_is_saved_until_save_is_pressed(teas: Teas, monkeypatch: Any) -> None:
    monkeypatch.setenv("VIRALTRACKER_MODEL", "offline")
    from settings import get_settings

    get_settings.cache_clear()
    try:
        turn = await run_turn(db=teas.db, caller=teas.caller,
                              message='/synthesize_persona brand:"tidewell teas" product:"Sleep Tea" sources:ads,reviews')  # fmt: skip
        [call] = turn.tool_calls
        assert call.error is None, call.error
        result = call.result or {}
        assert "Nothing is saved until you press Save." in result["summary"]
        card = tables_for(turn.results[0])
        assert [t.title for t in card] == [
            f"Persona — {result['persona']['name']}",
            "Quotes",
            "Source breakdown",
        ]
        assert ["pains", "lying awake at 3am", "2", "ad copy analyses, Amazon reviews"] in card[0].rows
        assert {row[0] for row in card[2].rows} == {"ad copy analyses", "Amazon reviews"}
        assert await personas_of(teas.db, teas.brand_id) == []
        save = next(a for a in result["actions"] if a["label"] == "Save")
        assert save["args"]["confirm"] is True
        command = "/synthesize_persona " + " ".join(
            f'{k}:"{v}"' if isinstance(v, str) else f"{k}:{str(v).lower()}" for k, v in save["args"].items()
        )
        turn = await run_turn(db=teas.db, caller=teas.caller, message=command)
        assert turn.tool_calls[0].error is None, turn.tool_calls[0].error
        assert "Saved to the brand's personas" in turn.tool_calls[0].result["summary"]  # type: ignore[index]
        [row] = await personas_of(teas.db, teas.brand_id)
        assert row["product_id"] == teas.sleep and row["pains"] == ["lying awake at 3am"]
        assert row["source_breakdown"]["method"] == "extractive"
        assert set(row["source_breakdown"]["sources"]) == {"ads", "reviews"}
        assert row["source_breakdown"]["quotes"][0]["table"] in ("amazon_reviews", "brand_ad_analysis")
    finally:
        get_settings.cache_clear()


async def test_another_organization_cannot_reach_the_brand(db: Database, leo: Caller, teas: Teas) -> None:
    before = len(await personas_of(db, teas.brand_id))
    for message in (
        '/synthesize_persona brand:"Tidewell Teas"',
        '/synthesize_persona brand:"Tidewell Teas" confirm:true',
    ):
        turn = await run_turn(db=db, caller=leo, message=message)
        assert "No brand named 'Tidewell Teas'" in turn.text
    assert len(await personas_of(db, teas.brand_id)) == before
