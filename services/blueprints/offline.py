"""The page split into sections, and the offline blueprint: recognised persuasion patterns per section
and what to write filled from the brand's own fields (no model key needed; labelled as such)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

OFFLINE_NOTE = (
    "Offline blueprint: built from the page's own sections with pattern rules (no model key is set). "
    "Set ANTHROPIC_API_KEY (or GEMINI_API_KEY) for a model-written one."
)
MAX_SECTIONS = 40
SAYS_CHARS = 280
_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$", re.MULTILINE)
_PATTERNS: dict[str, re.Pattern[str]] = {
    "social_proof": re.compile(
        r"verified|reviews?\b|testimonial|customers? (say|love)|rated|\bstars?\b|⭐|^>\s", re.I | re.M
    ),
    "mechanism": re.compile(r"how it works|root cause|mechanism|formula|science|clinical|ingredient", re.I),
    "offer": re.compile(r"\$\s?\d|% off|free shipping|bundle|subscribe|save \d|\bprice\b|\boffer\b", re.I),
    "urgency": re.compile(
        r"\btoday\b|\bnow\b|limited|ends (soon|tonight)|only \d+ left|hurry|last chance", re.I
    ),
    "guarantee": re.compile(r"guarantee|refund|money[- ]back|risk[- ]free|no return", re.I),
    "objections": re.compile(r"\bfaq\b|questions|\?\s*(\*\*)?\s*$", re.I | re.M),
}
WHY: dict[str, str] = {
    "hook": "The headline leads with the outcome the reader wants, so the right visitor keeps reading.",
    "social_proof": "Buyers' own words do the persuading: proof from people like the reader makes the claim "
    "believable and lowers the risk of trying.",
    "mechanism": "Naming the root cause and how the product fixes it makes the promise credible and sets it "
    "apart from what the reader already tried.",
    "offer": "A concrete price and deal turn interest into a decision; stating it plainly removes friction.",
    "urgency": "A reason to act now keeps the decision from being postponed.",
    "guarantee": "Reversing the risk answers the last objection: what if it doesn't work for me?",
    "benefits": "Scannable benefits let each reader find the one that matters to them.",
    "objections": "Answering doubts on the page stops them from becoming reasons to leave.",
    "bridge": "It carries the reader from the previous section to the next; short and specific keeps momentum.",
}


@dataclass
class PageSection:
    heading: str
    body: str
    patterns: list[str] = field(default_factory=list)


def _plain(text: str) -> str:
    text = re.sub(r"[*_`>#]+", "", text)
    text = re.sub(r"^\s*[-+]\s+", "", text, flags=re.M)
    return " ".join(text.split())


def says(body: str) -> str:
    """What a section says, in its own words, cut at a sentence near SAYS_CHARS."""
    text = _plain(body)
    if len(text) <= SAYS_CHARS:
        return text or "(no text: a visual or layout element)"
    cut = text[:SAYS_CHARS]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > 80 else cut.rstrip() + "…"


def _patterns(index: int, heading: str, body: str) -> list[str]:
    text = f"{heading}\n{body}"
    found = ["hook"] if index == 0 else []
    found += [name for name, pattern in _PATTERNS.items() if pattern.search(text)]
    if len(re.findall(r"^\s*[-*+]\s+\S", body, flags=re.M)) >= 2:
        found.append("benefits")
    return found or ["bridge"]


def page_sections(markdown: str | None, analysis_sections: Any = None) -> list[PageSection]:
    """Sections in page order: one per heading (text before the first heading is the 'Opening'); a page
    without headings is split into parts of a few paragraphs; no page text: the analysis's sections."""
    sections: list[tuple[str, str]] = []
    text = (markdown or "").strip()
    if text:
        matches = list(_HEADING.finditer(text))
        if matches:
            if text[: matches[0].start()].strip():
                sections.append(("Opening", text[: matches[0].start()]))
            for i, match in enumerate(matches):
                end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
                sections.append((_plain(match.group(2)) or f"Section {i + 1}", text[match.end() : end]))
        else:
            paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()]
            for n in range(0, len(paragraphs), 3):
                sections.append((f"Part {n // 3 + 1}", "\n\n".join(paragraphs[n : n + 3])))
    elif isinstance(analysis_sections, dict):
        for key, value in analysis_sections.items():
            body = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            sections.append((str(key).replace("_", " ").capitalize(), body))
    if len(sections) > MAX_SECTIONS:  # a huge page: the rest folds into one last section
        rest = "\n\n".join(body for _, body in sections[MAX_SECTIONS - 1 :])
        sections = [*sections[: MAX_SECTIONS - 1], ("Rest of the page", rest)]
    return [PageSection(h, b.strip(), _patterns(i, h, b)) for i, (h, b) in enumerate(sections)]


