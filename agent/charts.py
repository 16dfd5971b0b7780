"""Charts where a picture reads better than a table: Plotly figures as the plain JSON plotly.js draws.

Built as dicts rather than `plotly.graph_objects` figures: those validate every property and copy
the whole figure again to serialise it, several milliseconds of the event loop per chart, and
carry plotly.py's ~10 kB default template into every message.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from chainlit.element import Element, ElementSize, ElementType
from pydantic import BaseModel
from pydantic.dataclasses import dataclass

from services.congruence import CongruenceSummaryResult
from services.hooks import HookAnalysisResult, TopHooksResult
from services.patterns import PatternReport

Figure = dict[str, Any]  # {"data": [traces], "layout": {...}}, as plotly.js takes it

_STATUS_COLOURS = {"aligned": "#2e7d32", "weak": "#f9a825", "missing": "#c62828"}


@dataclass
class PlotlyChart(Element):
    """Chainlit's "plotly" element from a figure dict (`cl.Plotly` insists on a graph_objects figure)."""

    type: ClassVar[ElementType] = "plotly"
    size: ElementSize = "medium"
    figure: Any = None
    content: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.figure, dict) or not isinstance(self.figure.get("data"), list):
            raise TypeError("figure must be a dict with a list of traces under 'data'")
        layout = {**self.figure.get("layout", {}), "autosize": True}
        self.content = json.dumps({"data": self.figure["data"], "layout": layout}, allow_nan=False)
        self.mime = "application/json"
        super().__post_init__()


def title_of(figure: Figure) -> str:
    return str(figure.get("layout", {}).get("title", {}).get("text") or "chart")


def _layout(title: str, **rest: Any) -> dict[str, Any]:
    return {"title": {"text": title}, "legend": {"orientation": "h"}, **rest}


def _pct(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(v * 100, 2) for v in values]


def hook_categories_chart(result: HookAnalysisResult) -> Figure:
    """Hook rate per category (bars) against spend (markers, right axis)."""
    rows = sorted(result.rows, key=lambda r: -(r.hook_rate or 0))
    names = [r.category for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": _pct([r.hook_rate for r in rows]),
                "name": "Hook rate (%)",
                "marker": {"color": "#1565c0"},
            },
            {
                "type": "scatter",
                "x": names,
                "y": [r.spend for r in rows],
                "name": "Spend ($)",
                "yaxis": "y2",
                "mode": "markers",
                "marker": {"size": 12},
            },
        ],
        "layout": _layout(
            f"Hook categories — {result.brand}, {result.window.label}",
            yaxis={"title": {"text": "Hook rate (%)"}},
            yaxis2={"title": {"text": "Spend ($)"}, "overlaying": "y", "side": "right"},
        ),
    }


def congruence_chart(result: CongruenceSummaryResult) -> Figure:
    """Aligned / weak / missing per dimension, stacked."""
    names = [d.dimension for d in result.dimensions]
    return {
        "data": [
            {
                "type": "bar",
                "x": names,
                "y": [getattr(d, status) for d in result.dimensions],
                "name": status,
                "marker": {"color": colour},
            }
            for status, colour in _STATUS_COLOURS.items()
        ],
        "layout": _layout(
            f"Congruence by dimension — {result.brand}, {result.window.label}",
            barmode="stack",
            yaxis={"title": {"text": "Ads"}},
        ),
    }


def top_hooks_chart(result: TopHooksResult) -> Figure:
    """The ranked hooks' metric, best first."""
    rows = result.rows
    labels = [
        f"{i + 1}. {(r.hook_text[:40] + '…') if len(r.hook_text) > 40 else r.hook_text}"
        for i, r in enumerate(rows)
    ]
    values: list[float | None] = [getattr(r, result.metric) for r in rows]
    percent = result.metric in ("hook_rate", "hold_rate", "thruplay_rate", "ctr")
    return {
        "data": [{"type": "bar", "x": _pct(values) if percent else values, "y": labels, "orientation": "h"}],
        "layout": _layout(
            f"Top hooks by {result.metric} — {result.brand}, {result.window.label}",
            yaxis={"autorange": "reversed"},
            xaxis={"title": {"text": f"{result.metric}{' (%)' if percent else ''}"}},
        ),
    }


def patterns_chart(report: PatternReport) -> Figure:
    """Each pattern by confidence (x) and novelty (y), sized by its members: top right is worth promoting."""
    rows = report.patterns
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "markers+text",
                "x": _pct([p.confidence for p in rows]),
                "y": _pct([p.novelty for p in rows]),
                "text": [p.name[:40] for p in rows],
                "textposition": "top center",
                "marker": {"size": [min(40, 8 + 2 * len(p.members)) for p in rows]},
                "hovertemplate": "%{text}<br>confidence %{x}%<br>novelty %{y}%<extra></extra>",
            }
        ],
        "layout": _layout(
            f"Patterns — {report.brand}: confidence × novelty",
            xaxis={"title": {"text": "confidence (%)"}, "range": [-5, 105]},
            yaxis={"title": {"text": "novelty (%)"}, "range": [-5, 105]},
        ),
    }


def charts_for(result: BaseModel) -> list[Figure]:
    report = getattr(result, "report", None)  # a tools.patterns.PatternsAnswer
    if isinstance(report, PatternReport) and report.patterns:
        return [patterns_chart(report)]
    if isinstance(result, HookAnalysisResult) and result.rows:
        return [hook_categories_chart(result)]
    if isinstance(result, CongruenceSummaryResult) and result.classified_ads:
        return [congruence_chart(result)]
    if isinstance(result, TopHooksResult) and result.rows:
        return [top_hooks_chart(result)]
    return []
