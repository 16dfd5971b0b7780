"""Ad media (thumbnails and videos) kept in storage, for the brand's biggest spenders first.

Streamed to a staging file (never a whole video in memory) with a size cap, a timeout and a
sha256, then handed to the storage; `ad_assets` records what is stored. Idempotent: media already
stored (same media, file present) is counted, not fetched again. A video's file comes from Meta
(`GET /{video_id}?fields=source`) with the brand's own connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

import httpx
from pydantic import BaseModel, Field, computed_field

from core.errors import ExternalServiceError, NotFound, UserFacingError
from db.pool import Database
from services.meta.api import MetaClient
from services.meta.connections import connections_for
from services.meta.media import url_identity
from services.models import BrandRef
from services.platform.downloads import TooLarge, stream_to_file
from services.platform.public_fetch import PrivateAddress, public_client
from services.platform.storage import Storage, storage_for
from settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
Kind = Literal["image", "video"]
IMAGE_MAX_BYTES = 20 * 1024 * 1024
VIDEO_MAX_BYTES = 512 * 1024 * 1024
CHUNK_BYTES = 256 * 1024
CONCURRENCY = 4  # files at a time
WRITE_BATCH = 50  # stored files recorded per transaction (one commit per file was most of a thumbnail's time)
FILE_DEADLINE = 600.0  # seconds for one file, however slowly it trickles in
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
MAX_ERROR_SAMPLES = 5
VIDEO_IDS_PER_CALL = 50  # Graph's limit for `?ids=`
_EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
               "video/mp4": ".mp4", "video/quicktime": ".mov", "video/webm": ".webm"}  # fmt: skip

_ADS_SQL = """
select a.meta_ad_id, a.name, a.format, a.thumbnail_url, a.video_id, a.video_url,
       img.media_key as image_key, img.path as image_path, vid.media_key as video_key, vid.path as video_path
from meta_ads a
left join ad_assets img on img.meta_ad_id = a.meta_ad_id and img.kind = 'image'
left join ad_assets vid on vid.meta_ad_id = a.meta_ad_id and vid.kind = 'video'
left join lateral (select s.spend_cents from meta_ads_cumulative s where s.meta_ad_id = a.meta_ad_id
                   order by s.date desc limit 1) spend on true
where a.brand_id = %s
order by coalesce(spend.spend_cents, 0) desc, a.meta_ad_id
"""
_UPSERT = """
insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url, path, content_type,
  bytes, sha256)
values (%(meta_ad_id)s, %(brand_id)s, %(organization_id)s, %(kind)s, %(media_key)s, %(source_url)s, %(path)s,
  %(content_type)s, %(bytes)s, %(sha256)s)
on conflict (meta_ad_id, kind) do update set media_key = excluded.media_key, source_url = excluded.source_url,
  path = excluded.path, content_type = excluded.content_type, bytes = excluded.bytes, sha256 = excluded.sha256,
  fetched_at = now()
