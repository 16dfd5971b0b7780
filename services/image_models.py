"""Ad images from Gemini's image model (`google-genai`): the reference image and the brief go in, the
first image of the answer comes back as PNG bytes.

Rate limits and overloads (429, 5xx) are retried, Retry-After (or the error's RetryInfo) honoured,
bounded in attempts and in wait. A refused key is a `ConfigurationError` naming the variable; an
answer without an image (a blocked prompt, a safety stop, text only) says why.
"""

from __future__ import annotations

import asyncio
import io
import logging
import math
import random
import re
from typing import Any

import httpx
from google import genai
from google.genai import errors, types
from google.genai.client import AsyncClient
from PIL import Image, UnidentifiedImageError

from prompts import load_prompt
from services.ad_previews import MAX_PIXELS, AdBrief
from services.errors import ConfigurationError, ExternalServiceError, InvalidArgument

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
"""Calls per ad: the first and up to two retries after a 429 / 5xx answer."""
MAX_RETRY_AFTER = 60.0
"""Seconds: a longer Retry-After fails the ad (reported) instead of stalling the run."""
BACKOFF_SECONDS = 2.0
"""First wait when a retryable answer names no delay; doubles per attempt (with jitter)."""
TIMEOUT_SECONDS = 180
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
SENT_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
"""Reference formats sent as they are; any other is converted to PNG first."""
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


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
        # An httpx transport makes the SDK use httpx, not its aiohttp session (a ClientSession subclass,
        # deprecated by aiohttp); no transport-level retries: _call decides.
        options = types.HttpOptions(
            base_url=self._base_url,
            timeout=TIMEOUT_SECONDS * 1000,
            async_client_args={"transport": httpx.AsyncHTTPTransport(retries=0)},
        )
        with genai.Client(api_key=self._api_key, vertexai=False, http_options=options) as client:
            async with client.aio as aio:
                response = await self._call(aio, contents, config)
        return await asyncio.to_thread(self._image_of, response)

    async def _call(
        self, aio: AsyncClient, contents: list[Any], config: types.GenerateContentConfig
    ) -> types.GenerateContentResponse:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                response: types.GenerateContentResponse = await aio.models.generate_content(
                    model=self.name, contents=contents, config=config
                )
                return response
            except errors.APIError as error:
                if _refused_key(error):
                    raise ConfigurationError(
                        f"Gemini refused the API key in {self._key_variable} ({_error_text(error)}):"
                        f" set a valid key, or unset it to make offline previews."
                    ) from None
                if error.code not in RETRYABLE:
                    raise ExternalServiceError(
                        f"{self.name} refused the request ({_error_text(error)})."
                    ) from None
                if attempt == MAX_ATTEMPTS:
                    raise ExternalServiceError(
                        f"{self.name} is unavailable ({_error_text(error)}); gave up after {attempt} attempts."
                    ) from None
                wait = retry_after(error)
                if wait is None:
                    wait = BACKOFF_SECONDS * 2 ** (attempt - 1) * (0.75 + 0.5 * random.random())
                if wait > MAX_RETRY_AFTER:
                    raise ExternalServiceError(
                        f"{self.name} is rate limited ({_error_text(error)}) and asked to wait {wait:.0f} s;"
                        " try again later."
                    ) from None
                log.info("%s answered %s; retrying in %.1f s", self.name, error.code, wait)
                await asyncio.sleep(wait)
            except (httpx.TransportError, TimeoutError) as error:
                raise ExternalServiceError(
                    f"{self.name} could not be reached ({type(error).__name__})."
                ) from None
        raise AssertionError("unreachable")  # the loop returns or raises

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


def retry_after(error: errors.APIError) -> float | None:
    """Seconds the API asked to wait: the Retry-After header, else the error's RetryInfo detail."""
    headers = getattr(error.response, "headers", None) or {}
    raw = headers.get("retry-after")
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    details = error.details.get("error", {}).get("details") if isinstance(error.details, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def _refused_key(error: errors.APIError) -> bool:
    # An invalid key is a 400 INVALID_ARGUMENT "API key not valid"; a key without access, 401/403.
    return error.code in (401, 403) or (error.code == 400 and "api key" in (error.message or "").lower())


def _error_text(error: errors.APIError) -> str:
    return f"HTTP {error.code} {error.status or ''}: {error.message or ''}".replace(" :", ":").strip()


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
