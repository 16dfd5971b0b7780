"""Reporting windows: `days:N` = the N full days before today; `since`/`until` inclusive; weeks start Monday."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import BaseModel

from core.errors import InvalidArgument
from services.calendar_days import describe_range

MAX_DAYS = 730


class Window(BaseModel):
    """An inclusive date range, and how it was asked for."""

    since: date
    until: date
    label: str
    timezone: str | None = None
    """Whose days these are, when they are not the person's (the brand's ad account timezone)."""

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def described(self) -> str:
        """'last 30 days (2026-10-26 to 2026-11-24)', 'last week (Monday to Sunday, 2026-11-16 to
        2026-11-22)', or just the range when it was given as one."""
        range_text = f"{self.since} to {self.until}" if self.since != self.until else str(self.since)
        zone = f"{self.timezone} time" if self.timezone else ""
        if self.label == range_text:
            return f"{range_text} ({zone})" if zone else range_text
        range_text += f", {zone}" if zone else ""
        if self.label.endswith(")"):  # one pair of brackets, not two in a row
            return f"{self.label[:-1]}, {range_text})"
        return f"{self.label} ({range_text})"


def resolve_window(
    *,
    today: date,
    days: int | None = None,
    since: date | None = None,
    until: date | None = None,
    default_days: int = 30,
) -> Window:
    """Turn the arguments a person gave into one inclusive range, or say what is wrong."""
    if days is not None and (since is not None or until is not None):
        raise InvalidArgument("Give either days or since/until, not both.")
    if since is None and until is None:
        n = default_days if days is None else days
        if not 1 <= n <= MAX_DAYS:
            raise InvalidArgument(f"days must be between 1 and {MAX_DAYS} (got {n}).")
        end = today - timedelta(days=1)
        return Window(since=end - timedelta(days=n - 1), until=end, label=f"last {n} days")
    if since is None:
        raise InvalidArgument("until needs a since date too (since:YYYY-MM-DD until:YYYY-MM-DD).")
    until = until or today
    if since > until:
        raise InvalidArgument(f"since ({since}) is after until ({until}).")
    if until > today:
        raise InvalidArgument(f"until ({until}) is in the future; today is {today}.")
    if (until - since).days + 1 > MAX_DAYS:
        raise InvalidArgument(f"A date range can span at most {MAX_DAYS} days.")
    # A calendar block is named as people say it ("October 2026", "last week (Monday to Sunday)").
    return Window(since=since, until=until, label=describe_range(since, until, today=today))
