"""Template AI match against a local fake of the Anthropic Messages API (the real client, SSE and all),
the offline text-similarity fallback, and the performance / diversity methodologies over real rows."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from pydantic_ai import models

from agent.runner import run_turn
from core.errors import InvalidArgument
from db.jsonb import jsonb
from db.pool import Caller, Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
from services.platform.accounts import add_user, create_organization
from services.products import ProductRef, product_by_id
from services.templates.recommendations import PRIOR_SPEND, mark_used, recommend, round_robin
from services.templates.scoring import (
    MAX_ATTEMPTS,
    OFFLINE_LABEL,
    OFFLINE_VERSION,
    prompt_version,
    score_templates,
)
from services.windows import Window
from settings import Settings

N_TEMPLATES = 100
CATEGORIES = ("before_after", "testimonial", "listicle", "us_vs_them", "offer")
NAME = re.compile(r"Template: (RL Template (\d{3}))")
TODAY = date.today()


@dataclass
class Shop:
    db: Database
    caller: Caller
    organization_id: UUID
    brand_id: UUID
    product: ProductRef
    other_product: ProductRef
    templates: list[UUID]
    """100 approved templates, `RL Template 000` … `099`, categories in turn."""


@pytest.fixture(scope="module")
async def shop(db: Database) -> AsyncIterator[Shop]:
    tag = uuid.uuid4().hex[:6]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Ridgeline Labs {tag}")
        user_id = await add_user(conn, email=f"rae-{tag}@ridgeline.example", organization_id=org)
    async with db.as_service() as conn:
        cur = await conn.execute(
            "insert into brands (organization_id, name, brand_voice_tone, niche)"
            " values (%s, 'Ridgeline Pets', 'warm, plain-spoken, vet-informed', 'pet supplements') returning id",
            (org,),
        )
        brand_id = (await cur.fetchone())["id"]  # type: ignore[index]
        ids = []
        for name, description in (
            (
                "Senior Joint Chews",
                "Hip and joint chews for older dogs with glucosamine and green-lipped mussel.",
            ),
            ("Calming Bites", "Calming treats for anxious dogs during storms and fireworks."),
        ):
            cur = await conn.execute(
                "insert into products (brand_id, organization_id, name, description) values (%s, %s, %s, %s)"
                " returning id",
                (brand_id, org, name, description),
            )
            ids.append((await cur.fetchone())["id"])  # type: ignore[index]
        await conn.execute(
            "insert into product_offer_variants (product_id, organization_id, name, benefits, pain_points)"
            " values (%s, %s, 'Mobility bundle', %s, %s)",
            (
                ids[0],
                org,
                jsonb(["easier stairs", "less stiffness on walks"]),
                jsonb(["old dog slowing down"]),
            ),
        )
        await conn.execute(
            "insert into personas_4d (brand_id, organization_id, product_id, name, pains, desires)"
            " values (%s, %s, %s, 'Devoted senior-dog owner', %s, %s)",
            (
                brand_id,
                org,
                ids[0],
                jsonb(["watching my dog struggle up stairs"]),
                jsonb(["more good years"]),
            ),
        )
        templates = []
        for i in range(N_TEMPLATES):
            cur = await conn.execute(
                "insert into scraped_templates (status, name, category, format, tags, description, source)"
                " values ('approved', %s, %s, 'image', %s, %s, 'test') returning id",
                (f"RL Template {i:03d}", CATEGORIES[i % len(CATEGORIES)], jsonb(["static"]),
                 f"A {CATEGORIES[i % len(CATEGORIES)].replace('_', ' ')} layout, variant {i}."),
            )  # fmt: skip
            templates.append((await cur.fetchone())["id"])  # type: ignore[index]
    async with db.as_owner() as conn:
        product = await product_by_id(conn, ids[0])
        other = await product_by_id(conn, ids[1])
    yield Shop(db, Caller(user_id=user_id, email=f"rae-{tag}@ridgeline.example"), org, brand_id, product, other,
               templates)  # fmt: skip


@pytest.fixture
def allow_model_requests() -> Iterator[None]:
    with models.override_allow_model_requests(True):
        yield


def model_settings(fake: FakeAnthropic, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        VIRALTRACKER_MODEL="anthropic:claude-sonnet-4-6",
        ANTHROPIC_API_KEY=API_KEY,
        ANTHROPIC_BASE_URL=fake.url,
        **extra,
    )


def offline_settings() -> Settings:
    return Settings(_env_file=None, VIRALTRACKER_MODEL="offline")  # type: ignore[call-arg]


def template_index(request: FakeRequest) -> int:
    match = NAME.search(request.user_text)
    assert match, request.user_text[:200]
    return int(match.group(2))


async def stored(db: Database, product_id: UUID) -> dict[UUID, dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select template_id, score, reason, prompt_version, used from template_recommendations"
            " where product_id = %s and methodology = 'ai_match'",
            (product_id,),
        )
        return {r["template_id"]: r for r in await cur.fetchall()}


async def clear_scores(db: Database, product_id: UUID) -> None:
    async with db.as_owner() as conn:
        await conn.execute("delete from template_recommendations where product_id = %s", (product_id,))


async def test_scores_100_templates_in_parallel_through_rate_limits(
    shop: Shop, allow_model_requests: None
) -> None:
    await clear_scores(shop.db, shop.product.id)
    limited_once = {i for i in range(N_TEMPLATES) if i % 10 == 3}  # 10 templates: one 429 each
    always_limited = 42  # never gets through: reported as failed
    first_run = threading.Event()
    first_run.set()
    seen: dict[int, int] = {}
    lock = threading.Lock()

    def responder(request: FakeRequest) -> Reply:
        i = template_index(request)
        with lock:
            seen[i] = seen.get(i, 0) + 1
            attempt = seen[i]
        if i == always_limited and first_run.is_set():
            return Reply.rate_limited(0.05)
        if i in limited_once and attempt == 1:
            return Reply.rate_limited(0.3)
        return Reply.tool({"score": i, "reason": f"Template {i:03d} carries the mobility bundle."})

    messages: list[tuple[str, float]] = []
    with FakeAnthropic(responder, latency=0.05) as fake:
        settings = model_settings(fake)
        started = time.monotonic()
        result = await score_templates(
            shop.db, product_id=shop.product.id, template_ids=shop.templates, settings=settings, concurrency=8,
            progress=lambda message, fraction: messages.append((message, fraction)),
        )  # fmt: skip
        wall = time.monotonic() - started

        # Everything but the one that kept being refused is scored and stored.
        assert (result.scored, result.failed, result.cached) == (N_TEMPLATES - 1, 1, 0)
        assert result.failed_template_ids == [shop.templates[always_limited]]
        assert result.error_samples == [
            f"RL Template 042 ({str(shop.templates[always_limited])[:8]}): HTTP 429 rate_limit_error: "
            "Number of request tokens has exceeded your per-minute rate limit. "
            f"(gave up after {MAX_ATTEMPTS} attempts)"
        ]
        assert result.retries == len(limited_once) + MAX_ATTEMPTS - 1
        assert "Scored 99 templates for Senior Joint Chews with anthropic:claude-sonnet-4-6" in result.summary
        assert "1 failed and will be scored on the next run: RL Template 042" in result.summary
        rows = await stored(shop.db, shop.product.id)
        assert len(rows) == N_TEMPLATES - 1 and shop.templates[always_limited] not in rows
        for i, template_id in enumerate(shop.templates):
            if i != always_limited:
                assert rows[template_id]["score"] == i
                assert rows[template_id]["reason"] == f"Template {i:03d} carries the mobility bundle."
                assert rows[template_id]["prompt_version"] == prompt_version()

        # The concurrency bound held, and calls really overlapped (the timing is the benchmark's business).
        assert 2 <= fake.max_in_flight <= 8
        assert wall < 60
        # Each retry came after the Retry-After the 429 named; the refused one was tried exactly 4 times.
        assert seen[always_limited] == MAX_ATTEMPTS
        for i in limited_once:
            calls = [a for a in fake.answered if template_index(a.request) == i]
            assert [a.status for a in calls] == [429, 200]
            assert calls[1].started - calls[0].finished >= 0.3 - 0.01
        assert all(f"{p.body['model']}" == "claude-sonnet-4-6" for p in fake.requests)
        assert all(r.tool_names == ["final_result"] for r in fake.requests)
        # Progress went up to 100 of 100 as calls finished.
        assert messages[0][0] == "Scored 1 of 100 templates for Senior Joint Chews"
        assert messages[-1] == ("Scored 100 of 100 templates for Senior Joint Chews", 1.0)
        assert [f for _, f in messages] == sorted(f for _, f in messages)

        # Second run: only the failed one is called; a third run calls nothing.
        first_run.clear()
        fake.reset_counts()
        again = await score_templates(
            shop.db, product_id=shop.product.id, template_ids=shop.templates, settings=settings
        )
        assert (again.scored, again.cached, again.failed) == (1, N_TEMPLATES - 1, 0)
        assert [template_index(r) for r in fake.requests] == [always_limited]
        fake.reset_counts()
        third = await score_templates(
            shop.db, product_id=shop.product.id, template_ids=shop.templates, settings=settings
        )
        assert (third.scored, third.cached, third.failed) == (0, N_TEMPLATES, 0)
        assert fake.requests == []


async def test_the_fake_speaks_sse_and_json_to_the_real_client(allow_model_requests: None) -> None:
    """Both answers Pydantic-AI's Anthropic model reads: streamed (its default) and a plain message."""
    from pydantic import BaseModel
    from pydantic_ai import Agent

    from services.llm.model_choice import analysis_model

    class Verdict(BaseModel):
        score: int
        reason: str

    agent = Agent(output_type=Verdict, instructions="Judge.")

    def responder(request: FakeRequest) -> Reply:
        if not request.tool_names:
            return Reply.say("Hello from the fake Anthropic API.")
        return Reply.tool({"score": 64, "reason": "A long enough reason to be cut in parts."})

    with FakeAnthropic(responder) as fake:
        model = analysis_model(model_settings(fake))
        assert not isinstance(model, str) and model is not None
        async with model:
            streamed = await agent.run("hello", model=model)
            plain = await agent.run("hello", model=model, model_settings={"max_tokens": 300})
            chat = await Agent(instructions="Chat.").run("hi", model=model)
        assert (
            streamed.output
            == plain.output
            == Verdict(score=64, reason="A long enough reason to be cut in parts.")
        )
        assert [r.stream for r in fake.requests] == [True, False, True]
        assert chat.output == "Hello from the fake Anthropic API."
        assert streamed.usage.input_tokens > 0


