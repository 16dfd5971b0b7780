"""What every ad image generator is given (the offline preview and Gemini's image model alike)."""

from __future__ import annotations

from dataclasses import dataclass

MAX_PIXELS = 40_000_000
"""A reference bigger than this is refused (a decompression bomb, not an ad)."""


@dataclass(frozen=True)
class AdBrief:
    brand: str
    product: str
    headline: str
    reference_name: str
