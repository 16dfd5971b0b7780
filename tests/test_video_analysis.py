"""Deep video analysis: a video ad classified from its downloaded video by Gemini (inline, or through
the Files API), or from its keyframes by Claude, against the local fakes with the real clients; answers
checked before they are stored; the cost recorded, identical media analysed once, the monthly cap."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast
from uuid import UUID

import pytest
from pydantic_ai import models

from agent.runner import run_turn
from db.pool import Caller, Database
from fakes import anthropic_api, gemini_api
from fakes.anthropic_api import FakeAnthropic
from fakes.gemini_api import FakeGemini
from fakes.videos import make_video
from jobs.builtin import _classification_notice
from services.analytics.deep_analysis import DeepAnalysisResult, deep_analysis
from services.creative.brand_classification import ClassificationResult, classify_brand_ads
from services.creative.video_frames import frames_at
from services.models import BrandRef
from services.platform.accounts import add_user, create_organization
from services.windows import resolve_window
from settings import Settings, get_settings

SECONDS = 4.0
COPY = "Dry skin again? Glow Serum: soft skin in 3 nights."


def answer(**changes: Any) -> dict[str, Any]:
    """A checked-good answer for the 4-second test video (scenes at 0, 1.5 and 3.2 s)."""
    good: dict[str, Any] = {
        "awareness_level": "problem_aware",
        "hooks": {
            "spoken": {"text": "Dry skin again?", "category": "question", "at": 0.2},
            "overlay": {"text": "3 nights to soft skin", "category": "bold_claim", "at": 0.0},
            "visual": {"text": "A hand on a dry cheek", "category": "problem_callout", "at": 0.0},
        },
        "benefits": ["soft skin"], "angles": ["problem/solution"],
        "claims": ["Soft skin in 3 nights"],
        "claim_sources": [{"claim": "Soft skin in 3 nights", "where": "on_screen", "at": 0.0}],
        "congruence_components": [],
        "transcript": "Dry skin again? Try Glow Serum tonight.",
        "transcript_lines": [{"start": 0.2, "end": 1.4, "text": "Dry skin again?"},
                             {"start": 1.6, "end": 3.8, "text": "Try Glow Serum tonight."}],
        "storyboard": [
            {"t": 0, "end": 1.5, "scene": "A dry cheek, close up", "text_overlay": "3 nights to soft skin"},
            {"t": 1.5, "end": 3.2, "scene": "The serum bottle", "text_overlay": None},
            {"t": 3.2, "end": 4.0, "scene": "A smiling face", "text_overlay": "Shop now"},
        ],
    }  # fmt: skip
    return good | changes


@dataclass
class VideoBrand:
    db: Database
    id: UUID
    organization_id: UUID
    name: str
    home: Path

    def settings(self, **extra: Any) -> Settings:
        return Settings(_env_file=None, VIRALTRACKER_HOME=self.home, **extra)  # type: ignore[call-arg]

    def gemini(self, fake: FakeGemini, **extra: Any) -> Settings:
        return self.settings(
            VIRALTRACKER_MODEL="google:gemini-2.5-flash", GEMINI_API_KEY=gemini_api.API_KEY,
            GEMINI_BASE_URL=fake.url, **extra,
        )  # fmt: skip

    async def classify(self, settings: Settings) -> ClassificationResult:
        return await classify_brand_ads(self.db, brand_id=self.id, settings=settings)

    async def add_video_ad(self, ad_id: str, *, video_id: str, copy: str = COPY, **video: Any) -> bytes:
        """A synced video ad whose video the downloads stored (a real MP4 made now)."""
        path = f"{self.organization_id}/{self.id}/{ad_id}/video.mp4"
        target = self.home / "assets" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        data = make_video(target, **video).read_bytes()
        async with self.db.as_owner() as conn:
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, ad_copy, video_id)"
                " values (%s, %s, %s, %s, 'video', %s, %s)",
                (ad_id, self.id, self.organization_id, f"Video {ad_id}", copy, video_id),
            )
            await conn.execute(
                "insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path,"
                " content_type, bytes, sha256) values (%s, %s, %s, 'video', %s, %s, %s, 'video/mp4', %s, %s)",
                (ad_id, self.id, self.organization_id, f"video:{video_id}", f"https://video.example/{video_id}.mp4",
                 path, len(data), hashlib.sha256(data).hexdigest()),
            )  # fmt: skip
        return data

    async def add_thumbnail(self, ad_id: str) -> bytes:
        """The ad's thumbnail as the downloads store it (a JPEG: the video's first frame)."""
        path = f"{self.organization_id}/{self.id}/{ad_id}/image.jpg"
        video = self.home / "assets" / f"{self.organization_id}/{self.id}/{ad_id}/video.mp4"
        data = frames_at(video, [0.0])[0.0]
        (self.home / "assets" / path).write_bytes(data)
        async with self.db.as_owner() as conn:
            await conn.execute(
                "insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path,"
                " content_type, bytes, sha256) values (%s, %s, %s, 'image', %s, %s, %s, 'image/jpeg', %s, %s)",
                (ad_id, self.id, self.organization_id, f"thumb-{ad_id}", f"https://cdn.example/{ad_id}.jpg", path,
                 len(data), hashlib.sha256(data).hexdigest()),
            )  # fmt: skip
        return data

    async def rows(self, table: str = "ad_creative_classifications") -> list[dict[str, Any]]:
        async with self.db.as_owner() as conn:
            cur = await conn.execute(
                f"select * from {table} where brand_id = %s order by meta_ad_id", (self.id,)
            )
            return await cur.fetchall()


@pytest.fixture
async def brand(db: Database, tmp_path: Path) -> AsyncIterator[VideoBrand]:
    tag = uuid.uuid4().hex[:8]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Video Co {tag}")
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id", (org, f"Glow {tag}")
        )
        row = await cur.fetchone()
    assert row is not None
    yield VideoBrand(db, row["id"], org, f"Glow {tag}", tmp_path)
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))


def gemini_says(*answers: dict[str, Any]) -> Callable[[gemini_api.FakeRequest], gemini_api.Reply]:
    """Answers in turn (the last one again after that), as the output tool call."""
    said = list(answers)

    def reply(request: gemini_api.FakeRequest) -> gemini_api.Reply:
        return gemini_api.Reply.calls(("final_result", said.pop(0) if len(said) > 1 else said[0]))

    return reply


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    """The Gemini fake, model requests allowed (to it alone: the settings point there)."""
    with models.override_allow_model_requests(True), FakeGemini(responder=gemini_says(answer())) as fake:
        yield fake


# -- 1. Gemini watches the video -------------------------------------------------------------------


async def test_gemini_watches_a_small_video_inline_and_its_timed_answer_is_stored(
    brand: VideoBrand, gemini: FakeGemini
) -> None:
    video = await brand.add_video_ad("700000000001", video_id="v1")
    thumbnail = await brand.add_thumbnail("700000000001")
    result = await brand.classify(brand.gemini(gemini))
    assert (result.new, result.errors, result.classifier) == (1, 0, "google:gemini-2.5-flash")
    (request,) = gemini.requests
    # The video itself, byte for byte, with the stored thumbnail and the copy.
    assert request.images == [("video/mp4", video), ("image/jpeg", thumbnail)]
    assert f"Primary text: {COPY}" in request.text
    assert request.files == [] and gemini.uploaded == []
    assert "the video itself (4.0 s long) is attached" in request.text
    (row,) = await brand.rows()
    assert row["prompt_version"] == "classify_ad-2"
    assert (row["media_analysis"], row["media_seconds"]) == ("video", SECONDS)
    assert row["input_tokens"] > 0 and row["output_tokens"] > 0
    assert row["hooks"]["spoken"] == {"text": "Dry skin again?", "category": "question", "at": 0.2}
    assert row["transcript_lines"][1] == {"start": 1.6, "end": 3.8, "text": "Try Glow Serum tonight."}
    assert [(b["t"], b["end"]) for b in row["storyboard"]] == [(0, 1.5), (1.5, 3.2), (3.2, 4.0)]
    frames = [brand.home / "assets" / b["frame"] for b in row["storyboard"]]
    assert all(f.read_bytes().startswith(b"\xff\xd8") for f in frames)  # a JPEG per scene, for the strip
    (ledger,) = await brand.rows("video_analyses")
    assert (ledger["status"], ledger["delivery"], ledger["media_seconds"]) == ("analysed", "inline", SECONDS)
    assert (ledger["input_tokens"], ledger["output_tokens"]) == (row["input_tokens"], row["output_tokens"])


async def test_a_large_video_goes_through_the_files_api_and_is_deleted_after(
    brand: VideoBrand, gemini: FakeGemini
) -> None:
    video = await brand.add_video_ad("700000000002", video_id="v2", audio=True)  # with a sound track
    result = await brand.classify(brand.gemini(gemini, VIRALTRACKER_GEMINI_INLINE_VIDEO_MAX_BYTES=1000))
    assert (result.new, result.errors) == (1, 0), result.summary
    (uploaded,) = gemini.uploaded
    assert (uploaded.data, uploaded.mime_type, uploaded.deleted) == (video, "video/mp4", True)
    (request,) = gemini.requests
    assert request.files == [("video/mp4", uploaded.uri)]
    assert [mime for mime, _ in request.images] == []  # not inline as well
    # Polled until ACTIVE (PROCESSING at the first read), then deleted once the answer was in.
    assert gemini.file_calls == [("GET", uploaded.name), ("GET", uploaded.name), ("DELETE", uploaded.name)]
    assert gemini.files == {}
    (ledger,) = await brand.rows("video_analyses")
    assert (ledger["delivery"], ledger["status"]) == ("files_api", "analysed")


# -- 2. Claude sees frames; offline, the copy ------------------------------------------------------


async def test_claude_sees_keyframes_and_the_transcript_is_marked_unavailable(brand: VideoBrand) -> None:
    await brand.add_video_ad("700000000003", video_id="v3")
    thumbnail = await brand.add_thumbnail("700000000003")
    heard = answer(
        claims=["Soft skin in 3 nights", "Dermatologists love it"],
        claim_sources=[{"claim": "Soft skin in 3 nights", "where": "on_screen", "at": 0.0},
                       {"claim": "Dermatologists love it", "where": "spoken", "at": 2.0}],
    )  # fmt: skip
    claude = FakeAnthropic(responder=lambda _: anthropic_api.Reply.tool(heard))
    with models.override_allow_model_requests(True), claude as fake:
        settings = brand.settings(
            VIRALTRACKER_MODEL="anthropic:claude-sonnet-4-6", ANTHROPIC_API_KEY=anthropic_api.API_KEY,
            ANTHROPIC_BASE_URL=fake.url,
        )  # fmt: skip
        result = await brand.classify(settings)
    assert (result.new, result.errors) == (1, 0), result.summary
    (request,) = fake.requests
    images = request.image_blocks
    # 0, 1, 2, 3 s and the two scene changes (1.5 s, 3.2 s), each a JPEG after its time; then the thumbnail.
    assert [b["source"]["media_type"] for b in images] == ["image/jpeg"] * 7
    assert base64.b64decode(images[-1]["source"]["data"]) == thumbnail  # after the keyframes
    for said in ("Keyframe at 0 s", "Keyframe at 1.5 s (scene change)", "Keyframe at 3.2 s (scene change)"):
        assert said in request.user_text
    assert "There is no sound" in request.user_text
    (row,) = await brand.rows()
    assert row["media_analysis"] == "frames"
    # The model's transcript and spoken hook are dropped: it saw pictures, it did not hear words.
    assert (row["transcript"], row["transcript_lines"], row["hooks"]["spoken"]) == (None, [], None)
    assert row["hooks"]["overlay"]["text"] == "3 nights to soft skin"
    assert (row["claims"], [s["where"] for s in row["claim_sources"]]) == (
        ["Soft skin in 3 nights"],
        ["on_screen"],
    )
    (ledger,) = await brand.rows("video_analyses")
    assert (ledger["seen"], ledger["delivery"]) == ("frames", "frames")


async def test_offline_the_rules_read_the_copy_and_say_the_video_was_not_analysed(brand: VideoBrand) -> None:
    await brand.add_video_ad("700000000004", video_id="v4")
    result = await brand.classify(brand.settings(VIRALTRACKER_MODEL="offline"))
    assert result.new == 1
    (row,) = await brand.rows()
    assert (row["media_analysis"], row["media_seconds"], row["source"]) == ("copy", None, "offline")
    assert await brand.rows("video_analyses") == []


# -- 3. answers are checked before they are stored -------------------------------------------------


async def test_an_answer_failing_the_checks_is_retried_once_then_recorded_as_failed(
    brand: VideoBrand, gemini: FakeGemini
) -> None:
    await brand.add_video_ad("700000000005", video_id="v5")
    wrong = answer(
        hooks={"spoken": {"text": "Say goodbye to dry skin", "category": "bold_claim", "at": 0.0}},
        storyboard=[{"t": 0, "end": 9.5, "scene": "A dry cheek, close up"}],
        claim_sources=[],
    )
    gemini.responder = gemini_says(wrong)
    result = await brand.classify(brand.gemini(gemini))
    reason = (
        "its analysis failed our checks twice: the scene “A dry cheek, close up” is at 9.5 s, past the"
        " video's end (4 s); the spoken hook “Say goodbye to dry skin” is not in the transcript; the claim"
        " “Soft skin in 3 nights” does not say where it is said or shown"
    )
    assert (result.new, result.errors) == (0, 1)
    assert result.error_samples == [f"Video 700000000005 (700000000005): {reason}"]
    _, second = gemini.requests  # the answer went back once with what to fix, then no more
    (told,) = second.function_responses
    assert "Correct these and answer again: the scene “A dry cheek, close up” is at 9.5 s" in str(told)
    assert await brand.rows() == []  # never stored half-right
    (ledger,) = await brand.rows("video_analyses")
    assert (ledger["status"], ledger["reason"], ledger["media_seconds"]) == ("failed", reason, SECONDS)
    assert ledger["input_tokens"] > 0  # both tries cost

    gemini.reset_counts()
    gemini.responder = gemini_says(wrong, answer())  # fixed when told: stored
    fixed = await brand.classify(brand.gemini(gemini))
    assert (fixed.new, fixed.errors, len(gemini.requests)) == (1, 0, 2)
    (row,) = await brand.rows()
    assert row["storyboard"][-1]["end"] == 4.0


async def test_a_hook_after_the_first_three_seconds_is_refused(brand: VideoBrand, gemini: FakeGemini) -> None:
    await brand.add_video_ad("700000000006", video_id="v6")
    late = answer(hooks={"visual": {"text": "A smiling face", "category": "before_after", "at": 3.5}})
    gemini.responder = gemini_says(late)
    result = await brand.classify(brand.gemini(gemini))
    assert result.error_samples == [
        "Video 700000000006 (700000000006): its analysis failed our checks twice:"
        " the visual hook starts at 3.5 s, after the first 3 seconds"
    ]


# -- 4. cost: identical media once, the monthly cap ------------------------------------------------


async def test_identical_media_is_analysed_once_and_the_cap_stops_the_month(
    brand: VideoBrand, gemini: FakeGemini
) -> None:
    # The same creative in two ad sets: one analysis, two classified ads; unchanged ads are not sent again.
    await brand.add_video_ad("700000000007", video_id="same")
    await brand.add_video_ad("700000000008", video_id="same")
    first = await brand.classify(brand.gemini(gemini))
    assert (first.new, first.cached, len(gemini.requests)) == (1, 1, 1)
    assert len(await brand.rows()) == 2 and len(await brand.rows("video_analyses")) == 1
    again = await brand.classify(brand.gemini(gemini))
    assert (again.new, again.cached, len(gemini.requests)) == (0, 2, 1)

    # 0.1 minutes (6 s) a month for this organization: 4 s are used; another 4 s video would pass it.
    async with brand.db.as_owner() as conn:
        await conn.execute(
            "update organizations set video_minutes_per_month = 0.1 where id = %s", (brand.organization_id,)
        )
    await brand.add_video_ad("700000000009", video_id="other", copy="Night Cream, the overnight fix.")
    capped = await brand.classify(brand.gemini(gemini))
    assert (capped.new, capped.errors, capped.over_cap, len(gemini.requests)) == (0, 0, 1, 1)
    month = (await brand.rows("video_analyses"))[0]["analysed_at"].strftime("%B %Y")
    assert capped.summary.endswith(
        f" 1 video ad not analysed: this organization's video analysis cap of 0.1 minutes for {month} is"
        " reached (0.1 minutes analysed); they are analysed next month, or raise the cap"
        " (VIRALTRACKER_VIDEO_MINUTES_PER_MONTH)."
    )
    assert {r["meta_ad_id"] for r in await brand.rows()} == {"700000000007", "700000000008"}
    notice = _classification_notice(cast(Any, None), None, capped)  # the run's notification says so too
    assert notice is not None and notice.message == (
        f"Classified 0 new ads for {brand.name}: 0 with a hook, 1 video ad not analysed: {capped.cap_message}."
    )


# -- 5. people see it -------------------------------------------------------------------------------


async def test_deep_analysis_shows_the_timed_transcript_the_storyboard_strip_and_top_hooks_rank_spoken(
    brand: VideoBrand, gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    await brand.add_video_ad("700000000010", video_id="v10")
    await brand.add_video_ad("700000000011", video_id="v11", copy="Night Cream. Wake up soft.")
    await brand.classify(brand.gemini(gemini))
    async with brand.db.as_owner() as conn:
        user_id = await add_user(
            conn, email=f"v-{brand.id.hex[:8]}@video.example", organization_id=brand.organization_id
        )
        for ad_id, views in (("700000000010", 400), ("700000000011", 100)):
            await conn.execute(
                "insert into meta_ads_performance (meta_ad_id, date, brand_id, organization_id, spend, impressions,"
                " video_3s_views) values (%s, current_date - 1, %s, %s, 120, 1000, %s)",
                (ad_id, brand.id, brand.organization_id, views),
            )  # fmt: skip
    caller = Caller(user_id, f"v-{brand.id.hex[:8]}@video.example")
    monkeypatch.setenv("VIRALTRACKER_HOME", str(brand.home))
    monkeypatch.setenv("VIRALTRACKER_MODEL", "offline")
    get_settings.cache_clear()
    try:
        deep = await run_turn(
            db=brand.db, caller=caller, message=f'/deep_analysis brand:"{brand.name}" ad:700000000010'
        )
        top = await run_turn(
            db=brand.db, caller=caller, message=f'/top_hooks brand:"{brand.name}" hook_type:spoken'
        )
    finally:
        get_settings.cache_clear()
    result = deep.results[0]
    assert isinstance(result, DeepAnalysisResult)
    assert dict(result.as_panels()) == {
        "Transcript": "- 0.2–1.4 s — Dry skin again?\n- 1.6–3.8 s — Try Glow Serum tonight.",
        "Storyboard": "- 0–1.5 s — A dry cheek, close up (overlay: 3 nights to soft skin)\n"
        "- 1.5–3.2 s — The serum bottle\n- 3.2–4 s — A smiling face (overlay: Shop now)",
    }
    assert (
        "**Hooks** (first 3 seconds)\n- Spoken at 0.2 s (question): “Dry skin again?”\n"
        "- Overlay at 0 s (bold claim): “3 nights to soft skin”\n"
        "- Visual at 0 s (problem callout): “A hand on a dry cheek”\n"
    ) in result.as_card()
    strip = result.as_images()
    assert [name for name, _ in strip] == [
        "0–1.5 s · A dry cheek, close up", "1.5–3.2 s · The serum bottle", "3.2–4 s · A smiling face",
    ]  # fmt: skip
    assert all(Path(where).read_bytes().startswith(b"\xff\xd8") for _, where in strip)
    ranked = top.tool_calls[0].result
    assert ranked is not None
    assert [(r["meta_ad_id"], r["hook_type"], r["hook_text"], r["hook_at"]) for r in ranked["rows"]] == [
        ("700000000010", "spoken", "Dry skin again?", 0.2),
        ("700000000011", "spoken", "Dry skin again?", 0.2),
    ]
    assert (
        "Best: \"Dry skin again?\" (question, spoken at 0.2 s) on 'Video 700000000010'" in ranked["summary"]
    )


async def test_deep_analysis_says_when_the_video_was_not_analysed(brand: VideoBrand) -> None:
    await brand.add_video_ad("700000000012", video_id="v12")
    await brand.classify(brand.settings(VIRALTRACKER_MODEL="offline"))
    async with brand.db.as_service() as conn:
        found = await deep_analysis(
            conn, brand=BrandRef(id=brand.id, name=brand.name, organization_id=brand.organization_id),
            window=resolve_window(today=date.today()), ad="700000000012",
        )  # fmt: skip
    assert (
        "_The video itself was not analysed: hooks and claims come from the copy and thumbnail._"
        in found.as_card()
    )
    assert (
        "The video itself was not analysed: hooks and claims come from the copy and thumbnail."
        in found.summary
    )
