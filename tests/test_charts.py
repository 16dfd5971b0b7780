"""Every chart as the chat sends it: clear backgrounds and theme-neutral ink (the page shows through, dark
or light), room for every axis's labels, hover text in the answer's formats, a scatter that names only
its best points. Charts come from the real results on the demo data (`run_turn`)."""

from __future__ import annotations

import uuid
from typing import Any

from agent.charts import charts_for, title_of
from agent.runner import run_turn
from db.pool import Caller, Database
from services.presentable import CHART_INK, SCATTER_LABELS, Figure, hover_value, labelled, layout
from services.research.patterns import Pattern, PatternReport
from tools.patterns import patterns_chart

COMMANDS = [
    '/top_hooks brand:"Acme Pets" days:30 metric:hook_rate',
    '/top_hooks brand:"Acme Pets" days:30 metric:roas',
    '/top_hooks brand:"Acme Pets" days:30 metric:cpa',
    '/hook_analysis brand:"Acme Pets" days:90',
    '/congruence_summary brand:"Acme Pets"',
]
CLEAR = "rgba(0, 0, 0, 0)"


async def charts_of(db: Database, caller: Caller, message: str) -> list[Figure]:
    turn = await run_turn(db=db, caller=caller, message=message)
    [result] = turn.results
    return charts_for(result)


def _pattern(name: str, confidence: float, novelty: float) -> Pattern:
    return Pattern(
        name=name, members=[], rows=3, confidence=confidence, novelty=novelty, source_breakdown={"reviews": 3}
    )


