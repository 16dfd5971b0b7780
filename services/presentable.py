"""How a result is shown, declared by the result itself: its tables (columns with titles and number
formats), charts, thumbnails, downloads and side panels. The chat, Slack and the CLI draw whatever a
result declares (agent/render.py), so a new tool's result needs no branch anywhere else.

Nothing here knows a UI: a table is titles, formats and raw values; a chart is the plain figure JSON
plotly.js draws (dicts, not `plotly.graph_objects`: see agent/charts.py).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.metrics import NumberFormat, format_number, number_format

Format = Literal["text"] | NumberFormat
"""text: by the value's type (None is blank); the others say "n/a" for None. money $1,234.50;
percent 12.34%; whole_percent 12%; ratio 1.23x; integer 1,234."""

Figure = dict[str, Any]
"""{"data": [traces], "layout": {...}}, as plotly.js takes it."""


@dataclass(frozen=True)
class Column:
    title: str
    format: Format = "text"

    def show(self, value: Any) -> str:
        """The value as a person reads it in this column."""
        return _text(value) if self.format == "text" else format_number(self.format, value)


def metric_column(name: str) -> Column:
    """A column named after a metric, in that metric's unit (services.metrics); any other name is text."""
    return Column(name, number_format(name) or "text")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M} UTC"
    return "" if value is None else str(value)


class Table:
    """Rows of raw values under titled columns; `rows` for people reading text, `sortable()` for a
    table widget. A column given by name alone is shown in its metric's unit (`metric_column`)."""

    def __init__(self, title: str, columns: Sequence[str | Column], values: list[list[Any]]) -> None:
        self.title = title
        self.spec = [c if isinstance(c, Column) else metric_column(c) for c in columns]
        self.values = values

    @property
    def columns(self) -> list[str]:
        return [c.title for c in self.spec]

    @property
    def rows(self) -> list[list[str]]:
        return [[c.show(v) for c, v in zip(self.spec, row, strict=True)] for row in self.values]

    def sortable(self) -> tuple[list[str], list[list[Any]]]:
        """Numbers stay numbers (percentages ×100, money rounded) so a table widget sorts them right."""
        pct = [c.format in ("percent", "whole_percent") for c in self.spec]
        headers = [f"{c.title} (%)" if p else c.title for c, p in zip(self.spec, pct, strict=True)]
        return headers, [[_sortable(p, v) for p, v in zip(pct, row, strict=True)] for row in self.values]

    def __repr__(self) -> str:
        return f"Table({self.title!r}, {self.columns!r}, {len(self.values)} rows)"


def _sortable(percent: bool, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float):
        return round(value * 100, 2) if percent else round(value, 2)
    if isinstance(value, int | str):
        return value
    return str(value)


def table_of(title: str, items: Sequence[Any], columns: Sequence[str | Column]) -> Table:
    """A table of one row per item, each column read from the item's attribute of that title."""
    spec = [c if isinstance(c, Column) else metric_column(c) for c in columns]
    return Table(title, spec, [[getattr(item, c.title) for c in spec] for item in items])


def with_rows(*tables: Table) -> list[Table]:
    """The tables that have rows (where an empty table would say nothing the summary does not)."""
    return [t for t in tables if t.values]


CHART_INK = "#7f7f7f"
"""Every chart's text: about 4:1 against both Chainlit themes' page (white, #212121), since a figure is
static JSON that can't follow the theme toggle; its backgrounds are clear so the page shows through."""
_GRID = "rgba(127, 127, 127, 0.25)"
_CLEAR = "rgba(0, 0, 0, 0)"
_AXIS = re.compile(r"[xy]axis\d*")
_TOOLS = ["zoom", "pan", "select", "lasso", "zoomin", "zoomout", "autoscale", "resetscale"]

SCATTER_LABELS = 5
"""Points of a scatter chart labelled on the chart (the rest by hover), so labels don't pile up."""


