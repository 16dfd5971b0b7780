"""Periods people name in plain English ("in October", "Q3", "since Black Friday") → an inclusive date range.

A small table of forms rather than a general date library: the forms marketers use are few, each
has one agreed meaning (Ads Manager's, where it has one), and a phrase we can't place must be named
back to the person, which a best-guess parser would hide. Weeks start on Monday (Meta's
`last_week_mon_sun`); "last N days" is the N full days before today, not counting today.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from services.calendar_days import (
    MONTH_NAMES,
    month_range,
    months_back,
    named_day,
    quarter_of,
    quarter_range,
)
from services.windows import MAX_DAYS

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_NUMBER_WORDS = {
    "a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fourteen": 14, "thirty": 30, "sixty": 60, "ninety": 90,
}  # fmt: skip
_ORDINAL_QUARTERS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}

MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_FULL_MONTH = (
    r"(?:january|february|march|april|june|july|august|september|october|november|december)"  # not "may"
)
NAMED_DAY = (
    r"(?:black\s+friday|cyber\s+monday|thanksgiving(?:\s+day)?|christmas\s+eve|christmas(?:\s+day)?"
    r"|new\s+year'?s\s+eve|new\s+year'?s(?:\s+day)?|valentine'?s(?:\s+day)?|halloween)"
)
_YEAR = r"(?:20\d\d|'\d\d)"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
DATE_IN_WORDS = (
    rf"(?:\d{{4}}-\d{{1,2}}-\d{{1,2}}|{MONTH}\s+{_DAY}(?:,?\s+{_YEAR})?|{_DAY}\s+(?:of\s+)?{MONTH}(?:,?\s+{_YEAR})?"
    rf"|{NAMED_DAY}(?:\s+{_YEAR})?)"
)
_SLASHED = r"\d{1,2}/\d{1,2}(?:/(?:\d{4}|\d{2}))?"  # US order, month/day: the answer shows the ISO dates read
DATE = rf"(?:{DATE_IN_WORDS}|{_SLASHED})"
_END = rf"(?:{DATE}|{_DAY}(?:,?\s+{_YEAR})?)"  # "Oct 1 to 15": the end may be a bare day of the same month
_TO = r"\s*(?:to|through|thru|until|till|-|–|—)\s*"


@dataclass(frozen=True)
class Period:
    """An inclusive range a phrase named, how to say it, and the words it was read from."""

    since: date
    until: date
    label: str
    words: str
    days: int | None = None
    """Set for a rolling "last N days" window (the N full days before today)."""

    def tool_args(self) -> dict[str, object]:
        """The window arguments a reporting tool takes for this period."""
        if self.days is not None:
            return {"days": self.days}
        return {"since": self.since.isoformat(), "until": self.until.isoformat()}


@dataclass(frozen=True)
class Unplaced:
    """Period-like words that could not be placed as dates, and why, in the person's own words."""

    words: str
    reason: str = ""


@dataclass(frozen=True)
class PeriodReading:
    period: Period | None = None
    unplaced: Unplaced | None = None


class _CannotPlace(ValueError):
    """A form matched but names no real, past range (Feb 30, next year's Q1)."""


# ---- dates -------------------------------------------------------------------------------------------


def _year(text: str) -> int:
    return 2000 + int(text[1:]) if text.startswith("'") else int(text)


def _latest(make: Callable[[int], date], today: date) -> date:
    """The most recent of a yearly date that is not in the future."""
    for year in (today.year, today.year - 1):
        try:
            day = make(year)
        except ValueError:  # Feb 29 in a common year
            continue
        if day <= today:
            return day
    raise _CannotPlace("no such date")


