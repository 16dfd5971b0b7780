"""Ad classification for a brand whose only source is Meta: synced from the local fake Graph API with the
real SDK, classified with the offline rules (no model key), read back through the chat tools."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.runner import run_turn
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from services.creative.ad_classifier import OFFLINE_MODEL, OFFLINE_VERSION, classifier_agent, prompt_version
from services.creative.brand_classification import classify_brand_ads
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.sync import MetaSync
from services.platform.accounts import add_user, create_organization
from settings import Settings

TOKEN = "EAAB-classify-token-" + uuid.uuid4().hex
TODAY = date.today()
DAYS = 14
N_ADS = 12


@dataclass
class Brand:
    db: Database
    caller: Caller
    name: str
    id: UUID
    organization_id: UUID
    settings: Settings

    async def classify(self, **kwargs: Any) -> Any:
        return await classify_brand_ads(self.db, brand_id=self.id, settings=self.settings, **kwargs)

    async def rows(self) -> list[dict[str, Any]]:
        async with self.db.as_owner() as conn:
            cur = await conn.execute(
                "select meta_ad_id, organization_id, source, model, prompt_version, hooks, congruence_score,"
                " landing_page_id from ad_creative_classifications where brand_id = %s order by meta_ad_id",
                (self.id,),
            )
            return await cur.fetchall()


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        yield graph


@pytest.fixture
async def brand(db: Database, fake: FakeGraph, tmp_path: Path) -> AsyncIterator[Brand]:
    """A fresh organization whose one brand has 12 ads synced from Meta (and product pages for two of them)."""
    tag = uuid.uuid4().hex[:8]
    account = f"act_{int(tag, 16) % 10**9 + 10**9}"
    name = f"Classify Skin {tag}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Classifier Co {tag}")
        user_id = await add_user(conn, email=f"cls-{tag}@classify.example", organization_id=org)
        cur = await conn.execute(
            "insert into brands (organization_id, name, brand_voice_tone) values (%s, %s, %s) returning id",
            (org, name, "warm, friendly and expert"),
        )
        row = await cur.fetchone()
        assert row is not None
        brand_id = row["id"]
        for slug, product in (("glow-serum", "Glow Serum"), ("night-cream", "Night Cream")):
            cur = await conn.execute(
                "insert into products (brand_id, organization_id, name, description, product_url)"
                " values (%s, %s, %s, %s, %s) returning id",
                (brand_id, org, product, f"{product}: hydrates dry skin overnight.",
                 f"https://acme.example/products/{slug}"),
            )  # fmt: skip
            product_row = await cur.fetchone()
            assert product_row is not None
            await conn.execute(
                "insert into brand_landing_pages (brand_id, organization_id, product_id, url, title, raw_markdown,"
                " content_hash, benefits) values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (brand_id, org, product_row["id"], f"https://acme.example/products/{slug}", product,
                 f"# {product}\nHydrates dry skin for 24 hours. Free shipping today. Dermatologists love it.",
                 f"hash-{slug}", '["Hydrates dry skin"]'),
            )  # fmt: skip
    fake.add_account(account, name=f"{name} US", tokens={TOKEN})
    fake.generate(
        account, n_ads=N_ADS, since=TODAY - timedelta(days=DAYS), days=DAYS, seed=int(tag, 16) % 1000
    )
    settings = Settings(  # type: ignore[call-arg]
        META_SYSTEM_USER_TOKEN=TOKEN,
        META_GRAPH_URL=fake.url,
        VIRALTRACKER_HOME=tmp_path,
        VIRALTRACKER_MODEL="offline",
    )
    caller = Caller(user_id, f"cls-{tag}@classify.example")

    def client(token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token, graph_url=fake.url, limits=Limits(backoff_base=0.001), sleep=lambda _: None
        )

    await link_account(db, caller, brand_name=name, account=account, settings=settings, client_factory=client)
    synced = await MetaSync(db, caller, settings=settings, client_factory=client).run(name, today=TODAY)
    assert synced.ok
    yield Brand(db, caller, name, brand_id, org, settings)
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))
        await conn.execute("delete from auth.users where id = %s", (user_id,))


async def _ad_ids(brand: Brand) -> list[str]:
    async with brand.db.as_owner() as conn:
        cur = await conn.execute(
            "select meta_ad_id from meta_ads where brand_id = %s order by 1", (brand.id,)
        )
        return [r["meta_ad_id"] for r in await cur.fetchall()]


async def test_new_then_cached_then_only_the_changed_ad(brand: Brand) -> None:
    # An ad Meta reports results for but no longer lists: no image and no copy for the rules to read.
    async with brand.db.as_owner() as conn:
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, ad_copy)"
            " values ('990000000001', %s, %s, 'Deleted static', 'image', null)",
            (brand.id, brand.organization_id),
        )
    progress: list[tuple[str, float]] = []
    first = await brand.classify(progress=lambda what, done: progress.append((what, done)))
    assert (first.new, first.cached, first.skipped, first.errors) == (N_ADS, 0, 1, 0)
    assert first.skip_reasons == {"ad without text (the offline rules read text only)": 1}
    assert first.classifier == OFFLINE_MODEL and first.prompt_version == OFFLINE_VERSION
    assert first.summary.startswith(
        f"Classified {N_ADS} new or changed ads for {brand.name} with the offline rules (text only;"
    )
    assert "1 skipped (1 ad without text (the offline rules read text only))." in first.summary
    assert first.summary.endswith(" No copy to read: Deleted static.")
    assert progress[-1][1] == 1.0
    rows = await brand.rows()
    assert len(rows) == N_ADS
    assert {r["organization_id"] for r in rows} == {brand.organization_id}  # tenancy: the brand's own org
    assert {(r["source"], r["model"], r["prompt_version"]) for r in rows} == {
        ("offline", OFFLINE_MODEL, OFFLINE_VERSION)
    }
    assert all(r["hooks"]["overlay"]["text"] for r in rows)
    # Ads landing on a product page on file are compared with it; the rest have no congruence to give.
    assert any(r["landing_page_id"] is not None and r["congruence_score"] is not None for r in rows)

    second = await brand.classify()
    assert (second.new, second.cached, second.skipped, second.errors) == (0, N_ADS, 1, 0)
    assert len(await brand.rows()) == N_ADS  # nothing written again

    changed = (await _ad_ids(brand))[3]
    async with brand.db.as_owner() as conn:
        await conn.execute(
            "update meta_ads set ad_copy = 'Tired of dry skin? Glow Serum fixes it in 7 days.' where meta_ad_id = %s",
            (changed,),
        )
    third = await brand.classify()
    assert (third.new, third.cached, third.skipped) == (1, N_ADS - 1, 1)
    async with brand.db.as_user(brand.caller) as conn:
        cur = await conn.execute(
            "select distinct on (meta_ad_id) hooks from ad_creative_classifications where meta_ad_id = %s"
            " order by meta_ad_id, classified_at desc",
            (changed,),
        )
        latest = await cur.fetchone()
    assert latest is not None
    assert latest["hooks"]["overlay"] == {"text": "Tired of dry skin?", "category": "problem_callout"}


async def test_duplicated_creative_reuses_the_classification_and_limit_leaves_the_rest(brand: Brand) -> None:
    first = await brand.classify(limit=5)
    assert (first.new, first.cached, first.left_for_later) == (5, 0, N_ADS - 5)
    assert "7 left for the next run (limit reached)" in first.summary
    rest = await brand.classify()
    assert (rest.new, rest.cached, rest.left_for_later) == (N_ADS - 5, 5, 0)
    # The same creative in another ad set: no new classification, the stored one is reused.
    source = (await _ad_ids(brand))[0]
    async with brand.db.as_owner() as conn:
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, ad_copy, headline,"
            " thumbnail_url, video_id) select '990000000002', brand_id, organization_id, name || ' (copy)', format,"
            " ad_copy, headline, thumbnail_url || '?oe=new-signature', video_id from meta_ads where meta_ad_id = %s",
            (source,),
        )
        await conn.execute(
            "insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)"
            " select '990000000002', organization_id, url, canonical_url from meta_ad_destinations"
            " where meta_ad_id = %s",
            (source,),
        )
        await conn.execute(
            "insert into meta_ad_product_matches (meta_ad_id, product_id, organization_id, match_method, confidence)"
            " select '990000000002', product_id, organization_id, match_method, confidence"
            " from meta_ad_product_matches where meta_ad_id = %s",
            (source,),
        )
    dup = await brand.classify()
    assert (dup.new, dup.cached) == (0, N_ADS + 1)
    rows = {r["meta_ad_id"]: r for r in await brand.rows()}
    assert rows["990000000002"]["hooks"] == rows[source]["hooks"]


async def test_hook_and_congruence_tools_work_for_a_meta_only_brand(brand: Brand, leo: Caller) -> None:
    before = await run_turn(
        db=brand.db, caller=brand.caller, message=f'/top_hooks brand:"{brand.name}" days:30'
    )
    result = before.tool_calls[0].result
    assert result is not None and result["rows"] == []
    assert result["gate"]["unclassified"] > 0

    await brand.classify()
    after = await run_turn(
        db=brand.db, caller=brand.caller, message=f'/top_hooks brand:"{brand.name}" days:30'
    )
    result = after.tool_calls[0].result
    assert result is not None and result["gate"]["unclassified"] == 0
    gate = result["gate"]
    # Every eligible ad is classified; those whose copy gave the rules no hook of this type say so.
    assert (
        len(result["rows"])
        == gate["ads_with_spend"] - gate["excluded_below_min_spend"] - gate["without_hook_of_type"]
        > 0
    )
    async with brand.db.as_owner() as conn:
        cur = await conn.execute("select meta_ad_id, ad_copy from meta_ads where brand_id = %s", (brand.id,))
        copy = {r["meta_ad_id"]: r["ad_copy"] for r in await cur.fetchall()}
    for row in result["rows"]:  # the hook is the ad's opening sentence, as the rules read it
        assert copy[row["meta_ad_id"]].startswith(row["hook_text"]) and row["hook_type"] == "overlay"

    analysis = await run_turn(
        db=brand.db, caller=brand.caller, message=f'/hook_analysis brand:"{brand.name}" days:30'
    )
    categories = analysis.tool_calls[0].result
    assert categories is not None and categories["rows"]
    assert sum(r["video_ads"] for r in categories["rows"]) == len(result["rows"])  # hook rate: video ads

    summary = await run_turn(
        db=brand.db, caller=brand.caller, message=f'/congruence_summary brand:"{brand.name}" days:30'
    )
    congruence = summary.tool_calls[0].result
    assert congruence is not None and congruence["classified_ads"] > 0 and congruence["unclassified_ads"] == 0

    # Another organization's admin sees none of these rows, even with raw SQL.
    async with brand.db.as_user(leo) as conn:
        cur = await conn.execute(
            "select count(*) as n from ad_creative_classifications where brand_id = %s", (brand.id,)
        )
        assert await cur.fetchone() == {"n": 0}


async def test_model_path_typed_output_partial_failure_and_rules_never_replace_it(brand: Brand) -> None:
    """The Pydantic-AI path with pydantic-ai's own scripted models (no provider): one ad fails, the rest are
    written; the offline rules then keep the model's classifications."""
    failing = (await _ad_ids(brand))[2]

    def classify(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        prompt = str(messages[0].parts[-1].content)  # type: ignore[union-attr]
        if failing in prompt:
            raise RuntimeError("provider overloaded")
        output = info.output_tools[0].name
        args = {
            "awareness_level": "problem_aware",
            "hooks": {"spoken": {"text": "Dry skin?", "category": "question"}, "overlay": None, "visual": None},
            "benefits": ["hydration"], "angles": ["problem/solution"], "claims": [],
            "congruence_components": [
                {"dimension": "product", "status": "aligned", "ad": "Glow Serum", "landing_page": "Glow Serum",
                 "note": "ok"},
                {"dimension": "offer", "status": "weak", "ad": "free shipping", "landing_page": "", "note": "buried"},
            ],
            "transcript": "Dry skin? Try this.", "storyboard": [{"t": 0, "scene": "Close-up", "text_overlay": None}],
        }  # fmt: skip
        return ModelResponse(parts=[ToolCallPart(output, args)])

    with_model = brand.settings.model_copy(update={"viraltracker_model": "test"})
    with classifier_agent().override(model=FunctionModel(classify)):
        result = await classify_brand_ads(brand.db, brand_id=brand.id, settings=with_model)
    assert (result.new, result.errors, result.classifier) == (N_ADS - 1, 1, "test")
    assert result.prompt_version == prompt_version() == "classify_ad-2"
    async with brand.db.as_owner() as conn:
        cur = await conn.execute("select name from meta_ads where meta_ad_id = %s", (failing,))
        failed = await cur.fetchone()
    assert failed is not None
    assert result.error_samples == [f"{failed['name']} ({failing}): RuntimeError: provider overloaded"]
    assert result.summary.endswith(f"1 failed: {result.error_samples[0]}.")
    rows = await brand.rows()
    assert failing not in {r["meta_ad_id"] for r in rows}
    assert {r["congruence_score"] for r in rows} == {round(1.5 / 7, 3)}  # computed by us: (1 + 0.5) / 7
    assert {(r["source"], r["model"]) for r in rows} == {("model", "test")}

    offline = await brand.classify()  # the rules keep what the model said; only the failed ad is new
    assert (offline.new, offline.cached) == (1, N_ADS - 1)
