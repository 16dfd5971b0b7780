"""Ad images from Gemini's image model (`google-genai`): the reference image and the brief go in, the
first image of the answer comes back as PNG bytes.

Calls go through `services.llm.gemini` (rate limits and overloads retried, Retry-After honoured,
a refused key named); an answer without an image (a blocked prompt, a safety stop, text only) says why.
"""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

from google.genai import types
from PIL import Image, UnidentifiedImageError

from core.errors import ExternalServiceError, InvalidArgument
from prompts import load_prompt
from services.creative.ad_brief import MAX_PIXELS, AdBrief
from services.llm import gemini as gemini_calls

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 180
SENT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
"""Reference formats sent as they are; any other is converted to PNG first."""


class GeminiImageGenerator:
    """Makes an ad with a Gemini image model (status 'generated'; its name is the model's)."""

    status = "generated"

    def __init__(self, *, api_key: str, key_variable: str, model: str, base_url: str | None = None) -> None:
        self.name = model
        self._api_key = api_key
        self._key_variable = key_variable
        self._base_url = base_url

    async def generate(self, reference: bytes, brief: AdBrief) -> bytes:
        image, mime_type = await asyncio.to_thread(_reference_for_upload, reference, brief.reference_name)
        contents: list[Any] = [types.Part.from_bytes(data=image, mime_type=mime_type), ad_image_prompt(brief)]
        config = types.GenerateContentConfig(response_modalities=["TEXT", "IMAGE"])
        with gemini_calls.client(
            api_key=self._api_key, base_url=self._base_url, timeout_seconds=TIMEOUT_SECONDS
        ) as client:
            async with client.aio as aio:

                async def call() -> types.GenerateContentResponse:
                    return await aio.models.generate_content(
                        model=self.name, contents=contents, config=config
                    )

                response = await gemini_calls.with_retries(
                    call, name=self.name, key_variable=self._key_variable,
                    key_hint="unset it to make offline previews",
                )  # fmt: skip
        return await asyncio.to_thread(self._image_of, response)

    def _image_of(self, response: types.GenerateContentResponse) -> bytes:
        """The answer's first inline image as PNG bytes (as sent when it is a PNG already)."""
        candidate = response.candidates[0] if response.candidates else None
        parts = (candidate.content.parts or []) if candidate and candidate.content else []
        for part in parts:
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("image/"):
                return _as_png(blob.data, self.name)
        raise ExternalServiceError(f"{self.name} returned no image: {_no_image_reason(response, parts)}.")


def ad_image_prompt(brief: AdBrief) -> str:
    """The instruction sent with the reference image (prompts/ad_image.md)."""
    return load_prompt("ad_image").text.format(
        brand=brief.brand, product=brief.product, headline=brief.headline
    )


def _no_image_reason(response: types.GenerateContentResponse, parts: list[types.Part]) -> str:
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        message = f" ({feedback.block_reason_message})" if feedback.block_reason_message else ""
        return f"the request was blocked ({_enum_name(feedback.block_reason)}){message}"
    candidate = response.candidates[0] if response.candidates else None
    if candidate is None:
        return "the answer had no candidates"
    reason = _enum_name(candidate.finish_reason) if candidate.finish_reason else "unknown"
    text = " ".join(" ".join(p.text.split()) for p in parts if p.text)
    if text:
        return f"it answered with text only (finish reason {reason}): {text[:200]!r}"
    return f"it stopped with finish reason {reason}" + (
        f" ({candidate.finish_message})" if candidate.finish_message else ""
    )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))


def _reference_for_upload(reference: bytes, name: str) -> tuple[bytes, str]:
    """The reference as sent: PNG, JPEG or WebP as is; any other image converted to PNG."""
    try:
        with Image.open(io.BytesIO(reference)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise InvalidArgument(f"The reference image '{name}' is too large to use.")
            if opened.format in SENT_FORMATS:
                return reference, SENT_FORMATS[opened.format]
            out = io.BytesIO()
            opened.convert("RGBA" if "A" in opened.getbands() else "RGB").save(out, format="PNG")
            return out.getvalue(), "image/png"
    except (UnidentifiedImageError, OSError):
        raise InvalidArgument(f"The reference image '{name}' is not an image Pillow can read.") from None


def _as_png(data: bytes, model: str) -> bytes:
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise ExternalServiceError(f"{model} returned an image too large to store.")
            if opened.format == "PNG":
                opened.verify()
                return data
            out = io.BytesIO()
            opened.convert("RGBA" if "A" in opened.getbands() else "RGB").save(out, format="PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError):
        raise ExternalServiceError(f"{model} returned an image Pillow can't read.") from None
