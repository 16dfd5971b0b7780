"""Ad runs with a Gemini key, against a local fake of the Gemini API driven by the real `google-genai`
client, on the real database: the model's image is what gets stored (status 'generated', generator =
the model), the template image and the headline are what gets sent; rate limits are waited out as
asked; a blocked or text-only answer fails that ad, saying why, while the others are made; a refused
key stops the run with the variable to fix. Without a key the offline preview is used."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from PIL import Image

from db.pool import Database
from fakes.gemini_api import API_KEY, FakeGemini, FakeRequest, Reply
from jobs import api
from jobs.runs import RunFailed, execute_run
from services.creative.ad_creation import create_ads
from services.creative.ad_previews import OfflinePreview, generator_for
from services.creative.image_models import GeminiImageGenerator
from services.platform.storage import storage_for
from settings import Settings
from tests.ad_helpers import (
    HOOK,
    PALETTES,
    Shop,
    drop_shop,
    drop_templates,
    generated_ads,
    offline_home,
    offline_settings,
    quadrants,
    scored_library,
)

MODEL = "gemini-2.5-flash-image"


@dataclass
class Library:
    shop: Shop
    product_id: UUID
    product: str
    templates: list[UUID]
    """Scored 95, 85, 72: all recommended, in that order."""
    names: list[str]
    home: Path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with offline_home(tmp_path, monkeypatch):
        yield tmp_path


@pytest.fixture
async def library(db: Database, home: Path) -> AsyncIterator[Library]:
    shop, templates = await scored_library(
        db, offline_settings(home), "gemini", PALETTES[:3], [95.0, 85.0, 72.0]
    )
    product_id = shop.products["Joint Chews"]
    names = [f"Layout {i + 1} {shop.tag}" for i in range(len(templates))]
    yield Library(shop, product_id, f"Joint Chews {shop.tag}", templates, names, home)
    await drop_shop(db, shop)
    await drop_templates(db, templates)


def gemini_settings(home: Path, fake: FakeGemini, **keys: Any) -> Settings:
    values: dict[str, Any] = {"GEMINI_API_KEY": API_KEY, "GOOGLE_API_KEY": None, **keys}
    return Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=home,
        VIRALTRACKER_MODEL=None,
        ANTHROPIC_API_KEY=None,
        GEMINI_BASE_URL=fake.url,
        VIRALTRACKER_IMAGE_MODEL=MODEL,
        **values,
    )


def made_image(colour: tuple[int, int, int], fmt: str = "PNG") -> bytes:
    """What the fake model "draws": a solid 96×120 image."""
    out = io.BytesIO()
    Image.new("RGB", (96, 120), colour).save(out, format=fmt)
    return out.getvalue()


async def test_a_run_with_a_gemini_key_stores_the_models_images(db: Database, library: Library) -> None:
    shop = library.shop
    drawn = [made_image((40 * i + 20, 90, 200 - 40 * i)) for i in range(3)]
    with FakeGemini(responder=lambda request: Reply.with_image(drawn[request.index])) as fake:
        settings = gemini_settings(library.home, fake)
        run_id = await api.run_now(
            db, job_type="ad_creation", params={"product": library.product, "count": 3},
            organization_id=shop.org, brand_id=shop.brand_id,
        )  # fmt: skip
        result = await execute_run(db, settings, run_id, attempt=1)
    assert result is not None
    assert result["summary"] == f"3 ads created for {library.product} from the template library."

    ads = await generated_ads(db, "job_run_id = %s", run_id)
    assert [a["source_template_id"] for a in ads] == library.templates
    assert all(a["status"] == "generated" and a["generator"] == MODEL for a in ads)
    storage = storage_for(settings)
    assert [
        Path(storage.locate(a["image_path"])).read_bytes() for a in ads
    ] == drawn  # the model's PNG, as sent

    # What was sent: one call per ad to the configured model, with the key, the template's own image
    # and the product and headline in the instruction; an image asked for.
    assert [(r.model, r.method) for r in fake.requests] == [(MODEL, "generateContent")] * 3
    assert all(r.headers["x-goog-api-key"] == API_KEY for r in fake.requests)
    for request, palette, ad in zip(fake.requests, PALETTES[:3], ads, strict=True):
        assert request.images == [("image/png", quadrants(palette))]
        assert f'"{ad["headline"]}"' in request.text and library.product in request.text
        assert "IMAGE" in request.response_modalities
    assert ads[0]["headline"] == HOOK and f'"{HOOK}"' in fake.requests[0].text
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select title from notifications where organization_id = %s and type = 'ads_created'", (shop.org,)
        )
        assert await cur.fetchall() == [
            {"title": f"3 ads created for {library.product} from the template library"}
        ]


async def test_rate_limits_and_overloads_are_waited_out_as_asked(db: Database, library: Library) -> None:
    image = made_image((10, 160, 90))
    # A 429 naming its delay only in the error's RetryInfo, a 503 with a Retry-After header, then the image.
    script = [
        Reply.rate_limited(0.4, header=False),
        Reply.error(503, "The model is overloaded.", retry_after=0.6),
    ]
    with FakeGemini(
        responder=lambda request: script[request.index] if request.index < 2 else Reply.with_image(image)
    ) as fake:
        made = await create_ads(
            db, product_id=library.product_id, count=1, settings=gemini_settings(library.home, fake)
        )
    assert (made.created, made.failed) == (1, 0)
    assert (
        Path(storage_for(offline_settings(library.home)).locate(made.ads[0].image_path)).read_bytes() == image
    )
    assert fake.statuses() == [429, 503, 200]
    first, second, third = fake.answered
    assert 0.4 <= second.started - first.finished < 2.0
    assert 0.6 <= third.started - second.finished < 2.0

    # Overloaded on every attempt: that ad fails after three calls, saying so; nothing is stored.
    with FakeGemini(
        responder=lambda request: Reply.error(503, "The model is overloaded.", retry_after=0.1)
    ) as fake:
        made = await create_ads(
            db, product_id=library.product_id, count=1, filter="unused_recommended",
            settings=gemini_settings(library.home, fake),
        )  # fmt: skip
    assert fake.statuses() == [503, 503, 503]
    assert (made.created, made.failed, made.ads) == (0, 1, [])
    assert made.errors == [
        f"{library.names[1]}: {MODEL} is unavailable (HTTP 503 UNAVAILABLE: The model is overloaded.);"
        " gave up after 3 attempts."
    ]
    # A wait longer than a minute is not sat through: one call, the ad fails with the asked wait.
    with FakeGemini(responder=lambda request: Reply.rate_limited(3600)) as fake:
        made = await create_ads(
            db, product_id=library.product_id, count=1, filter="unused_recommended",
            settings=gemini_settings(library.home, fake),
        )  # fmt: skip
    assert fake.statuses() == [429]
    assert made.errors[0].endswith("asked to wait 3600 s; try again later.")


async def test_an_answer_without_an_image_fails_that_ad_and_says_why(db: Database, library: Library) -> None:
    jpeg = made_image((200, 40, 40), "JPEG")

    def answer(request: FakeRequest) -> Reply:
        if request.index == 0:
            return Reply.with_image(jpeg, mime_type="image/jpeg", text="Here is your ad.")
        if request.index == 1:
            return Reply.blocked("SAFETY")
        return Reply.say("I can't make that image.")

    with FakeGemini(responder=answer) as fake:
        made = await create_ads(
            db, product_id=library.product_id, count=3, settings=gemini_settings(library.home, fake)
        )
    assert (made.created, made.failed) == (1, 2)
    [ad] = made.ads
    assert (ad.source_template_id, ad.status) == (library.templates[0], "generated")
    assert made.summary == (
        f"1 ad created for {library.product} from the template library. 2 failed:"
        f" {library.names[1]}: {MODEL} returned no image: the request was blocked (SAFETY);"
        f" {library.names[2]}: {MODEL} returned no image: it answered with text only (finish reason STOP):"
        ' "I can\'t make that image.".'
    )
    # A JPEG answer is stored as a PNG of the same pixels.
    with Image.open(storage_for(offline_settings(library.home)).locate(ad.image_path)) as stored:
        assert stored.format == "PNG"
        with Image.open(io.BytesIO(jpeg)) as sent:
            assert stored.convert("RGB").tobytes() == sent.convert("RGB").tobytes()
    rows = await generated_ads(db, "product_id = %s", library.product_id)
    assert [r["source_template_id"] for r in rows] == [library.templates[0]]


async def test_a_refused_key_stops_the_run_and_names_the_variable(db: Database, library: Library) -> None:
    shop = library.shop
    with FakeGemini(api_key="the-real-key") as fake:  # ours is not valid there
        settings = gemini_settings(library.home, fake)
        run_id = await api.run_now(
            db, job_type="ad_creation", params={"product": library.product, "count": 3},
            organization_id=shop.org, brand_id=shop.brand_id,
        )  # fmt: skip
        with pytest.raises(RunFailed):
            await execute_run(db, settings, run_id, attempt=1)
    assert fake.refused_keys == 1  # the other two ads were not tried
    async with db.as_owner() as conn:
        cur = await conn.execute("select status, error from job_runs where id = %s", (run_id,))
        row = await cur.fetchone()
    assert row == {
        "status": "failed",
        "error": f"0 ads created for {library.product} from the template library. 1 failed:"
        f" {library.names[0]}: Gemini refused the API key in GEMINI_API_KEY (HTTP 400 INVALID_ARGUMENT:"
        " API key not valid. Please pass a valid API key.): set a valid key, or unset it to make offline"
        " previews; 2 more not attempted.",
    }
    assert await generated_ads(db, "job_run_id = %s", run_id) == []

    # A key without access to the model (403), set as GOOGLE_API_KEY: named as such.
    with FakeGemini(responder=lambda request: Reply.error(403, "Permission denied on the model.")) as fake:
        made = await create_ads(
            db, product_id=library.product_id, count=2,
            settings=gemini_settings(library.home, fake, GEMINI_API_KEY=None, GOOGLE_API_KEY=API_KEY),
        )  # fmt: skip
    assert len(fake.requests) == 1
    assert made.errors == [
        f"{library.names[0]}: Gemini refused the API key in GOOGLE_API_KEY (HTTP 403 PERMISSION_DENIED:"
        " Permission denied on the model.): set a valid key, or unset it to make offline previews.",
        "1 more not attempted",
    ]


def test_the_generator_follows_the_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with offline_home(tmp_path, monkeypatch):
        assert isinstance(generator_for(offline_settings(tmp_path)), OfflinePreview)
        blank = Settings(VIRALTRACKER_HOME=tmp_path, GEMINI_API_KEY="  ", GOOGLE_API_KEY=None)  # type: ignore[call-arg]
        assert isinstance(generator_for(blank), OfflinePreview)
        keyed = Settings(VIRALTRACKER_HOME=tmp_path, GOOGLE_API_KEY="k", VIRALTRACKER_IMAGE_MODEL="imagen-x")  # type: ignore[call-arg]
        generator = generator_for(keyed)
        assert isinstance(generator, GeminiImageGenerator)
        assert (generator.name, generator.status) == ("imagen-x", "generated")


async def test_the_fake_streams_text_as_the_client_reads_it() -> None:
    """The fake's `:streamGenerateContent?alt=sse`, read by the real client (later text streaming reuses it)."""
    from google import genai
    from google.genai import types

    said = "Hook rate is up 12% on the UGC ads this week."
    with FakeGemini(responder=lambda request: Reply.say(said)) as fake:
        client = genai.Client(
            api_key=API_KEY,
            vertexai=False,
            http_options=types.HttpOptions(
                base_url=fake.url, async_client_args={"transport": httpx.AsyncHTTPTransport(retries=0)}
            ),
        )
        async with client.aio as aio:
            chunks = [
                c async for c in await aio.models.generate_content_stream(model="gemini-x", contents="hi")
            ]
    assert "".join(c.text or "" for c in chunks) == said and len(chunks) == 3
    assert chunks[-1].candidates and chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert [(r.model, r.method, r.text) for r in fake.requests] == [
        ("gemini-x", "streamGenerateContent", "hi")
    ]
