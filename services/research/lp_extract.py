"""What a landing page analysis says, section by section, and the offline extractive analysis that
fills the same sections with no model key (bullets, quoted testimonials, question-shaped objections,
"because / how it works" sentences), labelled as such."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from services.research.page_fetch import Chunk

OFFLINE_METHOD = "offline-extractive-1"
OFFLINE_LABEL = (
    "Offline extractive analysis (no model key): lines quoted from the page, not a model's reading."
)
Section = Literal[
    "benefits", "persona_signals", "copy_patterns", "objection_handling", "belief_first_analysis", "testimonials"
]  # fmt: skip
SECTIONS: tuple[Section, ...] = (
    "benefits", "persona_signals", "copy_patterns", "objection_handling", "belief_first_analysis", "testimonials",
)  # fmt: skip
# The chunk fields each section reads (services/research/page_fetch.FIELD_KEYWORDS).
SECTION_FIELDS: dict[Section, list[str]] = {
    "benefits": ["benefits"],
    "persona_signals": ["persona_signals", "desires"],
    "copy_patterns": ["copy_patterns", "hooks"],
    "objection_handling": ["objections"],
    "belief_first_analysis": ["mechanism", "desires", "hooks"],
    "testimonials": ["testimonials"],
}


class Benefits(BaseModel):
    benefits: list[str] = Field(default_factory=list, description="Each benefit the page promises, short")


class PersonaSignals(BaseModel):
    persona_signals: list[str] = Field(
        default_factory=list, description="Who the page speaks to: audience, situation, pains, identity"
    )


class CopyPatterns(BaseModel):
    copy_patterns: list[str] = Field(default_factory=list, description="Persuasion devices the copy uses")


class Objection(BaseModel):
    objection: str
    answer: str = ""


class ObjectionHandling(BaseModel):
    objection_handling: list[Objection] = Field(default_factory=list)


class BeliefFirst(BaseModel):
    mechanism: str = Field("", description="How the product works, in the page's words")
    ump: str = Field("", description="Unique mechanism of the problem: the root cause the page names")
    ums: str = Field("", description="Unique mechanism of the solution: why this product fixes it")
    desires: list[str] = Field(default_factory=list)
    sample_hooks: list[str] = Field(default_factory=list, description="Ad hooks this page's angle suggests")


class Testimonial(BaseModel):
    quote: str
    name: str = ""


class Testimonials(BaseModel):
    testimonials: list[Testimonial] = Field(default_factory=list)


SECTION_MODELS: dict[Section, type[BaseModel]] = {
    "benefits": Benefits,
    "persona_signals": PersonaSignals,
    "copy_patterns": CopyPatterns,
    "objection_handling": ObjectionHandling,
    "belief_first_analysis": BeliefFirst,
    "testimonials": Testimonials,
}
MOST = 8

_BULLET = re.compile(r"^\s*(?:[-*+•✓✔]|\d+[.)])\s+(.+)$")
_QUOTE = re.compile(r"[\"“]([^\"”]{15,400})[\"”]\s*(?:[—–-]+\s*([^\n,.]{2,60}))?")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PERSONA = re.compile(
    r"\b(?:made for|designed for|for|if you(?:'re| are)?|dealing with|tired of|struggling with)\s+([^.!?\n]{4,80})",
    re.IGNORECASE,
)  # fmt: skip
_MECHANISM_WORDS = ("because", "how it works", "root cause", "works by", "formula", "the reason", "mechanism")
_DESIRE_WORDS = ("imagine", "finally", "without", "again", "wake up", "enjoy", "confidence", "freedom")


def _clean(text: str) -> str:
    return " ".join(re.sub(r"[*_`>#]+", " ", text).split()).strip(" -–—:")


def _sentences(chunks: list[Chunk]) -> list[str]:
    out = []
    for chunk in chunks:
        for line in chunk.text.splitlines():
            if not _HEADING_LINE.match(line):
                out += [_clean(s) for s in _SENTENCE.split(line) if len(_clean(s)) > 12]
    return out


_HEADING_LINE = re.compile(r"^\s*#{1,6}\s")


def _unique(items: list[str], most: int = MOST) -> list[str]:
    seen: dict[str, str] = {}
    for item in items:
        if item and item.casefold() not in seen:
            seen[item.casefold()] = item
    return list(seen.values())[:most]


def offline_section(section: Section, chunks: list[Chunk], page: list[Chunk]) -> BaseModel:
    """One section from the chunks picked for it (`page`: every chunk, for page-wide signals)."""
    if section == "benefits":
        bullets = [
            _clean(m.group(1)) for c in chunks for line in c.text.splitlines() if (m := _BULLET.match(line))
        ]
        return Benefits(benefits=_unique([b for b in bullets if not b.endswith("?")]))
    if section == "testimonials":
        return Testimonials(testimonials=_testimonials(chunks))
    if section == "objection_handling":
        return ObjectionHandling(objection_handling=_objections(chunks))
    if section == "persona_signals":
        found = [_clean(m.group(0)) for s in _sentences(chunks) for m in _PERSONA.finditer(s)]
        return PersonaSignals(persona_signals=_unique(found))
    if section == "belief_first_analysis":
        return _belief_first(chunks, page)
    return CopyPatterns(copy_patterns=_copy_patterns(page))


def _testimonials(chunks: list[Chunk]) -> list[Testimonial]:
    found = []
    for chunk in chunks:
        for match in _QUOTE.finditer(chunk.text):
            found.append(Testimonial(quote=_clean(match.group(1)), name=_clean(match.group(2) or "")))
    unique = {t.quote.casefold(): t for t in found}
    return list(unique.values())[:MOST]


def _objections(chunks: list[Chunk]) -> list[Objection]:
    found = []
    for chunk in chunks:
        lines = [line for line in chunk.text.splitlines() if line.strip()]
        for i, line in enumerate(lines):
            question = _clean(line)
            if question.endswith("?") and len(question) > 8:
                answer = (
                    _clean(lines[i + 1])
                    if i + 1 < len(lines) and not _clean(lines[i + 1]).endswith("?")
                    else ""
                )
                found.append(Objection(objection=question, answer=answer))
    return list({o.objection.casefold(): o for o in found}.values())[:MOST]


def _belief_first(chunks: list[Chunk], page: list[Chunk]) -> BeliefFirst:
    sentences = _sentences(chunks)
    how = [
        c for c in chunks if c.heading and "how" in c.heading.casefold() and "work" in c.heading.casefold()
    ]
    mechanism = [s for s in sentences if any(w in s.casefold() for w in _MECHANISM_WORDS)]
    ump = next((s for s in mechanism if "cause" in s.casefold() or "reason" in s.casefold()), "")
    ums_from = _sentences(how) or [s for s in mechanism if s != ump]
    ums = next((s for s in ums_from if s != ump), "")
    desires = [s for s in sentences if any(w in s.casefold() for w in _DESIRE_WORDS)]
    headline = next((c.heading for c in page if c.heading), None)
    questions = [s for s in _sentences(page[:2]) if s.endswith("?")]
    return BeliefFirst(
        mechanism=" ".join(_unique(_sentences(how), 2)) or (mechanism[0] if mechanism else ""),
        ump=ump, ums=ums, desires=_unique(desires, 5),
        sample_hooks=_unique([h for h in [headline, *questions, *(desires[:1])] if h], 3),
    )  # fmt: skip


def _copy_patterns(page: list[Chunk]) -> list[str]:
    text = "\n".join(c.text for c in page).casefold()
    patterns = []
    if page and page[0].heading:
        patterns.append(f"Benefit-led headline: {page[0].heading}")
    quotes = len(_testimonials(page))
    if quotes:
        patterns.append(f"Social proof: {quotes} customer quote(s)")
    bullets = sum(1 for c in page for line in c.text.splitlines() if _BULLET.match(line))
    if bullets >= 3:
        patterns.append(f"Bulleted benefits ({bullets} bullets)")
    if any(w in text for w in ("guarantee", "refund", "money back")):
        patterns.append("Risk-reversal guarantee")
    if len(_objections(page)) >= 2:
        patterns.append("FAQ handles objections")
    if "$" in text or "% off" in text or "save" in text:
        patterns.append("Price / offer shown on the page")
    if any(w in text for w in ("how it works", "root cause", "because")):
        patterns.append("Mechanism explained")
    return patterns