async def test_a_refused_key_stops_the_run_and_changes_nothing(
    shop: Shop, allow_model_requests: None
) -> None:
    await clear_scores(shop.db, shop.other_product.id)
    with FakeAnthropic(api_key="a-different-key") as fake:
        result = await score_templates(
            shop.db, product_id=shop.other_product.id, template_ids=shop.templates[:40],
            settings=model_settings(fake), concurrency=4,
        )  # fmt: skip
        assert (result.scored, result.failed) == (0, 40)
        assert len(fake.requests) <= 4  # the first answers stop the rest: no 40 doomed calls
        assert "HTTP 401 authentication_error: invalid x-api-key" in result.error_samples[0]
    assert await stored(shop.db, shop.other_product.id) == {}


async def test_a_stored_template_image_is_sent_to_the_model(
    shop: Shop, allow_model_requests: None, tmp_path: Any
) -> None:
    from PIL import Image

    folder = tmp_path / "assets" / "templates" / "test"
    folder.mkdir(parents=True)
    Image.new("RGB", (32, 32), (200, 40, 40)).save(folder / "red.png")
    async with shop.db.as_service() as conn:
        cur = await conn.execute(
            "insert into scraped_templates (status, name, category, image_path)"
            " values ('approved', 'RL Template 900', 'offer', 'templates/test/red.png') returning id"
        )
        template_id = (await cur.fetchone())["id"]  # type: ignore[index]
    try:
        with FakeAnthropic(lambda r: Reply.tool({"score": 77, "reason": "Bold offer layout."})) as fake:
            settings = model_settings(fake, VIRALTRACKER_HOME=str(tmp_path))
            result = await score_templates(
                shop.db, product_id=shop.other_product.id, template_ids=[template_id], settings=settings
            )
            assert result.scored == 1
            [image] = fake.requests[0].image_blocks
            assert image["source"]["type"] == "base64" and image["source"]["media_type"] == "image/png"
    finally:
        async with shop.db.as_service() as conn:
            await conn.execute("delete from scraped_templates where id = %s", (template_id,))


