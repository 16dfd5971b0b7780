"""The period parser on a table of phrasings, today fixed: the dates, the label and the words each one used."""

from __future__ import annotations

from datetime import date

import pytest

from services.calendar_days import describe_range, named_day
from services.periods import Unplaced, read_period
from services.windows import resolve_window

TODAY = date(2026, 12, 5)  # a Saturday
NEW_YEAR = date(2027, 1, 10)  # a Sunday, early in a year: months and quarters without a year look back


@pytest.mark.parametrize(
    ("text", "today", "since", "until", "label", "words"),
    [
        # Month names, with or without a year: without, the most recent such month that has begun.
        ("congruence for Acme Pets in October", TODAY, "2026-10-01", "2026-10-31", "October 2026", "in October"),
        ("top hooks october 2026", TODAY, "2026-10-01", "2026-10-31", "October 2026", "october 2026"),
        ("ads in Oct 2025", TODAY, "2025-10-01", "2025-10-31", "October 2025", "in Oct 2025"),
        ("spend during september", TODAY, "2026-09-01", "2026-09-30", "September 2026", "during september"),
        ("hooks for may", TODAY, "2026-05-01", "2026-05-31", "May 2026", "for may"),
        ("best ads in the month of March", TODAY, "2026-03-01", "2026-03-31", "March 2026", "in the month of March"),
        ("hooks in Sept '25", TODAY, "2025-09-01", "2025-09-30", "September 2025", "in Sept '25"),
        ("in December", TODAY, "2026-12-01", "2026-12-05", "December 2026 to date", "in December"),
        ("in December", NEW_YEAR, "2026-12-01", "2026-12-31", "December 2026", "in December"),
        ("in February", NEW_YEAR, "2026-02-01", "2026-02-28", "February 2026", "in February"),
        ("last October", TODAY, "2026-10-01", "2026-10-31", "October 2026", "last October"),
        ("november", TODAY, "2026-11-01", "2026-11-30", "November 2026", "november"),
        # Explicit ranges.
        ("best ads for Acme Pets from 2026-10-01 to 2026-10-15", TODAY, "2026-10-01", "2026-10-15",
         "2026-10-01 to 2026-10-15", "from 2026-10-01 to 2026-10-15"),
        ("2026-10-01 to 2026-10-15", TODAY, "2026-10-01", "2026-10-15", "2026-10-01 to 2026-10-15",
         "2026-10-01 to 2026-10-15"),
        ("2026-10-01 - 2026-10-15", TODAY, "2026-10-01", "2026-10-15", "2026-10-01 to 2026-10-15",
         "2026-10-01 - 2026-10-15"),
        ("from Oct 1 to Oct 15", TODAY, "2026-10-01", "2026-10-15", "2026-10-01 to 2026-10-15", "from Oct 1 to Oct 15"),
        ("between nov 3 and nov 10", TODAY, "2026-11-03", "2026-11-10", "2026-11-03 to 2026-11-10",
         "between nov 3 and nov 10"),
        ("Oct 1-15", TODAY, "2026-10-01", "2026-10-15", "2026-10-01 to 2026-10-15", "Oct 1-15"),
        ("from october 1st through october 15th", TODAY, "2026-10-01", "2026-10-15", "2026-10-01 to 2026-10-15",
         "from october 1st through october 15th"),
        ("from 1 Oct to 15 Oct", TODAY, "2026-10-01", "2026-10-15", "2026-10-01 to 2026-10-15", "from 1 Oct to 15 Oct"),
        ("Oct 1, 2025 to Oct 15, 2025", TODAY, "2025-10-01", "2025-10-15", "2025-10-01 to 2025-10-15",
         "Oct 1, 2025 to Oct 15, 2025"),
        ("best ads from 11/1 to 11/15", TODAY, "2026-11-01", "2026-11-15", "2026-11-01 to 2026-11-15",
         "from 11/1 to 11/15"),
        ("between 12/20/2025 and 1/5/2026", TODAY, "2025-12-20", "2026-01-05", "2025-12-20 to 2026-01-05",
         "between 12/20/2025 and 1/5/2026"),
        ("on 11/27", TODAY, "2026-11-27", "2026-11-27", "2026-11-27", "on 11/27"),
        ("dec 20 to jan 5", NEW_YEAR, "2026-12-20", "2027-01-05", "2026-12-20 to 2027-01-05", "dec 20 to jan 5"),
        ("dec 20 to jan 5", TODAY, "2025-12-20", "2026-01-05", "2025-12-20 to 2026-01-05", "dec 20 to jan 5"),
        ("from Black Friday to Cyber Monday", TODAY, "2026-11-27", "2026-11-30",
         "Black Friday 2026 to Cyber Monday 2026", "from Black Friday to Cyber Monday"),
        ("top hooks during Black Friday week", TODAY, "2026-11-23", "2026-11-29",
         "the week of Black Friday 2026 (Monday to Sunday)", "during Black Friday week"),
        ("spend the week of cyber monday", TODAY, "2026-11-30", "2026-12-05",
         "the week of Cyber Monday 2026 (since Monday)", "the week of cyber monday"),
        # "since <date>" runs to today.
        ("top hooks for Acme Pets since Black Friday", TODAY, "2026-11-27", "2026-12-05", "since Black Friday 2026",
         "since Black Friday"),
        ("since Nov 1", TODAY, "2026-11-01", "2026-12-05", "since 2026-11-01", "since Nov 1"),
        ("since 2026-09-15", TODAY, "2026-09-15", "2026-12-05", "since 2026-09-15", "since 2026-09-15"),
        ("starting October 1st, 2026", TODAY, "2026-10-01", "2026-12-05", "since 2026-10-01",
         "starting October 1st, 2026"),
        ("since Cyber Monday", TODAY, "2026-11-30", "2026-12-05", "since Cyber Monday 2026", "since Cyber Monday"),
        ("since black friday", NEW_YEAR, "2026-11-27", "2027-01-10", "since Black Friday 2026", "since black friday"),
        ("since last week", TODAY, "2026-11-23", "2026-12-05", "since last week", "since last week"),
        ("since October", TODAY, "2026-10-01", "2026-12-05", "since October 2026", "since October"),
        ("since the start of Q3", TODAY, "2026-07-01", "2026-12-05", "since Q3 2026", "since the start of Q3"),
        ("since the beginning of last month", TODAY, "2026-11-01", "2026-12-05", "since last month",
         "since the beginning of last month"),
        ("since yesterday", TODAY, "2026-12-04", "2026-12-05", "since yesterday", "since yesterday"),
        # Named days: the most recent one not in the future.
        ("on black friday", TODAY, "2026-11-27", "2026-11-27", "Black Friday 2026", "on black friday"),
        ("cyber monday 2025", TODAY, "2025-12-01", "2025-12-01", "Cyber Monday 2025", "cyber monday 2025"),
        ("black friday 2024", TODAY, "2024-11-29", "2024-11-29", "Black Friday 2024", "black friday 2024"),
        ("thanksgiving", TODAY, "2026-11-26", "2026-11-26", "Thanksgiving 2026", "thanksgiving"),
        ("on Halloween", TODAY, "2026-10-31", "2026-10-31", "Halloween 2026", "on Halloween"),
        ("christmas", TODAY, "2025-12-25", "2025-12-25", "Christmas Day 2025", "christmas"),
        ("valentine's day", TODAY, "2026-02-14", "2026-02-14", "Valentine's Day 2026", "valentine's day"),
        ("on 2026-11-02", TODAY, "2026-11-02", "2026-11-02", "2026-11-02", "on 2026-11-02"),
        ("on Nov 2", TODAY, "2026-11-02", "2026-11-02", "2026-11-02", "on Nov 2"),
        # Quarters: without a year, the most recent one that has begun; a running one ends today.
        ("Q3", TODAY, "2026-07-01", "2026-09-30", "Q3 2026", "Q3"),
        ("q3 2025", TODAY, "2025-07-01", "2025-09-30", "Q3 2025", "q3 2025"),
        ("in Q4 '24", TODAY, "2024-10-01", "2024-12-31", "Q4 2024", "in Q4 '24"),
        ("Q1", TODAY, "2026-01-01", "2026-03-31", "Q1 2026", "Q1"),
        ("Q2", NEW_YEAR, "2026-04-01", "2026-06-30", "Q2 2026", "Q2"),
        ("Q4", TODAY, "2026-10-01", "2026-12-05", "Q4 2026 to date", "Q4"),
        ("third quarter", TODAY, "2026-07-01", "2026-09-30", "Q3 2026", "third quarter"),
        ("last quarter", TODAY, "2026-07-01", "2026-09-30", "last quarter (Q3 2026)", "last quarter"),
        ("last quarter", NEW_YEAR, "2026-10-01", "2026-12-31", "last quarter (Q4 2026)", "last quarter"),
        ("this quarter", TODAY, "2026-10-01", "2026-12-05", "this quarter to date (Q4 2026)", "this quarter"),
        # Weeks start on Monday (Meta's last_week_mon_sun).
        ("last week", TODAY, "2026-11-23", "2026-11-29", "last week (Monday to Sunday)", "last week"),
        ("previous week", NEW_YEAR, "2026-12-28", "2027-01-03", "last week (Monday to Sunday)", "previous week"),
        ("this week", TODAY, "2026-11-30", "2026-12-05", "this week (since Monday)", "this week"),
        ("this week", NEW_YEAR, "2027-01-04", "2027-01-10", "this week (since Monday)", "this week"),
        ("last weekend", TODAY, "2026-11-28", "2026-11-29", "last weekend (Saturday and Sunday)", "last weekend"),
        ("over the weekend", TODAY, "2026-12-05", "2026-12-05", "this weekend to date", "over the weekend"),
        ("over the weekend", NEW_YEAR, "2027-01-09", "2027-01-10", "this weekend", "over the weekend"),
        ("during bfcm", TODAY, "2026-11-27", "2026-11-30", "Black Friday to Cyber Monday 2026", "during bfcm"),
        ("BFCM 2025", TODAY, "2025-11-28", "2025-12-01", "Black Friday to Cyber Monday 2025", "BFCM 2025"),
        ("last weekend", NEW_YEAR, "2027-01-02", "2027-01-03", "last weekend (Saturday and Sunday)", "last weekend"),
        # Months, years, and to date.
        ("last month", TODAY, "2026-11-01", "2026-11-30", "last month (November 2026)", "last month"),
        ("last month", NEW_YEAR, "2026-12-01", "2026-12-31", "last month (December 2026)", "last month"),
        ("this month", TODAY, "2026-12-01", "2026-12-05", "this month to date", "this month"),
        ("this year", TODAY, "2026-01-01", "2026-12-05", "this year to date", "this year"),
        ("last year", TODAY, "2025-01-01", "2025-12-31", "last year (2025)", "last year"),
        ("in 2025", TODAY, "2025-01-01", "2025-12-31", "2025", "in 2025"),
        ("mtd", TODAY, "2026-12-01", "2026-12-05", "month to date", "mtd"),
        ("month to date", TODAY, "2026-12-01", "2026-12-05", "month to date", "month to date"),
        ("QTD", TODAY, "2026-10-01", "2026-12-05", "quarter to date", "QTD"),
        ("year-to-date", TODAY, "2026-01-01", "2026-12-05", "year to date", "year-to-date"),
        ("ytd", NEW_YEAR, "2027-01-01", "2027-01-10", "year to date", "ytd"),
        ("week to date", TODAY, "2026-11-30", "2026-12-05", "week to date", "week to date"),
        # Yesterday and today.
        ("yesterday", TODAY, "2026-12-04", "2026-12-04", "yesterday", "yesterday"),
        ("today", TODAY, "2026-12-05", "2026-12-05", "today", "today"),
        ("yesterday", NEW_YEAR, "2027-01-09", "2027-01-09", "yesterday", "yesterday"),
    ],
)  # fmt: skip
def test_a_period_reads_as_dates(
    text: str, today: date, since: str, until: str, label: str, words: str
) -> None:
    reading = read_period(text, today=today)
    assert reading.unplaced is None
    assert reading.period is not None
    period = reading.period
    assert (period.since.isoformat(), period.until.isoformat(), period.label, period.words) == (
        since,
        until,
        label,
        words,
    )
    assert period.tool_args() == {"since": since, "until": until}