def layout(title: str, **rest: Any) -> dict[str, Any]:
    """A chart's layout: its title (what follows " — " as a subtitle, so a phone doesn't cut it), the
    legend in a row, clear backgrounds and theme-neutral ink, and the rest as given. Every axis makes
    room for its labels (long hook texts on a bar chart's axis are otherwise cut at the left)."""
    names = dict.fromkeys(["xaxis", "yaxis", *(a for a in rest if _AXIS.fullmatch(a))])
    axes = {
        a: {"automargin": True, "gridcolor": _GRID, "zerolinecolor": _GRID, **rest.pop(a, {})} for a in names
    }
    head, _, tail = title.partition(" — ")
    return {
        "title": {
            "text": head + (f"<br><span style='font-size:13px'>{tail}</span>" if tail else ""),
            "x": 0.01,
        },
        # Under everything (the container's foot), so it never covers slanted axis labels.
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
        "paper_bgcolor": _CLEAR,
        "plot_bgcolor": _CLEAR,
        "font": {"color": CHART_INK},
        # The PNG download only: zoom, pan and lasso are noise in an answer and stack over a phone's chart.
        "modebar": {"bgcolor": _CLEAR, "color": CHART_INK, "activecolor": "#1e88e5", "remove": _TOOLS},
        "margin": {"l": 8, "r": 8, "t": 72 if tail else 48, "b": 8},
        **axes,
        **rest,
    }


_HOVER = {"money": ("$,.2f", ""), "percent": (".2f", "%"), "whole_percent": (".0f", "%"),
          "ratio": (".2f", "x"), "integer": (",.0f", "")}  # fmt: skip
"""plotly.js's d3 formats for services.metrics.format_number's rules (percentages as `percents` gives them)."""


def hover_value(format: NumberFormat, variable: str) -> str:
    """A hovertemplate's number as format_number shows it: ("money", "y") -> "%{y:$,.2f}"."""
    spec, suffix = _HOVER[format]
    return f"%{{{variable}:{spec}}}{suffix}"


def labelled(
    names: Sequence[str],
    points: Sequence[tuple[float, float]],
    scores: Sequence[float],
    *,
    shown: int = SCATTER_LABELS,
    apart: tuple[float, float] = (30.0, 10.0),
) -> list[str]:
    """Each point's label on a scatter chart: the `shown` best by score keep their name unless a better
    named point is within `apart` (x, y: a label is wide, not tall), where their labels would overlap;
    the rest read ""."""
    named: list[int] = []
    dx, dy = apart
    for i in sorted(range(len(names)), key=lambda i: -scores[i]):
        near = any(
            abs(points[i][0] - points[j][0]) < dx and abs(points[i][1] - points[j][1]) < dy for j in named
        )
        if len(named) < shown and not near:
            named.append(i)
    return [name if i in named else "" for i, name in enumerate(names)]


def percents(values: Sequence[float | None]) -> list[float | None]:
    """Fractions as percentages for a chart's axis (None stays a gap)."""
    return [None if v is None else round(v * 100, 2) for v in values]


class Presentable(ABC):
    """Mixed into a result model: how it is shown. `as_tables` is required (an empty list when the
    summary says it all), so a new result can't silently show nothing; the rest default to nothing."""

    @abstractmethod
    def as_tables(self) -> list[Table]:
        """The tables that show this result in full, in order."""

    def as_charts(self) -> list[Figure]:
        """Charts where a picture reads better than a table."""
        return []

    def as_images(self) -> list[tuple[str, str]]:
        """(caption, file or URL) of pictures shown as a grid of thumbnails."""
        return []

    def as_files(self) -> list[tuple[str, str]]:
        """(name, path) of files offered for download."""
        return []

    def as_panels(self) -> list[tuple[str, str]]:
        """(name, text) of long texts opened beside the answer (the chat's side panels)."""
        return []
