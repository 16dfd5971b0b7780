"""`/discover_patterns`: recurring themes across a brand's research, and promoting one to an angle."""

from __future__ import annotations

from pydantic import BaseModel, Field

from services.presentable import (
    Column,
    Figure,
    Presentable,
    Table,
    hover_value,
    label_side,
    labelled,
    layout,
    percents,
    with_rows,
)
from services.research import patterns
from tools.actions import ActionButton, confirmation
from tools.deps import Deps
from tools.registry import tool

SHOWN = 8  # patterns named in the summary (the table has them all)


class PatternsAnswer(BaseModel, Presentable):
    summary: str
    report: patterns.PatternReport | None = None
    promotion: patterns.Promotion | None = None
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        return with_rows(*pattern_tables(self))

    def as_charts(self) -> list[Figure]:
        return [patterns_chart(self.report)] if self.report and self.report.patterns else []


def _pct(value: float) -> str:
    return f"{value:.0%}"


@tool(
    example='/discover_patterns brand:"Acme Pets" product:"Joint Chews"',
    step="Discovering patterns for {brand}",
    help="""Sources: ad analyses and classifications, Amazon reviews, landing pages, offer variants, Reddit
    threads, competitors' ads and pages. Confidence (0-100 %) weighs evidence volume and agreement
    across kinds of source; novelty is the distance to the brand's existing angles.""",
)
async def discover_patterns(
    deps: Deps,
    brand: str,
    product: str | None = None,
    promote: str | None = None,
    confirm: bool = False,
) -> PatternsAnswer:
    """Themes that recur across the brand's research (ads, reviews, landing pages, offer variants, Reddit,
    competitors), each with sources, confidence, novelty and next steps; saved, so a later run shows
    what is new. promote:<pattern id> previews turning one into an angle; confirm:true writes it.

    Args:
        product: Only this product's research.
        promote: A pattern id from an earlier run.
        confirm: true to write the angle.
    """
    async with deps.db.as_user(deps.caller) as conn:
        if promote and not confirm:
            found = await patterns.find_pattern(conn, brand=brand, pattern_id=promote)
            return PatternsAnswer(
                summary=f"Promote pattern '{found['name']}' ({len(found['members'])} mentions) to an angle of "
                f"{brand}? Nothing is written until you confirm.",
                actions=confirmation(
                    tool="discover_patterns",
                    args={"brand": brand, "promote": str(found["id"])},
                    label="Promote to angle",
                ),
            )
        if promote:
            done = await patterns.promote_pattern(conn, brand=brand, pattern_id=promote)
            return PatternsAnswer(summary=f"Added angle '{done.angle}' to {brand}.", promotion=done)
        report = await patterns.discover_patterns(
            conn, brand=brand, product=product, settings=deps.settings,
            progress=lambda message: deps.report(message),
        )  # fmt: skip
    deps.report(f"{len(report.patterns)} patterns found")
    scope = report.brand + (f" / {report.product}" if report.product else "")
    new = sum(1 for p in report.patterns if p.is_new)
    text = (
        f"{len(report.patterns)} patterns in {report.evidence_items} evidence items for {scope} "
        f"({new} new since the last run; {report.unclustered} items fit no pattern; "
        f"{report.embedded_new} texts embedded now, {report.embedded_cached} from the cache, with"
        f" {report.embedding_model})."
    )
    for note in report.notes:
        text += f" {note}"
    if report.reused:
        text += (
            " The evidence has not changed since the last run: these are its patterns, not clustered again."
        )
    for p in report.patterns[:SHOWN]:
        text += f"\n- {p.name}: confidence {_pct(p.confidence)}, novelty {_pct(p.novelty)}"
        text += "".join(f"; {s.text}" + (f" ({s.command})" if s.command else "") for s in p.suggestions)
    args: dict[str, str | int | bool] = {"brand": report.brand}
    actions = [
        ActionButton(label=f"Promote '{p.name[:40]}' to angle", tool="discover_patterns",
                     args={**args, "promote": str(p.id)})
        for p in report.patterns if p.id and any(s.kind == "promote" for s in p.suggestions)
    ]  # fmt: skip
    return PatternsAnswer(summary=text, report=report, actions=actions)


def pattern_tables(answer: PatternsAnswer) -> list[Table]:
    """The patterns (one row each) and their members with the rows they come from."""
    if answer.report is None:
        return []
    r = answer.report
    rows: list[list[object]] = [
        [p.name, p.confidence, p.novelty, len(p.members),
         ", ".join(f"{patterns.KIND_LABELS.get(k, k)} {n}" for k, n in p.source_breakdown.items()),  # type: ignore[call-overload]
         "new" if p.is_new else "seen", " ".join(s.text for s in p.suggestions), str(p.id or "")[:8]]
        for p in r.patterns
    ]  # fmt: skip
    members: list[list[object]] = [
        [p.name, m.text, m.source, m.table, m.row_id[:8]] for p in r.patterns for m in p.members
    ]
    return [
        Table(
            f"Patterns — {r.brand}",
            [
                "pattern",
                Column("confidence", "whole_percent"),
                Column("novelty", "whole_percent"),
                "members",
                "sources",
                "status",
                "next_steps",
                "id",
            ],
            rows,
        ),
        Table("Pattern members", ["pattern", "text", "source", "table", "row"], members),
    ]


def patterns_chart(report: patterns.PatternReport) -> Figure:
    """Each pattern by confidence (x) and novelty (y), sized by its members: top right is worth promoting."""
    rows = report.patterns
    xs, ys = percents([p.confidence for p in rows]), percents([p.novelty for p in rows])
    points = [(x or 0.0, y or 0.0) for x, y in zip(xs, ys, strict=True)]
    names = [p.name if len(p.name) <= 20 else p.name[:19] + "…" for p in rows]  # a phone fits two a row
    sizes = [min(40, 8 + 2 * len(p.members)) for p in rows]
    shown = labelled(names, points, [p.confidence + p.novelty for p in rows], sizes=sizes)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers+text",
                "x": xs,
                "y": ys,
                "text": shown,
                "textposition": [label_side(x) for x, _ in points],
                "cliponaxis": False,
                "customdata": [p.name for p in rows],
                "marker": {"size": sizes},
                "hovertemplate": "%{customdata}<br>confidence "
                + hover_value("whole_percent", "x")
                + "<br>novelty "
                + hover_value("whole_percent", "y")
                + "<extra></extra>",
            }
        ],
        "layout": layout(
            f"Patterns by confidence and novelty — {report.brand}",
            xaxis={"title": {"text": "confidence (%)"}, "range": [-10, 112]},
            yaxis={"title": {"text": "novelty (%)"}, "range": [-10, 112]},
        ),
    }
