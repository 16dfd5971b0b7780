"""A turn's answer as Slack shows it: mrkdwn text, compact tables, chart images and buttons.

Slack has no table widget and no token streaming, so an answer is one message: the text (Markdown
made mrkdwn), each table's top rows as a code block with a link to the whole table in the web app,
each chart as a PNG drawn here with Pillow (no browser needed), and a result's follow-ups as Block
Kit buttons whose value is the `ActionButton` they run (as whoever clicks: see agent/slack.py).
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel

from agent.charts import Figure, title_of
from agent.render import Table, actions_of, charts_for, tables_for
from agent.runner import TurnResult
from tools.actions import ActionButton

TOP_ROWS = 10
"""A table shows this many rows in Slack; the web app has the rest."""
LINE_WIDTH = 96
"""Characters a table's code block may be wide (columns that do not fit are left to the web app)."""
CELL_WIDTH = 28
SECTION_CHARS = 2900
"""Slack refuses a section's text over 3000 characters: longer text is split into several."""
MAX_BLOCKS = 48
ACTION_PREFIX = "vt_action"
"""Every button's action_id starts with this; its value is an `ActionButton` as JSON."""
MAX_BUTTON_VALUE = 2000


@dataclass
class ChartImage:
    filename: str
    title: str
    png: bytes


@dataclass
class SlackAnswer:
    """One message: `text` (notifications and the fallback), `blocks`, and the charts to upload."""

    text: str
    blocks: list[dict[str, Any]]
    charts: list[ChartImage] = field(default_factory=list)


# -- text -----------------------------------------------------------------------------------------

_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.MULTILINE)


def escape(text: str) -> str:
    """Slack's three control characters in plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(markdown: str) -> str:
    """The model's Markdown as Slack mrkdwn: bold, links and headings (code blocks pass as they are)."""
    text = escape(markdown)
    text = _LINK.sub(lambda m: f"<{m[2]}|{m[1]}>", text)
    text = _BOLD.sub(lambda m: f"*{m[1] or m[2]}*", text)
    return _HEADING.sub(lambda m: f"*{m[1]}*", text)


def sections(text: str) -> list[dict[str, Any]]:
    """`text` as section blocks of at most SECTION_CHARS each, cut at line ends where possible."""
    blocks: list[dict[str, Any]] = []
    rest = text.strip()
    while rest:
        if len(rest) <= SECTION_CHARS:
            piece, rest = rest, ""
        else:
            cut = rest.rfind("\n", 0, SECTION_CHARS)
            cut = cut if cut > SECTION_CHARS // 2 else SECTION_CHARS
            piece, rest = rest[:cut], rest[cut:].lstrip("\n")
        if piece.count("```") % 2:  # a code block cut in two: close it here, reopen it after
            piece, rest = piece + "\n```", "```\n" + rest
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": piece}})
    return blocks


# -- tables ---------------------------------------------------------------------------------------


def _cell(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= CELL_WIDTH else value[: CELL_WIDTH - 1] + "…"


def compact_table(table: Table, *, web_url: str | None) -> str:
    """The table's top rows as an aligned code block (the columns that fit), and where the rest is."""
    cells = [[_cell(v) for v in row] for row in table.rows[:TOP_ROWS]]
    headers = [_cell(c) for c in table.columns]
    widths: list[int] = []
    for i, header in enumerate(headers):
        width = max([len(header), *(len(r[i]) for r in cells)])
        if widths and sum(widths) + 2 * len(widths) + width > LINE_WIDTH:
            break
        widths.append(width)
    shown = len(widths)

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values[:shown], widths, strict=False)).rstrip()

    body = "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in cells)])
    hidden: list[str] = []
    if len(table.rows) > TOP_ROWS:
        hidden.append(f"top {TOP_ROWS} of {len(table.rows)} rows")
    if shown < len(headers):
        hidden.append(f"{len(headers) - shown} more column{'s' if len(headers) - shown > 1 else ''}")
    note = f"_{escape(', '.join(hidden))}._ " if hidden else ""
    where = f"See the full table in the web app: <{web_url}|open>" if web_url else ""
    footer = (note + where).strip()
    # Cells are escaped too: inside a code block Slack still reads <…> and &…; as markup.
    return f"*{escape(table.title)}*\n```\n{escape(body)}\n```" + (f"\n{footer}" if footer else "")


