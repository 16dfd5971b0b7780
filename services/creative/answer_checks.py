"""Checks a classifier's answer must pass before it is stored: times within the video, hooks in its
first 3 seconds, a spoken hook that is in the transcript, and every claim placed (said or shown).

Each problem is a sentence the model can act on (it is sent back once) and a marketer can read (the
reason an analysis failed).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from services.creative.ad_classifier import AdClassification

Seen = Literal["video", "frames", "copy"]
"""What the model saw of a video ad: the video (Gemini), its keyframes (Claude), or the copy and thumbnail."""
HOOK_SECONDS = 3.0
SLACK_SECONDS = 0.25
"""Times may pass the container's length by this much (the last frame's duration, rounding)."""


def _words(text: str) -> str:
    return " ".join(re.findall(r"[\w']+", text.lower()))


def _times(answer: AdClassification) -> Iterator[tuple[str, float | None, float | None]]:
    """(what, start, end) of every time in the answer."""
    for kind in ("spoken", "overlay", "visual"):
        hook = getattr(answer.hooks, kind)
        if hook is not None:
            yield f"the {kind} hook", hook.at, None
    for line in answer.transcript_lines:
        yield f"the transcript line “{line.text[:40]}”", line.start, line.end
    for beat in answer.storyboard:
        yield f"the scene “{beat.scene[:40]}”", beat.t, beat.end
    for source in answer.claim_sources:
        yield f"the claim “{source.claim[:40]}”", source.at, None


def without_sound(answer: AdClassification) -> AdClassification:
    """The answer of a model that saw frames, not heard the video: no transcript, no spoken hook, no claim
    it could only have heard (words read off frames are on-screen text, not speech)."""
    hooks = answer.hooks.model_copy(update={"spoken": None})
    sources = [s for s in answer.claim_sources if s.where != "spoken"]
    heard_only = {_words(s.claim) for s in answer.claim_sources} - {_words(s.claim) for s in sources}
    claims = [c for c in answer.claims if _words(c) not in heard_only]
    return answer.model_copy(
        update={"transcript": None, "transcript_lines": [], "hooks": hooks, "claim_sources": sources,
                "claims": claims}
    )  # fmt: skip


def answer_problems(answer: AdClassification, *, duration: float | None, seen: Seen) -> list[str]:
    """What is wrong with the answer, in sentences; empty when it can be stored."""
    problems = []
    for what, start, end in _times(answer):
        for t in (start, end):
            if t is not None and duration is not None and t > duration + SLACK_SECONDS:
                problems.append(f"{what} is at {t:g} s, past the video's end ({duration:g} s)")
        if start is not None and end is not None and end < start:
            problems.append(f"{what} ends ({end:g} s) before it starts ({start:g} s)")
    if seen != "copy":
        for kind in ("spoken", "overlay", "visual"):
            hook = getattr(answer.hooks, kind)
            if hook is not None and hook.at is not None and hook.at > HOOK_SECONDS:
                problems.append(f"the {kind} hook starts at {hook.at:g} s, after the first 3 seconds")
    spoken = answer.hooks.spoken
    if spoken is not None:
        heard = _words(" ".join([answer.transcript or "", *(line.text for line in answer.transcript_lines)]))
        if not _words(spoken.text) or _words(spoken.text) not in heard:
            problems.append(f"the spoken hook “{spoken.text}” is not in the transcript")
    placed = {_words(s.claim) for s in answer.claim_sources}
    for claim in answer.claims:
        if _words(claim) not in placed:
            problems.append(f"the claim “{claim}” does not say where it is said or shown")
    return problems
