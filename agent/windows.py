"""Date phrases people use ("last 30 days", "last month", "this week") → tool window arguments."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

_N_DAYS = re.compile(r"\b(?:last|past|previous|trailing)\s+(\d{1,3})\s*(day|week|month)s?\b")


def window_args(text: str, *, today: date) -> dict[str, Any]:
    """The window arguments a phrase means, or {} when it names none."""
    t = text.lower()
    m = _N_DAYS.search(t)
    if m:
        n, unit = int(m.group(1)), m.group(2)
        return {"days": n * {"day": 1, "week": 7, "month": 30}[unit]}
    yesterday = today - timedelta(days=1)
    monday = today - timedelta(days=today.weekday())
    first_of_month = today.replace(day=1)
    if re.search(r"\b(last|previous|past) month\b", t):
        end = first_of_month - timedelta(days=1)
        return _range(end.replace(day=1), end)
    if re.search(r"\bthis month\b|\bmonth to date\b|\bmtd\b", t):
        return _range(first_of_month, today)
    if re.search(r"\b(last|previous|past) week\b", t):
        return _range(monday - timedelta(days=7), monday - timedelta(days=1))
    if re.search(r"\bthis week\b|\bweek to date\b", t):
        return _range(monday, today)
    if re.search(r"\byesterday\b", t):
        return _range(yesterday, yesterday)
    if re.search(r"\btoday\b", t):
        return _range(today, today)
    if re.search(r"\b(last|past) (quarter|3 months)\b", t):
        return {"days": 90}
    if re.search(r"\b(last|past) year\b", t):
        return {"days": 365}
    return {}


def _range(since: date, until: date) -> dict[str, Any]:
    return {"since": since.isoformat(), "until": until.isoformat()}
