"""The chat on the real `anthropic` and `google-genai` clients (through Pydantic-AI), against local fakes
of the Anthropic Messages API and the Gemini API that stream in the real wire format (SSE).

Every case goes through `run_turn` with a listener, as the chat UI does (one through `app.py` itself),
for both providers: streamed text, two tool calls in one answer, a tool error the model recovers from,
a 429 with Retry-After, an overloaded model, a runaway loop, a refused key, and the ad's image shown to
the model by `deep_analysis`.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_ai import models
from pydantic_ai.messages import ModelRequest, ToolReturnPart

import app
from agent.runner import run_turn, storable_history
from db.pool import Caller, Database
from fakes import anthropic_api, gemini_api
from services.llm import model_choice
from services.llm.model_choice import chat_model, configured_model
from services.platform.storage import storage_for
from settings import Settings, get_settings
from tests.ad_helpers import Shop, drop_shop, new_shop, quadrants
from tests.chat_helpers import OpenChat, app_on_test_database
from tests.test_assets import MediaServer

TOO_MANY_STEPS = "That question took too many steps, so I stopped. Try asking for one thing at a time."


class Recorder:
    """A listener like the chat UI's: hears text deltas and tool calls, with when each arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, float]] = []

    async def on_text(self, delta: str) -> None:
        self.events.append(("text", delta, time.monotonic()))

    async def on_tool_start(self, call_id: str, tool: str, args: dict[str, Any]) -> None:
        self.events.append(("start", (tool, args), time.monotonic()))

    async def on_tool_end(self, call_id: str, tool: str, result: BaseModel | None, error: str | None) -> None:
        self.events.append(
            ("end", (tool, type(result).__name__ if result else None, error), time.monotonic())
        )

    @property
    def text(self) -> str:
        return "".join(d for kind, d, _ in self.events if kind == "text")

    def of(self, kind: str) -> list[Any]:
        return [d for k, d, _ in self.events if k == kind]

    def first_text_at(self) -> float:
        return next(t for kind, _, t in self.events if kind == "text")


@dataclass
class Provider:
    """One provider's fake and the settings that point the app at it, with replies in its own terms."""

    name: str
    script: Callable[[Any], Any] = field(default=lambda request: None)
    fake: Any = None

    @property
    def anthropic(self) -> bool:
        return self.name == "anthropic"

    @property
    def overloaded_status(self) -> int:
        return 529 if self.anthropic else 503

    def start(self, **kwargs: Any) -> Any:
        module = anthropic_api if self.anthropic else gemini_api
        self.fake = module.FakeAnthropic if self.anthropic else module.FakeGemini  # type: ignore[attr-defined]
        self.fake = self.fake(lambda request: self.script(request), **kwargs)
        return self.fake

    def settings(self, *, key: str | None = None, **extra: Any) -> Settings:
        if self.anthropic:
            return Settings(  # type: ignore[call-arg]
                _env_file=None,
                ANTHROPIC_API_KEY=key or anthropic_api.API_KEY,
                ANTHROPIC_BASE_URL=self.fake.url,
                **extra,
            )
        return Settings(  # type: ignore[call-arg]
            _env_file=None, GEMINI_API_KEY=key or gemini_api.API_KEY, GEMINI_BASE_URL=self.fake.url, **extra
        )

    def model(self, **kwargs: Any) -> Any:
        return chat_model(self.settings(**kwargs))

    # -- replies ---------------------------------------------------------------------------------

    def say(self, text: str, **kwargs: Any) -> Any:
        if self.anthropic:
            return anthropic_api.Reply(text=text, **kwargs)
        return gemini_api.Reply(text=text, **kwargs)

    def calls(self, *calls: tuple[str, dict[str, Any]]) -> Any:
        return (anthropic_api.Reply if self.anthropic else gemini_api.Reply).calls(*calls)

    def rate_limited(self, retry_after: float) -> Any:
        return (anthropic_api.Reply if self.anthropic else gemini_api.Reply).rate_limited(retry_after)

    def overloaded(self) -> Any:
        if self.anthropic:
            return anthropic_api.Reply.error(529, "Overloaded")
        return gemini_api.Reply.error(503, "The model is overloaded. Please try again later.")

    # -- what a request carried --------------------------------------------------------------------

    def results(self, request: Any) -> dict[str, Any]:
        """Tool name → what the client sent back for it (parsed JSON) in this request."""
        if not self.anthropic:
            return {r["name"]: r.get("response") for r in request.function_responses}
        messages = request.body["messages"]
        names = {
            b["id"]: b["name"]
            for m in messages
            if m["role"] == "assistant" and isinstance(m["content"], list)
            for b in m["content"]
            if b.get("type") == "tool_use"
        }
        found: dict[str, Any] = {}
        for block in request.tool_results:
            content = block.get("content")
            text = content if isinstance(content, str) else "".join(c.get("text", "") for c in content or [])
            try:
                found[names[block["tool_use_id"]]] = json.loads(text)
            except ValueError:
                found[names[block["tool_use_id"]]] = text
        return found

    def result_count(self, request: Any) -> int:
        return len(request.tool_results if self.anthropic else request.function_responses)

    def last_message(self, request: Any) -> str:
        key = "messages" if self.anthropic else "contents"
        return json.dumps(request.body[key][-1])

    def images(self, request: Any) -> list[tuple[str, bytes]]:
        if not self.anthropic:
            return list(request.images)
        return [
            (b["source"]["media_type"], base64.b64decode(b["source"]["data"]))
            for b in request.image_blocks
            if b["source"].get("type") == "base64"
        ]


