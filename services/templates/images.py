"""Template images with Pillow: what a file really is (format, size), its chat thumbnail, and the
demo set's small drawn images. Blocking work: call these through `asyncio.to_thread`."""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif"}
MAX_PIXELS = 50_000_000  # a bigger "image" is more likely a decompression bomb than an ad
THUMBNAIL_SIZE = (320, 320)


class NotAnImage(Exception):
    """The bytes are not an image we take; the message says what they are."""


@dataclass(frozen=True)
class ImageFacts:
    format: str
    """Pillow's name for it: PNG, JPEG, WEBP or GIF."""
    content_type: str
    extension: str
    width: int
    height: int


def inspect_image(path: Path) -> ImageFacts:
    """The file's real format and dimensions, read from its bytes (not its name or headers)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                kind, (width, height) = image.format or "", image.size
                if width * height > MAX_PIXELS:
                    raise NotAnImage(
                        f"is {width}×{height} pixels; the limit is {MAX_PIXELS // 1_000_000} megapixels"
                    )
                image.verify()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as error:
        raise NotAnImage("is not an image we can read (PNG, JPEG, WebP or GIF)") from error
    except (OSError, SyntaxError, ValueError) as error:  # truncated or corrupt data
        raise NotAnImage(f"is a damaged image ({error})") from error
    if kind not in CONTENT_TYPES:
        raise NotAnImage(f"is a {kind or 'unknown'} image; only PNG, JPEG, WebP and GIF are taken")
    return ImageFacts(kind, CONTENT_TYPES[kind], EXTENSIONS[kind], width, height)


def write_thumbnail(source: Path, target: Path) -> None:
    """A PNG at most 320×320 (the first frame of an animation), for the chat's grid."""
    with Image.open(source) as image:
        image.seek(0)
        frame = image.convert("RGBA")
    frame.thumbnail(THUMBNAIL_SIZE)
    frame.save(target, format="PNG", optimize=True)


# The demo library: each template a distinct 256×256 layout drawn from its category.
_PALETTES = {
    "ugc": ((255, 236, 214), (233, 120, 62)),
    "testimonial": ((232, 244, 255), (43, 108, 176)),
    "before_after": ((240, 240, 240), (56, 161, 105)),
    "listicle": ((255, 250, 230), (183, 121, 31)),
    "offer": ((255, 228, 230), (197, 48, 48)),
}


def demo_image(name: str, category: str, fmt: str) -> bytes:
    """A 256×256 PNG for a demo template: the category's layout, colours and the template's name.
    The same arguments always give the same bytes."""
    background, accent = _PALETTES.get(category, ((238, 238, 238), (90, 90, 90)))
    image = Image.new("RGB", (256, 256), background)
    draw = ImageDraw.Draw(image)
    seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    if category == "before_after":
        draw.rectangle((0, 0, 127, 200), fill=(200, 200, 200))
        draw.rectangle((128, 0, 255, 200), fill=accent)
        _text(draw, (20, 90), "BEFORE", 18, (80, 80, 80))
        _text(draw, (148, 90), "AFTER", 18, (255, 255, 255))
    elif category == "listicle":
        for i in range(3):
            y = 40 + i * 52
            draw.ellipse((20, y, 52, y + 32), fill=accent)
            _text(draw, (30, y + 5), str(i + 1), 18, (255, 255, 255))
            draw.rectangle((64, y + 10, 64 + 100 + (seed >> (i * 4)) % 80, y + 22), fill=(120, 110, 90))
    elif category == "offer":
        draw.regular_polygon((128, 100, 78), n_sides=12 + seed % 6, fill=accent)
        _text(draw, (80, 78), f"{20 + seed % 4 * 10}% OFF", 22, (255, 255, 255))
    elif category == "testimonial":
        draw.rounded_rectangle((20, 30, 236, 180), radius=18, fill=(255, 255, 255), outline=accent, width=4)
        for i in range(5):
            draw.regular_polygon((56 + i * 30, 72, 12), n_sides=5, rotation=seed % 36, fill=(236, 178, 46))
        _text(draw, (44, 110), '"Changed everything"', 16, accent)
    else:  # ugc and anything else: a phone frame with a face
        draw.rounded_rectangle((78, 16, 178, 200), radius=14, fill=(40, 40, 40))
        draw.rectangle((86, 32, 170, 184), fill=accent)
        draw.ellipse((108, 60, 148, 100), fill=background)
        draw.pieslice((98, 104, 158, 164), 180, 360, fill=background)
    if fmt in ("video", "story"):
        draw.polygon([(214, 20), (214, 48), (238, 34)], fill=accent)  # a play mark
    if fmt == "carousel":
        for i in range(3):
            draw.ellipse((108 + i * 16, 186, 116 + i * 16, 194), fill=accent if i == 0 else (160, 160, 160))
    draw.rectangle((0, 206, 255, 255), fill=accent)
    _text(draw, (10, 220), name[:26], 16, (255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _text(
    draw: ImageDraw.ImageDraw, at: tuple[int, int], text: str, size: int, fill: tuple[int, ...]
) -> None:
    draw.text(at, text, font=ImageFont.load_default(size=size), fill=fill)
