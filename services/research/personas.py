"""`synthesize_persona`: one 4D persona from any mix of a brand's research, saved only on confirmation.

The sources are a configuration (`PersonaSources`): the old system's three fixed paths (from ads,
from reviews, from landing pages) are the presets `ads`, `reviews`, `landing_pages`. Ad creative
classifications stand in for ad copy analyses, automatically and said so, when the brand has none.
With a model: a structured-output call over evidence chosen per field within a budget. Offline: an
extractive synthesis (recurring signals ranked across sources, verbatim quotes), labelled as such.
"""

from __future__ import annotations

from functools import cache
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, ModelHTTPError

from core.errors import ExternalServiceError, InvalidArgument, NoData
from db.jsonb import jsonb
from db.pool import Conn
from prompts import load_prompt
from services.brands import resolve_brand
from services.creative.ad_classifier import AwarenessLevel
from services.llm.model_choice import analysis_model, model_name
from services.products import ProductRef, resolve_product
from services.research.evidence import (
    SOURCE_LABELS,
    Category,
    Evidence,
    Signal,
    Source,
    SourceCounts,
    ad_source,
    check_available_sources,
    gather,
    most_common,
    rank,
)
from settings import Settings

PRESETS = ("ads", "reviews", "landing_pages", "offer_variants")
EXTRACTIVE_LABEL = (
    "Extractive synthesis (no model): the most recurring signals across sources, quoted verbatim."
)
FIELD_BUDGET = 1500  # characters of evidence per persona field sent to the model
MODEL_TIMEOUT = 120.0
# The persona fields and the evidence categories that speak to each.
FIELDS: dict[str, tuple[Category, ...]] = {
    "demographics": ("demographics",),
    "psychographics": ("psychographics", "voice"),
    "pains": ("pains",),
    "desires": ("desires", "benefits"),
    "objections": ("objections",),
    "language": ("language", "hooks"),
}


class PersonaSources(BaseModel):
    """Which research a persona is made from."""

    ads: bool = True
    reviews: bool = True
    landing_pages: bool = True
    offer_variants: bool = True

    @classmethod
    def parse(cls, text: str) -> PersonaSources:
        """`all`, or a comma-separated mix of ads, reviews, landing_pages, offer_variants."""
        names = [n.strip().casefold() for n in text.replace(" ", ",").split(",") if n.strip()]
        if names == ["all"]:
            return cls()
        unknown = [n for n in names if n not in PRESETS]
        if not names or unknown:
            raise InvalidArgument(
                f"Unknown source {', '.join(repr(n) for n in unknown) or '(none)'}: use all, or any of "
                f"{', '.join(PRESETS)} separated by commas, e.g. sources:ads,reviews."
            )
        return cls(**{p: p in names for p in PRESETS})

    def label(self) -> str:
        chosen = [p for p in PRESETS if getattr(self, p)]
        return "all" if len(chosen) == len(PRESETS) else ",".join(chosen)


class Quote(BaseModel):
    text: str
    source: Source
    table: str
    row_id: str


class SourceShare(BaseModel):
    source: Source
    label: str
    rows: int
    items: int
    """Evidence items of this source behind the persona's signals and quotes."""
    share: float


class PersonaLine(BaseModel):
    field: str
    text: str
    mentions: int = 0
    sources: str = ""


class PersonaDraft(BaseModel):
    brand: str
    brand_id: UUID
    organization_id: UUID
    product: str | None = None
    product_id: UUID | None = None
    sources: str
    method: Literal["model", "extractive"]
    model: str | None = None
    name: str
    demographics: list[str] = Field(default_factory=list)
    psychographics: list[str] = Field(default_factory=list)
    pains: list[str] = Field(default_factory=list)
    desires: list[str] = Field(default_factory=list)
    objections: list[str] = Field(default_factory=list)
    language: list[Quote] = Field(default_factory=list)
    awareness_level: str | None = None
    lines: list[PersonaLine] = Field(default_factory=list)
    source_breakdown: list[SourceShare] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ModelPersona(BaseModel):
    """What the model returns (the structured output)."""

    name: str
    demographics: list[str] = Field(default_factory=list)
    psychographics: list[str] = Field(default_factory=list)
    pains: list[str] = Field(default_factory=list)
    desires: list[str] = Field(default_factory=list)
    objections: list[str] = Field(default_factory=list)
    quote_ids: list[str] = Field(default_factory=list, description="Evidence ids, e.g. E3, quoted verbatim")
    awareness_level: AwarenessLevel | None = None


def prompt_version() -> str:
    return load_prompt("persona").version