# -- buttons --------------------------------------------------------------------------------------


def actions_block(buttons: list[ActionButton], *, block_id: str = "vt_actions") -> dict[str, Any] | None:
    """Up to five buttons; each carries the command it runs, never who runs it."""
    elements: list[dict[str, Any]] = []
    for i, button in enumerate(buttons[:5]):
        value = button.model_dump_json()
        if len(value) > MAX_BUTTON_VALUE:
            continue
        element: dict[str, Any] = {
            "type": "button",
            "action_id": f"{ACTION_PREFIX}_{i}",
            "text": {"type": "plain_text", "text": button.label[:75], "emoji": True},
            "value": value,
        }
        if button.once and button.tool is not None:
            element["style"] = "primary"
        elements.append(element)
    return {"type": "actions", "block_id": block_id, "elements": elements} if elements else None


def buttons_in(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", [])]


# -- the answer -----------------------------------------------------------------------------------


def render_turn(turn: TurnResult, *, web_url: str | None = None) -> SlackAnswer:
    """The whole answer for Slack: text, tables, chart images to upload, buttons."""
    return render(turn.text, turn.results, web_url=web_url)


def render(text: str, results: list[BaseModel], *, web_url: str | None = None) -> SlackAnswer:
    body = mrkdwn(text or "Done.")
    blocks = sections(body)
    charts: list[ChartImage] = []
    buttons: list[ActionButton] = []
    for result in results:
        for table in tables_for(result):
            if table.values:
                blocks += sections(compact_table(table, web_url=web_url))
        for n, figure in enumerate(charts_for(result), start=1):
            title = title_of(figure)
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or f"chart-{n}"
            charts.append(ChartImage(filename=f"{slug}.png", title=title, png=chart_png(figure)))
        buttons += actions_of(result)
    if charts:
        names = ", ".join(c.title for c in charts)
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Charts below: {escape(names)}"}]}
        )
    if len(blocks) > MAX_BLOCKS:
        blocks = blocks[: MAX_BLOCKS - 1]
        more = f"The rest is too long for Slack: <{web_url}|open it in the web app>." if web_url else "…"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    if buttons and (block := actions_block(buttons)) is not None:
        blocks.append(block)
    fallback = body if len(body) <= 3000 else body[:2990] + "…"
    return SlackAnswer(text=fallback, blocks=blocks, charts=charts)


# -- charts as PNG ----------------------------------------------------------------------------------

