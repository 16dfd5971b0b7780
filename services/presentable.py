"""How a result is shown, declared by the result itself: its tables (columns with titles and number
formats), charts, thumbnails, downloads and side panels. The chat, Slack and the CLI draw whatever a
result declares (agent/render.py), so a new tool's result needs no branch anywhere else.

Nothing here knows a UI: a table is titles, formats and raw values; a chart is the plain figure JSON
plotly.js draws (dicts, not `plotly.graph_objects`: see agent/charts.py).
"""

from __future__ import annotations

import csv
import io
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

from services.metrics import RATIOS, SUM_LABELS, NumberFormat, format_number, number_format
from services.money import Money, currency_symbol, current, minor_units

Format = Literal["text", "ad_id"] | NumberFormat
"""text: by the value's type (None is blank; dates as "Dec 4, 2026"); ad_id: in the chat a long id by
its last digits ("…123456"), in full where text is copied (Slack, the CLI); the others say "n/a" for None. money $1,234.50; percent 12.34%; whole_percent 12%;
ratio 1.23x; integer 1,234; decimal 1.23; change +12%."""

Figure = dict[str, Any]
"""{"data": [traces], "layout": {...}}, as plotly.js takes it."""

AD_ID_SHOWN = 6
"""Digits of a long ad id the chat's table shows; the full id is in its tooltip, a click copies it, the CSV has it."""

LONG_TEXT = 32
"""Characters over which a text column wraps in the chat (hooks, notes) instead of staying on one line."""

# Field names as a marketer reads them, where the default (words of the name, acronyms in capitals) is not it.
_TITLES = {
    "ad_name": "Ad",
    "meta_ad_id": "Ad ID",
    "hook_text": "Hook",
    "vs_baseline": "vs baseline",
    "vs_baseline_roas": "ROAS vs baseline",
    "shift_points": "Shift (points)",
    "spend_last_30_days": "Spend, last 30 days",
    "smoothed_roas": "Smoothed ROAS",
    "aligned_pct": "Aligned",
}
_ACRONYMS = {"roas": "ROAS", "ctr": "CTR", "cpc": "CPC", "cpm": "CPM", "cpa": "CPA", "id": "ID", "url": "URL",
             "lp": "LP", "ai": "AI", "aov": "AOV", "ugc": "UGC", "cta": "CTA"}  # fmt: skip
_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]*")


def titled(name: str) -> str:
    """A column's title from its field name ("hook_rate" -> "Hook rate"); a title already is one."""
    if not _FIELD_NAME.fullmatch(name):
        return name
    if name in _TITLES:
        return _TITLES[name]
    if name in RATIOS:
        return RATIOS[name].label
    if name in SUM_LABELS:
        return SUM_LABELS[name]
    words = [_ACRONYMS.get(w, w) for w in name.split("_") if w]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def in_words(name: str) -> str:
    """A field's title inside a sentence ("hook_rate" -> "hook rate", "roas" -> "ROAS")."""
    title = titled(name)
    first = title.split(" ")[0]
    return title if first.isupper() or first != first.capitalize() else title[:1].lower() + title[1:]


@dataclass(frozen=True)
class Shown:
    """A cell written as given but sorted and downloaded by its number: for a column whose rows are in
    different units (a summary's $24,757.28 above its 2.41x) or written as the answer text writes them."""

    value: float | None
    text: str


@dataclass(frozen=True)
class Column:
    """A table's column: `name` is the field `table_of` reads (or the title itself), `title` what a
    person reads (by default `titled(name)`), `format` how its values read."""

    name: str
    format: Format = "text"
    title: str = ""

    def __post_init__(self) -> None:
        if not self.title:
            object.__setattr__(self, "title", titled(self.name))

    def show(self, value: Any, money: Money | None = None) -> str:
        """The value as a person reads it in this column (money in `money`, else as figures are shown now)."""
        if isinstance(value, Shown):
            return value.text
        if self.format == "text":
            return _text(value)
        if self.format == "ad_id":
            return "" if value is None else str(value)
        return format_number(self.format, None if value is None else float(value), money=money)

    @property
    def numeric(self) -> bool:
        return self.format not in ("text", "ad_id")


def metric_column(name: str) -> Column:
    """A column named after a field: a metric in its unit (services.metrics), an ad id shortened, any
    other name as text."""
    return Column(name, "ad_id" if name == "meta_ad_id" else number_format(name) or "text")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | Decimal):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, datetime):
        return (
            f"{value.astimezone(UTC):%b %-d, %Y %H:%M} UTC" if value.tzinfo else f"{value:%b %-d, %Y %H:%M}"
        )
    if isinstance(value, date):
        return f"{value:%b %-d, %Y}"
    return "" if value is None else str(value)


def _short_id(value: Any) -> str:
    text = "" if value is None else str(value)
    return "…" + text[-AD_ID_SHOWN:] if len(text) > AD_ID_SHOWN + 2 else text


