"""A video ad classified from what the model can see of it (`answer_checks` for what it must pass).

Gemini watches the downloaded video: inline (`video/mp4` bytes in the request) up to
`GEMINI_INLINE_VIDEO_MAX_BYTES`, else through the Files API (uploaded, polled until ACTIVE, referenced
by its URI, deleted afterwards). Claude sees keyframes (0, 1, 2, 3 s and scene changes) as images and
no transcript. Other models, and video ads whose video is not downloaded, read the copy and thumbnail.
Each analysis reports the video's length and the tokens used (the cost ledger, `video_analyses`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import BaseModel
from pydantic_ai import BinaryContent, ImageUrl, UploadedFile, UserContent
from pydantic_ai.models import Model

from services.creative.ad_classifier import (
    AdClassification,
    AdInput,
    AnswerRefused,
    Checks,
    classify_with_model,
)
from services.creative.answer_checks import Seen
from services.creative.video_frames import UnreadableVideo, duration_seconds, frames_at, keyframes
from services.llm.model_choice import model_name
from services.platform.storage import Storage

log = logging.getLogger(__name__)

VIDEO_TIMEOUT = 600.0
"""Seconds for one video's analysis, upload and retries included."""
FILES_API_WAIT = 300.0
"""Seconds to wait for an uploaded video to become ACTIVE (Gemini processes it first)."""
FIRST_POLL = 0.05  # doubles up to 5 s: a short video is ready at the first or second look


class Analysis(BaseModel):
    """One ad's classification and what it cost."""

    classification: AdClassification
    seen: Seen | None
    """For a video ad: what the model saw of it; None for other formats."""
    delivery: str | None = None
    """How the video went to the model: inline, files_api or frames."""
    media_seconds: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0


class AnalysisFailed(Exception):
    """The video could not be analysed, or its answer failed the checks twice; `reason` says which."""

    def __init__(
        self, reason: str, *, seen: Seen, delivery: str | None, seconds: float, tokens: tuple[int, int]
    ):
        super().__init__(reason)
        self.reason = reason
        self.seen = seen
        self.delivery = delivery
        self.seconds = seconds
        self.tokens = tokens


class OverCap(Exception):
    """The organization's video minutes for the month are used up; the message says so."""


Budget = Callable[[float], str | None]
"""Takes a video's seconds from the month's allowance: None when granted, else the refusal message."""


def what_it_sees(model: Model | str) -> Seen:
    name = model_name(model)
    if name.startswith(("google", "gemini")):
        return "video"
    return "frames" if name.startswith("anthropic") else "copy"


@asynccontextmanager
async def _local_video(storage: Storage, path: str) -> AsyncIterator[Path]:
    """The stored video as a local file: in place for local storage, else a staged copy."""
    local = Path(storage.locate(path))
    if await asyncio.to_thread(local.is_file):
        yield local
        return
    data = await storage.read(path)
    handle, name = tempfile.mkstemp(dir=storage.staging, suffix=".mp4")
    staged = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            await asyncio.to_thread(out.write, data)
        yield staged
    finally:
        staged.unlink(missing_ok=True)


async def analyse_ad(
    ad: AdInput, *, model: Model | str, storage: Storage, inline_max_bytes: int, budget: Budget
) -> Analysis:
    """The ad classified from its video (or keyframes) when the model can take it and the video is
    downloaded, else from its copy and thumbnail. Raises `OverCap` before any model call when the month's
    minutes are used up, `AnalysisFailed` when the video cannot be read or the answer fails the checks."""
    seen = what_it_sees(model) if ad.format == "video" and ad.video_path else "copy"
    if seen == "copy" or ad.video_path is None:
        answer, tokens = await classify_with_model(ad, model=model)
        return Analysis(
            classification=answer, seen="copy" if ad.format == "video" else None,
            input_tokens=tokens[0], output_tokens=tokens[1],
        )  # fmt: skip
    async with _local_video(storage, ad.video_path) as path:
        try:
            seconds = await asyncio.to_thread(duration_seconds, path)
        except UnreadableVideo as error:
            raise AnalysisFailed(str(error), seen=seen, delivery=None, seconds=0.0, tokens=(0, 0)) from None
        if (refusal := budget(seconds)) is not None:
            raise OverCap(refusal)
        checks = Checks(duration=seconds, seen=seen)
        async with asyncio.timeout(VIDEO_TIMEOUT):
            if seen == "video":
                return await _watch(ad, model, storage, path, seconds, checks, inline_max_bytes)
            return await _look(ad, model, storage, path, seconds, checks)


async def _thumbnail(ad: AdInput, storage: Storage) -> list[UserContent]:
    """The ad's stored thumbnail (from the asset downloads), else its https address, else nothing."""
    if ad.thumbnail_path and ad.thumbnail_content_type:
        try:
            return [
                BinaryContent(
                    data=await storage.read(ad.thumbnail_path), media_type=ad.thumbnail_content_type
                )
            ]
        except OSError:  # gone from storage: the address, as before the downloads
            pass
    return (
        [ImageUrl(url=ad.thumbnail_url)]
        if ad.thumbnail_url and ad.thumbnail_url.startswith("https://")
        else []
    )


