"""Where files live: a local folder in the embedded default, a Supabase Storage bucket in production."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from core.errors import ConfigurationError, ExternalServiceError
from services.platform.server_files import PRIVATE_FILE, private_dir
from settings import Settings


class Storage(Protocol):
    """Where files live. Local folder in the embedded default; Supabase Storage is the production seam."""

    @property
    def staging(self) -> Path:
        """A folder for downloads in progress (handed to `put` when complete)."""
        ...

    async def has(self, path: str) -> bool: ...

    async def put(self, path: str, staged: Path, content_type: str | None) -> None:
        """Store the staged file at `path` (the staged file is consumed)."""
        ...

    async def read(self, path: str) -> bytes:
        """The stored file's bytes (`FileNotFoundError` when there is none)."""
        ...

    def locate(self, path: str) -> str:
        """Where the stored file can be opened: a local file path here; a URL for remote storage."""
        ...


@dataclass(frozen=True)
class LocalStorage:
    root: Path

    @property
    def staging(self) -> Path:
        return private_dir(self.root / ".staging")

    async def has(self, path: str) -> bool:
        return await asyncio.to_thread((self.root / path).is_file)

    async def put(self, path: str, staged: Path, content_type: str | None) -> None:
        target = self.root / path

        def move() -> None:
            private_dir(target.parent)
            os.chmod(staged, PRIVATE_FILE)  # staged by a library that may follow the umask (thumbnails)
            os.replace(staged, target)  # same filesystem: atomic, never a half-written file

        await asyncio.to_thread(move)

    async def read(self, path: str) -> bytes:
        return await asyncio.to_thread((self.root / path).read_bytes)

    def locate(self, path: str) -> str:
        return str(self.root / path)


@dataclass
class SupabaseStorage:
    """A Supabase Storage bucket through the supabase client (with the service role key: writes
    bypass Storage's policies, as jobs do). Downloads are staged locally, then uploaded; `locate`
    gives the object's public URL (the bucket is public-read: paths carry unguessable ids and
    content hashes, and the chat's browser loads images from it)."""

    url: str
    key: SecretStr = field(repr=False)
    bucket: str
    staging_root: Path

    @property
    def staging(self) -> Path:
        return private_dir(self.staging_root / ".staging")

    async def has(self, path: str) -> bool:
        return bool(await self._call("check", path, lambda files: files.exists(path)))

    async def put(self, path: str, staged: Path, content_type: str | None) -> None:
        options = {"content-type": content_type or "application/octet-stream", "upsert": "true"}
        await self._call("store", path, lambda files: files.upload(path, staged, options))
        await asyncio.to_thread(staged.unlink, missing_ok=True)

    async def read(self, path: str) -> bytes:
        return bytes(await self._call("read", path, lambda files: files.download(path)))

    def locate(self, path: str) -> str:
        return f"{self.url.rstrip('/')}/storage/v1/object/public/{self.bucket}/{quote(path)}"

    async def _call(self, what: str, path: str, action: Callable[[Any], Awaitable[Any]]) -> Any:
        """One Storage request through the supabase client, on an HTTP client closed right after (a
        kept connection would outlive the event loop of whoever asked)."""
        from storage3.exceptions import StorageApiError
        from supabase import AsyncClientOptions, acreate_client

        try:
            # Our own HTTP client also spares storage3's deprecation warning for the `timeout` the
            # supabase client passes it by default.
            async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=10.0)) as http:
                options = AsyncClientOptions(httpx_client=http)
                client = await acreate_client(self.url, self.key.get_secret_value(), options=options)
                return await action(client.storage.from_(self.bucket))
        except StorageApiError as error:
            if str(error.status) == "404" and what == "read":
                raise FileNotFoundError(path) from None
            raise ExternalServiceError(
                f"Supabase Storage could not {what} {path} in bucket '{self.bucket}': {error.message}"
            ) from None
        except httpx.HTTPError as error:
            raise ExternalServiceError(
                f"Supabase Storage could not be reached ({type(error).__name__})."
            ) from None


def storage_for(settings: Settings) -> Storage:
    """Where files live: a Supabase Storage bucket when `VIRALTRACKER_STORAGE_BUCKET` is set (several
    machines share it), else `$VIRALTRACKER_HOME/assets`."""
    local = settings.viraltracker_home / "assets"
    if not settings.storage_bucket:
        return LocalStorage(local)
    if not settings.supabase_url or settings.supabase_service_role_key is None:
        raise ConfigurationError(
            "VIRALTRACKER_STORAGE_BUCKET needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY (the project's"
            " service role key: files are written by the app and its jobs)."
        )
    return SupabaseStorage(
        settings.supabase_url, settings.supabase_service_role_key, settings.storage_bucket, local
    )