def _parse_date(text: str, *, today: date, year_hint: int | None = None) -> tuple[date, str]:
    """One date phrase → the date and how to say it. Without a year: the most recent such date not
    in the future (or the year given by the other end of a range)."""
    t = re.sub(r"\s+", " ", text.strip().lower().rstrip("."))
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", t):
            day = date(int(m[1]), int(m[2]), int(m[3]))
            return day, day.isoformat()
        if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?", t):
            month, dom = int(m[1]), int(m[2])
            year = (int(m[3]) + (2000 if len(m[3]) == 2 else 0)) if m[3] else year_hint
            day = date(year, month, dom) if year else _latest(lambda y: date(y, month, dom), today)
            return day, day.isoformat()
        year_m = re.search(rf"(?:,?\s+)({_YEAR})$", t)
        year = _year(year_m[1]) if year_m else year_hint
        core = t[: year_m.start()] if year_m else t
        if re.fullmatch(NAMED_DAY, core):
            if year is not None:
                day, name = named_day(core, year)
            else:
                day = _latest(lambda y: named_day(core, y)[0], today)
                name = named_day(core, day.year)[1]
            return day, f"{name} {day.year}"
        m = re.fullmatch(rf"({MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?", core) or re.fullmatch(
            rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH})", core
        )
        if m is None:
            raise _CannotPlace(text)
        month_text, day_text = (m[1], m[2]) if not m[1][0].isdigit() else (m[2], m[1])
        month, dom = _MONTHS[month_text[:3]], int(day_text)
        if year is not None:
            day = date(year, month, dom)
        else:
            date(2000, month, dom)  # a real day of that month in some year (leap year 2000)
            day = _latest(lambda y: date(y, month, dom), today)
        return day, day.isoformat()
    except ValueError as error:  # date() of a day that doesn't exist
        raise _CannotPlace(text) from error


# ---- the table of forms ------------------------------------------------------------------------------

_Read = tuple[date, date, str, int | None]
"""since, until, label, and N for a rolling "last N days" window."""
_Reader = Callable[[re.Match[str], date], _Read]


def _range_form(m: re.Match[str], today: date) -> _Read:
    end, end_label = (
        _parse_date(m["b"], today=today)
        if not re.fullmatch(rf"{_DAY}(?:,?\s+{_YEAR})?", m["b"].strip())
        else (None, "")
    )
    start_year = end.year if end is not None else None
    start, start_label = _parse_date(m["a"], today=today, year_hint=start_year)
    if end is None:  # a bare day: the start's month (and year)
        bare = re.fullmatch(rf"(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+({_YEAR}))?", m["b"].strip())
        assert bare is not None
        try:
            end = date(_year(bare[2]) if bare[2] else start.year, start.month, int(bare[1]))
        except ValueError as error:
            raise _CannotPlace(m["b"]) from error
        end_label = end.isoformat()
    if start > end and not re.search(_YEAR, m["a"]) and start.month > end.month:  # "Dec 20 to Jan 5"
        start, start_label = _parse_date(m["a"], today=today, year_hint=end.year - 1)
    if start > end:
        raise _CannotPlace("starts after it ends")
    return start, end, f"{start_label} to {end_label}", None


def _since_form(m: re.Match[str], today: date) -> _Read:
    start, label = _parse_date(m["a"], today=today)
    return start, today, f"since {label}", None


def _on_day(m: re.Match[str], today: date) -> _Read:
    day, label = _parse_date(m["a"], today=today)
    return day, day, label, None


def _quarter(m: re.Match[str], today: date) -> _Read:
    q = int(m["q"]) if m["q"] else _ORDINAL_QUARTERS[m["ord"]]
    if m["y"]:
        year = _year(m["y"] if len(m["y"]) != 2 else "'" + m["y"])
    else:  # the most recent such quarter that has begun
        year = today.year if quarter_range(today.year, q)[0] <= today else today.year - 1
    since, until = quarter_range(year, q)
    return since, until, f"Q{q} {year}", None


def _relative_quarter(m: re.Match[str], today: date) -> _Read:
    q, year = quarter_of(today), today.year
    if m["which"] in ("last", "previous", "past"):
        q, year = (q - 1, year) if q > 1 else (4, year - 1)
        since, until = quarter_range(year, q)
        return since, until, f"last quarter (Q{q} {year})", None
    return quarter_range(year, q)[0], today, f"this quarter to date (Q{q} {year})", None


def _week(m: re.Match[str], today: date) -> _Read:
    monday = today - timedelta(days=today.weekday())
    if m["which"] in ("last", "previous", "past"):
        return monday - timedelta(days=7), monday - timedelta(days=1), "last week (Monday to Sunday)", None
    return monday, today, "this week (since Monday)", None


