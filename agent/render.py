"""What each surface draws for a tool's result: whatever the result declares (services.presentable).

The chat (agent/chat_ui.py), Slack (agent/slack_render.py) and the CLI (cli.py) call these; a result
that is not `Presentable` shows its summary alone.
"""

from __future__ import annotations

from pydantic import BaseModel

from services.money import InCurrency, Money, shown_in
from services.presentable import Figure, Presentable, Table
from tools.actions import ActionButton

__all__ = [
    "Table",
    "actions_of",
    "cards_of",
    "charts_for",
    "files_of",
    "images_of",
    "panels_of",
    "tables_for",
]


def tables_for(result: BaseModel) -> list[Table]:
    """The tables that show this result in full (its money in the result's currency)."""
    if not isinstance(result, Presentable):
        return []
    with shown_in(result.money if isinstance(result, InCurrency) else Money()):
        return result.as_tables()


def charts_for(result: BaseModel) -> list[Figure]:
    """Plotly figures (as the JSON plotly.js draws) where a picture reads better than a table."""
    if not isinstance(result, Presentable):
        return []
    with shown_in(result.money if isinstance(result, InCurrency) else Money()):
        return result.as_charts()


def images_of(result: BaseModel) -> list[tuple[str, str]]:
    """(name, file or URL) of the pictures a result shows as a grid: template thumbnails, ads made."""
    return result.as_images() if isinstance(result, Presentable) else []


def files_of(result: BaseModel) -> list[tuple[str, str]]:
    """(name, path) of the files a result offers for download: blueprint exports."""
    return result.as_files() if isinstance(result, Presentable) else []


def panels_of(result: BaseModel) -> list[tuple[str, str]]:
    """(name, text) of long texts shown beside the answer: an ad's transcript and storyboard."""
    return result.as_panels() if isinstance(result, Presentable) else []


def cards_of(result: BaseModel) -> str:
    """Markdown the chat shows in the answer instead of the result's tables (one ad, a persona)."""
    return result.as_card() if isinstance(result, Presentable) else ""


def actions_of(result: BaseModel) -> list[ActionButton]:
    """The follow-ups a result offers: buttons in the chat, hints ("Retry: /jobs retry:…") in a shell."""
    actions = getattr(result, "actions", None)
    return [a for a in actions if isinstance(a, ActionButton)] if isinstance(actions, list) else []