@cache
def persona_agent() -> Agent[None, ModelPersona]:
    return Agent(
        output_type=ModelPersona, instructions=load_prompt("persona").text, name="persona", retries=2
    )


async def resolve_scope(
    conn: Conn, *, brand: str, product: str | None
) -> tuple[UUID, str, UUID, ProductRef | None]:
    """(brand id, brand name, organization id, product) for names a person typed, as the caller sees them."""
    brand_ref = await resolve_brand(conn, name=brand)
    product_ref = await resolve_product(conn, name=product, brand_id=brand_ref.id) if product else None
    return brand_ref.id, brand_ref.name, brand_ref.organization_id, product_ref


async def _evidence(
    conn: Conn, *, brand_id: UUID, product_id: UUID | None, sources: PersonaSources, notes: list[str]
) -> tuple[list[Evidence], SourceCounts]:
    counts = await check_available_sources(conn, brand_id=brand_id, product_id=product_id)
    chosen: list[Source] = [p for p in ("reviews", "landing_pages", "offer_variants") if getattr(sources, p)]
    if sources.ads:
        ads = await ad_source(conn, brand_id=brand_id)
        chosen.append(ads)
        if ads == "ad_classifications":
            notes.append(
                f"The brand has no ad copy analyses, so its {counts.ad_classifications} ad creative "
                "classification(s) were used instead."
            )
        elif counts.ads == 0:
            notes.append("None of the brand's ad copy analyses are about this product.")
    return await gather(conn, brand_id=brand_id, product_id=product_id, sources=chosen), counts


def _rows_of(source: Source, counts: SourceCounts) -> int:
    return {
        "ads": counts.ads,
        "ad_classifications": counts.ad_classifications,
        "reviews": counts.reviews + counts.review_analyses,
        "landing_pages": counts.landing_pages + counts.landing_page_analyses,
        "offer_variants": counts.offer_variants,
    }[source]


def _breakdown(used: list[Evidence], evidence: list[Evidence], counts: SourceCounts) -> list[SourceShare]:
    present = sorted({e.source for e in evidence}, key=list(SOURCE_LABELS).index)
    total = len(used) or 1
    return [
        SourceShare(
            source=s, label=SOURCE_LABELS[s], rows=_rows_of(s, counts),
            items=sum(1 for e in used if e.source == s), share=round(sum(1 for e in used if e.source == s) / total, 3),
        )
        for s in present
    ]  # fmt: skip


def _signals(evidence: list[Evidence], field: str, most: int) -> list[Signal]:
    merged = [
        e.model_copy(update={"category": FIELDS[field][0]}) for e in evidence if e.category in FIELDS[field]
    ]
    return rank(merged, FIELDS[field][0], most=most)


def _quote(e: Evidence) -> Quote:
    return Quote(text=e.text, source=e.source, table=e.table, row_id=e.row_id)


def extractive(evidence: list[Evidence]) -> tuple[dict[str, list[Signal]], list[Evidence]]:
    """Per field, the top recurring signals; and every evidence item behind them."""
    picked = {field: _signals(evidence, field, 6) for field in FIELDS if field != "language"}
    # Customers' own words (reviews, testimonials) first; ad hooks only fill the remaining places.
    own = rank(evidence, "language", most=6)
    picked["language"] = own + rank(evidence, "hooks", most=8 - len(own))
    used = [e for signals in picked.values() for s in signals for e in s.refs]
    return picked, used


def _lines(fields: dict[str, list[Signal]]) -> list[PersonaLine]:
    return [
        PersonaLine(
            field=f, text=s.text, mentions=s.count, sources=", ".join(SOURCE_LABELS[x] for x in s.sources)
        )
        for f, signals in fields.items()
        if f != "language"
        for s in signals
    ]


def model_evidence(evidence: list[Evidence]) -> tuple[str, dict[str, Evidence], int]:
    """The evidence the model reads: per field, the strongest signals until the field's budget is
    spent (whole lines only); with ids, and how many signals did not fit."""
    lines: list[str] = []
    ids: dict[str, Evidence] = {}
    left_out = 0
    for field in FIELDS:
        lines.append(f"## {field}")
        spent = 0
        for signal in _signals(evidence, field, most=1000):
            line = f"({', '.join(signal.sources)}, said {signal.count} times) {signal.text}"
            if spent + len(line) > FIELD_BUDGET:
                left_out += 1
                continue
            spent += len(line)
            key = f"E{len(ids) + 1}"
            ids[key] = signal.refs[0]
            lines.append(f"[{key}] {line}")
    levels = [e.text for e in evidence if e.category == "awareness"]
    if levels:
        lines.append(
            "## awareness levels seen: "
            + ", ".join(f"{lv} x{levels.count(lv)}" for lv in sorted(set(levels)))
        )
    return "\n".join(lines), ids, left_out