def _weekend(m: re.Match[str], today: date) -> _Read:
    if today.weekday() >= 5 and m["which"] in (None, "this", "current"):  # the weekend under way, to today
        saturday = today - timedelta(days=today.weekday() - 5)
        return saturday, saturday + timedelta(days=1), "this weekend", None
    if m["which"] in ("this", "current"):  # the coming one
        saturday = today + timedelta(days=5 - today.weekday())
        return saturday, saturday + timedelta(days=1), "this weekend", None
    sunday = today - timedelta(days=(today.weekday() + 1) % 7 or 7)  # the most recent one that is over
    return sunday - timedelta(days=1), sunday, "last weekend (Saturday and Sunday)", None


def _bfcm(m: re.Match[str], today: date) -> _Read:
    if m["y"]:
        year = _year(m["y"])
    else:  # the most recent one that has begun
        year = today.year if named_day("black friday", today.year)[0] <= today else today.year - 1
    start, end = named_day("black friday", year)[0], named_day("cyber monday", year)[0]
    return start, end, f"Black Friday to Cyber Monday {year}", None


def _named_week(m: re.Match[str], today: date) -> _Read:
    """The week a retail day falls in ("Black Friday week"): Monday to Sunday, to today while it runs."""
    day, label = _parse_date(m["a"] or m["w"], today=today)
    monday = day - timedelta(days=day.weekday())
    if monday + timedelta(days=6) > today:
        return monday, today, f"the week of {label} (since Monday)", None
    return monday, monday + timedelta(days=6), f"the week of {label} (Monday to Sunday)", None


def _month(m: re.Match[str], today: date) -> _Read:
    first = today.replace(day=1)
    if m["which"] in ("last", "previous", "past"):
        end = first - timedelta(days=1)
        return end.replace(day=1), end, f"last month ({MONTH_NAMES[end.month - 1]} {end.year})", None
    return first, today, "this month to date", None


def _year_form(m: re.Match[str], today: date) -> _Read:
    if m["which"] in ("last", "previous"):
        y = today.year - 1
        return date(y, 1, 1), date(y, 12, 31), f"last year ({y})", None
    return date(today.year, 1, 1), today, "this year to date", None


def _to_date(m: re.Match[str], today: date) -> _Read:
    unit = {"w": "week", "m": "month", "q": "quarter", "y": "year"}[(m["unit"] or m["abbr"])[0].lower()]
    if unit == "week":
        since = today - timedelta(days=today.weekday())
    elif unit == "month":
        since = today.replace(day=1)
    elif unit == "quarter":
        since = quarter_range(today.year, quarter_of(today))[0]
    else:
        since = date(today.year, 1, 1)
    return since, today, f"{unit} to date", None


def _last_n(m: re.Match[str], today: date) -> _Read:
    n = int(m["n"]) if m["n"].isdigit() else _NUMBER_WORDS[m["n"]]
    unit = m["unit"]
    until = today - timedelta(days=1)
    if n < 1:
        raise _CannotPlace("zero")
    if unit.startswith("day"):
        days = n
    elif unit.startswith("week"):
        days = 7 * n
    else:  # calendar months back from today, not 30-day blocks
        days = (today - months_back(today, n)).days
    plural = "" if n == 1 else "s"
    return until - timedelta(days=days - 1), until, f"last {n} {unit.rstrip('s')}{plural}", days


def _yesterday(m: re.Match[str], today: date) -> _Read:
    day = today - timedelta(days=1)
    return day, day, "yesterday", None


def _today(m: re.Match[str], today: date) -> _Read:
    return today, today, "today", None


def _named_month(m: re.Match[str], today: date) -> _Read:
    month = _MONTHS[m["m"][:3].lower()]
    if m["y"]:
        year = _year(m["y"])
    elif m["last"]:  # "last October": the most recent one that has ended
        year = today.year if month < today.month else today.year - 1
    else:  # the most recent one that has begun
        year = today.year if month <= today.month else today.year - 1
    since, until = month_range(year, month)
    return since, until, f"{MONTH_NAMES[month - 1]} {year}", None


def _whole_year(m: re.Match[str], today: date) -> _Read:
    year = int(m["y"])
    return date(year, 1, 1), date(year, 12, 31), str(year), None


