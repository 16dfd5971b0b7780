"""Argument types and helpers shared by the tool modules."""

from __future__ import annotations

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


def check_min_spend(min_spend: float) -> None:
    if min_spend < 0:
        raise InvalidArgument(f"min_spend can't be negative (got {min_spend:g}).")