@pytest.fixture(params=["anthropic", "gemini"])
def provider(request: pytest.FixtureRequest) -> Iterator[Provider]:
    side = Provider(request.param)
    with models.override_allow_model_requests(True), side.start():
        yield side


async def test_configuration_builds_each_provider_once_on_its_base_url(provider: Provider) -> None:
    model = provider.model()
    assert model is provider.model()  # one client per configuration: connections are reused
    system = model.system  # type: ignore[union-attr]
    assert system == ("anthropic" if provider.anthropic else "google")
    assert provider.fake.url in model._provider.base_url  # type: ignore[union-attr]
    legacy = Settings(_env_file=None, VIRALTRACKER_MODEL="google-gla:gemini-2.5-flash")  # type: ignore[call-arg]
    assert configured_model(legacy) == "google:gemini-2.5-flash"
    assert chat_model(Settings(_env_file=None, VIRALTRACKER_MODEL="offline")) is None  # type: ignore[call-arg]


async def test_text_streams_to_the_listener_before_the_answer_ends(
    provider: Provider, db: Database, maya: Caller
) -> None:
    answer = (
        "Acme Pets is doing well: spend is steady and the best hooks are questions about senior dogs."
        " Bloom Botanicals is flat; its congruence is weakest on offers."
    )
    provider.script = lambda request: provider.say(answer, chunk_delay=0.05)
    recorder = Recorder()
    turn = await run_turn(
        db=db, caller=maya, message="how is acme doing?", model=provider.model(), listener=recorder
    )
    assert turn.text == answer
    assert recorder.text == answer
    assert len(recorder.of("text")) >= 5  # in pieces, in order, as they came
    [request] = provider.fake.requests
    assert "how is acme doing?" in request.text
    assert "their brands: Acme Pets, Bloom Botanicals" in request.text  # the per-run instructions
    # The person saw the first words while the model was still writing.
    assert recorder.first_text_at() < provider.fake.answered[0].finished - 0.2


async def test_two_tool_calls_in_one_answer_both_run_and_go_back_together(
    provider: Provider, db: Database, maya: Caller
) -> None:
    def script(request: Any) -> Any:
        results = provider.results(request)
        if not results:
            return provider.calls(
                ("top_hooks", {"brand": "Acme Pets", "days": 30, "limit": 3}),
                ("congruence_summary", {"brand": "Acme Pets"}),
            )
        best = results["top_hooks"]["rows"][0]["hook_text"]
        ads = results["congruence_summary"]["classified_ads"]
        return provider.say(f'Best hook: "{best}". Congruence covers {ads} classified ads.')

    provider.script = script
    recorder = Recorder()
    turn = await run_turn(
        db=db, caller=maya, message="hooks and congruence for acme", model=provider.model(), listener=recorder
    )
    _, second = provider.fake.requests
    assert provider.result_count(second) == 2  # both results in one request
    assert [r.tool for r in turn.tool_calls] == ["top_hooks", "congruence_summary"]
    assert all(r.result is not None and r.error is None for r in turn.tool_calls)
    best = turn.tool_calls[0].result["rows"][0]["hook_text"]  # type: ignore[index]
    ads = turn.tool_calls[1].result["classified_ads"]  # type: ignore[index]
    assert turn.text == f'Best hook: "{best}". Congruence covers {ads} classified ads.'
    assert sorted(tool for tool, _ in recorder.of("start")) == ["congruence_summary", "top_hooks"]
    assert sorted(recorder.of("end")) == [
        ("congruence_summary", "CongruenceSummaryResult", None),
        ("top_hooks", "TopHooksResult", None),
    ]