def _past_year(m: re.Match[str], today: date) -> _Read:
    until = today - timedelta(days=1)
    days = (today - months_back(today, 12)).days
    return until - timedelta(days=days - 1), until, "last 12 months", days


_LAST = r"(?P<which>last|previous|past|this|current)"
_FORMS: list[tuple[str, _Reader]] = [
    (
        rf"\b(?:(?:during|over|for|in)\s+)?(?:the\s+)?(?:bfcm|black\s+friday\s*(?:/|-|–|&|and)\s*cyber\s+monday)"
        rf"(?:\s+weekend)?(?:\s+(?P<y>{_YEAR}))?(?![\w-])",
        _bfcm,
    ),
    (
        rf"\b(?:(?:during|over|in)\s+)?(?:the\s+)?(?:(?P<a>{NAMED_DAY}(?:\s+{_YEAR})?)\s+week"
        rf"|week\s+of\s+(?P<w>{NAMED_DAY}(?:\s+{_YEAR})?))\b",
        _named_week,
    ),
    (rf"\b(?:from\s+)?(?P<a>{DATE}){_TO}(?P<b>{_END})(?![\w-])", _range_form),
    (rf"\bbetween\s+(?P<a>{DATE})\s*(?:and|-|–|to)\s*(?P<b>{_END})(?![\w-])", _range_form),
    (rf"\b(?:since|starting(?:\s+(?:on|from))?|from)\s+(?P<a>{DATE})(?![\w-])", _since_form),
    (r"\b(?:this|current)\s+(?P<unit>week|month|quarter|year)\s+to\s+date\b", _to_date),
    (r"\b(?P<unit>week|month|quarter|year)[\s-]+to[\s-]+date\b|\b(?P<abbr>wtd|mtd|qtd|ytd)\b", _to_date),
    (rf"\b{_LAST}\s+quarter\b", _relative_quarter),
    (
        r"\b(?:in\s+|during\s+|for\s+)?(?:q(?P<q>[1-4])|(?P<ord>first|second|third|fourth|1st|2nd|3rd|4th)\s+quarter)"
        r"(?:\s*(?:of\s+)?'?(?P<y>20\d\d|\d\d)\b)?\b",
        _quarter,
    ),
    (rf"\b{_LAST}\s+week\b(?!\s+of\b)", _week),  # "the last week of October" is no calendar week
    (rf"\b(?:{_LAST}|(?:over|during)\s+the|the)\s+weekend\b", _weekend),
    (rf"\b{_LAST}\s+month\b", _month),
    (r"\b(?P<which>last|previous|this|current)\s+year\b", _year_form),
    (
        r"\b(?:last|past|previous|trailing)\s+(?P<n>\d{1,3}|" + "|".join(_NUMBER_WORDS) + r")\s+"
        r"(?P<unit>days?|weeks?|months?)\b",
        _last_n,
    ),
    (r"\b(?:past|trailing)\s+(?:12\s+months|year)\b", _past_year),
    (r"\byesterday\b", _yesterday),
    (r"\btoday\b", _today),
    (rf"\bon\s+(?P<a>{DATE})(?![\w/-])", _on_day),
    (rf"\b(?P<a>{DATE_IN_WORDS})(?![\w-])", _on_day),  # "50/50" alone is no date; "on 11/27" is
    (
        rf"\b(?:(?:in|during|for|of|over)\s+(?:the\s+month\s+of\s+)?)?(?P<last>last\s+)?"
        rf"(?P<m>{MONTH})(?:\s*,?\s+(?P<y>20\d\d|'\d\d))?(?![\w-])",
        _named_month,
    ),
    (r"\b(?:in|during|for|over)\s+(?P<y>20\d\d)\b", _whole_year),
]
_COMPILED = [(re.compile(pattern, re.IGNORECASE), reader) for pattern, reader in _FORMS]


def _bare_month_ok(m: re.Match[str]) -> bool:
    """A month name alone: "may" and abbreviations ("mar", "jan") only after a preposition or with a year."""
    text = m.group(0).strip().lower()
    word = m["m"].lower().rstrip(".")
    introduced = text != word or m["y"] is not None
    return introduced or re.fullmatch(_FULL_MONTH, word) is not None


