"""Charts in the chat: a result's Plotly figures (`Presentable.as_charts`), as the plain JSON plotly.js draws.

Results build them as dicts rather than `plotly.graph_objects` figures: those validate every property and copy
the whole figure again to serialise it, several milliseconds of the event loop per chart, and
carry plotly.py's ~10 kB default template into every message.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

from chainlit.element import Element, ElementSize, ElementType
from pydantic.dataclasses import dataclass

from agent.render import charts_for
from services.presentable import Figure

__all__ = ["Figure", "PlotlyChart", "charts_for", "title_of"]


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
        # The modebar's camera downloads the chart as a PNG named after it; Plotly's logo link is left out.
        config = {
            "displaylogo": False,
            "toImageButtonOptions": {
                "format": "png",
                "filename": _file_name(title_of(self.figure)),
                "scale": 2,
            },
        }
        self.content = json.dumps(
            {"data": self.figure["data"], "layout": layout, "config": config}, allow_nan=False
        )
        self.mime = "application/json"
        super().__post_init__()


def title_of(figure: Figure) -> str:
    """The chart's title as one line of text (`layout()` shows what follows " — " on a line of its own)."""
    title = str(figure.get("layout", {}).get("title", {}).get("text") or "chart")
    return re.sub(r"<[^>]*>", "", title.replace("<br>", " — "))


def _file_name(title: str) -> str:
    """A chart's PNG file name from its title ("Top hooks by hook_rate — Acme Pets" -> top-hooks-by-…)."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "chart"
