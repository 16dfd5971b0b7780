"""Template images into the library's pending queue, from files, folders or web addresses.

An import stores each image once: the sha256 of its bytes names it, so importing the same image
again changes nothing. Each item succeeds or is refused on its own, with a message that says why;
a refused item leaves nothing behind (its row and its files are stored together or not at all).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from uuid import UUID

import httpx
from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, ValidationError, computed_field

from core.errors import ExternalServiceError, InvalidArgument
from db.pool import Database
from services.platform.downloads import TooLarge, stream_to_file
from services.platform.public_fetch import PrivateAddress, public_client
from services.platform.storage import Storage, storage_for
from services.storable import unstorable
from services.templates.images import CONTENT_TYPES, NotAnImage, inspect_image, write_thumbnail
from settings import Settings

Progress = Callable[[str, float], None]
FORMATS = ("image", "carousel", "story", "video")
_FORMAT_ALIASES = {"static": "image", "single_image": "image", "reel": "video"}
MAX_BYTES = 10 * 1024 * 1024
MAX_ITEMS = 500  # per import
CONCURRENCY = 4
CHUNK_BYTES = 256 * 1024
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
FILE_DEADLINE = 120.0  # seconds for one download, however slowly it trickles in
SIDECARS = ("templates.json", "templates.csv")
_META_FIELDS = ("name", "category", "format", "tags", "source", "source_url", "description")


class TemplateMeta(BaseModel):
    """What a person says about templates (CLI options, or a folder's templates.json/.csv)."""

    name: str | None = None
    category: str | None = None
    format: str | None = None
    tags: list[str] = Field(default_factory=list)
    source: str | None = None
    source_url: str | None = None
    description: str | None = None

    def merged(self, override: TemplateMeta) -> TemplateMeta:
        given = override.model_dump(exclude_unset=True, exclude_defaults=True)
        return self.model_copy(update=given)


class ImportItem(BaseModel):
    ref: str
    """The file name or web address as given."""
    outcome: Literal["imported", "already_had", "refused"]
    message: str
    template_id: UUID | None = None


class ImportResult(BaseModel):
    imported: int = 0
    already_had: int = 0
    refused: int = 0
    items: list[ImportItem] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        text = f"Imported {self.imported} template(s) into the pending queue"
        if self.already_had:
            text += f"; {self.already_had} already in the library (unchanged)"
        if self.refused:
            text += f"; {self.refused} refused: " + "; ".join(
                i.message for i in self.items if i.outcome == "refused"
            )
        return text + "."


def normalise_meta(meta: TemplateMeta) -> TemplateMeta:
    """Categories as snake_case words, formats from the known list, tags trimmed and lower-cased."""
    update: dict[str, Any] = {"tags": list(dict.fromkeys(t.strip().lower() for t in meta.tags if t.strip()))}
    if meta.category:
        update["category"] = re.sub(r"[^a-z0-9]+", "_", meta.category.strip().lower()).strip("_") or None
    if meta.format:
        fmt = meta.format.strip().lower().replace("-", "_")
        fmt = _FORMAT_ALIASES.get(fmt, fmt)
        if fmt not in FORMATS:
            raise InvalidArgument(
                f"'{meta.format}' is not a template format; use one of: image (static), carousel, story, video."
            )
        update["format"] = fmt
    return meta.model_copy(update=update)


# --- import -------------------------------------------------------------------------------------


@dataclass
class _Source:
    ref: str
    meta: TemplateMeta
    url: str | None = None
    file: Path | None = None


class _Refused(Exception):
    """One item can't be imported; the message (with its name) says why."""


def _is_url(text: str) -> bool:
    return urlsplit(text).scheme in ("http", "https")


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"


def _limit(n: int) -> str:
    return f"{n / 1_048_576:g} MB"


def _sources(refs: list[str], defaults: TemplateMeta) -> tuple[list[_Source], list[ImportItem]]:
    """Each web address, file, or image of a folder (with its sidecar metadata), in the order given."""
    found: list[_Source] = []
    refused: list[ImportItem] = []
    for ref in refs:
        if _is_url(ref):
            found.append(_Source(ref=ref, meta=defaults, url=ref))
            continue
        path = Path(ref).expanduser()
        if path.is_dir():
            sidecar = _read_sidecar(path)
            for file in sorted(p for p in path.iterdir() if p.is_file()):
                if file.name.startswith(".") or file.name in SIDECARS:
                    continue
                said = sidecar.get(file.name, TemplateMeta())
                if isinstance(said, str):  # its metadata entry can't be used: refused on its own
                    refused.append(ImportItem(ref=file.name, outcome="refused", message=said))
                    continue
                found.append(_Source(ref=file.name, meta=defaults.merged(said), file=file))
        elif path.is_file():
            found.append(_Source(ref=ref, meta=defaults, file=path))
        else:
            message = f"{ref} is neither a file, a folder nor a web address (http:// or https://)"
            refused.append(ImportItem(ref=ref, outcome="refused", message=message))
    if len(found) > MAX_ITEMS:
        raise InvalidArgument(f"That is {len(found)} images; import at most {MAX_ITEMS} at a time.")
    return found, refused


def _read_sidecar(folder: Path) -> dict[str, TemplateMeta | str]:
    """`templates.json` (a list of objects with "file", or an object keyed by file name) or
    `templates.csv` (a `file` column), each with name, category, format, tags, source, description.
    An entry that can't be used gives, for its file, why (that image is refused, the others go on)."""
    entries: list[dict[str, Any]] = []
    json_file, csv_file = folder / SIDECARS[0], folder / SIDECARS[1]
    try:
        if json_file.exists():
            data = json.loads(json_file.read_text())
            if isinstance(data, dict):
                data = [
                    {"file": name, **(value if isinstance(value, dict) else {})}
                    for name, value in data.items()
                ]
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise InvalidArgument(f'{json_file} must hold a list of objects, each with a "file".')
            entries = data
        elif csv_file.exists():
            with csv_file.open(newline="") as handle:
                entries = [dict(row) for row in csv.DictReader(handle)]
    except RecursionError:
        raise InvalidArgument(
            f'{json_file} is nested too deeply to read: give a list of objects, each with a "file".'
        ) from None
    except (ValueError, UnicodeDecodeError, csv.Error) as error:  # JSONDecodeError is a ValueError
        raise InvalidArgument(f"Couldn't read the metadata file in {folder}: {error}.") from error
    out: dict[str, TemplateMeta | str] = {}
    for n, entry in enumerate(entries, start=1):
        name = str(entry.get("file") or "").strip()
        if not name:
            raise InvalidArgument(f'Entry {n} of the metadata file in {folder} has no "file".')
        try:
            out[name] = _entry_meta(entry)
        except (InvalidArgument, ValidationError) as error:
            why = error.message if isinstance(error, InvalidArgument) else _first_problem(error)
            out[name] = f"{name} was not imported: in the metadata file, {why}"
    return out


def _entry_meta(entry: dict[str, Any]) -> TemplateMeta:
    tags = entry.get("tags") or []
    if isinstance(tags, str):
        tags = re.split(r"[;,]", tags)
    if not isinstance(tags, list):
        raise InvalidArgument("tags must be a list or a comma-separated text")
    values = {k: entry[k] for k in _META_FIELDS if entry.get(k) not in (None, "") and k != "tags"}
    for key, value in [*values.items(), *(("tags", t) for t in tags)]:
        if isinstance(value, str) and (why := unstorable(value)) is not None:
            raise InvalidArgument(f"{key} contains {why}, which can't be stored")
    return normalise_meta(TemplateMeta(**values, tags=[str(t) for t in tags]))


def _first_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{'.'.join(str(part) for part in first['loc'])} must be text"


async def import_templates(
    db: Database,
    *,
    refs: list[str],
    settings: Settings,
    meta: TemplateMeta | None = None,
    progress: Progress | None = None,
    max_bytes: int = MAX_BYTES,
    storage: Storage | None = None,
) -> ImportResult:
    """Import images (files, folders' images, web addresses) into the pending queue. Each item is
    imported, found already in the library (nothing changes), or refused with the reason."""
    if not refs:
        raise InvalidArgument("Give at least one image file, folder or web address to import.")
    defaults = normalise_meta(meta or TemplateMeta())
    sources, refused = await asyncio.to_thread(_sources, refs, defaults)
    storage = storage or storage_for(settings)
    items: list[ImportItem | None] = [None] * len(sources)
    gate = asyncio.Semaphore(CONCURRENCY)
    done = 0
    http = public_client(
        allow_private=settings.fetch_private_addresses, timeout=TIMEOUT, follow_redirects=True
    )
    async with http:

        async def one(i: int, source: _Source) -> None:
            nonlocal done
            async with gate:
                try:
                    async with asyncio.timeout(FILE_DEADLINE):
                        items[i] = await _import_one(db, http, storage, source, max_bytes)
                except _Refused as error:
                    items[i] = ImportItem(ref=source.ref, outcome="refused", message=str(error))
                except TimeoutError:
                    message = f"{source.ref} took longer than {FILE_DEADLINE:.0f} s to download"
                    items[i] = ImportItem(ref=source.ref, outcome="refused", message=message)
            done += 1
            if progress is not None:
                progress(f"{done} of {len(sources)}: {source.ref}", done / len(sources))

        await asyncio.gather(*(one(i, s) for i, s in enumerate(sources)))
    result = ImportResult(items=[*(item for item in items if item is not None), *refused])
    for item in result.items:
        setattr(result, item.outcome, getattr(result, item.outcome) + 1)
    return result


async def _import_one(
    db: Database, http: httpx.AsyncClient, storage: Storage, source: _Source, max_bytes: int
) -> ImportItem:
    handle, name = tempfile.mkstemp(dir=storage.staging, suffix=".part")
    os.close(handle)
    staged, thumb = Path(name), Path(name + ".thumb.png")
    try:
        if source.url is not None:
            digest = await _download(http, source.url, staged, max_bytes)
        else:
            digest = await asyncio.to_thread(_copy_file, source, staged, max_bytes)
        try:
            facts = await asyncio.to_thread(inspect_image, staged)
            await asyncio.to_thread(write_thumbnail, staged, thumb)
        except NotAnImage as error:
            raise _Refused(f"{source.ref} {error}") from error
        path = f"templates/{digest[:2]}/{digest}{facts.extension}"
        thumbnail_path = f"templates/{digest[:2]}/{digest}.thumb.png"
        meta = source.meta
        row = {
            "name": meta.name or _name_from(source.ref), "category": meta.category, "format": meta.format,
            "tags": Jsonb(meta.tags), "source": meta.source or ("web" if source.url else "upload"),
            "source_url": meta.source_url or source.url, "description": meta.description,
            "image_path": path, "thumbnail_path": thumbnail_path, "sha256": digest,
            "content_type": facts.content_type, "bytes": staged.stat().st_size, "width": facts.width,
            "height": facts.height,
        }  # fmt: skip
        async with db.as_service() as conn:
            cur = await conn.execute(
                "insert into scraped_templates (status, name, category, format, tags, source, source_url,"
                " description, image_path, thumbnail_path, sha256, content_type, bytes, width, height)"
                " values ('pending', %(name)s, %(category)s, %(format)s, %(tags)s, %(source)s, %(source_url)s,"
                " %(description)s, %(image_path)s, %(thumbnail_path)s, %(sha256)s, %(content_type)s,"
                " %(bytes)s, %(width)s, %(height)s)"
                " on conflict (sha256) do nothing returning id",
                row,
            )
            new = await cur.fetchone()
            if new is not None:
                item = ImportItem(
                    ref=source.ref, outcome="imported", message=f"{source.ref}: pending review",
                    template_id=new["id"],
                )  # fmt: skip
            else:
                cur = await conn.execute(
                    "select id, name, status, image_path, thumbnail_path from scraped_templates"
                    " where sha256 = %s",
                    (digest,),
                )
                old = await cur.fetchone()
                assert old is not None
                path, thumbnail_path = old["image_path"] or path, old["thumbnail_path"] or thumbnail_path
                message = f"{source.ref} is already in the library as '{old['name']}' ({old['status']})"
                item = ImportItem(
                    ref=source.ref, outcome="already_had", message=message, template_id=old["id"]
                )
            # Inside the transaction: if storing fails, the row is rolled back with it.
            if not await storage.has(path):
                await storage.put(path, staged, facts.content_type)
            if not await storage.has(thumbnail_path):
                await storage.put(thumbnail_path, thumb, "image/png")
        return item
    finally:
        staged.unlink(missing_ok=True)
        thumb.unlink(missing_ok=True)


def _copy_file(source: _Source, staged: Path, max_bytes: int) -> str:
    assert source.file is not None
    size = source.file.stat().st_size
    if size > max_bytes:
        raise _Refused(f"{source.ref} is {_mb(size)}; the limit is {_limit(max_bytes)}")
    digest = hashlib.sha256()
    with source.file.open("rb") as src, staged.open("wb") as out:
        while chunk := src.read(CHUNK_BYTES):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


async def _download(http: httpx.AsyncClient, url: str, staged: Path, max_bytes: int) -> str:
    limit = _limit(max_bytes)
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise _Refused(f"{url} could not be fetched: HTTP {response.status_code}")
            content_type = (response.headers.get("content-type") or "").split(";")[0].strip().lower()
            if content_type not in CONTENT_TYPES.values():
                raise _Refused(f"{url} is not an image ({content_type or 'no content type given'})")
            try:
                sha256, _ = await stream_to_file(response, staged, max_bytes)
            except TooLarge as error:
                if error.declared:
                    raise _Refused(f"{url} is {_mb(error.size)}; the limit is {limit}") from None
                raise _Refused(f"{url} is larger than the {limit} limit") from None
    except PrivateAddress as error:
        raise _Refused(error.said_of(url)) from None
    except ExternalServiceError as error:  # the host does not resolve
        raise _Refused(error.message.removesuffix(".")) from None
    except httpx.InvalidURL as error:  # not an HTTPError: e.g. an octal address, 0177.0.0.1
        raise _Refused(f"{url} is not a web address that can be read ({error})") from None
    except httpx.HTTPError as error:
        raise _Refused(f"{url} could not be fetched: {error or type(error).__name__}") from error
    return sha256


def _name_from(ref: str) -> str:
    stem = Path(unquote(urlsplit(ref).path) if _is_url(ref) else ref).stem
    words = re.sub(r"[-_]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else "Untitled template"
