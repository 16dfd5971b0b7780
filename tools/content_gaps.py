"""`/content_gaps`: the empty fields of a brand's strategy, what could fill each, and Fill buttons."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.presentable import Presentable, Table, table_of
from services.research import content_gaps as gaps
from tools.actions import ActionButton, confirmation
from tools.deps import Deps
from tools.registry import tool

MOST_BUTTONS = 6


class ContentGapsAnswer(BaseModel, Presentable):
    summary: str
    report: gaps.GapsReport | None = None
    fill: gaps.FillPreview | None = None
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        if (f := self.fill) is not None:
            rows = [
                ["current", f.current],
                ["new value", f.new_value],
                *(["evidence", e] for e in f.evidence),
            ]
            return [Table(f"Fill {f.target}", ["", "value"], rows)]
        if (report := self.report) is None:
            return []
        columns = ["target", "owner", "field", "sources", "suggestion"]
        tables = [table_of(f"Content gaps — {report.brand}", report.gaps, columns)]
        if evidence := [[g.target, e] for g in report.gaps for e in g.evidence]:
            tables.append(Table("Evidence for the suggestions", ["target", "evidence"], evidence))
        chain = ["level", "owner", "voice_tone"]
        tables.append(table_of("Voice/tone chain (first set wins)", report.voice_chain, chain))
        return tables


@tool(
    example='/content_gaps brand:"Acme Pets" product:"Joint Chews"',
    step="Looking for content gaps in {brand}",
    help="""Each gap lists rows per research source and evidence snippets; the answer also shows the voice/tone
    chain (persona override, offer variant override, brand voice). fill takes fields like
    brand.niche or variant:1f0c2a9e.pain_points.""",
)
async def content_gaps(
    deps: Deps,
    brand: str,
    product: str | None = None,
    fill: str | None = None,
    value: str | None = None,
    confirm: bool = False,
    confirm_overwrite: bool = False,
) -> ContentGapsAnswer:
    """Which brand, product, offer variant and persona fields are empty and which research could fill each.
    With fill, previews writing one field; confirm:true writes (confirm_overwrite:true to replace a value).

    Args:
        product: Only this product.
        fill: A field as listed in the gaps, e.g. brand.niche.
        value: Instead of the suggestion (list items separated by ';').
        confirm: true to write.
        confirm_overwrite: true to replace an existing value.
    """
    async with deps.db.as_user(deps.caller) as conn:
        if fill:
            preview = await gaps.fill_gap(
                conn, brand=brand, product=product, target=fill, value=value, confirm=confirm,
                confirm_overwrite=confirm_overwrite,
            )  # fmt: skip
            return _fill_answer(brand, product, value, preview)
        report = await gaps.content_gaps(conn, brand=brand, product=product)
    scope = report.brand + (f" / {report.product}" if report.product else "")
    text = f"{len(report.gaps)} empty field(s) of {report.checked_fields} checked for {scope}."
    fillable = [g for g in report.gaps if g.suggestion]
    if fillable:
        text += f" {len(fillable)} can be filled from the research: " + "; ".join(
            f"{g.target} ← {g.suggestion[:60]}" for g in fillable[:MOST_BUTTONS] if g.suggestion
        )
        text += "."
    chain = " → ".join(
        f"{v.level.replace('_', ' ')} '{v.owner}' {v.voice_tone or '(empty)'}" for v in report.voice_chain
    )
    text += f" Voice/tone comes from the {report.voice_resolved_from or 'nowhere yet'} ({chain})."
    actions = [
        ActionButton(
            label=f"Fill {g.target}",
            tool="content_gaps",
            args={**_scope(report.brand, report.product), "fill": g.target},
        )
        for g in fillable[:MOST_BUTTONS]
    ]
    return ContentGapsAnswer(summary=text, report=report, actions=actions)


def _scope(brand: str, product: str | None) -> dict[str, str | int | bool]:
    return {"brand": brand, **({"product": product} if product else {})}


def _fill_answer(
    brand: str, product: str | None, value: str | None, p: gaps.FillPreview
) -> ContentGapsAnswer:
    if p.written:
        text = f"Filled {p.owner}'s {p.field}: {p.new_value}."
        return ContentGapsAnswer(summary=text, fill=p)
    args: dict[str, str | int | bool] = {**_scope(brand, product), "fill": p.target}
    if value:
        args["value"] = value
    text = f"{p.owner}'s {p.field} would become: {p.new_value}."
    if p.evidence:
        text += " Evidence: " + "; ".join(p.evidence[:3]) + "."
    if p.has_value:
        text += f" It already has a value ({p.current[:80]}); Replace overwrites it."
        args["confirm_overwrite"] = True
    text += " Nothing is written until you confirm."
    label = "Replace" if p.has_value else "Fill"
    return ContentGapsAnswer(
        summary=text, fill=p, actions=confirmation(tool="content_gaps", args=args, label=label)
    )
