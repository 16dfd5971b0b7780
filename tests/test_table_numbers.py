"""Tables read as the answer text does: the chat's cells (`Table.for_chat`) show the very figures the
text names for the same result, under human titles, sorted by raw numbers; the CSV holds every row raw.

Each answer is the demo data's, computed by `run_turn` as the chat computes it; the text's figures are
read out of the text itself.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel

from agent.render import tables_for
from agent.runner import run_turn
from db.pool import Caller, Database
from services.analytics.performance import AdPerformanceResult
from services.analytics.totals import TotalsResult
from services.presentable import Column, Table, titled

AD_PERFORMANCE = '/ad_performance brand:"Acme Pets" days:30'


async def answer(db: Database, caller: Caller, message: str) -> tuple[str, BaseModel, list[dict[str, Any]]]:
    """The answer's text, its result and its tables as the chat gets them."""
    turn = await run_turn(db=db, caller=caller, message=message)
    [result] = turn.results
    return turn.text, result, [table.for_chat() for table in tables_for(result)]


def cells(table: dict[str, Any], row: int) -> dict[str, str]:
    """One row of a chat table, each cell under its column's title."""
    return dict(zip([c["title"] for c in table["columns"]], table["rows"][row], strict=True))


async def test_the_ads_table_shows_the_figures_the_text_names(db: Database, maya: Caller) -> None:
    text, result, tables = await answer(db, maya, AD_PERFORMANCE)
    said = re.search(
        r"#1 is '(.+?)' at (\S+) vs the brand's (\w+) baseline of (\S+) on (\$[\d,.]+) spend", text
    )
    assert said, text
    name, roas, fmt, baseline, spend = said.groups()
    ads, baselines = tables
    assert [c["title"] for c in ads["columns"]] == [
        "Ad", "Ad ID", "Format", "Spend", "vs baseline", "ROAS", "CPA", "CTR", "Hook rate", "Purchases", "Status",
    ]  # fmt: skip
    first = cells(ads, 0)
    assert (first["Ad"], first["ROAS"], first["Spend"]) == (name, roas, spend)
    [base] = [cells(baselines, i) for i in range(len(baselines["rows"])) if baselines["rows"][i][0] == fmt]
    assert base["ROAS"] == baseline
    assert re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d\d", base["Spend"]) and int(base["Ads"]) > 0
    assert re.fullmatch(r"\d+\.\d\d%|n/a", first["CTR"]) and re.fullmatch(r"\d+\.\d\dx", first["vs baseline"])
    # The long ad id shortened to its last 6 digits; the full id is the cell's raw value.
    assert isinstance(result, AdPerformanceResult)
    full = result.rows[0].meta_ad_id
    assert len(full) > 10 and first["Ad ID"] == "…" + full[-6:] and ads["values"][0][1] == full
    assert ads["columns"][1]["kind"] == "id"


async def test_the_hooks_table_shows_the_best_hook_as_the_text_does(db: Database, maya: Caller) -> None:
    text, _, [table] = await answer(db, maya, '/top_hooks brand:"Acme Pets" days:30')
    said = re.search(r"Best: \"(.+?)\" \(.*?'(.+?)' at (\S+) on (\$[\d,.]+) spend", text)
    assert said, text
    hook, ad, hook_rate, spend = said.groups()
    assert table["title"] == "Top hooks by hook rate — Acme Pets, last 30 days"
    first = cells(table, 0)
    assert (first["Hook"], first["Ad"], first["Hook rate"], first["Spend"]) == (hook, ad, hook_rate, spend)
    assert [c["title"] for c in table["columns"]][:4] == ["Hook", "Hook category", "Hook type", "Ad"]


