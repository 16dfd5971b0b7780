"""What a classification says about one ad, and the two classifiers that say it.

The model classifier is a Pydantic-AI agent with a typed output (`prompts/classify_ad.md`). The
offline classifier (`services/creative/rules_classifier.py`, `offline-rules`) derives the same fields with
simple rules from the ad's text and format, for the embedded default with no model key.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic_ai import Agent, ImageUrl, UserContent

from prompts import load_prompt
from services.meta.media import url_identity

OFFLINE_MODEL = "offline-rules"
# The rules' own version: a model's classification is never "cached" by the rules, nor the reverse.
OFFLINE_VERSION = "offline-rules-1"
MODEL_TIMEOUT = 120.0  # seconds for one ad, retries included

HookCategory = Literal[
    "question", "bold_claim", "problem_callout", "social_proof", "curiosity",
    "demonstration", "testimonial", "offer", "before_after", "us_vs_them",
]  # fmt: skip
AwarenessLevel = Literal["unaware", "problem_aware", "solution_aware", "product_aware", "most_aware"]
Dimension = Literal["product", "offer", "angle", "benefits", "claims", "audience", "voice_tone"]
DIMENSIONS: tuple[Dimension, ...] = (
    "product",
    "offer",
    "angle",
    "benefits",
    "claims",
    "audience",
    "voice_tone",
)
Status = Literal["aligned", "weak", "missing"]


# -- the classification ---------------------------------------------------------------------------


class Hook(BaseModel):
    text: str
    category: HookCategory | None = None


class Hooks(BaseModel):
    spoken: Hook | None = None
    overlay: Hook | None = None
    visual: Hook | None = None


class CongruenceComponent(BaseModel):
    dimension: Dimension
    status: Status
    ad: str = ""
    landing_page: str = ""
    note: str = ""


class StoryboardBeat(BaseModel):
    t: float = Field(ge=0, description="Start, in seconds")
    scene: str
    text_overlay: str | None = None


class AdClassification(BaseModel):
    """One ad's creative, as the classifier read it (the columns of `ad_creative_classifications`)."""

    awareness_level: AwarenessLevel
    hooks: Hooks
    benefits: list[str] = Field(default_factory=list)
    angles: list[str] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list)
    congruence_components: list[CongruenceComponent] = Field(default_factory=list)
    transcript: str | None = None
    storyboard: list[StoryboardBeat] = Field(default_factory=list)

    def congruence_score(self) -> float | None:
        """(aligned + 0.5 × weak) / 7 over the dimensions (first entry per dimension; absent = missing);
        None when nothing was compared (no landing page)."""
        seen: dict[str, str] = {}
        for c in self.congruence_components:
            seen.setdefault(c.dimension, c.status)
        if not seen:
            return None
        statuses = list(seen.values())
        return round((statuses.count("aligned") + 0.5 * statuses.count("weak")) / len(DIMENSIONS), 3)


# -- what a classifier reads about one ad ---------------------------------------------------------


class LandingPage(BaseModel):
    id: UUID | None = None
    url: str
    title: str | None = None
    text: str = ""
    benefits: list[str] = Field(default_factory=list)
    content_hash: str | None = None


class AdInput(BaseModel):
    meta_ad_id: str
    name: str
    format: str
    ad_copy: str | None = None
    headline: str | None = None
    thumbnail_url: str | None = None
    video_id: str | None = None
    video_url: str | None = None
    brand_name: str
    brand_voice: str | None = None
    product_name: str | None = None
    product_description: str | None = None
    destination_url: str | None = None
    landing_page: LandingPage | None = None

    @property
    def text(self) -> str:
        return "\n".join(t.strip() for t in (self.ad_copy, self.headline) if t and t.strip())

    def media_identity(self) -> str | None:
        """The creative's media, stable across syncs: the video's id, else its URL's identity."""
        if self.video_id:
            return f"video:{self.video_id}"
        if self.video_url:
            return f"video:{url_identity(self.video_url)}"
        return f"image:{url_identity(self.thumbnail_url)}" if self.thumbnail_url else None

    def input_hash(self) -> str:
        """sha256 of the canonical input: everything a classifier reads, and nothing that varies per sync."""
        lp = self.landing_page
        canonical = {
            "format": self.format,
            "ad_copy": (self.ad_copy or "").strip(),
            "headline": (self.headline or "").strip(),
            "media": self.media_identity(),
            "brand_voice": self.brand_voice or "",
            "product": [self.product_name or "", self.product_description or ""],
            "landing_page": [lp.url, lp.content_hash or lp.title or ""] if lp else self.destination_url,
        }
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()

    def page_text(self) -> str:
        lp = self.landing_page
        parts = [self.product_name, self.product_description]
        if lp is not None:
            parts += [lp.title, lp.text, *lp.benefits]
        return " ".join(p for p in parts if p)

    def describe(self) -> str:
        """The ad as the model reads it."""
        lines = [
            f"Ad {self.meta_ad_id}: {self.name} ({self.format})",
            f"Primary text: {self.ad_copy or '(none)'}",
            f"Headline: {self.headline or '(none)'}",
            f"Brand: {self.brand_name}; brand voice: {self.brand_voice or '(not on file)'}",
        ]
        if self.format == "video":
            lines.append(
                "Media: a video ad; its thumbnail is attached when available (the video itself is not)."
            )
        if self.product_name:
            lines.append(f"Product: {self.product_name}. {self.product_description or ''}".strip())
        lp = self.landing_page
        if lp is not None:
            lines += [
                f"Landing page: {lp.url} — {lp.title or ''}",
                f"Page benefits: {'; '.join(lp.benefits)}",
            ]
            lines.append(f"Page text (excerpt): {lp.text[:4000]}")
        elif self.destination_url:
            lines.append(f"Landing page: {self.destination_url} (its content is not on file)")
        else:
            lines.append("Landing page: none known (return no congruence entries)")
        return "\n".join(lines)


# -- the model classifier -------------------------------------------------------------------------


def prompt_version() -> str:
    return load_prompt("classify_ad").version


@cache
def classifier_agent() -> Agent[None, AdClassification]:
    """Declared once; the model is chosen per run (settings), so tests can override it."""
    return Agent(
        output_type=AdClassification,
        instructions=load_prompt("classify_ad").text,
        name="ad_classifier",
        retries=2,
    )


async def classify_with_model(ad: AdInput, *, model: str) -> AdClassification:
    content: list[UserContent] = [ad.describe()]
    if ad.thumbnail_url and ad.thumbnail_url.startswith("https://"):
        content.append(ImageUrl(url=ad.thumbnail_url))
    result = await classifier_agent().run(content, model=model, timeout=MODEL_TIMEOUT)
    return result.output