def _raw(value: Any) -> Any:
    """A value as JSON carries it, unformatted: numbers stay numbers (so a table sorts them as
    numbers), dates and times in ISO form (they sort as text), anything else as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Shown):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return str(value)


def _csv_cell(value: Any) -> Any:
    raw = _raw(value)
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    return "" if raw is None else raw


class Table:
    """Rows of raw values under titled columns; `rows` for people reading text, `for_chat()` for the
    chat's sortable table, `csv()` for a download. A column given by name alone is shown in its
    metric's unit (`metric_column`). Its money is in the currency figures were shown in when it was made."""

    def __init__(self, title: str, columns: Sequence[str | Column], values: list[list[Any]]) -> None:
        self.title = title
        self.spec = [c if isinstance(c, Column) else metric_column(c) for c in columns]
        self.values = values
        self.money = current()

    @property
    def columns(self) -> list[str]:
        return [c.title for c in self.spec]

    @property
    def rows(self) -> list[list[str]]:
        return [[c.show(v, self.money) for c, v in zip(self.spec, row, strict=True)] for row in self.values]

    def for_chat(self) -> dict[str, Any]:
        """The table as the chat's element draws it: each cell as read (`rows`) and its raw value
        (`values`), which the table sorts by, and the CSV for its download link."""
        return {
            "title": self.title,
            "columns": [{"title": c.title, "kind": self._kind(i)} for i, c in enumerate(self.spec)],
            "rows": [
                [
                    _short_id(v) if c.format == "ad_id" else c.show(v, self.money)
                    for c, v in zip(self.spec, row, strict=True)
                ]
                for row in self.values
            ],
            "values": [[_raw(v) for v in row] for row in self.values],
            "csv": self.csv(),
        }

    def _kind(self, i: int) -> Literal["id", "number", "text", "long"]:
        """How the chat lays out and sorts a column: ids, numbers (right-aligned, highest first), short
        text (one line) or long text (wrapped in a wider column)."""
        column = self.spec[i]
        if column.format == "ad_id":
            return "id"
        given = [row[i] for row in self.values if _raw(row[i]) is not None]
        numbers = all(isinstance(_raw(v), int | float | Decimal) and not isinstance(v, bool) for v in given)
        if column.numeric or (given and numbers):
            return "number"
        return "long" if any(len(column.show(v, self.money)) > LONG_TEXT for v in given) else "text"

    def csv(self) -> str:
        """Every row, raw (fractions as fractions, full ids, ISO dates), under the columns' titles; a
        money column's title names its currency ("Spend (EUR)"), since its cells are bare numbers."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(
            [f"{c.title} ({self.money.currency})" if c.format == "money" else c.title for c in self.spec]
        )
        writer.writerows([[_csv_cell(v) for v in row] for row in self.values])
        return out.getvalue()

    def __repr__(self) -> str:
        return f"Table({self.title!r}, {self.columns!r}, {len(self.values)} rows)"


def table_of(title: str, items: Sequence[Any], columns: Sequence[str | Column]) -> Table:
    """A table of one row per item, each column read from the item's attribute of that name."""
    spec = [c if isinstance(c, Column) else metric_column(c) for c in columns]
    return Table(title, spec, [[getattr(item, c.name) for c in spec] for item in items])


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
    """A hovertemplate's number as format_number shows it: ("money", "y") -> "%{y:$,.2f}" (in dollars;
    another currency's symbol and minor units otherwise, "€%{y:,.2f}", "¥%{y:,.0f}")."""
    money = current()
    if format == "money" and money.currency != "USD":
        return f"{currency_symbol(money)}%{{{variable}:,.{minor_units(money.currency)}f}}"
    spec, suffix = _HOVER[format]
    return f"%{{{variable}:{spec}}}{suffix}"


PHONE_UNIT = 2.2
"""Pixels per unit of a 0–100 axis drawn from -10 to 112 (room for a big marker at either end) on a
phone, whose plot is about 270 px wide."""
LABEL_CHAR = 2.5
"""A label character's width in those units (about 5.5 px)."""
LABEL_HEIGHT = 8.0
"""A label's height in those units (about 17 px, with the gap to the next)."""


def label_side(x: float) -> str:
    """Where a point's label reads, toward the middle, so one at either edge stays inside the chart."""
    return "top left" if x > 60 else "top right" if x < 40 else "top center"


def labelled(
    names: Sequence[str],
    points: Sequence[tuple[float, float]],
    scores: Sequence[float],
    *,
    sizes: Sequence[float] | None = None,
    shown: int = SCATTER_LABELS,
) -> list[str]:
    """Each point's label on a scatter chart of 0–100 axes: the `shown` best by score keep their name
    unless it would cover the label of a better named point at a phone's width; the rest read "" (their
    name is in the hover). A label sits above its marker (`sizes`, px across), on the side `label_side`
    gives, as wide as its text."""

    def box(i: int) -> tuple[float, float, float, float]:
        (x, y), width = points[i], len(names[i]) * LABEL_CHAR
        gap = (sizes[i] / 2 / PHONE_UNIT) if sizes else 0.0
        side = label_side(x)
        left = x - gap - width if side == "top left" else x + gap if side == "top right" else x - width / 2
        return left, left + width, y + gap, y + gap + LABEL_HEIGHT

    named: list[int] = []
    for i in sorted(range(len(names)), key=lambda i: -scores[i]):
        left, right, bottom, top = box(i)
        covers = any(
            left < x1 and x0 < right and bottom < y1 and y0 < top
            for x0, x1, y0, y1 in (box(j) for j in named)
        )
        if len(named) < shown and not covers:
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

    def as_card(self) -> str:
        """Markdown that reads better than narrow tables (one ad, one persona): the chat shows it in
        the answer instead of the tables, which Slack and the CLI keep."""
        return ""
