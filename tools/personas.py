"""`/synthesize_persona`: a 4D persona from any mix of research, previewed as a card, saved on Save."""

from __future__ import annotations

from collections import OrderedDict

from pydantic import BaseModel, Field

from services.presentable import Column, Presentable, Table, with_rows
from services.research import personas
from services.research.evidence import SOURCE_LABELS
from tools.actions import ActionButton, confirmation
from tools.deps import Deps
from tools.registry import tool

# The last previews, per caller and request: Save writes exactly what was shown (a model may word a
# re-run differently). A restart forgets them; Save then synthesizes again (and says so).
_DRAFTS: OrderedDict[tuple[str, ...], personas.PersonaDraft] = OrderedDict()
MOST_DRAFTS = 200


class PersonaAnswer(BaseModel, Presentable):
    summary: str
    persona: personas.PersonaDraft
    saved_id: str | None = None
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        return with_rows(*persona_tables(self))

    def as_card(self) -> str:
        return persona_card(self.persona)


def persona_card(p: personas.PersonaDraft) -> str:
    """The persona as a card: its name, awareness, each dimension's lines (with how often the research
    says it), quotes with their source, and where the evidence came from."""
    head = f"### {p.name}" + (f" · {p.product}" if p.product else "")
    lines = [head, "", f"**Brand** {p.brand}"]
    if p.awareness_level:
        lines[-1] += f" · **Awareness** {p.awareness_level.replace('_', ' ')}"
    fields: dict[str, list[str]] = {}
    for line in p.lines:
        mentions = f" ({line.mentions} mentions)" if line.mentions > 1 else ""
        fields.setdefault(line.field, []).append(f"- {line.text}{mentions}")
    for field, items in fields.items():
        lines += ["", f"**{field.replace('_', ' ').capitalize()}**", *items]
    if p.language:
        lines += ["", "**In their words**"]
        for q in p.language:  # one quote per block: consecutive ">" lines would run together
            lines += [f"> “{q.text}” — {SOURCE_LABELS[q.source]}", ""]
        lines.pop()
    if shares := [f"{s.label} {s.share:.0%}" for s in p.source_breakdown if s.items]:
        lines += ["", f"**From** {' · '.join(shares)}"]
    return "\n".join(lines) + "\n"


def _key(deps: Deps, brand: str, product: str | None, sources: str) -> tuple[str, ...]:
    return (
        str(deps.caller.user_id),
        brand.casefold().strip(),
        (product or "").casefold().strip(),
        sources,
    )


@tool(
    example='/synthesize_persona brand:"Acme Pets" product:"Joint Chews" sources:all',
    step="Synthesizing a persona for {brand}",
    help="""Ad creative classifications stand in for ad copy analyses when the brand has none. Each quote says
    where it comes from; Save writes the persona to the brand's personas.""",
)
async def synthesize_persona(
    deps: Deps, brand: str, product: str | None = None, sources: str = "all", confirm: bool = False
) -> PersonaAnswer:
    """A 4D customer persona (demographics, psychographics, pains, desires, objections, quotes, awareness)
    from the brand's research, with each source's share. Previews unless confirm:true.

    Args:
        product: Only this product's evidence.
        sources: all, or a comma-separated mix of ads, reviews, landing_pages, offer_variants.
        confirm: true to save it.
    """
    chosen = personas.PersonaSources.parse(sources)
    key = _key(deps, brand, product, chosen.label())
    async with deps.db.as_user(deps.caller) as conn:
        draft = _DRAFTS.pop(key, None) if confirm else None
        again = confirm and draft is None
        if draft is None:
            deps.report("Reading ad analyses, reviews, landing pages and offer variants")
            draft = await personas.synthesize_persona(
                conn, brand=brand, product=product, sources=chosen, settings=deps.settings
            )
        deps.report("Persona ready")
        saved = await personas.save_persona(conn, draft) if confirm else None
    shares = ", ".join(
        f"{s.label} {s.share:.0%} ({s.items} items)" for s in draft.source_breakdown if s.items
    )
    head = f"Persona '{draft.name}' for {draft.brand}" + (f" / {draft.product}" if draft.product else "")
    text = f"{head} ({'model' if draft.method == 'model' else 'extractive, no model'}). From: {shares or 'nothing'}."
    if draft.notes[1:]:
        text += " " + " ".join(draft.notes[1:])
    if saved:
        text += f" Saved to the brand's personas ({str(saved)[:8]})."
        if again:
            text += " (The preview had expired, so it was synthesized again before saving.)"
        return PersonaAnswer(summary=text, persona=draft, saved_id=str(saved))
    _DRAFTS[key] = draft
    while len(_DRAFTS) > MOST_DRAFTS:
        _DRAFTS.popitem(last=False)
    args: dict[str, str | int | bool] = {"brand": draft.brand, "sources": draft.sources}
    if draft.product:
        args["product"] = draft.product
    text += " Nothing is saved until you press Save."
    return PersonaAnswer(
        summary=text, persona=draft, actions=confirmation(tool="synthesize_persona", args=args, label="Save")
    )


def persona_tables(answer: PersonaAnswer) -> list[Table]:
    """The card: the persona's lines, its quotes with their rows, and the source breakdown."""
    p = answer.persona
    lines: list[list[object]] = [["name", p.name, None, ""], ["awareness_level", p.awareness_level, None, ""]]
    lines += [[line.field, line.text, line.mentions or None, line.sources] for line in p.lines]
    quotes: list[list[object]] = [
        [q.text, SOURCE_LABELS[q.source], q.table, q.row_id[:8]] for q in p.language
    ]
    sources: list[list[object]] = [[s.label, s.rows, s.items, s.share] for s in p.source_breakdown]
    return [
        Table(f"Persona — {p.name}", ["field", "value", "mentions", "sources"], lines),
        Table("Quotes", ["quote", "source", "table", "row"], quotes),
        Table("Source breakdown", ["source", "rows", "items", Column("share", "whole_percent")], sources),
    ]