"""


class AssetResult(BaseModel):
    brand: str
    downloaded: int = 0
    images: int = 0
    """Of `downloaded`, images (thumbnails); the rest are videos."""
    videos: int = 0
    already_had: int = 0
    failed: int = 0
    skipped_over_limit: int = 0
    skipped: int = 0
    bytes: int = 0
    """Bytes downloaded by this run."""
    skip_reasons: dict[str, int] = Field(default_factory=dict)
    error_samples: list[str] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        text = (
            f"Downloaded {self.downloaded} files for {self.brand} ({self.bytes / 1_048_576:,.1f} MB);"
            f" {self.already_had} already stored"
        )
        if self.skipped_over_limit:
            text += f"; {self.skipped_over_limit} over this run's limits (smaller spenders)"
        if self.skipped:
            text += "; " + ", ".join(f"{n} skipped: {why}" for why, n in sorted(self.skip_reasons.items()))
        text += "."
        if self.failed:
            text += f" {self.failed} failed: " + "; ".join(self.error_samples) + "."
        return text


@dataclass
class _Wanted:
    meta_ad_id: str
    name: str
    kind: Kind
    media_key: str
    url: str | None  # None: a video whose source Meta gives
    video_id: str | None = None


class _Failed(Exception):
    """One file could not be stored; the message says why."""


def _placeholder(url: str) -> bool:
    return (urlsplit(url).hostname or "").endswith(".invalid")  # RFC 2606: never resolves (demo data)


async def download_brand_assets(
    db: Database,
    *,
    brand_id: UUID,
    settings: Settings,
    progress: Progress | None = None,
    max_videos: int = 20,
    max_images: int = 200,
    image_max_bytes: int = IMAGE_MAX_BYTES,
    video_max_bytes: int = VIDEO_MAX_BYTES,
    storage: Storage | None = None,
) -> AssetResult:
    """Store the thumbnails of the brand's top `max_images` ads and the videos of its top `max_videos`
    video ads (by spend); count what was already stored, what failed and what was over the limits."""
    storage = storage or storage_for(settings)
    async with db.as_service() as conn:
        cur = await conn.execute("select id, name, organization_id from brands where id = %s", (brand_id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound(f"No brand with id {brand_id}.")
        brand = BrandRef(**row)
        cur = await conn.execute(_ADS_SQL, (brand_id,))
        ads = await cur.fetchall()
    result = AssetResult(brand=brand.name)
    skips: Counter[str] = Counter()
    wanted: list[_Wanted] = []
    counts = {"image": 0, "video": 0}
    for ad in ads:
        media: list[tuple[Kind, str | None, str | None]] = [
            ("image", ad["thumbnail_url"], None),
            ("video", ad["video_url"], ad["video_id"]),
        ]
        for kind, url, video_id in media:
            if not (url or video_id) or (kind == "video" and ad["format"] != "video"):
                continue
            if url and _placeholder(url):
                skips["placeholder URL (demo data)"] += 1
                continue
            if counts[kind] >= (max_images if kind == "image" else max_videos):
                result.skipped_over_limit += 1
                continue
            counts[kind] += 1
            key = f"video:{video_id}" if video_id else url_identity(url or "")
            path = ad[f"{kind}_path"]
            if ad[f"{kind}_key"] == key and path and await storage.has(path):
                result.already_had += 1
                continue
            wanted.append(
                _Wanted(ad["meta_ad_id"], ad["name"], kind, key, None if video_id else url, video_id)
            )
    if any(w.url is None for w in wanted):
        wanted = await _video_sources(db, brand, settings, wanted, skips)
    result.skipped, result.skip_reasons = sum(skips.values()), dict(skips)
    http = public_client(
        allow_private=settings.fetch_private_addresses, timeout=TIMEOUT, follow_redirects=True
    )
    async with http:
        await _download_all(
            db, http, brand, storage, wanted, result, progress, image_max_bytes, video_max_bytes
        )
    return result


ON_DEMAND_SECONDS = 15.0
"""A person is waiting: an ad image fetched at question time gets this long."""


async def fetch_ad_image(
    db: Database, *, brand: BrandRef, meta_ad_id: str, settings: Settings, storage: Storage | None = None
) -> tuple[str, str] | None:
    """Store one ad's thumbnail now, for a question about it (`deep_analysis`) when the asset downloads
    have not: (storage path, content type), or None when the ad has no fetchable thumbnail or the fetch
    fails (logged; the question is answered on the ad's facts alone)."""
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select name, thumbnail_url from meta_ads where meta_ad_id = %s and brand_id = %s",
            (meta_ad_id, brand.id),
        )
        ad = await cur.fetchone()
    url = ad["thumbnail_url"] if ad else None
    if ad is None or not url or _placeholder(url):
        return None
    storage = storage or storage_for(settings)
    item = _Wanted(meta_ad_id, ad["name"], "image", url_identity(url), url)
    try:
        http = public_client(
            allow_private=settings.fetch_private_addresses, timeout=TIMEOUT, follow_redirects=True
        )
        async with http:
            async with asyncio.timeout(ON_DEMAND_SECONDS):
                record = await _fetch(http, storage, brand, item, IMAGE_MAX_BYTES)
    except (_Failed, TimeoutError, httpx.HTTPError) as error:
        log.info("image of ad %s not fetched: %s", meta_ad_id, str(error) or type(error).__name__)
        return None
    async with db.as_service() as conn:
        await conn.execute(_UPSERT, record)
    return record["path"], record["content_type"] or "application/octet-stream"


async def _video_sources(
    db: Database, brand: BrandRef, settings: Settings, wanted: list[_Wanted], skips: Counter[str]
) -> list[_Wanted]:
    """Each video's file URL from Meta (the brand's first connection); without one, videos are skipped."""
    try:
        async with db.as_service() as conn:
            connection = (await connections_for(conn, brand, settings))[0]
    except UserFacingError:
        videos = [w for w in wanted if w.url is None]
        skips["videos need a Meta connection to fetch"] += len(videos)
        return [w for w in wanted if w.url is not None]
    client = MetaClient(token=connection.token, graph_url=settings.meta_graph_url)
    videos = [item for item in wanted if item.url is None and item.video_id]
    for start in range(0, len(videos), VIDEO_IDS_PER_CALL):
        batch = videos[start : start + VIDEO_IDS_PER_CALL]
        ids = {str(item.video_id) for item in batch}
        try:  # Graph reads up to 50 nodes in one call (`?ids=`): 1 call per 50 videos, not 50
            found = await asyncio.to_thread(
                client.get, (), {"ids": ",".join(sorted(ids)), "fields": "source"}
            )
        except UserFacingError:
            found = None  # one unreadable video fails the whole call: then each on its own, to say which
        for item in batch:
            if found is not None:
                body = found.get(str(item.video_id))
            else:
                try:
                    body = await asyncio.to_thread(client.get, (str(item.video_id),), {"fields": "source"})
                except UserFacingError as error:
                    item.url = f"error:{error.message}"
                    continue
            source = body.get("source") if isinstance(body, dict) else None
            item.url = source if isinstance(source, str) else "error:Meta gave no file for this video"
    return wanted