# Words that name a time but no form above placed them: said back to the person, never guessed.
_STOP = r"(?=\s+(?:for|by|on|with|vs|versus|and|in|of|sorted|ranked)\b|[,.;:?!]|\s*$)"
_PERIOD_LIKE = re.compile(
    r"\b(?:since|starting|until|till|between|during)\s+(?:(?!\s).)+?(?:\s+\S+?){0,3}?" + _STOP
    + r"|\b(?:(?:in|during|over|for|this|last|past)\s+)?(?:the\s+)?(?:spring|summer|fall|autumn|winter|holidays?"
    r"|holiday\s+season|prime\s+day|back\s+to\s+school|all\s+time|lifetime)\b"
    r"|\b(?:last|past)\s+\d+\s+(?:hours?|minutes?|years?)\b|\btomorrow\b|\bnext\s+(?:week|weekend|month|quarter|year|\w+day)\b"
    r"|\bfrom\s+\S+(?:\s+\S+){0,3}?\s+(?:to|until|through)\s+\S+(?:\s+\d{1,4})?",
    re.IGNORECASE,
)  # fmt: skip


_PART_OF = re.compile(
    r"\b(?:(?:the\s+)?(?:first|second|third|fourth|last|final|1st|2nd|3rd|4th)\s+(?:week|weekend|half|days?)"
    r"|early|late|mid|(?:the\s+)?(?:start|beginning|end|middle))[\s-]+(?:of\s+)?$",
    re.IGNORECASE,
)


def read_period(text: str, *, today: date) -> PeriodReading:
    """The period a message names: the first form that matches, with the words it consumed; or the
    period-like words that could not be placed; or neither (no period named). Time words left over
    beside a placed period (a second period, words it can't place) come back as `unplaced`."""
    first, span = _place(text, today=today)
    if first.period is None or first.unplaced is not None:
        return first
    rest, _ = _place(text[: span[0]] + " " + text[span[1] :], today=today)
    if rest.period is not None:
        return PeriodReading(
            first.period, Unplaced(rest.period.words, "was left out (one period per answer)")
        )
    return PeriodReading(first.period, rest.unplaced)


def _place(text: str, *, today: date) -> tuple[PeriodReading, tuple[int, int]]:
    """The first form that matches and where its words are; else the period-like words it can't place."""
    for pattern, reader in _COMPILED:
        for m in pattern.finditer(text):
            if reader is _named_month and not _bare_month_ok(m):
                continue
            start, end, words = m.start(), m.end(), m.group(0).strip()
            try:
                since, until, label, days = reader(m, today)
            except _CannotPlace:
                return PeriodReading(unplaced=Unplaced(words, "is not a date I can place")), (start, end)
            lead = re.search(
                r"\b(?:since|starting(?:\s+(?:on|from))?)(?:\s+the\s+(?:start|beginning)(?:\s+of)?)?\s+$",
                text[max(0, start - 40) : start],
                re.IGNORECASE,
            )
            if lead and reader not in (_since_form, _range_form):  # "since last week": its start to today
                start, words = start - len(lead.group(0)), f"{lead.group(0)}{words}"
                until, days = today, None
                label = "since " + label.split(" (")[0].removesuffix(" to date")
            if since > today:
                return PeriodReading(unplaced=Unplaced(words, "is in the future")), (start, end)
            if until > today:  # a period under way ("in December" on Dec 5) runs to today
                until, label = today, label if "to date" in label else f"{label} to date"
            if (until - since).days + 1 > MAX_DAYS:
                reason = f"spans more than the {MAX_DAYS} days a window can"
                return PeriodReading(unplaced=Unplaced(words, reason)), (start, end)
            period = Period(since=since, until=until, label=label, words=words, days=days)
            if part := _PART_OF.search(text[max(0, start - 40) : start]):
                # "the first week of November": the month is read, the part of it isn't; say so.
                return PeriodReading(period, Unplaced(f"{part.group(0)}{words}")), (
                    start - len(part.group(0)),
                    end,
                )
            return PeriodReading(period=period), (start, end)
    if other := _PERIOD_LIKE.search(text):
        words = other.group(0).strip()
        future = re.match(r"tomorrow|next\b", words, re.IGNORECASE)
        reading = PeriodReading(unplaced=Unplaced(words, "is in the future" if future else ""))
        return reading, other.span()
    return PeriodReading(), (0, 0)
