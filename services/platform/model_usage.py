"""Model tokens per chat turn: recorded with the thread as the person (agent/runner.py), and this month's
usage of the person's organization by person and model (/usage).

Tokens are counted as the provider bills them: uncached input, cache write, cache read, output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from uuid import UUID

from pydantic import BaseModel

from db.pool import Conn

if TYPE_CHECKING:  # a type only: `/usage` from the command line needs no Pydantic-AI
    from pydantic_ai.usage import RunUsage
from services.llm.prices import cost_usd


class TurnUsage(BaseModel):
    """One turn's model requests and tokens."""

    model: str
    requests: int
    uncached_input: int
    cache_write: int
    cache_read: int
    output: int


def turn_usage(*, model: str, usage: RunUsage) -> TurnUsage:
    """A run's usage in billing terms: Pydantic-AI's `input_tokens` includes the cached ones."""
    read, write = usage.cache_read_tokens, usage.cache_write_tokens
    return TurnUsage(
        model=model,
        requests=usage.requests,
        uncached_input=max(0, usage.input_tokens - read - write),
        cache_write=write,
        cache_read=read,
        output=usage.output_tokens,
    )


async def record_turn(conn: Conn, *, user_id: UUID, thread_id: str | None, usage: TurnUsage) -> None:
    """Keeps a turn's usage as this person's (their own transaction: RLS checks the row is theirs)."""
    await conn.execute(
        "insert into model_usage (user_id, thread_id, model, requests, uncached_input_tokens,"
        " cache_write_tokens, cache_read_tokens, output_tokens)"
        " values (%s, %s, %s, %s, %s, %s, %s, %s)",
        (user_id, thread_id, usage.model, usage.requests, usage.uncached_input, usage.cache_write,
         usage.cache_read, usage.output),
    )  # fmt: skip


class UsageLine(BaseModel):
    """A person's usage of one model this month."""

    organization: str
    email: str
    model: str
    turns: int
    requests: int
    uncached_input: int
    cache_write: int
    cache_read: int
    output: int
    cost_usd: float | None
    """At the model's list price (services/llm/prices.py); None for a model not listed there."""


def month_start(today: date) -> datetime:
    return datetime(today.year, today.month, 1, tzinfo=UTC)


async def organization_usage(conn: Conn, *, since: datetime) -> list[UsageLine]:
    """Every member's usage of the caller's organizations since `since`, by person and model."""
    cur = await conn.execute("select * from public.organization_model_usage(%s)", (since,))
    lines: list[UsageLine] = []
    for row in await cur.fetchall():
        figures = {
            "uncached_input": int(row["uncached_input_tokens"]),
            "cache_write": int(row["cache_write_tokens"]),
            "cache_read": int(row["cache_read_tokens"]),
            "output": int(row["output_tokens"]),
        }
        lines.append(
            UsageLine(
                organization=row["organization"], email=row["email"], model=row["model"],
                turns=int(row["turns"]), requests=int(row["requests"]), **figures,
                cost_usd=cost_usd(model=row["model"], **figures),
            )
        )  # fmt: skip
    return lines