async def synthesize_persona(
    conn: Conn, *, brand: str, product: str | None = None, sources: PersonaSources, settings: Settings
) -> PersonaDraft:
    """A 4D persona for the brand (and product) from the chosen sources; nothing is saved."""
    brand_id, brand_name, org_id, product_ref = await resolve_scope(conn, brand=brand, product=product)
    notes: list[str] = []
    pid = product_ref.id if product_ref else None
    evidence, counts = await _evidence(conn, brand_id=brand_id, product_id=pid, sources=sources, notes=notes)
    scope = f"{brand_name}" + (f" / {product_ref.name}" if product_ref else "")
    if not evidence:
        raise NoData(
            f"No research to build a persona from for {scope} with sources:{sources.label()}. "
            "Try sources:all, or add reviews, landing pages or offer variants first."
        )
    draft = PersonaDraft(
        brand=brand_name, brand_id=brand_id, organization_id=org_id, product=product_ref.name if product_ref else None,
        product_id=pid, sources=sources.label(), method="extractive", name="", notes=notes,
    )  # fmt: skip
    picked, used = extractive(evidence)
    model = analysis_model(settings)
    if model is None:
        top = picked["demographics"][0].text if picked["demographics"] else brand_name + " customer"
        draft.name = f"{top[0].upper()}{top[1:]} ({product_ref.name if product_ref else brand_name})"
        for field in ("demographics", "psychographics", "pains", "desires", "objections"):
            setattr(draft, field, [s.text for s in picked[field]])
        draft.language = [_quote(s.refs[0]) for s in picked["language"]]
        draft.awareness_level = most_common(evidence, "awareness")
        draft.lines = _lines(picked)
        draft.notes.insert(0, EXTRACTIVE_LABEL)
    else:
        text, ids, left_out = model_evidence(evidence)
        try:
            result = await persona_agent().run(
                f"Brand: {scope}\n\n{text}", model=model, timeout=MODEL_TIMEOUT
            )
        except (ModelHTTPError, AgentRunError) as error:
            raise ExternalServiceError(
                f"The model could not write the persona ({error}). Nothing was saved."
            ) from error
        out = result.output
        draft.method, draft.model, draft.name = "model", model_name(model), out.name
        for field in ("demographics", "psychographics", "pains", "desires", "objections"):
            setattr(draft, field, getattr(out, field))
        quoted = [ids[q] for q in dict.fromkeys(q.strip() for q in out.quote_ids) if q in ids]
        draft.language = (
            [_quote(e) for e in quoted] if quoted else [_quote(s.refs[0]) for s in picked["language"]]
        )
        draft.awareness_level = out.awareness_level
        draft.lines = [
            PersonaLine(field=f, text=t)
            for f in ("demographics", "psychographics", "pains", "desires", "objections")
            for t in getattr(out, f)
        ]
        used = list(ids.values())
        draft.notes.insert(
            0,
            f"Written by {draft.model} from {len(ids)} evidence signals chosen per field"
            + (f" ({left_out} weaker signals did not fit the budget)." if left_out else "."),
        )
    draft.source_breakdown = _breakdown(used, evidence, counts)
    return draft


async def save_persona(conn: Conn, draft: PersonaDraft) -> UUID:
    """Write the persona to `personas_4d` (as the caller: RLS checks the organization)."""
    breakdown = {
        "method": draft.method,
        "sources": {
            s.source: {"rows": s.rows, "items": s.items, "share": s.share} for s in draft.source_breakdown
        },
        "quotes": [q.model_dump() for q in draft.language],
    }
    cur = await conn.execute(
        "insert into personas_4d (brand_id, organization_id, product_id, name, demographics, psychographics,"
        " pains, desires, objections, language, awareness_level, source_breakdown)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) returning id",
        (
            draft.brand_id, draft.organization_id, draft.product_id, draft.name,
            jsonb({"signals": draft.demographics}), jsonb({"signals": draft.psychographics}),
            jsonb(draft.pains), jsonb(draft.desires), jsonb(draft.objections),
            jsonb([q.text for q in draft.language]), draft.awareness_level, jsonb(breakdown),
        ),
    )  # fmt: skip
    row = await cur.fetchone()
    assert row is not None
    return UUID(str(row["id"]))