async def test_offline_scores_by_text_similarity_and_says_so(shop: Shop) -> None:
    async with shop.db.as_service() as conn:
        made = []
        for name, description in (
            (
                "RL Senior dog testimonial",
                "An older dog owner on how joint chews got her dog up the stairs again.",
            ),
            ("RL Lipstick swatch", "Red lipstick shades swatched on three skin tones, beauty flat lay."),
        ):
            cur = await conn.execute(
                "insert into scraped_templates (status, name, category, description)"
                " values ('approved', %s, 'testimonial', %s) returning id",
                (name, description),
            )
            made.append((await cur.fetchone())["id"])  # type: ignore[index]
    try:
        result = await score_templates(
            shop.db, product_id=shop.product.id, template_ids=made, settings=offline_settings()
        )
        assert result.offline and result.scorer == OFFLINE_LABEL and result.scored == 2
        assert f"by text similarity ({OFFLINE_LABEL})" in result.summary
        rows = await stored(shop.db, shop.product.id)
        dog, lipstick = rows[made[0]], rows[made[1]]
        assert dog["prompt_version"] == OFFLINE_VERSION and OFFLINE_LABEL in dog["reason"]
        assert dog["score"] >= lipstick["score"] + 30
        # Read back through recommend: the scorer is named as the offline similarity.
        async with shop.db.as_user(shop.caller) as conn:
            answer = await recommend(conn, product=shop.product, methodology="ai_match", limit=200)
        assert OFFLINE_LABEL in (answer.scorer or "")
        # Offline, a model's score is never replaced: the earlier model scores count as cached.
        again = await score_templates(
            shop.db,
            product_id=shop.product.id,
            template_ids=[*made, shop.templates[0]],
            settings=offline_settings(),
        )
        assert (again.scored, again.cached) == (0, 3)
    finally:
        async with shop.db.as_service() as conn:
            await conn.execute("delete from scraped_templates where id = any(%s)", (made,))


