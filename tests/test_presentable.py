"""Results render themselves: every tool's result declares how it is shown, and a result model of a
new tool shows in the chat, Slack and the CLI with nothing added to agent/."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

import cli
from agent.build import build_agent
from agent.runner import run_turn
from agent.slack_render import render_turn
from db.pool import Caller, Database
from services.presentable import Column, Figure, Presentable, Table, layout, percents, table_of
from tests.chat_helpers import OpenChat, app_on_test_database
from tools import registry
from tools.deps import Deps


def test_every_tool_result_declares_how_it_is_shown() -> None:
    undeclared = [
        f"{spec.name} -> {getattr(spec.result_type, '__name__', spec.result_type)}"
        for spec in registry.all_specs()
        if not (isinstance(spec.result_type, type) and issubclass(spec.result_type, Presentable))
        or inspect.isabstract(spec.result_type)
    ]
    assert undeclared == []
    assert len(registry.all_specs()) >= 30


def test_a_result_that_forgets_its_tables_cannot_be_made() -> None:
    class Forgetful(BaseModel, Presentable):
        summary: str

    with pytest.raises(TypeError, match="abstract method as_tables"):
        Forgetful(summary="nothing shown")  # type: ignore[abstract]  # mypy sees it too


class PacingRow(BaseModel):
    campaign: str
    spend: float
    budget_used: float | None
    roas: float | None
    days_left: int | None


class PacingResult(BaseModel, Presentable):
    """A new tool's answer, declared here alone: its table's titles and formats, and a chart."""

    summary: str
    rows: list[PacingRow]

    def as_tables(self) -> list[Table]:
        columns = (
            "campaign",
            Column("spend", "money"),
            Column("budget_used", "percent"),
            Column("roas", "ratio"),
            Column("days_left", "integer"),
        )
        return [table_of("Campaign pacing", self.rows, columns)]

    def as_charts(self) -> list[Figure]:
        bars = {
            "type": "bar",
            "x": [r.campaign for r in self.rows],
            "y": percents([r.budget_used for r in self.rows]),
        }
        return [{"data": [bars], "layout": layout("Budget used per campaign")}]


async def campaign_pacing(deps: Deps, brand: str) -> PacingResult:
    """How far through its budget each of the brand's campaigns is.

    Args:
        brand: The brand's name.
    """
    rows = [
        PacingRow(campaign="Spring sale", spend=1234.5, budget_used=0.1234, roas=2.5, days_left=1200),
        PacingRow(campaign="Evergreen", spend=80.0, budget_used=None, roas=None, days_left=None),
    ]
    return PacingResult(summary=f"2 campaigns for {brand}.", rows=rows)


@pytest.fixture
def pacing_tool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The new tool in the registry (this test's copy of it) and in the agent built from it."""
    registry.all_specs()  # every real tool registered first, in the registry kept after this test
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))
    registry.tool(example='/campaign_pacing brand:"Acme Pets"', step="Checking pacing for {brand}")(
        campaign_pacing
    )
    build_agent.cache_clear()
    yield
    build_agent.cache_clear()


SPRING = ["Spring sale", "$1,234.50", "12.34%", "2.50x", "1,200"]
EVERGREEN = ["Evergreen", "$80.00", "n/a", "n/a", "n/a"]


async def test_a_new_result_shows_in_chat_slack_and_the_cli(
    db: Database, maya: Caller, pacing_tool: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Chat: the table titled, under human column titles, its cells as Slack and the CLI show them,
    # its raw values to sort by, its CSV; and the chart.
    async with app_on_test_database(db, monkeypatch, tmp_path):
        chat = OpenChat(maya)
        await chat.say('/campaign_pacing brand:"Acme Pets"')
    assert chat.answer().startswith("2 campaigns for Acme Pets.")
    [element] = [e for e in chat.of("element") if e["type"] == "custom"]
    assert element["name"] == "ResultTables" and element["display"] == "inline"
    [table] = element["props"]["tables"]
    assert table["title"] == "Campaign pacing"
    assert [(c["title"], c["kind"]) for c in table["columns"]] == [
        ("Campaign", "text"),
        ("Spend", "number"),
        ("Budget used", "number"),
        ("ROAS", "number"),
        ("Days left", "number"),
    ]
    assert table["rows"] == [SPRING, EVERGREEN]
    assert table["values"] == [
        ["Spring sale", 1234.5, 0.1234, 2.5, 1200],
        ["Evergreen", 80.0, None, None, None],
    ]
    assert table["csv"] == (
        "Campaign,Spend (USD),Budget used,ROAS,Days left\r\nSpring sale,1234.5,0.1234,2.5,1200\r\nEvergreen,80.0,,,\r\n"
    )
    [chart] = [e for e in chat.of("element") if e["type"] == "plotly"]
    assert chart["name"] == "Budget used per campaign"

    # Slack and the CLI: the same table as text, in each column's format.
    turn = await run_turn(db=db, caller=maya, message='/campaign_pacing brand:"Acme Pets"')
    answer = render_turn(turn)
    code = next(t for b in answer.blocks if "Campaign pacing" in (t := b.get("text", {}).get("text", "")))
    lines = code.split("```")[1].strip().splitlines()
    assert [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in lines[2:]] == [
        SPRING,
        EVERGREEN,
    ]
    [png] = answer.charts
    assert png.title == "Budget used per campaign" and png.png.startswith(b"\x89PNG")

    with cli.console.capture() as printed:
        cli._print_turn(turn)
    shown = [line for line in printed.get().splitlines() if "Spring sale" in line or "Evergreen" in line]
    assert [[cell.strip() for cell in line.split("│") if cell.strip()] for line in shown] == [
        SPRING,
        EVERGREEN,
    ]
