"""What a classification says about one ad, and the two classifiers that say it.

The model classifier is a Pydantic-AI agent with a typed output (`prompts/classify_ad.md`). The
offline classifier (`services/creative/rules_classifier.py`, `offline-rules`) derives the same fields with
simple rules from the ad's text and format, for the embedded default with no model key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic_ai import Agent, ImageUrl, ModelRetry, RunContext, UserContent, capture_run_messages
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model

from prompts import load_prompt
from services.creative.answer_checks import Seen, answer_problems, without_sound
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


Seconds = Annotated[float, Field(ge=0)]
ClaimPlace = Literal["spoken", "on_screen", "copy", "landing_page"]


class Hook(BaseModel):
    text: str
    category: HookCategory | None = None
    at: Seconds | None = Field(default=None, description="Second the hook starts in a video")


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
    end: Seconds | None = Field(default=None, description="End, in seconds")
    scene: str
    text_overlay: str | None = None


class TranscriptLine(BaseModel):
    start: Seconds
    end: Seconds
    text: str


class ClaimSource(BaseModel):
    claim: str
    where: ClaimPlace
    at: Seconds | None = Field(default=None, description="Second it is said or shown in a video")


class AdClassification(BaseModel):
    """One ad's creative, as the classifier read it (the columns of `ad_creative_classifications`)."""

    awareness_level: AwarenessLevel
    hooks: Hooks
    benefits: list[str] = Field(default_factory=list)
    angles: list[str] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list)
    congruence_components: list[CongruenceComponent] = Field(default_factory=list)
    claim_sources: list[ClaimSource] = Field(default_factory=list)
    transcript: str | None = None
    transcript_lines: list[TranscriptLine] = Field(default_factory=list)
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
    video_path: str | None = None
    """Where the downloaded video is in storage (`ad_assets`), when it was downloaded."""
    video_sha256: str | None = None
    video_content_type: str | None = None
    thumbnail_path: str | None = None
    """The downloaded thumbnail in storage, when it is one a model reads (type and size)."""
    thumbnail_content_type: str | None = None

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
        if self.video_sha256:  # the downloaded file: identical bytes are one analysis, new bytes another
            canonical["video_file"] = self.video_sha256
        return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()

    def page_text(self) -> str:
        lp = self.landing_page
        parts = [self.product_name, self.product_description]
        if lp is not None:
            parts += [lp.title, lp.text, *lp.benefits]
        return " ".join(p for p in parts if p)

    def describe(self, seen: str | None = None) -> str:
        """The ad as the model reads it; `seen` says what of a video is attached."""
        lines = [
            f"Ad {self.meta_ad_id}: {self.name} ({self.format})",
            f"Primary text: {self.ad_copy or '(none)'}",
            f"Headline: {self.headline or '(none)'}",
            f"Brand: {self.brand_name}; brand voice: {self.brand_voice or '(not on file)'}",
        ]
        if self.format == "video":
            lines.append(
                "Media: a video ad; "
                + (seen or "its thumbnail is attached when available (the video itself is not).")
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


@dataclass
class Checks:
    """What one run's answer is checked against (`answer_checks`), and the problems last found."""

    duration: float | None = None
    seen: Seen = "copy"
    problems: list[str] = field(default_factory=list)


@cache
def classifier_agent() -> Agent[Checks, AdClassification]:
    """Declared once; the model is chosen per run (settings), so tests can override it. An answer that
    fails the checks is sent back once with its problems (one output retry), then the run fails."""
    agent = Agent(
        output_type=AdClassification,
        deps_type=Checks,
        instructions=load_prompt("classify_ad").text,
        name="ad_classifier",
        retries={"tools": 2, "output": 1},
    )

    @agent.output_validator
    def checked(ctx: RunContext[Checks], answer: AdClassification) -> AdClassification:
        if ctx.deps.seen == "frames":  # no sound: a transcript would be a guess
            answer = without_sound(answer)
        ctx.deps.problems = answer_problems(answer, duration=ctx.deps.duration, seen=ctx.deps.seen)
        if ctx.deps.problems:
            raise ModelRetry("Correct these and answer again: " + "; ".join(ctx.deps.problems) + ".")
        return answer

    return agent


class AnswerRefused(Exception):
    """The answer failed the checks twice; `reason` says how, `tokens` what the tries used."""

    def __init__(self, reason: str, tokens: tuple[int, int]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tokens = tokens


async def classify_with_model(
    ad: AdInput,
    *,
    model: Model | str,
    content: list[UserContent] | None = None,
    checks: Checks | None = None,
    time_limit: float = MODEL_TIMEOUT,
) -> tuple[AdClassification, tuple[int, int]]:
    """The model's checked classification of the ad and the (input, output) tokens it used. `content`
    replaces the default message (the ad's description and its https thumbnail)."""
    if content is None:
        content = [ad.describe()]
        if ad.thumbnail_url and ad.thumbnail_url.startswith("https://"):
            content.append(ImageUrl(url=ad.thumbnail_url))
    checks = checks or Checks()
    with capture_run_messages() as messages:
        try:
            result = await classifier_agent().run(content, model=model, deps=checks, timeout=time_limit)
        except UnexpectedModelBehavior:
            if not checks.problems:
                raise
            raise AnswerRefused("; ".join(checks.problems), _tokens(messages)) from None
    return result.output, _tokens(messages)


def _tokens(messages: list[ModelMessage]) -> tuple[int, int]:
    answers = [m for m in messages if isinstance(m, ModelResponse)]
    return sum(m.usage.input_tokens for m in answers), sum(m.usage.output_tokens for m in answers)