async def test_concurrency_out_of_range_is_refused(shop: Shop) -> None:
    with pytest.raises(InvalidArgument, match=r"^concurrency must be between 1 and 32 \(got 0\)\.$"):
        await score_templates(shop.db, product_id=shop.product.id, settings=offline_settings(), concurrency=0)


# -- reading recommendations ------------------------------------------------------------------------


async def _ai_scores(shop: Shop, product: ProductRef, scores: dict[int, float]) -> None:
    async with shop.db.as_service() as conn:
        await conn.execute("delete from template_recommendations where product_id = %s", (product.id,))
        for i, score in scores.items():
            await conn.execute(
                "insert into template_recommendations (product_id, organization_id, template_id, methodology,"
                " score, reason, prompt_version) values (%s, %s, %s, 'ai_match', %s, %s, %s)",
                (product.id, shop.organization_id, shop.templates[i], score, f"reason {i}", prompt_version()),
            )


async def test_ai_match_filters_and_marking_used(shop: Shop) -> None:
    product = shop.other_product
    await _ai_scores(shop, product, {0: 91, 1: 85, 2: 40, 3: 70, 4: 12})
    async with shop.db.as_user(shop.caller) as conn:
        everything = await recommend(conn, product=product, methodology="ai_match", filter="all", limit=10)
        assert [r.score for r in everything.rows] == [91, 85, 70, 40, 12]
        assert everything.scorer == "AI match"
        name = await mark_used(conn, product=product, template=str(shop.templates[1])[:8])
        assert name == "RL Template 001"
    async with shop.db.as_user(shop.caller) as conn:
        recommended = await recommend(
            conn, product=product, methodology="ai_match", filter="recommended", limit=10
        )
        assert [(r.name, r.used) for r in recommended.rows] == [
            ("RL Template 000", False), ("RL Template 001", True), ("RL Template 003", False),
        ]  # fmt: skip
        unused = await recommend(
            conn, product=product, methodology="ai_match", filter="unused_recommended", limit=10
        )
        assert [r.name for r in unused.rows] == ["RL Template 000", "RL Template 003"]
        assert unused.summary.startswith("2 unused recommended templates for Calming Bites (Ridgeline Pets)")
        with pytest.raises(InvalidArgument, match="mark_used takes a template id"):
            await mark_used(conn, product=product, template="RL Template 2")