def _items(value: Any) -> list[str]:
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, dict):
                item = (
                    item.get("objection")
                    or item.get("quote")
                    or item.get("text")
                    or next(iter(item.values()), "")
                )
            if str(item).strip():
                out.append(str(item).strip())
        return out
    if isinstance(value, dict):
        return [f"{k}: {v}" for k, v in value.items() if v]
    return [str(value)] if value else []


@dataclass
class BrandFacts:
    """What the brand has to say for itself: the brand, product, offer variant and persona fields."""

    brand: str
    product: str | None = None
    description: str | None = None
    price: str | None = None
    offer_variant: str | None = None
    benefits: list[str] = field(default_factory=list)
    pains: list[str] = field(default_factory=list)
    objections: list[str] = field(default_factory=list)
    mechanism: list[str] = field(default_factory=list)
    desires: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    persona: str | None = None
    persona_language: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, brand: dict[str, Any], product: dict[str, Any] | None, variant: dict[str, Any] | None,
           persona: dict[str, Any] | None) -> BrandFacts:  # fmt: skip
        v, p, pe = variant or {}, product or {}, persona or {}
        return cls(
            brand=brand["name"],
            product=p.get("name"),
            description=p.get("description"),
            price=f"${p['price']:.2f}" if p.get("price") is not None else None,
            offer_variant=v.get("name"),
            benefits=_items(v.get("benefits")),
            pains=_items(v.get("pain_points")) or _items(pe.get("pains")),
            objections=_items(v.get("objections")) or _items(pe.get("objections")),
            mechanism=_items(v.get("mechanism")),
            desires=_items(v.get("desires")) or _items(pe.get("desires")),
            hooks=_items(v.get("sample_hooks")),
            persona=pe.get("name"),
            persona_language=_items(pe.get("language")),
        )

    def describe(self) -> str:
        """The brand's facts as the model reads them."""
        return json.dumps({k: v for k, v in self.__dict__.items() if v}, ensure_ascii=False, indent=1)


def _gap(what: str) -> str:
    return f"(not on file: add {what} to fill this in)"


def write_for(pattern: str, facts: BrandFacts) -> str:
    """What this brand writes for a section doing this job, from its own fields only."""
    product = facts.product or f"{facts.brand}'s product"
    who = facts.persona or "your buyer"
    if pattern == "hook":
        lead = (facts.desires or facts.benefits or [_gap("a desire or benefit")])[0]
        hook = f' For example: "{facts.hooks[0]}"' if facts.hooks else ""
        return f"Open with the outcome {who} wants — {lead} — and name {product}.{hook}"
    if pattern == "social_proof":
        quote = f' Lead with language like "{facts.persona_language[0]}".' if facts.persona_language else ""
        return f"Show {facts.brand} customers' own words about {product} (name, verified buyer).{quote}"
    if pattern == "mechanism":
        how = "; ".join(facts.mechanism) or facts.description or _gap("the offer variant's mechanism")
        return f"Explain why {product} works: {how}."
    if pattern == "offer":
        price = f" at {facts.price}" if facts.price else ""
        return f"State the offer plainly: {facts.offer_variant or product}{price}, and what is included."
    if pattern == "urgency":
        return f"Give a true reason to act now on {facts.offer_variant or product}; only deadlines you really run."
    if pattern == "guarantee":
        return f"Reverse the risk in one line: {facts.brand}'s guarantee on {product}, and how to claim it."
    if pattern == "benefits":
        return (
            "List the benefits as short bullets: " + ("; ".join(facts.benefits[:5]) or _gap("benefits")) + "."
        )
    if pattern == "objections":
        doubts = "; ".join(facts.objections[:4]) or _gap("objections")
        return f"Answer {who}'s doubts, one short answer each: {doubts}."
    pain = (facts.pains or [_gap("a pain point")])[0]
    return f"Keep it brief: connect {pain} to {product}."


def offline_sections(page: list[PageSection], facts: BrandFacts, voice: str | None) -> list[dict[str, Any]]:
    """Each page section with what it says, why it works (its patterns) and what to write for the brand."""
    tone = f" Voice/tone: {voice}." if voice else ""
    return [
        {
            "heading": s.heading,
            "says": says(s.body),
            "why_it_works": " ".join(WHY[p] for p in s.patterns),
            "write_for_brand": " ".join(write_for(p, facts) for p in s.patterns[:2]) + tone,
            "patterns": s.patterns,
        }
        for s in page
    ]
