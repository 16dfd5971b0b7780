"""The offline classifier (`offline-rules`): an ad's classification from its text and format by simple
rules, so the embedded default works with no model key. It cannot see an image or hear a video; every
row it writes says it came from the rules (`source = 'offline'`, `model = 'offline-rules'`)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.creative.ad_classifier import (
    AdClassification,
    AdInput,
    AwarenessLevel,
    CongruenceComponent,
    Dimension,
    Hook,
    HookCategory,
    Hooks,
    Status,
)

# First match wins, in this order (an offer line is an offer even when it asks a question).
_HOOK_PATTERNS: dict[HookCategory, str] = {
    "offer": r"\d+\s?% off|\$\d+ off|free shipping|\bbogo\b|\bbuy \d+\b.*\bget\b|\bsale\b|\bdiscount|"
             r"\bcode [a-z0-9]{3,}\b|risk.free|\bsave \d+|\bends (today|tonight|sunday|soon)",
    "before_after": r"\bbefore\b.*\bafter\b|\bday \d+ vs\b|\bbefore (and|&) after\b",
    "us_vs_them": r"\bvs\.?\s|\bversus\b|\bditching\b|\bunlike\b|\bbetter than\b|\binstead of\b",
    "testimonial": r"^\W*(i|i'm|i've|i was|my|we)\b|\bhonestly\b|^\s*[\"“]",
    "problem_callout": r"stop scrolling|tired of|sick of|fed up|struggl|dealing with|\bif your\b|"
                       r"\bno more\b|\bproblem\b",
    "demonstration": r"\bwatch\b|\bsee how\b|\bhow (it|to)\b|here'?s (exactly )?how|\bin action\b",
    "social_proof": r"\d[\d,.]*\+?\s*k?\s*(customers|reviews|people|parents|owners|buyers|users)\b|"
                    r"\d(\.\d)? stars?\b|sold out|everyone.*talking|best.?seller|5.star|\brated\b|"
                    r"(dermatologists|doctors|experts|vets|chefs) (love|recommend|use)",
    "question": r"\?\s*$",
    "curiosity": r"\bsecret\b|\bwhy\b|\bnobody\b|real reason|didn'?t believe|what happened|won'?t believe",
    "bold_claim": r"\b(best|#1|number one|only|guaranteed?|proven|clinically|money back|ever)\b|thank you",
}  # fmt: skip
_HOOK_RULES = tuple(
    (category, re.compile(pattern, re.IGNORECASE)) for category, pattern in _HOOK_PATTERNS.items()
)
_OFFER = re.compile(_HOOK_PATTERNS["offer"], re.IGNORECASE)
_ANGLE_OF: dict[str, str] = {
    "question": "curiosity", "bold_claim": "authority", "problem_callout": "problem/solution",
    "social_proof": "social proof", "curiosity": "curiosity", "demonstration": "mechanism/demonstration",
    "testimonial": "personal story", "offer": "price/value", "before_after": "transformation",
    "us_vs_them": "comparison",
}  # fmt: skip
_CTA = re.compile(r"^(shop|buy|order|get yours|learn more|tap|click|try it|sign up)\b", re.IGNORECASE)
_CLAIM = re.compile(
    r"\d|\b(proven|clinically|guarantee|#1|tested|approved|certified|money back|stars?|dermatologist|doctor)",
    re.IGNORECASE,
)
_AUDIENCE = re.compile(r"\b(?:for|if you(?:r)?|anyone)\b(?!\s+\d)[^.!?]{3,60}", re.IGNORECASE)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+|\s+[-|–]\s+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_STOP = frozenset(
    [
        "this",
        "that",
        "with",
        "your",
        "have",
        "from",
        "they",
        "them",
        "what",
        "when",
        "will",
        "just",
        "into",
        "than",
        "then",
        "were",
        "been",
        "also",
        "more",
        "most",
        "only",
        "very",
        "much",
        "here",
        "there",
        "about",
        "after",
        "before",
        "every",
        "their",
        "these",
        "those",
        "which",
        "while",
        "shop",
        "today",
    ]
)
_TONES: dict[str, frozenset[str]] = {
    "enthusiastic": frozenset({"energetic", "fun", "playful", "bold", "upbeat", "excited", "enthusiastic"}),
    "conversational": frozenset(
        {"friendly", "casual", "warm", "conversational", "relatable", "approachable"}
    ),
    "clinical": frozenset({"expert", "scientific", "clinical", "trustworthy", "authoritative", "credible"}),
    "plain": frozenset({"simple", "clear", "straightforward", "honest", "calm", "minimal"}),
}
_NOTES = {
    "aligned": "The page says the same.",
    "weak": "The page only partly echoes this: make it as prominent as in the ad.",
    "missing": "The page doesn't say this: people who clicked for it won't find it.",
}


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if (len(w) >= 4 or w.isdigit()) and w not in _STOP}


def _hook_category(text: str) -> HookCategory | None:
    return next((category for category, rule in _HOOK_RULES if rule.search(text)), None)


def _compare(dimension: Dimension, ad: str, page: str, page_words: set[str]) -> CongruenceComponent:
    if not ad:
        return CongruenceComponent(dimension=dimension, status="missing", note="The ad doesn't state one.")
    wanted = _words(ad)
    share = len(wanted & page_words) / len(wanted) if wanted else 0.0
    status: Status = "aligned" if share >= 0.6 else "weak" if share >= 0.25 else "missing"
    shown = (
        " ".join(w for w in _WORD.findall(page.lower()) if w in wanted)[:200] if status != "missing" else ""
    )
    return CongruenceComponent(
        dimension=dimension, status=status, ad=ad, landing_page=shown, note=_NOTES[status]
    )


def _tone(text: str) -> str:
    if text.count("!") >= 2:
        return "enthusiastic"
    if re.search(r"\b(i|i'm|my|you|your)\b", text, re.IGNORECASE):
        return "conversational"
    if _CLAIM.search(text):
        return "clinical"
    return "plain"


def _first(items: Iterable[str], n: int = 5) -> list[str]:
    out: list[str] = []
    for item in items:
        if item and item not in out:
            out.append(item)
    return out[:n]


def classify_offline(ad: AdInput) -> AdClassification:
    """The rules: the opening sentence is the hook (as on-screen/opening text: no transcript offline),
    its category by keyword; offers, claims and benefits sentence by sentence; congruence by how many
    of the ad's words the landing page (or product) repeats."""
    sentences = [s.strip(" -|–") for s in _SENTENCES.split(ad.text) if s.strip(" -|–")]
    hook_text = sentences[0] if sentences else ""
    opening = " ".join(sentences[:2])
    category = _hook_category(hook_text) or _hook_category(opening)
    offers = _first(s for s in sentences if _OFFER.search(s))
    claims = _first(s for s in sentences if _CLAIM.search(s) and s not in offers)
    benefits = _first(
        s for s in sentences[1:] if s not in offers and not _CTA.search(s) and len(s.split()) >= 3
    )
    angles = _first(([_ANGLE_OF[category]] if category else []) + (["price/value"] if offers else []))
    text = ad.text.lower()
    named = any(n and n.lower() in text for n in (ad.product_name, ad.brand_name))
    if offers and named:
        awareness: AwarenessLevel = "most_aware"
    elif category == "problem_callout":
        awareness = "problem_aware"
    elif category in ("demonstration", "us_vs_them", "before_after"):
        awareness = "solution_aware"
    else:
        awareness = "product_aware" if named else "unaware"
    components: list[CongruenceComponent] = []
    page = ad.page_text()
    if page:
        page_words = _words(page)
        product = (
            ad.product_name if ad.product_name and ad.product_name.lower() in text else ad.headline or ""
        )
        audience = _AUDIENCE.search(ad.text)
        for dimension, said in (
            ("product", product), ("offer", "; ".join(offers)), ("angle", hook_text),
            ("benefits", "; ".join(benefits)), ("claims", "; ".join(claims)),
            ("audience", audience.group(0).strip() if audience else ""),
        ):  # fmt: skip
            components.append(_compare(dimension, said, page, page_words))  # type: ignore[arg-type]
        tone = _tone(ad.text)
        voice = _words(ad.brand_voice or "")
        tone_status: Status = "missing" if not voice else "aligned" if voice & _TONES[tone] else "weak"
        components.append(
            CongruenceComponent(
                dimension="voice_tone",
                status=tone_status,
                ad=tone,
                landing_page=ad.brand_voice or "",
                note=_NOTES[tone_status] if voice else "No brand voice on file to compare with.",
            )
        )
    hook = Hook(text=hook_text, category=category) if hook_text else None
    return AdClassification(
        awareness_level=awareness,
        hooks=Hooks(overlay=hook),
        benefits=benefits,
        angles=angles,
        claims=claims,
        congruence_components=components,
        storyboard=[],
    )