async def test_diversity_deals_unused_templates_across_categories(shop: Shop) -> None:
    product = shop.other_product
    # Scores: within each category the better one comes first; templates 0-9 cover the 5 categories twice.
    await _ai_scores(shop, product, {i: 50 + i for i in range(10)})
    async with shop.db.as_service() as conn:
        await conn.execute(
            "insert into generated_ads (brand_id, organization_id, product_id, source_template_id)"
            " values (%s, %s, %s, %s)",
            (shop.brand_id, shop.organization_id, product.id, shop.templates[9]),
        )  # an ad made from template 9 for this product: used
    try:
        async with shop.db.as_user(shop.caller) as conn:
            answer = await recommend(conn, product=product, methodology="diversity", filter="all", limit=50)
            cur = await conn.execute("select count(*) as n from scraped_templates where status = 'approved'")
            approved = (await cur.fetchone() or {"n": 0})["n"]
        # The library is platform-wide (the demo's templates are in it too): the order of this shop's.
        ours = set(shop.templates)
        top = [t for t in answer.rows if t.template_id in ours]
        assert [t.name for t in top[:5]] == [
            "RL Template 008",
            "RL Template 007",
            "RL Template 006",
            "RL Template 005",
            "RL Template 004",
        ]  # fmt: skip  (template 9 is used; one of each category, best first)
        assert len({t.category for t in top[:5]}) == 5
        assert top[5].name == "RL Template 003"  # the second round starts with the best left
        assert answer.considered == approved - 1 >= N_TEMPLATES - 1  # the whole library but template 9
    finally:
        async with shop.db.as_service() as conn:
            await conn.execute("delete from generated_ads where product_id = %s", (product.id,))


def test_round_robin_takes_one_per_category_in_turn() -> None:
    from services.templates.recommendations import TemplatePick

    def pick(name: str, category: str | None, score: float | None) -> TemplatePick:
        return TemplatePick(template_id=uuid.uuid4(), name=name, category=category, format=None,
                            image_path=None, score=score, reason="", used=False)  # fmt: skip

    picks = [pick("a1", "a", 90), pick("a2", "a", 80), pick("a3", "a", 70), pick("b1", "b", 60),
             pick("n1", None, None)]  # fmt: skip
    assert [p.name for p in round_robin(picks)] == ["a1", "b1", "n1", "a2", "a3"]


async def test_performance_is_smoothed_toward_the_brand_and_matches_the_raw_rows(shop: Shop) -> None:
    since, until = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    window = Window(since=since, until=until, label="last 30 days")
    # ads: (template index or None, [(days ago, spend, impressions, link clicks, purchases, value)])
    ads: dict[str, tuple[int | None, list[tuple[int, float, int, int, int, float]]]] = {
        "rl_ad_steady_1": (10, [(d, 100.0, 5000, 80, 3, 300.0) for d in range(2, 12)]),
        "rl_ad_steady_2": (10, [(d, 50.0, 3000, 40, 1, 90.0) for d in range(2, 8)]),
        "rl_ad_lucky": (11, [(3, 20.0, 800, 10, 1, 400.0)]),  # one lucky $20 ad: ROAS 20x
        "rl_ad_weak": (12, [(d, 80.0, 4000, 30, 1, 60.0) for d in range(2, 10)]),
        "rl_ad_old": (13, [(45, 500.0, 9000, 50, 20, 5000.0)]),  # outside the window
        "rl_ad_plain": (None, [(d, 60.0, 2000, 20, 1, 70.0) for d in range(2, 12)]),  # no template
    }
    async with shop.db.as_service() as conn:
        for ad_id, (template, days) in ads.items():
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format)"
                " values (%s, %s, %s, %s, 'image')",
                (ad_id, shop.brand_id, shop.organization_id, ad_id),
            )
            for ago, spend, impressions, clicks, purchases, value in days:
                await conn.execute(
                    "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend,"
                    " impressions, link_clicks, purchases, purchase_value) values (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    (ad_id, TODAY - timedelta(days=ago), shop.brand_id, shop.organization_id, spend,
                     impressions, clicks, purchases, value),
                )  # fmt: skip
            if template is not None:
                await conn.execute(
                    "insert into generated_ads (brand_id, organization_id, source_template_id, meta_ad_id)"
                    " values (%s, %s, %s, %s)",
                    (shop.brand_id, shop.organization_id, shop.templates[template], ad_id),
                )
    # The independent computation, from the raw rows above.
    in_window = {
        ad_id: [r for r in rows if since <= TODAY - timedelta(days=r[0]) <= until]
        for ad_id, (_, rows) in ads.items()
    }
    brand_spend = sum(r[1] for rows in in_window.values() for r in rows)
    brand_value = sum(r[5] for rows in in_window.values() for r in rows)
    prior = brand_value / brand_spend
    expected = {}
    for template in (10, 11, 12):
        rows = [r for ad_id, (t, _) in ads.items() if t == template for r in in_window[ad_id]]
        spend, value = sum(r[1] for r in rows), sum(r[5] for r in rows)
        purchases, impressions, clicks = (
            sum(r[4] for r in rows),
            sum(r[2] for r in rows),
            sum(r[3] for r in rows),
        )
        expected[f"RL Template {template:03d}"] = {
            "smoothed": (value + PRIOR_SPEND * prior) / (spend + PRIOR_SPEND), "roas": value / spend,
            "cpa": spend / purchases, "ctr": clicks / impressions, "spend": spend,
        }  # fmt: skip
    async with shop.db.as_user(shop.caller) as conn:
        answer = await recommend(
            conn, product=shop.product, methodology="performance", window=window, limit=10
        )
    assert answer.brand_roas == pytest.approx(prior, abs=1e-4)
    names = [r.name for r in answer.rows]
    assert names == sorted(expected, key=lambda n: -expected[n]["smoothed"])
    assert names[0] == "RL Template 010"  # the steady template beats the one lucky ad
    for row in answer.rows:
        want = expected[str(row.name)]
        assert row.score == pytest.approx(want["smoothed"], abs=1e-3)
        assert (row.roas, row.cpa, row.ctr) == pytest.approx((want["roas"], want["cpa"], want["ctr"]))
        assert row.spend == pytest.approx(want["spend"])
    lucky = next(r for r in answer.rows if r.name == "RL Template 011")
    assert lucky.roas == pytest.approx(20.0) and lucky.score is not None and lucky.score < 2 * prior
    assert "smoothed ROAS = (purchase value + $1,000 × brand ROAS) / (spend + $1,000)" in answer.summary
    async with shop.db.as_user(shop.caller) as conn:
        recommended = await recommend(
            conn, product=shop.product, methodology="performance", filter="recommended", window=window
        )
    assert {r.name for r in recommended.rows} == {n for n, e in expected.items() if e["smoothed"] >= prior}