@pytest.mark.parametrize(
    ("text", "days", "since", "until", "label"),
    [
        # Ads Manager's "last N days": the N full days before today, today not counted.
        ("past 7 days", 7, "2026-11-28", "2026-12-04", "last 7 days"),
        ("last 30 days", 30, "2026-11-05", "2026-12-04", "last 30 days"),
        ("in the last 1 day", 1, "2026-12-04", "2026-12-04", "last 1 day"),
        ("trailing 90 days", 90, "2026-09-06", "2026-12-04", "last 90 days"),
        ("last seven days", 7, "2026-11-28", "2026-12-04", "last 7 days"),
        ("past 2 weeks", 14, "2026-11-21", "2026-12-04", "last 2 weeks"),
        ("last three weeks", 21, "2026-11-14", "2026-12-04", "last 3 weeks"),
        ("past 3 months", 91, "2026-09-05", "2026-12-04", "last 3 months"),
        ("last 6 months", 183, "2026-06-05", "2026-12-04", "last 6 months"),
        ("past year", 365, "2025-12-05", "2026-12-04", "last 12 months"),
    ],
)
def test_last_n_days_are_full_days_before_today(
    text: str, days: int, since: str, until: str, label: str
) -> None:
    period = read_period(text, today=TODAY).period
    assert period is not None
    assert (period.days, period.since.isoformat(), period.until.isoformat(), period.label) == (
        days,
        since,
        until,
        label,
    )
    assert period.tool_args() == {"days": days}
    window = resolve_window(today=TODAY, days=days)
    assert (window.since, window.until) == (period.since, period.until)  # the tools read days the same way