async def test_a_tool_error_the_model_fixes_with_the_suggested_name(
    provider: Provider, db: Database, maya: Caller
) -> None:
    def script(request: Any) -> Any:
        said = provider.last_message(request)
        if len(provider.fake.requests) == 1:
            return provider.calls(("top_hooks", {"brand": "Acme Petz", "limit": 2}))
        suggested = re.search(r"Did you mean '([^']+)'\?", said)
        if suggested:
            return provider.calls(("top_hooks", {"brand": suggested[1], "limit": 2}))
        return provider.say("Fixed the brand name; here are the top two hooks.")

    provider.script = script
    recorder = Recorder()
    turn = await run_turn(
        db=db, caller=maya, message="hooks for acme petz", model=provider.model(), listener=recorder
    )
    assert turn.text == "Fixed the brand name; here are the top two hooks."
    assert len(provider.fake.requests) == 3
    assert "No brand named 'Acme Petz'. Did you mean 'Acme Pets'?" in provider.last_message(
        provider.fake.requests[1]
    )
    assert [c.args["brand"] for c in turn.tool_calls] == ["Acme Petz", "Acme Pets"]
    assert turn.tool_calls[0].error is not None and "Did you mean 'Acme Pets'?" in turn.tool_calls[0].error
    assert turn.tool_calls[1].result is not None and len(turn.tool_calls[1].result["rows"]) == 2
    assert recorder.of("end")[-1] == ("top_hooks", "TopHooksResult", None)


async def test_a_429_is_retried_after_its_retry_after(provider: Provider, db: Database, maya: Caller) -> None:
    provider.script = lambda request: (
        provider.rate_limited(0.6) if request.index == 0 else provider.say("Answered after the wait.")
    )
    started = time.monotonic()
    turn = await run_turn(db=db, caller=maya, message="hello", model=provider.model(), listener=Recorder())
    assert turn.text == "Answered after the wait."
    limited, answered = provider.fake.answered
    assert (limited.status, answered.status) == (429, 200)
    waited = answered.started - limited.finished
    assert 0.55 <= waited < 3.0  # the header's 0.6 s, not the SDK's own schedule
    assert time.monotonic() - started < 10


async def test_a_retry_after_longer_than_a_person_waits_is_not_waited_for(
    provider: Provider, db: Database, maya: Caller
) -> None:
    provider.script = lambda request: provider.rate_limited(3600)
    started = time.monotonic()
    turn = await run_turn(db=db, caller=maya, message="hello", model=provider.model(), listener=Recorder())
    assert time.monotonic() - started < 5
    assert len(provider.fake.requests) == 1
    who = "Claude" if provider.anthropic else "Gemini"
    assert turn.text == (
        f"{who} is rate limiting us right now (HTTP 429). It asked us to wait 3600 s. Nothing was changed."
        " Try again in a minute."
    )


async def test_an_overloaded_model_is_retried_then_said_plainly(
    provider: Provider, db: Database, maya: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_choice, "BACKOFF_SECONDS", 0.05)
    provider.script = lambda request: provider.overloaded() if request.index == 0 else provider.say("Back.")
    recorder = Recorder()
    turn = await run_turn(db=db, caller=maya, message="hello", model=provider.model(), listener=recorder)
    assert turn.text == "Back." and recorder.text == "Back."
    assert [a.status for a in provider.fake.answered] == [provider.overloaded_status, 200]

    provider.fake.reset_counts()
    provider.script = lambda request: provider.overloaded()
    recorder = Recorder()
    turn = await run_turn(
        db=db, caller=maya, message="hello again", model=provider.model(), listener=recorder
    )
    assert len(provider.fake.requests) == model_choice.CHAT_ATTEMPTS
    who = "Claude" if provider.anthropic else "Gemini"
    expected = (
        f"{who} is overloaded right now (HTTP {provider.overloaded_status}, 3 tries). Nothing was changed."
        " Try again in a minute."
    )
    assert turn.text == expected and recorder.text == expected  # the chat shows it, no stack trace