_PALETTE = ["#1565c0", "#ef6c00", "#2e7d32", "#c62828", "#6a1b9a", "#00838f", "#f9a825", "#5d4037"]
WIDTH, HEIGHT = 1000, 600
TOP = 100  # the plot area starts under the title, the legend and the axis title


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _num(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _nice_max(value: float) -> float:
    """The axis top: the first of 1, 2, 2.5, 5, 10 × a power of ten at or above `value`."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return float(next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value))


def _label(value: float) -> str:
    return (
        f"{value:,.0f}"
        if abs(value) >= 100 or value == int(value)
        else f"{value:,.2f}".rstrip("0").rstrip(".")
    )


def _colour(trace: dict[str, Any], index: int) -> str:
    colour = (trace.get("marker") or {}).get("color")
    return colour if isinstance(colour, str) else _PALETTE[index % len(_PALETTE)]


_PLAIN = str.maketrans({"—": "-", "–": "-", "×": "x", "’": "'", "‘": "'", "“": '"', "”": '"'})
"""Characters Pillow's built-in font lacks, as ones it has."""


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    text = text.translate(_PLAIN)
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def chart_png(figure: Figure) -> bytes:
    """A plotly-style figure (bars, horizontal bars, stacked bars, markers) drawn as a PNG."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    title_font, font, small = _font(20), _font(14), _font(12)
    draw.text((20, 14), _fit(draw, title_of(figure), title_font, WIDTH - 40), fill="#212121", font=title_font)
    traces = [t for t in figure.get("data", []) if isinstance(t, dict)]
    layout = figure.get("layout", {})
    # Legend: the named traces, in a row under the title.
    x = 20
    for i, trace in enumerate(traces):
        if trace.get("name"):
            draw.rectangle((x, 48, x + 12, 60), fill=_colour(trace, i))
            draw.text((x + 18, 46), _fit(draw, str(trace["name"]), font, 300), fill="#424242", font=font)
            x += 40 + int(draw.textlength(str(trace["name"]), font=font))
    horizontal = any(t.get("type") == "bar" and t.get("orientation") == "h" for t in traces)
    if horizontal:
        _horizontal_bars(draw, traces, font, small)
    elif all(t.get("type") == "bar" or isinstance((t.get("x") or [None])[0], str) for t in traces):
        _category_chart(draw, traces, layout, font, small)
    else:
        _scatter(draw, traces, layout, font, small)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _axis_title(layout: dict[str, Any], axis: str) -> str:
    return str(((layout.get(axis) or {}).get("title") or {}).get("text") or "")


def _horizontal_bars(draw: ImageDraw.ImageDraw, traces: list[dict[str, Any]], font: Any, small: Any) -> None:
    bars = [t for t in traces if t.get("type") == "bar"]
    labels = [str(v) for v in (bars[0].get("y") or [])] if bars else []
    values = [_num(v) for v in (bars[0].get("x") or [])] if bars else []
    left, top, right, bottom = 330, TOP, WIDTH - 40, HEIGHT - 40
    top_value = _nice_max(max(values, default=0))
    row = (bottom - top) / max(1, len(labels))
    for i, (label, value) in enumerate(zip(labels, values, strict=False)):
        y0 = top + i * row + row * 0.15
        y1 = top + (i + 1) * row - row * 0.15
        draw.text((20, (y0 + y1) / 2 - 8), _fit(draw, label, font, left - 30), fill="#424242", font=font)
        x1 = left + (right - left) * value / top_value
        draw.rectangle((left, y0, max(left + 1, x1), y1), fill=_colour(bars[0], 0))
        draw.text((max(left + 1, x1) + 6, (y0 + y1) / 2 - 7), _label(value), fill="#212121", font=small)
    draw.line((left, top, left, bottom), fill="#9e9e9e")


def _category_chart(
    draw: ImageDraw.ImageDraw, traces: list[dict[str, Any]], layout: dict[str, Any], font: Any, small: Any
) -> None:
    categories: list[str] = []
    for trace in traces:
        for c in trace.get("x") or []:
            if str(c) not in categories:
                categories.append(str(c))
    left, top, right, bottom = 90, TOP, WIDTH - 90, HEIGHT - 90
    bars = [t for t in traces if t.get("type") == "bar" and t.get("yaxis") != "y2"]
    stacked = layout.get("barmode") == "stack"

    def values(trace: dict[str, Any]) -> dict[str, float]:
        return {str(c): _num(v) for c, v in zip(trace.get("x") or [], trace.get("y") or [], strict=False)}

    per = [values(t) for t in bars]
    if stacked:
        highest = max((sum(p.get(c, 0.0) for p in per) for c in categories), default=0.0)
    else:
        highest = max((v for p in per for v in p.values()), default=0.0)
    top_value = _nice_max(highest)
    _y_axis(draw, left, top, bottom, top_value, _axis_title(layout, "yaxis"), font, small)
    slot = (right - left) / max(1, len(categories))
    for ci, category in enumerate(categories):
        x0 = left + ci * slot + slot * 0.15
        width = slot * 0.7
        base = float(bottom)
        for ti, (trace, vals) in enumerate(zip(bars, per, strict=True)):
            value = vals.get(category, 0.0)
            height = (bottom - top) * value / top_value
            if stacked:
                draw.rectangle(
                    (x0, base - height, x0 + width, base), fill=_colour(trace, traces.index(trace))
                )
                base -= height
            else:
                w = width / max(1, len(bars))
                draw.rectangle(
                    (x0 + ti * w, bottom - height, x0 + (ti + 1) * w - 2, bottom),
                    fill=_colour(trace, traces.index(trace)),
                )
        draw.text((x0, bottom + 8), _fit(draw, category, small, int(slot) - 4), fill="#424242", font=small)
    # Markers on a second axis (e.g. spend against hook rate): scaled to their own maximum, on the right.
    for trace in traces:
        if trace.get("type") == "bar":
            continue
        vals = values(trace)
        second = _nice_max(max(vals.values(), default=0.0))
        colour = _colour(trace, traces.index(trace))
        for ci, category in enumerate(categories):
            if category in vals:
                cx = left + (ci + 0.5) * slot
                cy = bottom - (bottom - top) * vals[category] / second
                draw.ellipse((cx - 6, cy - 6, cx + 6, cy + 6), fill=colour)
        draw.text((right + 8, top - 4), _label(second), fill=colour, font=small)
        draw.text((right + 8, bottom - 8), "0", fill=colour, font=small)
        name = _axis_title(layout, "yaxis2") or str(trace.get("name") or "")
        draw.text((right + 8, top + 14), _fit(draw, name, small, 80), fill=colour, font=small)


def _y_axis(
    draw: ImageDraw.ImageDraw,
    left: int,
    top: int,
    bottom: int,
    top_value: float,
    title: str,
    font: Any,
    small: Any,
    low: float = 0.0,
) -> None:
    for k in range(5):
        value = low + (top_value - low) * k / 4
        y = bottom - (bottom - top) * k / 4
        draw.line((left, y, WIDTH - 90, y), fill="#eeeeee")
        text = _label(value)
        draw.text((left - 8 - draw.textlength(text, font=small), y - 7), text, fill="#616161", font=small)
    draw.line((left, top, left, bottom), fill="#9e9e9e")
    draw.line((left, bottom, WIDTH - 90, bottom), fill="#9e9e9e")
    if title:
        draw.text((10, top - 22), _fit(draw, title, small, 300), fill="#616161", font=small)


def _scatter(
    draw: ImageDraw.ImageDraw, traces: list[dict[str, Any]], layout: dict[str, Any], font: Any, small: Any
) -> None:
    left, top, right, bottom = 90, TOP, WIDTH - 90, HEIGHT - 90

    def span(axis: str, values: list[float]) -> tuple[float, float]:
        given = (layout.get(axis) or {}).get("range")
        if isinstance(given, list) and len(given) == 2:
            return _num(given[0]), _num(given[1]) or 1.0
        return 0.0, _nice_max(max(values, default=0.0))

    xs = [_num(v) for t in traces for v in t.get("x") or []]
    ys = [_num(v) for t in traces for v in t.get("y") or []]
    (x_lo, x_hi), (y_lo, y_hi) = span("xaxis", xs), span("yaxis", ys)
    _y_axis(draw, left, top, bottom, y_hi, _axis_title(layout, "yaxis"), font, small, low=y_lo)
    for k in range(5):  # x ticks
        value = x_lo + (x_hi - x_lo) * k / 4
        x = left + (right - left) * k / 4
        draw.text((x - 10, bottom + 8), _label(value), fill="#616161", font=small)
    draw.text(
        (right - 200, bottom + 30),
        _fit(draw, _axis_title(layout, "xaxis"), small, 200),
        fill="#616161",
        font=small,
    )
    for ti, trace in enumerate(traces):
        colour = _colour(trace, ti)
        sizes = (trace.get("marker") or {}).get("size")
        texts = trace.get("text") or []
        for i, (xv, yv) in enumerate(zip(trace.get("x") or [], trace.get("y") or [], strict=False)):
            cx = left + (right - left) * (_num(xv) - x_lo) / ((x_hi - x_lo) or 1)
            cy = bottom - (bottom - top) * (_num(yv) - y_lo) / ((y_hi - y_lo) or 1)
            r = (sizes[i] if isinstance(sizes, list) and i < len(sizes) else sizes or 10) / 2
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
            if i < len(texts) and isinstance(texts, list):
                draw.text(
                    (cx + r + 3, cy - r - 12),
                    _fit(draw, str(texts[i]), small, 180),
                    fill="#424242",
                    font=small,
                )
