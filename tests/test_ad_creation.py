"""Ad runs from the template library on the real database: a brand schedule's run makes N labelled
previews (the template's own pixels, the product and a headline), records the template on every
generated ad, notifies the organization; re-running a run never duplicates; chat previews then
creates; other organizations see none of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from PIL import Image

from agent.runner import run_turn
from core.errors import InvalidArgument, NoData
from db.pool import Caller, Database
from jobs import api
from jobs.runs import RunFailed, execute_run
from jobs.schedules import tick
from services.creative.ad_creation import create_ads
from services.creative.ad_previews import LABEL_FILL, PREVIEW_LABEL, fitted_size, label_box
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
from tests.file_helpers import mode

SCORES = [95.0, 85.0, 72.0, 30.0]


@dataclass
class Library:
    shop: Shop
    product_id: UUID
    product: str
    templates: list[UUID]
    """Best first: scored 95, 85, 72 (recommended) and 30 (not)."""
    settings: Settings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with offline_home(tmp_path, monkeypatch):
        yield tmp_path


@pytest.fixture
async def library(db: Database, home: Path) -> AsyncIterator[Library]:
    settings = offline_settings(home)
    shop, templates = await scored_library(db, settings, "ads", PALETTES, SCORES)
    product_id = shop.products["Joint Chews"]
    yield Library(shop, product_id, f"Joint Chews {shop.tag}", templates, settings)
    await drop_shop(db, shop)
    await drop_templates(db, templates)


def _assert_preview(settings: Settings, image_path: str, palette: tuple[tuple[int, int, int], ...]) -> None:
    """The stored preview shows the template's own pixels (each quadrant's colour where it landed),
    the red label in its corner, and says what it is in its text chunks."""
    file = storage_for(settings).locate(image_path)
    with Image.open(file) as opened:
        preview = opened.convert("RGB")
        text = dict(opened.text)  # type: ignore[attr-defined]
    assert text["label"] == PREVIEW_LABEL
    width, height = fitted_size(400, 300)
    left = (preview.width - width) // 2
    centres = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]
    for (fx, fy), colour in zip(centres, palette, strict=True):
        pixel = preview.getpixel((left + int(fx * width), int(fy * height)))
        assert isinstance(pixel, tuple)
        assert all(abs(a - b) <= 2 for a, b in zip(pixel, colour, strict=True)), (pixel, colour)
    x0, y0, x1, y1 = label_box()
    assert preview.getpixel((x0 + 4, y0 + 4)) == LABEL_FILL
    assert preview.getpixel((x1 - 4, y1 - 4)) == LABEL_FILL
    assert preview.height > height  # the band with the product and headline under the template


async def test_a_scheduled_run_from_the_library_makes_labelled_previews(
    db: Database, library: Library
) -> None:
    shop = library.shop
    schedule = await api.create_schedule(
        db, job_type="ad_creation", cron="0 9 * * 1", organization_id=shop.org, brand_id=shop.brand_id,
        params={"product": library.product, "count": 3, "template_source": "library", "filter": "recommended"},
    )  # fmt: skip
    async with db.as_owner() as conn:  # due now
        await conn.execute(
            "update scheduled_jobs set next_run_at = %s where id = %s",
            (datetime.now(UTC) - timedelta(minutes=1), schedule),
        )
    created = await tick(db)
    async with db.as_owner() as conn:
        cur = await conn.execute("select id from job_runs where scheduled_job_id = %s", (schedule,))
        [run] = await cur.fetchall()
    assert run["id"] in created
    result = await execute_run(db, library.settings, run["id"], attempt=1)
    assert result is not None
    assert result["summary"].startswith(
        f"3 ad previews created for {library.product} from the template library."
    )

    ads = await generated_ads(db, "job_run_id = %s", run["id"])
    assert [a["position"] for a in ads] == [0, 1, 2]
    # The three recommended templates, best first; the 30-point one is not used.
    assert [a["source_template_id"] for a in ads] == library.templates[:3]
    assert all(a["product_id"] == library.product_id and a["status"] == "preview" for a in ads)
    assert ads[0]["headline"] == HOOK and ads[1]["headline"] == "Moves like a puppy again"
    for ad, palette in zip(ads, PALETTES, strict=False):
        _assert_preview(library.settings, ad["image_path"], palette)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select template_id, used from template_recommendations where product_id = %s",
            (library.product_id,),
        )
        used = {row["template_id"]: row["used"] for row in await cur.fetchall()}
        cur = await conn.execute(
            "select title, category from notifications where organization_id = %s and type = 'ads_created'",
            (shop.org,),
        )
        notices = await cur.fetchall()
    assert [used[t] for t in library.templates] == [True, True, True, False]
    assert notices == [
        {"title": f"3 ad previews created for {library.product} from the template library", "category": "ads"}
    ]

    # Re-running the same run: nothing new. With one slot lost, only that slot is made again, from a
    # template the run hasn't used; two attempts at once still make it once.
    again = await create_ads(
        db, product_id=library.product_id, count=3, settings=library.settings, run_id=run["id"]
    )
    assert (again.created, again.already_there) == (0, 3)
    await db_delete(db, ads[1]["id"])
    both = await asyncio.gather(
        *(
            create_ads(
                db, product_id=library.product_id, count=3, settings=library.settings, run_id=run["id"]
            )
            for _ in range(2)
        )
    )
    assert sorted(b.created for b in both) == [0, 1]
    redone = await generated_ads(db, "job_run_id = %s", run["id"])
    assert [a["position"] for a in redone] == [0, 1, 2]
    assert redone[1]["source_template_id"] not in (library.templates[0], library.templates[2])

    # Nothing unused and recommended is left for the product.
    with pytest.raises(NoData, match=rf"^No unused recommended templates for {library.product} yet"):
        await create_ads(
            db, product_id=library.product_id, count=1, filter="unused_recommended", settings=library.settings
        )


async def db_delete(db: Database, ad_id: UUID) -> None:
    async with db.as_owner() as conn:
        await conn.execute("delete from generated_ads where id = %s", (ad_id,))


async def test_bad_ad_run_parameters_are_refused(db: Database, library: Library) -> None:
    shop = library.shop
    with pytest.raises(
        InvalidArgument, match=r"^Bad parameters for ad_creation: count: Input should be less"
    ):
        await api.run_now(
            db, job_type="ad_creation", params={"product": library.product, "count": 50},
            organization_id=shop.org, brand_id=shop.brand_id,
        )  # fmt: skip
    run_id = await api.run_now(
        db, job_type="ad_creation", params={"product": "Joint Chewz", "count": 1},
        organization_id=shop.org, brand_id=shop.brand_id,
    )  # fmt: skip
    with pytest.raises(RunFailed):  # a name that isn't the brand's product fails at once, saying why
        await execute_run(db, library.settings, run_id, attempt=1)
    async with db.as_owner() as conn:
        cur = await conn.execute("select status, attempts, error from job_runs where id = %s", (run_id,))
        row = await cur.fetchone()
    assert row == {
        "status": "failed",
        "attempts": 1,
        "error": f"No product named 'Joint Chewz'. Did you mean '{library.product}'?",
    }
    assert await generated_ads(db, "job_run_id = %s", run_id) == []


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


async def test_create_ads_in_chat_previews_then_makes_them(
    db: Database, library: Library, leo: Caller
) -> None:
    shop = library.shop
    message = f'/create_ads product:"{library.product}" count:2 from:library'
    turn = await run_turn(db=db, caller=shop.member, message=message)
    assert turn.text == (
        f"Make 2 ad(s) for {library.product} ({shop.brand}) from the template library, filter recommended?"
        f" From: Layout 1 {shop.tag} (95); Layout 2 {shop.tag} (85). Nothing has been made yet: confirm to go ahead."
    )
    assert await generated_ads(db, "product_id = %s", library.product_id) == []
    listener = Watching()
    turn = await run_turn(db=db, caller=shop.member, message=message + " confirm:true", listener=listener)
    assert turn.text.startswith(f"2 ad previews created for {library.product} from the template library.")
    assert listener.progress == [
        f"Made 1 of 2 ads for {library.product}",
        f"Made 2 of 2 ads for {library.product}",
    ]
    ads = turn.tool_calls[0].result["ads"]  # type: ignore[index]
    assert [a["source_template_id"] for a in ads] == [str(t) for t in library.templates[:2]]
    # The chat shows each preview from its owner-only file; the answer itself names the file only.
    files = [Path(a.image_file) for a in turn.results[0].ads]  # type: ignore[attr-defined]
    assert [mode(f) for f in files] == [0o600, 0o600] and [a["image_file"] for a in ads] == [
        f.name for f in files
    ]
    _assert_preview(library.settings, ads[0]["image_path"], PALETTES[0])
    # Another organization can't find the product, let alone make ads for it.
    turn = await run_turn(db=db, caller=leo, message=message + " confirm:true")
    assert turn.refused and turn.text.startswith(f"No product named '{library.product}'.")
    # Nothing in the filter: a clear answer, nothing made.
    turn = await run_turn(
        db=db, caller=shop.member, message=f'/create_ads "{library.product}" count:2 from:uploaded'
    )
    assert turn.text == (
        f"No stored ad images for {shop.brand} to use as references: download them first"
        " (asset_download), or use from:library."
    )
    turn = await run_turn(db=db, caller=shop.member, message=f'/create_ads "{library.product}" count:50')
    assert turn.text == "count must be between 1 and 20 (got 50)."
    # Scheduling is for admins.
    turn = await run_turn(db=db, caller=shop.member, message=message + ' schedule:"0 9 * * 1"')
    assert turn.text == (
        f"Only admins of {shop.brand}'s organization can schedule ad runs; you are a member."
        " Ask an admin to do it."
    )
    turn = await run_turn(db=db, caller=shop.admin, message=message + ' schedule:"0 9 * * 1" confirm:true')
    assert turn.text.startswith(f"Scheduled: 2 ad(s) for {library.product}"), turn.text
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select job_type, brand_id, params from scheduled_jobs where organization_id = %s", (shop.org,)
        )
        [row] = await cur.fetchall()
    assert row["job_type"] == "ad_creation" and row["brand_id"] == shop.brand_id
    assert row["params"]["product"] == str(library.product_id) and row["params"]["count"] == 2


async def test_generated_ads_are_their_organizations_alone(
    db: Database, library: Library, leo: Caller
) -> None:
    made = await create_ads(db, product_id=library.product_id, count=2, settings=library.settings)
    ids = [ad.id for ad in made.ads]
    async with db.as_user(leo) as conn:
        cur = await conn.execute("select count(*) as n from generated_ads where id = any(%s)", (ids,))
        row = await cur.fetchone()
        assert row is not None and row["n"] == 0
        cur = await conn.execute(
            "update generated_ads set headline = 'mine now' where id = any(%s) returning id", (ids,)
        )
        assert await cur.fetchall() == []
    async with db.as_user(library.shop.member) as conn:
        cur = await conn.execute("select count(*) as n from generated_ads where id = any(%s)", (ids,))
        row = await cur.fetchone()
        assert row is not None and row["n"] == 2


async def test_a_run_from_the_brands_own_ads_records_the_reference_ad(db: Database, library: Library) -> None:
    shop = library.shop
    storage = storage_for(library.settings)
    staged = storage.staging / "own.part"
    staged.write_bytes(quadrants(PALETTES[3]))
    await storage.put(f"{shop.org}/{shop.brand_id}/own/image.png", staged, "image/png")
    ad_id = f"9{shop.tag.encode().hex()[:12]}"
    async with db.as_owner() as conn:
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values (%s, %s, %s, 'Own ad')",
            (ad_id, shop.brand_id, shop.org),
        )
        await conn.execute(
            "insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path,"
            " bytes, sha256) values (%s, %s, %s, 'image', 'k', 'https://cdn.example/own.png', %s, 1, 'x')",
            (ad_id, shop.brand_id, shop.org, f"{shop.org}/{shop.brand_id}/own/image.png"),
        )
    made = await create_ads(
        db, product_id=library.product_id, count=2, template_source="uploaded", settings=library.settings
    )
    assert made.summary.startswith(f"1 ad preview created for {library.product} from your own ads.")
    assert "Only 1 of 2 could be made: not enough references match filter recommended." in made.summary
    [ad] = made.ads
    assert (ad.reference_meta_ad_id, ad.source_template_id, ad.reference) == (ad_id, None, "Own ad")
    _assert_preview(library.settings, ad.image_path, PALETTES[3])
