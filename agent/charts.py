"""Charts where a picture reads better than a table (Plotly figures; the chat UI shows them)."""

from __future__ import annotations

import plotly.graph_objects as go
from pydantic import BaseModel

from services.congruence import CongruenceSummaryResult
from services.hooks import HookAnalysisResult, TopHooksResult

_STATUS_COLOURS = {"aligned": "#2e7d32", "weak": "#f9a825", "missing": "#c62828"}


def _pct(values: list[float | None]) -> list[float | None]:
    return [None if v is None else round(v * 100, 2) for v in values]


def hook_categories_chart(result: HookAnalysisResult) -> go.Figure:
    """Hook rate per category (bars) against spend (markers, right axis)."""
    rows = sorted(result.rows, key=lambda r: -(r.hook_rate or 0))
    names = [r.category for r in rows]
    figure = go.Figure()
    figure.add_bar(x=names, y=_pct([r.hook_rate for r in rows]), name="Hook rate (%)", marker_color="#1565c0")
    figure.add_scatter(
        x=names, y=[r.spend for r in rows], name="Spend ($)", yaxis="y2", mode="markers", marker={"size": 12}
    )
    figure.update_layout(
        title=f"Hook categories — {result.brand}, {result.window.label}",
        yaxis={"title": "Hook rate (%)"},
        yaxis2={"title": "Spend ($)", "overlaying": "y", "side": "right"},
        legend={"orientation": "h"},
    )
    return figure


def congruence_chart(result: CongruenceSummaryResult) -> go.Figure:
    """Aligned / weak / missing per dimension, stacked."""
    names = [d.dimension for d in result.dimensions]
    figure = go.Figure()
    for status, colour in _STATUS_COLOURS.items():
        figure.add_bar(
            x=names, y=[getattr(d, status) for d in result.dimensions], name=status, marker_color=colour
        )
    figure.update_layout(
        barmode="stack",
        title=f"Congruence by dimension — {result.brand}, {result.window.label}",
        yaxis={"title": "Ads"},
        legend={"orientation": "h"},
    )
    return figure


def top_hooks_chart(result: TopHooksResult) -> go.Figure:
    """The ranked hooks' metric, best first."""
    rows = result.rows
    labels = [
        f"{i + 1}. {(r.hook_text[:40] + '…') if len(r.hook_text) > 40 else r.hook_text}"
        for i, r in enumerate(rows)
    ]
    values: list[float | None] = [getattr(r, result.metric) for r in rows]
    percent = result.metric in ("hook_rate", "hold_rate", "thruplay_rate", "ctr")
    figure = go.Figure(go.Bar(x=_pct(values) if percent else values, y=labels, orientation="h"))
    figure.update_layout(
        title=f"Top hooks by {result.metric} — {result.brand}, {result.window.label}",
        yaxis={"autorange": "reversed"},
        xaxis={"title": f"{result.metric}{' (%)' if percent else ''}"},
    )
    return figure


def charts_for(result: BaseModel) -> list[go.Figure]:
    if isinstance(result, HookAnalysisResult) and result.rows:
        return [hook_categories_chart(result)]
    if isinstance(result, CongruenceSummaryResult) and result.classified_ads:
        return [congruence_chart(result)]
    if isinstance(result, TopHooksResult) and result.rows:
        return [top_hooks_chart(result)]
    return []