@pytest.mark.parametrize(
    ("text", "unplaced"),
    [
        ("top hooks for Acme Pets since the launch", Unplaced("since the launch")),
        ("best ads in spring", Unplaced("in spring")),
        ("how did we do over the holidays for Acme Pets", Unplaced("over the holidays")),
        ("best hooks of all time", Unplaced("all time")),
        ("ads during the sale for Acme Pets", Unplaced("during the sale")),
        ("hooks last 12 hours", Unplaced("last 12 hours")),
        ("spend next week", Unplaced("next week", "is in the future")),
        ("spend tomorrow", Unplaced("tomorrow", "is in the future")),
        ("ads on Feb 30", Unplaced("on Feb 30", "is not a date I can place")),
        ("from 13/1 to 14/1", Unplaced("from 13/1 to 14/1", "is not a date I can place")),
        ("ads in jan 2027", Unplaced("in jan 2027", "is in the future")),
        ("Q1 2027", Unplaced("Q1 2027", "is in the future")),
        ("from Oct 15 to Oct 1 2026", Unplaced("from Oct 15 to Oct 1 2026", "is not a date I can place")),
        ("since 2020-01-01", Unplaced("since 2020-01-01", "spans more than the 730 days a window can")),
        ("in October since the launch", Unplaced("since the launch")),
        ("top hooks this week vs last week", Unplaced("last week", "was left out (one period per answer)")),
    ],
)
def test_time_words_it_cannot_place_are_named(text: str, unplaced: Unplaced) -> None:
    assert read_period(text, today=TODAY).unplaced == unplaced


