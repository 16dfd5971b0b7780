"""Files in a Supabase Storage bucket (production: several machines share it) through the real
supabase client, against a fake of the Storage API; and the local folder (the embedded default)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from core.errors import ConfigurationError, ExternalServiceError
from db.pool import Database
from fakes.supabase_storage import FakeSupabaseStorage
from services.platform.storage import LocalStorage, SupabaseStorage, storage_for
from services.templates.importing import import_templates
from settings import Settings

KEY = "service-role-" + uuid.uuid4().hex


@pytest.fixture
def fake() -> Iterator[FakeSupabaseStorage]:
    with FakeSupabaseStorage(key=KEY) as storage:
        yield storage


def _settings(tmp_path: Path, url: str | None, **extra: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        VIRALTRACKER_HOME=tmp_path,
        SUPABASE_URL=url,
        SUPABASE_SERVICE_ROLE_KEY=extra.get("key", KEY),
        VIRALTRACKER_STORAGE_BUCKET=extra.get("bucket", "assets"),
    )


def test_the_local_folder_is_the_default_and_a_bucket_needs_its_keys(tmp_path: Path) -> None:
    assert isinstance(storage_for(Settings(VIRALTRACKER_HOME=tmp_path)), LocalStorage)  # type: ignore[call-arg]
    settings = Settings(VIRALTRACKER_HOME=tmp_path, VIRALTRACKER_STORAGE_BUCKET="assets")  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match="needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY"):
        storage_for(settings)


async def test_files_go_to_the_bucket_and_come_back(tmp_path: Path, fake: FakeSupabaseStorage) -> None:
    storage = storage_for(_settings(tmp_path, fake.url))
    assert isinstance(storage, SupabaseStorage)
    staged = storage.staging / "upload.part"
    staged.write_bytes(b"\x89PNG fake bytes")
    path = f"org-{uuid.uuid4().hex}/ad 1.png"
    assert not await storage.has(path)
    await storage.put(path, staged, "image/png")
    assert not staged.exists()  # consumed, as the local storage does
    assert await storage.has(path)
    assert await storage.read(path) == b"\x89PNG fake bytes"
    assert fake.objects["assets", path].content_type == "image/png"
    # The chat's browser loads it from its public URL.
    async with httpx.AsyncClient() as http:
        served = await http.get(storage.locate(path))
    assert served.status_code == 200 and served.content == b"\x89PNG fake bytes"
    # Storing the same path again replaces it (re-runs are idempotent).
    staged.write_bytes(b"new")
    await storage.put(path, staged, "image/png")
    assert await storage.read(path) == b"new"
    with pytest.raises(FileNotFoundError):
        await storage.read("nothing/here.png")


async def test_a_refused_key_or_missing_bucket_is_a_clear_error(
    tmp_path: Path, fake: FakeSupabaseStorage
) -> None:
    wrong = storage_for(_settings(tmp_path, fake.url, key="not-the-key"))
    with pytest.raises(
        ExternalServiceError, match=r"Supabase Storage could not check a\.png in bucket 'assets'"
    ):
        await wrong.has("a.png")
    missing = storage_for(_settings(tmp_path, fake.url, bucket="nope"))
    with pytest.raises(ExternalServiceError, match=r"bucket 'nope'.*Bucket not found"):
        await missing.has("a.png")
    assert KEY not in repr(storage_for(_settings(tmp_path, fake.url)))


async def test_imported_templates_land_in_the_bucket(
    db: Database, tmp_path: Path, fake: FakeSupabaseStorage
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    image = Image.new("RGB", (64, 48), (200, 40, 90))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    (folder / f"bucket-{uuid.uuid4().hex}.png").write_bytes(buffer.getvalue())
    settings = _settings(tmp_path / "home", fake.url)
    result = await import_templates(db, refs=[str(folder)], settings=settings)
    assert result.imported == 1, result.summary
    stored = [data for (bucket, _), data in fake.objects.items() if bucket == "assets"]
    assert buffer.getvalue() in [s.data for s in stored]  # the image itself, byte for byte
    assert not any((tmp_path / "home" / "assets").rglob("*.png"))  # nothing kept locally
    async with db.as_service() as conn:
        await conn.execute("delete from scraped_templates where id = %s", (result.items[0].template_id,))