async def _ask(
    ad: AdInput, model: Model | str, content: list[UserContent], checks: Checks, delivery: str, seconds: float
) -> Analysis:
    try:
        answer, tokens = await classify_with_model(
            ad, model=model, content=content, checks=checks, time_limit=VIDEO_TIMEOUT
        )
    except AnswerRefused as refused:
        reason = f"its analysis failed our checks twice: {refused.reason}"
        raise AnalysisFailed(
            reason, seen=checks.seen, delivery=delivery, seconds=seconds, tokens=refused.tokens
        ) from None
    return Analysis(
        classification=answer, seen=checks.seen, delivery=delivery, media_seconds=seconds,
        input_tokens=tokens[0], output_tokens=tokens[1],
    )  # fmt: skip


async def _watch(
    ad: AdInput, model: Model | str, storage: Storage, path: Path, seconds: float, checks: Checks,
    inline_max_bytes: int,
) -> Analysis:  # fmt: skip
    """Gemini: the video inline when small, else uploaded through the Files API and deleted after."""
    mime = ad.video_content_type or "video/mp4"
    mime = mime if mime.startswith("video/") else "video/mp4"
    told = ad.describe(
        f"the video itself ({seconds:.1f} s long) is attached, with its thumbnail when available."
    )
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    if size <= inline_max_bytes or not isinstance(model, Model):
        data = await asyncio.to_thread(path.read_bytes)
        content = [told, BinaryContent(data=data, media_type=mime), *await _thumbnail(ad, storage)]
        return await _ask(ad, model, content, checks, "inline", seconds)
    client = model.client  # type: ignore[attr-defined]  # GoogleModel's google-genai client
    uploaded = await client.aio.files.upload(file=str(path), config={"mime_type": mime})
    try:
        wait, waited = FIRST_POLL, 0.0
        while str(getattr(uploaded.state, "value", uploaded.state)) != "ACTIVE":
            if str(getattr(uploaded.state, "value", uploaded.state)) == "FAILED":
                raise AnalysisFailed("Gemini could not process the video", seen="video", delivery="files_api",
                                     seconds=seconds, tokens=(0, 0))  # fmt: skip
            if waited >= FILES_API_WAIT:
                raise AnalysisFailed(f"Gemini was still processing the video after {FILES_API_WAIT:.0f} s",
                                     seen="video", delivery="files_api", seconds=seconds, tokens=(0, 0))  # fmt: skip
            await asyncio.sleep(wait)
            waited, wait = waited + wait, min(wait * 2, 5.0)
            uploaded = await client.aio.files.get(name=uploaded.name)
        video = UploadedFile(file_id=str(uploaded.uri), provider_name=model.system, media_type=mime)  # type: ignore[arg-type]
        return await _ask(
            ad, model, [told, video, *await _thumbnail(ad, storage)], checks, "files_api", seconds
        )
    finally:
        try:  # Gemini keeps uploads 48 h; ours go as soon as they are read
            await client.aio.files.delete(name=uploaded.name)
        except Exception:
            log.warning("could not delete Gemini file %s", uploaded.name, exc_info=True)


async def _look(
    ad: AdInput, model: Model | str, storage: Storage, path: Path, seconds: float, checks: Checks
) -> Analysis:
    """Claude: the keyframes as images, each after its time; no sound, so no transcript."""
    frames = await asyncio.to_thread(keyframes, path)
    told = ad.describe(
        f"{len(frames)} keyframes of its {seconds:.1f} s are attached as images, each after its time."
        " There is no sound: leave the transcript and the spoken hook empty."
    )
    content: list[UserContent] = [told]
    for frame in frames:
        content.append(f"Keyframe at {frame.t:g} s" + (" (scene change)" if frame.scene_change else ""))
        content.append(BinaryContent(data=frame.jpeg, media_type="image/jpeg"))
    content += await _thumbnail(ad, storage)
    return await _ask(ad, model, content, checks, "frames", seconds)


async def storyboard_frames(
    storage: Storage, *, video_path: str, folder: str, starts: list[float]
) -> dict[float, str]:
    """Stores the frame at each scene's start (`{folder}/frames/{ms}.jpg`): start → storage path."""
    stored: dict[float, str] = {}
    async with _local_video(storage, video_path) as path:
        try:
            frames = await asyncio.to_thread(frames_at, path, starts)
        except UnreadableVideo:
            return stored
    for t, jpeg in frames.items():
        handle, name = tempfile.mkstemp(dir=storage.staging, suffix=".jpg")
        with os.fdopen(handle, "wb") as out:
            out.write(jpeg)
        target = f"{folder}/frames/{round(t * 1000):06d}.jpg"
        await storage.put(target, Path(name), "image/jpeg")
        stored[t] = target
    return stored
