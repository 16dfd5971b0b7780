"""An answer's tables, charts and files stored before the answer is shown: the live answer reads the
same stored copy as the reopened thread, so nothing of it lives in a server's temporary folder.

An element that cannot be stored is left out and the answer says so (and the log has why).
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Sequence
from typing import TypeVar

from chainlit.data import get_data_layer
from chainlit.element import Element, mime_types

from agent.history import HistoryDataLayer

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Element)

KINDS = {"dataframe": "table", "plotly": "chart", "image": "image", "text": "text", "file": "file"}


def not_kept_notice(names: Sequence[str]) -> str:
    """What the answer says under it when some of its elements could not be stored."""
    return (
        f"\n\nNot shown: {' and '.join(names)}, not saved just now. Ask again in a moment; if it keeps"
        " happening, tell whoever runs ViralTracker (the server log says why)."
    )


async def keep_elements(elements: list[E]) -> tuple[list[E], str]:
    """The elements that were stored (each now read from its stored copy), and the notice to add to
    the answer for those that could not be ("" when all were). Without chat history, unchanged."""
    layer = get_data_layer()
    if not isinstance(layer, HistoryDataLayer) or layer.storage_provider is None:
        return elements, ""
    kept: list[E] = []
    lost: list[str] = []
    for element in elements:
        if element.url:  # shown from where it already is (an image on the web)
            kept.append(element)
            continue
        element.mime = element.mime or mime_types.get(element.type) or _guessed(element)
        try:
            await layer.keep_element(element)
        except Exception:
            # Any storage failure (disk, bucket, network): the person is told below, the log keeps why.
            logger.exception(
                "The %s %r could not be stored; left out of the answer", element.type, element.name
            )
            lost.append(_described(element))
        else:
            kept.append(element)
    return kept, not_kept_notice(lost) if lost else ""


def _described(element: Element) -> str:
    """How the answer names an element it could not show: the tables' element by its tables' titles."""
    props = getattr(element, "props", None)
    titles = [t.get("title") for t in props.get("tables", [])] if isinstance(props, dict) else []
    if element.type == "custom" and titles:
        named = " and ".join(f"“{t}”" for t in titles)
        return f"the table{'s' if len(titles) != 1 else ''} {named}"
    return f"the {KINDS.get(element.type, 'element')} “{element.name}”"


def _guessed(element: Element) -> str:
    return mimetypes.guess_type(element.path or element.name)[0] or "application/octet-stream"
