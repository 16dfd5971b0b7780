"""Model usage in chat: this month's tokens of the person's organization, by person and model."""

from __future__ import annotations

from pydantic import BaseModel

from services.platform import model_usage as usage_service
from services.platform.model_usage import UsageLine
from services.presentable import Column, Presentable, Table
from tools.deps import Deps
from tools.registry import tool

TOKEN_COLUMNS = ("uncached_input", "cache_write", "cache_read", "output")


class UsageResult(BaseModel, Presentable):
    summary: str
    month: str
    lines: list[UsageLine]

    def as_tables(self) -> list[Table]:
        if not self.lines:  # the summary says there is none: no empty table under it
            return []
        columns = [Column("email", title="Person"), Column("model")]
        columns += [Column(name, "integer") for name in ("turns", "requests", *TOKEN_COLUMNS)]
        columns.append(Column("cost", title="Cost (US$, list price)"))
        rows = [
            [line.email, line.model, line.turns, line.requests]
            + [getattr(line, name) for name in TOKEN_COLUMNS]
            + [dollars(line.cost_usd)]
            for line in self.lines
        ]
        return [Table(f"Model usage, {self.month}", columns, rows)]


def dollars(cost: float | None) -> str:
    return "not priced" if cost is None else f"${cost:,.4f}"


@tool(example="/usage", step="Adding up this month's model usage")
async def usage(deps: Deps) -> UsageResult:
    """Your organization's model usage this month, by person and model: turns, requests, tokens
    (uncached input, cache write, cache read, output) and the cost at list prices."""
    since = usage_service.month_start(deps.today)
    async with deps.db.as_user(deps.caller) as conn:
        lines = await usage_service.organization_usage(conn, since=since)
    month = f"{since:%B %Y}"
    return UsageResult(summary=_summary(lines, month), month=month, lines=lines)


def _summary(lines: list[UsageLine], month: str) -> str:
    if not lines:
        return f"No model usage in {month} yet: slash commands and offline answers use no model."
    people = len({line.email for line in lines})
    turns = sum(line.turns for line in lines)
    priced = [line.cost_usd for line in lines if line.cost_usd is not None]
    cost = f", {dollars(sum(priced))} at list prices" if priced else ""
    total = sum(line.uncached_input + line.cache_write + line.cache_read + line.output for line in lines)
    return (
        f"{month}: {turns} model turn{'' if turns == 1 else 's'} by {people}"
        f" {'person' if people == 1 else 'people'}, {total:,} tokens{cost}."
    )