async def test_performance_without_linked_ads_says_so(shop: Shop) -> None:
    window = Window(since=TODAY - timedelta(days=400), until=TODAY - timedelta(days=370), label="a year ago")
    async with shop.db.as_user(shop.caller) as conn:
        answer = await recommend(conn, product=shop.product, methodology="performance", window=window)
    assert answer.rows == []
    assert answer.summary.startswith("No template has performance data yet for Ridgeline Pets (a year ago)")


# -- the tool, through the chat pipeline ----------------------------------------------------------------


async def test_recommend_templates_command_scores_shows_and_marks_used(shop: Shop, monkeypatch: Any) -> None:
    monkeypatch.setenv("VIRALTRACKER_MODEL", "offline")
    from settings import get_settings

    get_settings.cache_clear()
    try:
        turn = await run_turn(
            db=shop.db, caller=shop.caller,
            message='/recommend_templates brand:"ridgeline pets" product:"senior joint chews" filter:all limit:5',
        )  # fmt: skip
        [call] = turn.tool_calls
        assert call.error is None, call.error
        result = call.result or {}
        assert len(result["rows"]) == 5 and result["methodology"] == "ai_match"
        assert [a["label"].startswith("Mark used: ") for a in result["actions"]] == [True] * 3
        target = result["rows"][0]["template_id"]
        turn = await run_turn(
            db=shop.db, caller=shop.caller,
            message=f'/recommend_templates brand:"Ridgeline Pets" product:"Senior Joint Chews" mark_used:{target[:8]}',
        )  # fmt: skip
        assert turn.tool_calls[0].error is None
        assert turn.tool_calls[0].result["marked_used"] == result["rows"][0]["name"]  # type: ignore[index]
        rows = await stored(shop.db, shop.product.id)
        assert rows[UUID(target)]["used"] is True
        # A product name that is close but wrong gets a "did you mean", and nothing runs.
        turn = await run_turn(
            db=shop.db,
            caller=shop.caller,
            message='/recommend_templates brand:"Ridgeline Pets" product:"Calming Bits"',
        )
        assert turn.refused and "Did you mean 'Calming Bites'?" in turn.text
    finally:
        get_settings.cache_clear()


async def test_another_organization_cannot_reach_the_product(shop: Shop, leo: Caller) -> None:
    turn = await run_turn(
        db=shop.db,
        caller=leo,
        message='/recommend_templates brand:"Ridgeline Pets" product:"Senior Joint Chews"',
    )
    assert turn.refused and "No brand named 'Ridgeline Pets'" in turn.text