def spread(i: int) -> tuple[float, float]:
    """The i-th pattern's (confidence, novelty): twelve points at least 0.2 apart on one axis."""
    return (i % 4) / 3, (i // 4) / 3


def scatter_of(count: int, at: Any = spread) -> Figure:
    """The patterns chart of `count` patterns, the i-th at `at(i)` (confidence, novelty)."""
    patterns = [_pattern(f"pattern {i}", *at(i)) for i in range(count)]
    report = PatternReport(
        brand="Acme Pets", brand_id=uuid.uuid4(), evidence_items=40, embedded_new=0, embedded_cached=40,
        unclustered=0, patterns=patterns,
    )  # fmt: skip
    return patterns_chart(report)


async def test_every_chart_is_clear_on_both_themes_and_makes_room_for_its_labels(
    db: Database, maya: Caller
) -> None:
    figures = [f for message in COMMANDS for f in await charts_of(db, maya, message)] + [scatter_of(12)]
    assert len(figures) == len(COMMANDS) + 1
    for figure in figures:
        chart = figure["layout"]
        assert (chart["paper_bgcolor"], chart["plot_bgcolor"]) == (CLEAR, CLEAR), title_of(figure)
        assert chart["font"]["color"] == CHART_INK
        axes = [name for name in chart if name.startswith(("xaxis", "yaxis"))]
        assert {"xaxis", "yaxis"} <= set(axes)
        assert all(chart[a]["automargin"] is True for a in axes), (title_of(figure), axes)
        # Hover text written for every trace (plotly's default shows raw floats like 0.433589).
        assert all(t.get("hovertemplate", "").endswith("<extra></extra>") for t in figure["data"])


def test_a_second_axis_makes_room_too_and_a_long_title_gets_a_second_line() -> None:
    chart = layout("Hook categories — Acme Pets, last 90 days", yaxis2={"side": "right"})
    assert chart["yaxis2"] == {
        "automargin": True,
        "gridcolor": "rgba(127, 127, 127, 0.25)",
        "zerolinecolor": "rgba(127, 127, 127, 0.25)",
        "side": "right",
    }
    assert (
        chart["title"]["text"]
        == "Hook categories<br><span style='font-size:13px'>Acme Pets, last 90 days</span>"
    )
    assert title_of({"data": [], "layout": chart}) == "Hook categories — Acme Pets, last 90 days"


def _hovers(figures: list[Figure]) -> list[Any]:
    return [trace.get("hovertemplate") for figure in figures for trace in figure["data"]]


async def test_hover_text_reads_in_each_metrics_format(db: Database, maya: Caller) -> None:
    [by_hook_rate], [by_roas], [by_cpa], [categories], [congruence] = [
        await charts_of(db, maya, message) for message in COMMANDS
    ]
    # The full hook text (the axis label is cut at 40 characters), then the metric as the table shows it.
    assert _hovers([by_hook_rate]) == ["%{customdata}<br>hook_rate %{x:.2f}%<extra></extra>"]
    assert _hovers([by_roas]) == ["%{customdata}<br>roas %{x:.2f}x<extra></extra>"]
    assert _hovers([by_cpa]) == ["%{customdata}<br>cpa %{x:$,.2f}<extra></extra>"]
    assert by_hook_rate["data"][0]["customdata"][0] == by_hook_rate["layout"]["annotations"][0]["text"][3:]
    assert _hovers([categories]) == [
        "%{x}<br>hook rate %{y:.2f}%<extra></extra>",
        "%{x}<br>spend %{y:$,.2f}<extra></extra>",
    ]
    assert _hovers([congruence]) == [
        f"%{{x}}<br>{status}: %{{y:,.0f}} ads<extra></extra>" for status in ("aligned", "weak", "missing")
    ]
    assert _hovers([scatter_of(3)]) == [
        "%{customdata}<br>confidence %{x:.0f}%<br>novelty %{y:.0f}%<extra></extra>"
    ]


def test_hover_numbers_follow_the_metrics_format_rules() -> None:
    # services.metrics.format_number: $1,234.50, 12.34%, 12%, 1.23x, 1,234 (percentages as `percents` gives them).
    assert [hover_value(f, "y") for f in ("money", "percent", "whole_percent", "ratio", "integer")] == [
        "%{y:$,.2f}",
        "%{y:.2f}%",
        "%{y:.0f}%",
        "%{y:.2f}x",
        "%{y:,.0f}",
    ]


def test_a_scatter_names_only_its_best_points_and_every_point_by_hover() -> None:
    [trace] = scatter_of(12)["data"]
    named = [t for t in trace["text"] if t]
    assert len(named) == SCATTER_LABELS == 5
    # The five highest confidence + novelty (11: 1.67; 10, 7: 1.33; then of 3, 6, 9 at 1.0 the first two).
    assert named == ["pattern 3", "pattern 6", "pattern 7", "pattern 10", "pattern 11"]
    assert trace["customdata"] == [f"pattern {i}" for i in range(12)]
    # Three in a row at 0, 33 and 67 %: the middle one's name (reading right) would cross the last's
    # (reading left) on a phone; the first's ends at 22 %.
    assert scatter_of(3)["data"][0]["text"] == ["pattern 0", "", "pattern 2"]
    # Points on the same spot (the demo's identical confidences): one name, not a pile.
    [same] = scatter_of(4, at=lambda i: (0.7, 0.93) if i < 3 else (0.1, 0.1))["data"]
    assert same["text"] == ["pattern 0", "", "", "pattern 3"]
    # Two points 30 % apart, the left one's label reading right and the right one's left: on a phone their
    # names (each 20 characters, half the chart wide) would cross, so only the better one is named. Further
    # apart (or one row up) both are.
    crossing = labelled(["a" * 20, "b" * 20], [(35.0, 50.0), (65.0, 50.0)], [1.0, 2.0])
    assert crossing == ["", "b" * 20]
    assert labelled(["a" * 20, "b" * 20], [(0.0, 50.0), (100.0, 50.0)], [1.0, 2.0]) == ["a" * 20, "b" * 20]
    assert labelled(["a" * 20, "b" * 20], [(35.0, 30.0), (65.0, 50.0)], [1.0, 2.0]) == ["a" * 20, "b" * 20]
    # A label at the right edge reads leftwards, inside the chart.
    assert trace["textposition"][3] == "top left" and trace["textposition"][0] == "top right"
    assert trace["cliponaxis"] is False