@pytest.mark.parametrize(
    ("text", "label", "unplaced"),
    [
        ("top hooks in October since the launch", "October 2026", "since the launch"),
        ("top hooks in the first week of November", "November 2026", "the first week of November"),
        ("best ads the last week of October", "October 2026", "the last week of October"),
        ("hooks from mid-October", "October 2026", "mid-October"),
        ("ads at the end of Q3", "Q3 2026", "the end of Q3"),
    ],
)
def test_a_period_it_can_place_alongside_words_it_cannot_keeps_both(
    text: str, label: str, unplaced: str
) -> None:
    """The answer covers the period it placed and names the words it could not apply to it."""
    reading = read_period(text, today=TODAY)
    assert reading.period is not None and reading.period.label == label
    assert reading.unplaced == Unplaced(unplaced)


@pytest.mark.parametrize(
    "text",
    [
        "top 10 hooks for Acme Pets",
        "may I see the best ads?",
        "before and after hooks for Acme Pets",
        "2025",
        "a 50/50 split test",
    ],
)
def test_no_period_named(text: str) -> None:
    reading = read_period(text, today=TODAY)
    assert reading.period is None and reading.unplaced is None


@pytest.mark.parametrize(
    ("year", "black_friday", "cyber_monday"),
    [(2024, date(2024, 11, 29), date(2024, 12, 2)), (2025, date(2025, 11, 28), date(2025, 12, 1)),
     (2026, date(2026, 11, 27), date(2026, 11, 30)), (2027, date(2027, 11, 26), date(2027, 11, 29))],
)  # fmt: skip
def test_black_friday_is_the_day_after_the_fourth_thursday_of_november(
    year: int, black_friday: date, cyber_monday: date
) -> None:
    assert named_day("black friday", year)[0] == black_friday
    assert named_day("Cyber Monday", year)[0] == cyber_monday