async def test_overloaded_mid_answer_is_said_after_what_was_shown(db: Database, maya: Caller) -> None:
    answer = "Acme Pets spent more this week than last, mostly on the senior-dog video ads."
    side = Provider("anthropic")
    side.script = lambda request: anthropic_api.Reply(
        text=answer, stream_error="overloaded_error", error_message="Overloaded", error_after=2
    )
    with models.override_allow_model_requests(True), side.start():
        recorder = Recorder()
        turn = await run_turn(db=db, caller=maya, message="spend?", model=side.model(), listener=recorder)
        assert len(side.fake.requests) == 1  # an answer already on screen is not asked for again
    expected = (
        "Claude stopped mid-answer: it is overloaded. Nothing was changed. Please ask again in a minute."
    )
    assert turn.text == expected and turn.messages == []
    shown, said = recorder.text.split("\n\n")
    assert shown == answer[:32]  # the two deltas that came, then the reason on its own line
    assert said == expected


async def test_usage_limits_stop_a_model_that_never_stops_calling_tools(
    provider: Provider, db: Database, maya: Caller
) -> None:
    provider.script = lambda request: provider.calls(("brands", {}))
    recorder = Recorder()
    turn = await run_turn(db=db, caller=maya, message="loop", model=provider.model(), listener=recorder)
    assert turn.text == TOO_MANY_STEPS and recorder.text.endswith(TOO_MANY_STEPS)
    assert len(provider.fake.requests) <= 12  # USAGE_LIMITS.request_limit
    assert len(recorder.of("start")) <= 8  # USAGE_LIMITS.tool_calls_limit
    assert turn.messages == []  # nothing of the runaway turn is kept


async def test_a_refused_key_names_the_variable(provider: Provider, db: Database, maya: Caller) -> None:
    provider.script = lambda request: provider.say("never")
    model = provider.model(key="wrong-key")
    turn = await run_turn(db=db, caller=maya, message="hello", model=model, listener=Recorder())
    variable = "ANTHROPIC_API_KEY" if provider.anthropic else "GEMINI_API_KEY (or GOOGLE_API_KEY)"
    status = 401 if provider.anthropic else 400
    assert turn.text == (
        f"The model provider refused our API key (HTTP {status}). Check {variable} and restart the app."
        " Nothing was changed."
    )
    assert "wrong-key" not in turn.text
    assert provider.fake.refused_keys == 1  # a refused key is not retried


async def test_the_chat_ui_streams_a_real_provider_answer(
    provider: Provider, db: Database, maya: Caller, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answer = "Hello Maya, Acme Pets and Bloom Botanicals are both delivering today."
    provider.script = lambda request: provider.say(answer, chunk_delay=0.05)
    settings = provider.settings()
    monkeypatch.setattr(app, "get_settings", lambda: settings)
    async with app_on_test_database(db, monkeypatch, tmp_path):
        chat = OpenChat(maya)
        await chat.say("hello")
        await chat.close()
    assert chat.answer() == answer
    [start] = chat.of("stream_start")
    tokens = [t["token"] for t in chat.of("stream_token")]
    assert len(tokens) >= 3  # streamed into the answer as it came, not sent in one piece
    assert start["output"] + "".join(tokens) == answer


# -- deep_analysis shows a multimodal model the ad's image --------------------------------------------


@pytest.fixture
async def shop_with_an_ad_image(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[Shop, str, bytes]]:
    """A brand of our own with one ad whose image the asset downloads stored (file and `ad_assets` row)."""
    monkeypatch.setenv("VIRALTRACKER_HOME", str(tmp_path))
    monkeypatch.delenv("VIRALTRACKER_STORAGE_BUCKET", raising=False)
    get_settings.cache_clear()
    shop = await new_shop(db, "vision", [])
    ad_id = f"9{uuid.uuid4().int % 10**14:014d}"
    image = quadrants(((200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 240, 240)))
    path = f"{shop.org}/{shop.brand_id}/{ad_id}/image.png"
    storage = storage_for(get_settings())
    staged = storage.staging / "ad.part"
    staged.write_bytes(image)
    await storage.put(path, staged, "image/png")
    async with db.as_service() as conn:
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, thumbnail_url)"
            " values (%s, %s, %s, 'Senior dog stairs', 'image', 'https://cdn.example/ad.png')",
            (ad_id, shop.brand_id, shop.org),
        )
        await conn.execute(
            "insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path,"
            " content_type, bytes, sha256) values (%s, %s, %s, 'image', 'k', 'https://cdn.example/ad.png',"
            " %s, 'image/png', %s, 'x')",
            (ad_id, shop.brand_id, shop.org, path, len(image)),
        )
    try:
        yield shop, ad_id, image
    finally:
        await drop_shop(db, shop)
        get_settings.cache_clear()


