"""Argument types and helpers shared by the tool modules."""

from __future__ import annotations

import math
from datetime import date

from pydantic_ai import RunContext

from services.errors import InvalidArgument
from services.windows import Window, resolve_window
from tools.deps import Deps


def window_of(
    ctx: RunContext[Deps], days: int | None, since: date | None, until: date | None, *, default_days: int = 30
) -> Window:
    return resolve_window(
        today=ctx.deps.today, days=days, since=since, until=until, default_days=default_days
    )


def check_limit(limit: int, *, most: int = 100) -> None:
    if not 1 <= limit <= most:
        raise InvalidArgument(f"limit must be between 1 and {most} (got {limit}).")


MOST_SPEND = 999_999_999_999.99
"""An ad's spend is numeric(14, 2): a minimum above what the column holds (or inf, nan) means nothing."""


def check_min_spend(min_spend: float) -> None:
    if min_spend < 0:
        raise InvalidArgument(f"min_spend can't be negative (got {min_spend:g}).")
    if math.isnan(min_spend):
        raise InvalidArgument("min_spend must be a number (got nan).")
    if min_spend > MOST_SPEND:
        raise InvalidArgument(f"min_spend must be at most {MOST_SPEND:,.2f} (got {min_spend:g}).")