@pytest.mark.parametrize(
    ("since", "until", "label", "described"),
    [
        (date(2026, 10, 1), date(2026, 10, 31), "October 2026", "October 2026 (2026-10-01 to 2026-10-31)"),
        (date(2026, 7, 1), date(2026, 9, 30), "Q3 2026", "Q3 2026 (2026-07-01 to 2026-09-30)"),
        (date(2025, 1, 1), date(2025, 12, 31), "2025", "2025 (2025-01-01 to 2025-12-31)"),
        (date(2026, 11, 23), date(2026, 11, 29), "last week (Monday to Sunday)",
         "last week (Monday to Sunday, 2026-11-23 to 2026-11-29)"),
        (date(2026, 11, 30), date(2026, 12, 5), "this week (since Monday)",
         "this week (since Monday, 2026-11-30 to 2026-12-05)"),
        (date(2026, 12, 1), date(2026, 12, 5), "this month to date", "this month to date (2026-12-01 to 2026-12-05)"),
        (date(2026, 10, 1), date(2026, 12, 5), "this quarter to date (Q4 2026)",
         "this quarter to date (Q4 2026, 2026-10-01 to 2026-12-05)"),
        (date(2026, 1, 1), date(2026, 12, 5), "this year to date", "this year to date (2026-01-01 to 2026-12-05)"),
        (date(2026, 12, 4), date(2026, 12, 4), "yesterday", "yesterday (2026-12-04)"),
        (date(2026, 11, 2), date(2026, 11, 2), "2026-11-02", "2026-11-02"),
        (date(2026, 10, 1), date(2026, 10, 15), "2026-10-01 to 2026-10-15", "2026-10-01 to 2026-10-15"),
    ],
)  # fmt: skip
def test_a_window_given_as_dates_is_named_as_people_say_it(
    since: date, until: date, label: str, described: str
) -> None:
    assert describe_range(since, until, today=TODAY) == label
    window = resolve_window(today=TODAY, since=since, until=until)
    assert window.label == label
    assert window.described == described


def test_a_message_as_long_as_allowed_is_read_once_not_recursively() -> None:
    reading = read_period("today " * 16_000, today=TODAY)  # the chat takes up to 100,000 characters
    assert reading.period is not None and reading.period.label == "today"
    assert reading.unplaced == Unplaced("today", "was left out (one period per answer)")