async def test_the_fatigue_table_shows_each_change_as_the_text_does(db: Database, maya: Caller) -> None:
    text, _, [table] = await answer(db, maya, '/fatigue brand:"Acme Pets" days:14')
    said = re.findall(r"'([^']+)' \(frequency (\S+) → (\S+) \((\S+)\), CTR (\S+) → (\S+) \((\S+)\)\)", text)
    assert said, text
    shown = {cells(table, i)["Ad"]: cells(table, i) for i in range(len(table["rows"]))}
    for ad, freq_before, freq_after, freq_change, ctr_before, ctr_after, ctr_change in said:
        row = shown[ad]
        assert [row["Frequency before"], row["Frequency after"], row["Frequency change"]] == [
            freq_before, freq_after, freq_change,
        ]  # fmt: skip
        assert [row["CTR before"], row["CTR after"], row["CTR change"]] == [ctr_before, ctr_after, ctr_change]
    # Sorted by the numbers behind the cells, not by their text ("+9%" would sort above "+12%").
    change = [c["title"] for c in table["columns"]].index("Frequency change")
    assert table["columns"][change]["kind"] == "number"
    assert all(isinstance(row[change], float) for row in table["values"])


async def test_the_csv_holds_every_row_raw_under_the_titles(db: Database, maya: Caller) -> None:
    _, result, tables = await answer(db, maya, AD_PERFORMANCE)
    assert isinstance(result, AdPerformanceResult)
    ads = tables[0]
    lines = list(csv.reader(io.StringIO(ads["csv"])))
    # A money column's title names its currency, since its cells are bare numbers.
    assert lines[0] == [
        c["title"] + (" (USD)" if c["title"] in ("Spend", "CPA") else "") for c in ads["columns"]
    ]
    fields = ["ad_name", "meta_ad_id", "format", "spend", "vs_baseline", "roas", "cpa", "ctr", "hook_rate",
              "purchases", "status"]  # fmt: skip
    assert len(lines) == 1 + len(result.rows) >= 4
    for line, row in zip(lines[1:], result.rows, strict=True):
        for cell, field in zip(line, fields, strict=True):
            value = getattr(row, field)
            if value is None:
                assert cell == ""
            elif isinstance(value, float):
                assert float(cell) == value  # unrounded: the CSV is for a spreadsheet
            else:
                assert cell == str(value)


def test_titles_and_dates_read_as_words() -> None:
    assert [titled(n) for n in ("hook_rate", "meta_ad_id", "roas", "smoothed_roas", "link_clicks", "days_left")] == [
        "Hook rate", "Ad ID", "ROAS", "Smoothed ROAS", "Link clicks", "Days left",
    ]  # fmt: skip
    assert titled("Hook rate before") == "Hook rate before"  # a title already
    table = Table("Days", ["last_day", "last_sync", Column("meta_ad_id", "ad_id")], [
        [date(2026, 12, 4), datetime(2026, 12, 5, 9, 30, tzinfo=UTC), "120210000000123456"],
    ])  # fmt: skip
    chat = table.for_chat()
    assert chat["rows"] == [["Dec 4, 2026", "Dec 5, 2026 09:30 UTC", "…123456"]]
    assert chat["values"] == [["2026-12-04", "2026-12-05T09:30:00+00:00", "120210000000123456"]]
    assert (
        table.csv()
        == "Last day,Last sync,Ad ID\r\n2026-12-04,2026-12-05T09:30:00+00:00,120210000000123456\r\n"
    )


async def test_a_summary_sorts_by_the_numbers_behind_its_cells(db: Database, maya: Caller) -> None:
    """A summary's rows are in different units ($24,757.28 above 2.12x): each column of figures is
    still a column of numbers, so the chat sorts it by them, not as text."""
    _, result, tables = await answer(db, maya, '/summary brand:"Acme Pets" since:2026-10-01 until:2026-10-31')
    assert isinstance(result, TotalsResult)
    summary = tables[0]
    assert [c["kind"] for c in summary["columns"]] == ["text", "number", "number", "number", "number", "long"]
    spend = result.changes[0]
    assert summary["rows"][0][:2] == ["Spend", f"${spend.value:,.2f}"]
    assert summary["values"][0][1:5] == [spend.value, spend.vs_value, spend.change, spend.change_pct]
