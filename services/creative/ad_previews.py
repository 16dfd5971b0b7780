"""Ad images from a reference (a library template or one of the brand's own ads).

`generator_for(settings)` picks the generator: with a Gemini/Google key, Gemini's image model
(services/creative/image_models.py: the reference, the product and the headline go in); without one, the
offline generator composes a labelled preview with Pillow (the reference image, the product's name and
a headline, and a visible "PREVIEW (offline)" label), so the whole flow runs and can be checked
without keys.
"""

from __future__ import annotations

import asyncio
import io
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin, UnidentifiedImageError

from core.errors import InvalidArgument
from services.creative.ad_brief import MAX_PIXELS, AdBrief
from settings import Settings

PREVIEW_LABEL = "PREVIEW (offline)"
WIDTH = 1080
MAX_TEMPLATE_HEIGHT = 1350
BAND = 260
"""Height of the text band under the reference image."""
LABEL_FILL = (220, 38, 38)
BAND_FILL = (17, 24, 39)


class ImageGenerator(Protocol):
    """Makes one ad image (PNG bytes) from a reference image and a brief."""

    name: str
    status: str
    """'preview' (a labelled mock-up) or 'generated' (a model's image)."""

    async def generate(self, reference: bytes, brief: AdBrief) -> bytes: ...


class OfflinePreview:
    """The reference image with the product name and headline under it, labelled as a preview."""

    name = "offline-preview"
    status = "preview"

    async def generate(self, reference: bytes, brief: AdBrief) -> bytes:
        return await asyncio.to_thread(compose_preview, reference, brief)


def generator_for(settings: Settings) -> ImageGenerator:
    """The image generator of this deployment: Gemini's image model (`VIRALTRACKER_IMAGE_MODEL`) when
    GEMINI_API_KEY or GOOGLE_API_KEY is set, else the offline preview."""
    for variable, key in (
        ("GEMINI_API_KEY", settings.gemini_api_key),
        ("GOOGLE_API_KEY", settings.google_api_key),
    ):
        if key is not None and key.get_secret_value().strip():
            from services.creative.image_models import (
                GeminiImageGenerator,  # the SDK loads only when a key is set
            )

            return GeminiImageGenerator(
                api_key=key.get_secret_value().strip(), key_variable=variable, model=settings.image_model,
                base_url=settings.gemini_base_url,
            )  # fmt: skip
    return OfflinePreview()


def fitted_size(width: int, height: int) -> tuple[int, int]:
    """The reference's size on the preview: WIDTH wide, at most MAX_TEMPLATE_HEIGHT tall, same aspect."""
    scale = min(WIDTH / width, MAX_TEMPLATE_HEIGHT / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def compose_preview(reference: bytes, brief: AdBrief) -> bytes:
    """The preview as PNG bytes; the label, product and headline are also in the PNG's text chunks."""
    try:
        with Image.open(io.BytesIO(reference)) as opened:
            if opened.width * opened.height > MAX_PIXELS:
                raise InvalidArgument(f"The reference image '{brief.reference_name}' is too large to use.")
            source = opened.convert("RGB")
    except (UnidentifiedImageError, OSError):
        raise InvalidArgument(
            f"The reference image '{brief.reference_name}' is not an image Pillow can read."
        ) from None
    size = fitted_size(source.width, source.height)
    fitted = source.resize(size, Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (WIDTH, size[1] + BAND), (255, 255, 255))
    canvas.paste(fitted, ((WIDTH - size[0]) // 2, 0))
    draw = ImageDraw.Draw(canvas)
    # The band: product name, then the headline (wrapped to two lines at most).
    draw.rectangle((0, size[1], WIDTH, size[1] + BAND), fill=BAND_FILL)
    name_font = ImageFont.load_default(size=54)
    headline_font = ImageFont.load_default(size=40)
    y = size[1] + 30
    draw.text((40, y), _fit(brief.product, name_font, WIDTH - 80), font=name_font, fill=(255, 255, 255))
    y += 80
    for line in _wrap(brief.headline, headline_font, WIDTH - 80, lines=2):
        draw.text((40, y), line, font=headline_font, fill=(229, 231, 235))
        y += 52
    # The label, top left over the reference: nobody mistakes a mock-up for a finished ad.
    draw.rectangle(label_box(), fill=LABEL_FILL)
    draw.text((24, 18), PREVIEW_LABEL, font=_label_font(), fill=(255, 255, 255), anchor="lt")
    info = PngImagePlugin.PngInfo()
    for key, value in (
        ("label", PREVIEW_LABEL), ("brand", brief.brand), ("product", brief.product),
        ("headline", brief.headline), ("reference", brief.reference_name),
    ):  # fmt: skip
        info.add_itxt(key, value)
    out = io.BytesIO()
    canvas.save(out, format="PNG", pnginfo=info)
    return out.getvalue()


def label_box() -> tuple[int, int, int, int]:
    """Where the label is drawn on every preview (left, top, right, bottom)."""
    _, _, right, bottom = _label_font().getbbox(PREVIEW_LABEL, anchor="lt")
    return 0, 0, int(right) + 48, int(bottom) + 36


def _label_font() -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=36)


def _fit(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(
    text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int, *, lines: int
) -> list[str]:
    words, out, current = text.split(), [], ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if font.getlength(candidate) <= width or not current:
            current = candidate
            continue
        out.append(current)
        current = word
    if current:
        out.append(current)
    if len(out) > lines:
        out = [*out[: lines - 1], _fit(" ".join(out[lines - 1 :]) + " …", font, width)]
    return [_fit(line, font, width) for line in out]