async def test_deep_analysis_shows_the_model_the_ads_image(
    provider: Provider, db: Database, shop_with_an_ad_image: tuple[Shop, str, bytes]
) -> None:
    shop, ad_id, image = shop_with_an_ad_image

    def script(request: Any) -> Any:
        if request.index == 0:
            return provider.calls(("deep_analysis", {"brand": shop.brand, "ad": ad_id}))
        return provider.say("Four colour blocks; the headline sits in the top left.")

    provider.script = script
    recorder = Recorder()
    turn = await run_turn(
        db=db, caller=shop.admin, message="look at that ad", model=provider.model(), listener=recorder
    )
    assert turn.text == "Four colour blocks; the headline sits in the top left."
    first, second = provider.fake.requests
    assert provider.images(first) == []
    assert provider.images(second) == [("image/png", image)]  # the stored bytes, as an image part
    assert provider.results(second)  # the facts went back too
    assert turn.tool_calls[0].result is not None and turn.tool_calls[0].result["meta_ad_id"] == ad_id
    stored = storable_history(turn.messages)
    assert base64.b64encode(image).decode()[:200] not in stored  # images are not kept in the history
    assert "an image was shown here" in stored


async def test_deep_analysis_offline_is_unchanged(
    db: Database, shop_with_an_ad_image: tuple[Shop, str, bytes]
) -> None:
    shop, ad_id, _ = shop_with_an_ad_image
    turn = await run_turn(db=db, caller=shop.admin, message=f'/deep_analysis brand:"{shop.brand}" ad:{ad_id}')
    assert turn.tool_calls[0].result is not None and turn.tool_calls[0].error is None
    returns = [
        p
        for m in turn.messages
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    assert isinstance(returns[0].content, dict)  # facts only: the offline router reads no images


async def test_deep_analysis_fetches_an_ads_thumbnail_not_yet_downloaded(
    provider: Provider, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No asset download has run: the thumbnail is fetched at question time, shown to the model and
    kept (an `ad_assets` row) for the next question; a thumbnail that can't be fetched leaves the facts."""
    monkeypatch.setenv("VIRALTRACKER_HOME", str(tmp_path))
    monkeypatch.setenv("VIRALTRACKER_FETCH_PRIVATE_ADDRESSES", "1")  # the media server is on 127.0.0.1
    monkeypatch.delenv("VIRALTRACKER_STORAGE_BUCKET", raising=False)
    get_settings.cache_clear()
    image = quadrants(((10, 120, 220), (220, 120, 10), (120, 220, 10), (30, 30, 30)))
    media = MediaServer(files={"/thumb.png": (image, "image/png")}).start()
    shop = await new_shop(db, "thumbs", [])
    ads = {"fetched": f"8{uuid.uuid4().int % 10**14:014d}", "missing": f"7{uuid.uuid4().int % 10**14:014d}"}
    try:
        async with db.as_service() as conn:
            for label, ad_id in ads.items():
                path = "/thumb.png" if label == "fetched" else "/gone.png"
                await conn.execute(
                    "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, thumbnail_url)"
                    " values (%s, %s, %s, %s, 'image', %s)",
                    (ad_id, shop.brand_id, shop.org, f"Ad {label}", media.url + path),
                )
        for label, ad_id in ads.items():
            provider.fake.reset_counts()

            def script(request: Any, ad_id: str = ad_id) -> Any:
                if request.index == 0:
                    return provider.calls(("deep_analysis", {"brand": shop.brand, "ad": ad_id}))
                return provider.say("Seen.")

            provider.script = script
            turn = await run_turn(db=db, caller=shop.admin, message="look at that ad", model=provider.model())
            assert turn.text == "Seen." and turn.tool_calls[0].error is None
            second = provider.fake.requests[1]
            assert provider.images(second) == ([("image/png", image)] if label == "fetched" else [])
        assert media.hits["/thumb.png"] == 1 and media.hits["/gone.png"] == 1
        async with db.as_service() as conn:
            cur = await conn.execute(
                "select meta_ad_id, source_url, content_type from ad_assets where brand_id = %s",
                (shop.brand_id,),
            )
            rows = [(r["meta_ad_id"], r["source_url"], r["content_type"]) for r in await cur.fetchall()]
        assert rows == [(ads["fetched"], media.url + "/thumb.png", "image/png")]
    finally:
        media.close()
        await drop_shop(db, shop)
        get_settings.cache_clear()