async def _download_all(
    db: Database,
    http: httpx.AsyncClient,
    brand: BrandRef,
    storage: Storage,
    wanted: list[_Wanted],
    result: AssetResult,
    progress: Progress | None,
    image_max_bytes: int,
    video_max_bytes: int,
) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0
    stored: list[dict[str, Any]] = []

    async def record_stored() -> None:
        """Write the stored files' rows in one transaction (a file whose row is lost to a crash is
        fetched again by the next run, to the same path)."""
        batch = stored[:]
        del stored[:]
        if not batch:
            return
        async with db.as_service() as conn, conn.cursor() as cur:
            await cur.executemany(_UPSERT, batch)
        for record in batch:
            result.downloaded += 1
            result.images += record["kind"] == "image"
            result.videos += record["kind"] == "video"
            result.bytes += int(record["bytes"])

    async def one(item: _Wanted) -> None:
        nonlocal done
        cap = image_max_bytes if item.kind == "image" else video_max_bytes
        async with gate:
            try:
                async with asyncio.timeout(FILE_DEADLINE):
                    stored.append(await _fetch(http, storage, brand, item, cap))
                if len(stored) >= WRITE_BATCH:
                    await record_stored()
            except (_Failed, TimeoutError, httpx.HTTPError) as error:
                result.failed += 1
                why = str(error) or type(error).__name__
                if len(result.error_samples) < MAX_ERROR_SAMPLES:
                    result.error_samples.append(f"{item.kind} of {item.name} ({item.meta_ad_id}): {why}")
        done += 1
        if progress is not None:
            progress(f"Stored {done} of {len(wanted)} files for {brand.name}", done / len(wanted))

    await asyncio.gather(*(one(item) for item in wanted))
    await record_stored()


@asynccontextmanager
async def _public_stream(http: httpx.AsyncClient, url: str) -> AsyncIterator[httpx.Response]:
    """The response, or _Failed when the address (or a redirect's) is not public or does not resolve."""
    try:
        async with http.stream("GET", url) as response:
            yield response
    except PrivateAddress as error:
        raise _Failed(error.said_of(url)) from None
    except ExternalServiceError as error:
        raise _Failed(error.message.removesuffix(".")) from None
    except httpx.InvalidURL as error:  # not an HTTPError: e.g. an octal address, 0177.0.0.1
        raise _Failed(f"not a web address that can be read ({error})") from None


async def _fetch(
    http: httpx.AsyncClient, storage: Storage, brand: BrandRef, item: _Wanted, cap: int
) -> dict[str, Any]:
    url = item.url or ""
    if url.startswith("error:"):
        raise _Failed(url.removeprefix("error:"))
    if urlsplit(url).scheme not in ("http", "https"):
        raise _Failed(f"not a web address: {url[:80]}")
    handle, name = tempfile.mkstemp(dir=storage.staging, suffix=".part")
    os.close(handle)
    staged = Path(name)
    try:
        async with _public_stream(http, url) as response:
            if response.status_code != 200:
                raise _Failed(f"HTTP {response.status_code}")
            content_type = (response.headers.get("content-type") or "").split(";")[0].strip() or None
            try:
                sha256, size = await stream_to_file(response, staged, cap)
            except TooLarge as error:
                over = f"{error.size:,} bytes, over" if error.declared else "over"
                raise _Failed(f"{over} the {cap:,}-byte cap") from None
        suffix = _EXTENSIONS.get(content_type or "") or Path(urlsplit(url).path).suffix[:6] or ".bin"
        path = f"{brand.organization_id}/{brand.id}/{item.meta_ad_id}/{item.kind}{suffix}"
        await storage.put(path, staged, content_type)
    finally:
        staged.unlink(missing_ok=True)
    return {
        "meta_ad_id": item.meta_ad_id, "brand_id": brand.id, "organization_id": brand.organization_id,
        "kind": item.kind, "media_key": item.media_key, "source_url": url, "path": path,
        "content_type": content_type, "bytes": size, "sha256": sha256,
    }  # fmt: skip
