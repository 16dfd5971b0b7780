"""Ad media into storage: thumbnails from a media server on 127.0.0.1, videos through the fake Graph API's
`/{video_id}?fields=source` (real SDK), files checked byte for byte."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

import pytest

from db.pool import Database
from fakes.meta_graph import FakeGraph
from services.creative.assets import download_brand_assets
from services.platform.accounts import create_organization
from settings import Settings

TOKEN = "EAAB-assets-token-" + uuid.uuid4().hex


@dataclass
class MediaServer:
    """Serves `files` (path → (bytes, content type)); 404 otherwise. Paths under /stream/ are sent without a
    Content-Length (the size is known only by reading)."""

    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    hits: Counter[str] = field(default_factory=Counter)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> MediaServer:
        media = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                media.hits[self.path] += 1
                found = media.files.get(urlsplit(self.path).path)
                if found is None:
                    self.send_error(404)
                    return
                body, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                if not self.path.startswith("/stream/"):
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


@dataclass
class Brand:
    db: Database
    id: UUID
    organization_id: UUID
    settings: Settings
    media: MediaServer
    graph: FakeGraph
    home: Path

    async def download(self, **kwargs: Any) -> Any:
        return await download_brand_assets(self.db, brand_id=self.id, settings=self.settings, **kwargs)

    async def add_ad(self, ad_id: str, fmt: str, thumbnail: str | None, video_id: str | None = None) -> None:
        async with self.db.as_owner() as conn:
            await conn.execute(
                "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, format, thumbnail_url, video_id)"
                " values (%s, %s, %s, %s, %s, %s, %s)",
                (ad_id, self.id, self.organization_id, f"Ad {ad_id}", fmt, thumbnail, video_id),
            )

    async def stored(self) -> dict[tuple[str, str], dict[str, Any]]:
        async with self.db.as_owner() as conn:
            cur = await conn.execute(
                "select meta_ad_id, kind, organization_id, path, bytes, sha256, source_url from ad_assets"
                " where brand_id = %s",
                (self.id,),
            )
            return {(r["meta_ad_id"], r["kind"]): r for r in await cur.fetchall()}


def _bytes(label: str, size: int) -> bytes:
    return (hashlib.sha256(label.encode()).digest() * (size // 32 + 1))[:size]


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.close()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        fake.add_token(TOKEN)
        yield fake


@pytest.fixture
async def brand(db: Database, media: MediaServer, graph: FakeGraph, tmp_path: Path) -> AsyncIterator[Brand]:
    tag = uuid.uuid4().hex[:8]
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Asset Co {tag}")
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id",
            (org, f"Asset Pets {tag}"),
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id) values (%s, %s, %s)",
            (row["id"], org, f"act_{int(tag, 16) % 10**9 + 10**9}"),
        )
    settings = Settings(  # type: ignore[call-arg]
        META_SYSTEM_USER_TOKEN=TOKEN,
        META_GRAPH_URL=graph.url,
        VIRALTRACKER_HOME=tmp_path,
        VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True,  # the media server is on 127.0.0.1
    )
    yield Brand(db, row["id"], org, settings, media, graph, tmp_path)
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))


async def _three_images_two_videos(brand: Brand) -> dict[str, bytes]:
    """Ads a1, a2 (images), a3 (image whose thumbnail is gone: 404), v1, v2 (videos, with thumbnails)."""
    files: dict[str, bytes] = {}
    for n, ad in enumerate(("a1", "a2", "v1", "v2")):
        files[f"/thumbs/{ad}.jpg"] = _bytes(ad, 3_000 + 500 * n)
        brand.media.files[f"/thumbs/{ad}.jpg"] = (files[f"/thumbs/{ad}.jpg"], "image/jpeg")
    for ad in ("v1", "v2"):
        files[f"/videos/{ad}.mp4"] = _bytes(f"video-{ad}", 700_000)  # several chunks
        brand.media.files[f"/videos/{ad}.mp4"] = (files[f"/videos/{ad}.mp4"], "video/mp4")
        brand.graph.video_sources[f"77{ad[-1]}000"] = f"{brand.media.url}/videos/{ad}.mp4?oe=signed"
    prefix = str(brand.id.int)[:8]
    for ad in ("a1", "a2", "a3"):
        await brand.add_ad(f"{prefix}0{ad[-1]}", "image", f"{brand.media.url}/thumbs/{ad}.jpg?stp=x")
    for ad in ("v1", "v2"):
        await brand.add_ad(
            f"{prefix}1{ad[-1]}", "video", f"{brand.media.url}/thumbs/{ad}.jpg", f"77{ad[-1]}000"
        )
    return files


async def test_download_then_already_had_and_a_404_is_counted(brand: Brand) -> None:
    files = await _three_images_two_videos(brand)
    first = await brand.download()
    assert (first.downloaded, first.already_had, first.failed, first.skipped_over_limit) == (6, 0, 1, 0)
    assert first.bytes == sum(len(b) for b in files.values())
    assert first.error_samples == [
        f"image of Ad {str(brand.id.int)[:8]}03 ({str(brand.id.int)[:8]}03): HTTP 404"
    ]
    assert "1 failed: image of Ad" in first.summary
    stored = await brand.stored()
    assert len(stored) == 6 and {r["organization_id"] for r in stored.values()} == {brand.organization_id}
    for (ad_id, kind), row in stored.items():
        on_disk = (brand.home / "assets" / row["path"]).read_bytes()
        assert row["path"].startswith(f"{brand.organization_id}/{brand.id}/{ad_id}/{kind}.")
        expected = files[urlsplit(row["source_url"]).path]
        assert on_disk == expected and row["bytes"] == len(expected)
        assert row["sha256"] == hashlib.sha256(expected).hexdigest()
    assert not list((brand.home / "assets" / ".staging").iterdir())  # nothing half-written left behind
    # Both videos' sources in one Graph call (`?ids=`), not one call per video.
    lookups = [
        r.params for r in brand.graph.requests if "fields" in r.params and "source" in r.params["fields"]
    ]
    assert [sorted(p.get("ids", "").split(",")) for p in lookups] == [["771000", "772000"]], lookups

    second = await brand.download()
    assert (second.downloaded, second.already_had, second.failed, second.bytes) == (0, 6, 1, 0)
    assert all(n == 1 for path, n in brand.media.hits.items() if not path.endswith("a3.jpg?stp=x"))
    again = [r for r in brand.graph.requests if "fields" in r.params and "source" in r.params["fields"]]
    assert len(again) == len(lookups)  # stored videos are not looked up again

    # A new thumbnail for a2 (another image): fetched again; a lost file is fetched again too.
    brand.media.files["/thumbs/a2-new.jpg"] = (b"new image", "image/png")
    async with brand.db.as_owner() as conn:
        await conn.execute(
            "update meta_ads set thumbnail_url = %s where meta_ad_id = %s",
            (f"{brand.media.url}/thumbs/a2-new.jpg", f"{str(brand.id.int)[:8]}02"),
        )
    (brand.home / "assets" / stored[(f"{str(brand.id.int)[:8]}11", "video")]["path"]).unlink()
    third = await brand.download()
    assert (third.downloaded, third.already_had, third.failed) == (2, 4, 1)
    assert third.bytes == len(b"new image") + len(files["/videos/v1.mp4"])
    assert (await brand.stored())[(f"{str(brand.id.int)[:8]}02", "image")]["path"].endswith("/image.png")


async def test_limits_size_cap_and_placeholders(brand: Brand) -> None:
    await _three_images_two_videos(brand)
    await brand.add_ad(f"{str(brand.id.int)[:8]}99", "image", "https://demo.invalid/thumbs/x.jpg")
    limited = await brand.download(max_images=2, max_videos=1)
    # Images in spend order (no spend yet: by id): a1, a2 kept; a3, v1, v2 thumbnails over the limit.
    assert (limited.downloaded, limited.skipped_over_limit, limited.failed) == (3, 4, 0)
    assert limited.skip_reasons == {"placeholder URL (demo data)": 1}
    assert {kind for _, kind in await brand.stored()} == {"image", "video"}

    # A file bigger than the cap is refused whether its size is declared or only found while reading.
    brand.media.files["/stream/big.jpg"] = (_bytes("big", 5_000), "image/jpeg")
    prefix = str(brand.id.int)[:8]
    async with brand.db.as_owner() as conn:
        await conn.execute(
            "update meta_ads set thumbnail_url = %s where meta_ad_id = %s",
            (f"{brand.media.url}/stream/big.jpg", f"{prefix}01"),
        )
    capped = await brand.download(max_images=2, max_videos=0, image_max_bytes=4_000)
    assert (capped.downloaded, capped.already_had, capped.failed) == (0, 1, 1)
    assert capped.error_samples == [f"image of Ad {prefix}01 ({prefix}01): over the 4,000-byte cap"]
    declared = await brand.download(max_images=5, max_videos=0, image_max_bytes=3_200)
    assert declared.failed == 4 and any(
        "4,000 bytes, over the 3,200-byte cap" in e for e in declared.error_samples
    )
    assert not list((brand.home / "assets" / ".staging").iterdir())


async def test_a_video_meta_will_not_give_is_named_and_the_others_still_come(brand: Brand) -> None:
    """One unreadable video fails Graph's whole `?ids=` call: each is then asked alone, so the others
    are stored and the one Meta refuses is named."""
    await _three_images_two_videos(brand)
    prefix = str(brand.id.int)[:8]
    await brand.add_ad(f"{prefix}13", "video", None, "779000")  # a video the fake does not know
    result = await brand.download()
    stored = await brand.stored()
    assert {(ad, kind) for ad, kind in stored if kind == "video"} == {
        (f"{prefix}11", "video"),
        (f"{prefix}12", "video"),
    }
    assert result.failed == 2  # a3's 404 and the unknown video
    [sample] = [e for e in result.error_samples if e.startswith("video of")]
    assert sample.startswith(f"video of Ad {prefix}13 ({prefix}13): ") and "779000" in sample, sample


async def test_videos_without_a_meta_connection_are_skipped(brand: Brand) -> None:
    await _three_images_two_videos(brand)
    no_token = brand.settings.model_copy(update={"meta_system_user_token": None})
    result = await download_brand_assets(brand.db, brand_id=brand.id, settings=no_token)
    assert (result.downloaded, result.failed) == (4, 1)
    assert result.skip_reasons == {"videos need a Meta connection to fetch": 2}
    assert "2 skipped: videos need a Meta connection to fetch" in result.summary


async def test_media_on_a_private_address_is_refused_without_a_request(brand: Brand) -> None:
    """Ad media URLs come from data (a sync, a CSV, another tool): by default the server fetches only
    public addresses, as for landing pages, so a thumbnail on 127.0.0.1 is refused, never requested."""
    brand.media.files["/thumbs/inside.jpg"] = (_bytes("inside", 2_000), "image/jpeg")
    ad_id = f"{str(brand.id.int)[:8]}09"
    await brand.add_ad(ad_id, "image", f"{brand.media.url}/thumbs/inside.jpg")
    public_only = brand.settings.model_copy(update={"fetch_private_addresses": False})
    result = await download_brand_assets(brand.db, brand_id=brand.id, settings=public_only)
    assert (result.downloaded, result.failed) == (0, 1)
    assert result.error_samples == [
        f"image of Ad {ad_id} ({ad_id}): {brand.media.url}/thumbs/inside.jpg points at a private"
        " network address: only public web addresses can be read"
    ]
    assert brand.media.hits == Counter() and await brand.stored() == {}


async def test_the_download_job_says_what_it_stored_then_stays_quiet(brand: Brand) -> None:
    """The asset_download job's notification: new creatives by kind and the failures; a run that
    stores nothing new (only the same 404 again) adds none."""
    from jobs import api
    from jobs.runs import execute_run

    await _three_images_two_videos(brand)
    missing = f"{str(brand.id.int)[:8]}03"

    async def run_job() -> list[tuple[str, str, str]]:
        run_id = await api.run_now(
            brand.db, job_type="asset_download", params={}, organization_id=brand.organization_id,
            brand_id=brand.id,
        )  # fmt: skip
        await execute_run(brand.db, brand.settings, run_id, attempt=1)
        async with brand.db.as_owner() as conn:
            cur = await conn.execute(
                "select type, title, message from notifications where organization_id = %s order by created_at",
                (brand.organization_id,),
            )
            return [(r["type"], r["title"], r["message"]) for r in await cur.fetchall()]

    async with brand.db.as_owner() as conn:
        cur = await conn.execute("select name from brands where id = %s", (brand.id,))
        row = await cur.fetchone()
    assert row is not None
    name = row["name"]
    expected = (
        "assets_downloaded",
        f"Creative download finished for {name}",
        f"Downloaded 6 new creatives for {name}: 4 images, 2 videos;"
        f" 1 failed (image of Ad {missing} ({missing}): HTTP 404).",
    )
    assert await run_job() == [expected]
    assert await run_job() == [expected]
