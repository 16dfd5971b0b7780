"""Calendar facts the period reader and the window labels share: months, quarters, retail days, and
a range's name in words. Weeks start on Monday (Meta's `last_week_mon_sun`)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


PERSON_TIMEZONE = "UTC"
"""People have no timezone setting yet: their today is UTC's (agent.runner); a brand's is its accounts'."""


def local_today(now: datetime, timezone: str | None) -> date:
    """The date it is at `now` in an IANA timezone (an ad account's days); UTC's for None or a name
    this machine's timezone database lacks."""
    try:
        return now.astimezone(ZoneInfo(timezone or "UTC")).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.astimezone(ZoneInfo("UTC")).date()


def nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The nth given weekday (Monday = 0) of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def named_day(name: str, year: int) -> tuple[date, str]:
    """A retail day of a year and its proper name. Black Friday is the day after the 4th Thursday
    of November (US Thanksgiving); Cyber Monday the Monday after it."""
    key = re.sub(r"\s+", " ", name.lower().replace("'", ""))
    thanksgiving = nth_weekday(year, 11, 3, 4)
    table = {
        "black friday": (thanksgiving + timedelta(days=1), "Black Friday"),
        "cyber monday": (thanksgiving + timedelta(days=4), "Cyber Monday"),
        "thanksgiving": (thanksgiving, "Thanksgiving"),
        "thanksgiving day": (thanksgiving, "Thanksgiving"),
        "christmas eve": (date(year, 12, 24), "Christmas Eve"),
        "christmas": (date(year, 12, 25), "Christmas Day"),
        "christmas day": (date(year, 12, 25), "Christmas Day"),
        "new years eve": (date(year, 12, 31), "New Year's Eve"),
        "new years": (date(year, 1, 1), "New Year's Day"),
        "new years day": (date(year, 1, 1), "New Year's Day"),
        "valentines": (date(year, 2, 14), "Valentine's Day"),
        "valentines day": (date(year, 2, 14), "Valentine's Day"),
        "halloween": (date(year, 10, 31), "Halloween"),
    }
    return table[key]


def month_range(year: int, month: int) -> tuple[date, date]:
    first = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def quarter_range(year: int, quarter: int) -> tuple[date, date]:
    return month_range(year, 3 * quarter - 2)[0], month_range(year, 3 * quarter)[1]


def quarter_of(day: date) -> int:
    return (day.month - 1) // 3 + 1


def months_back(day: date, n: int) -> date:
    """The same day n calendar months earlier (the month's last day when it is shorter)."""
    index = day.year * 12 + day.month - 1 - n
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, month_range(year, month + 1)[1].day))


def describe_range(since: date, until: date, *, today: date) -> str:
    """A range's name in words when it is a calendar block the person would name ("October 2026",
    "last week (Monday to Sunday)"), else "since to until"."""
    monday = today - timedelta(days=today.weekday())
    yesterday = today - timedelta(days=1)
    if since == until == today:
        return "today"
    if since == until == yesterday:
        return "yesterday"
    if since == until:
        return since.isoformat()
    if (since, until) == (monday, today):
        return "this week (since Monday)"
    if (since, until) == (monday - timedelta(days=7), monday - timedelta(days=1)):
        return "last week (Monday to Sunday)"
    if since.day == 1 and until == today and since.month == today.month and since.year == today.year:
        return "this month to date"
    if (since, until) == month_range(since.year, since.month):
        return f"{MONTH_NAMES[since.month - 1]} {since.year}"
    q = quarter_of(since)
    if (since, until) == quarter_range(since.year, q):
        return f"Q{q} {since.year}"
    if since == quarter_range(today.year, quarter_of(today))[0] and until == today:
        return f"this quarter to date (Q{q} {since.year})"
    if (since, until) == (date(since.year, 1, 1), date(since.year, 12, 31)):
        return str(since.year)
    if since == date(today.year, 1, 1) and until == today:
        return "this year to date"
    return f"{since} to {until}"
