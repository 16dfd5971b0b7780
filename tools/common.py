"""Argument types shared by the tool modules: their limits are in the schema the model and MCP clients read."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field

from services.windows import MAX_DAYS, Window, resolve_window
from tools.deps import Deps

Days = Annotated[int, Field(ge=1, le=MAX_DAYS)]
"""The last N full days before today."""
Limit = Annotated[int, Field(ge=1, le=100)]
"""How many rows a listing shows."""
ShortLimit = Annotated[int, Field(ge=1, le=50)]
"""How many rows a listing that costs more per row shows."""

MOST_SPEND = 999_999_999_999.99
"""An ad's spend is numeric(14, 2): a minimum above what the column holds (or inf, nan) means nothing."""
MinSpend = Annotated[float, Field(ge=0, le=MOST_SPEND)]


def window_of(
    deps: Deps, days: int | None, since: date | None, until: date | None, *, default_days: int = 30
) -> Window:
    window = resolve_window(today=deps.today, days=days, since=since, until=until, default_days=default_days)
    return window.model_copy(update={"timezone": deps.timezone}) if deps.timezone else window
