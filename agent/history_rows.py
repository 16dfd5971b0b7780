"""Chainlit's dicts (steps, elements, feedback) as rows of our chat-history tables and back, for
agent/history.py: the columns kept, the upsert, a step read back as Chainlit shows it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
from chainlit.element import Element
from chainlit.step import StepDict
from chainlit.types import FeedbackDict
from psycopg import sql
from psycopg.types.json import JsonbDumper

Row = dict[str, Any]
# The columns of the chat_history migration: keys Chainlit sends beyond these are not stored.
_STEPS = (
    "id name type threadId parentId command modes streaming waitForAnswer isError metadata tags input output"
    " createdAt start end generation showInput language defaultOpen autoCollapse icon"
)
_ELEMENTS = (
    "id threadId type url chainlitKey name display objectKey size page language forId mime props autoPlay"
    " playerConfig"
)
STEP_COLUMNS, ELEMENT_COLUMNS = frozenset(_STEPS.split()), frozenset(_ELEMENTS.split())
FEEDBACK_COLUMNS = frozenset(("id", "forId", "threadId", "value", "comment"))

STEP_SELECT = sql.SQL(
    's."id", s."name", s."type", s."threadId", s."parentId", s."streaming", s."waitForAnswer", s."isError",'
    ' s."metadata", s."tags", s."input", s."output", s."createdAt", s."start", s."end", s."generation",'
    ' s."showInput", s."language"'
)


def utc_timestamp() -> str:
    """Now as Chainlit's SQL layer writes creation times: ISO, naive, with a "Z"."""
    return datetime.now(UTC).replace(tzinfo=None).isoformat() + "Z"


def upsert(table: str, row: Mapping[str, object]) -> sql.Composed:
    """insert … on conflict ("id") do update: every given column set to its new value."""
    columns = [sql.Identifier(name) for name in row]
    updates = [sql.SQL("{0} = excluded.{0}").format(sql.Identifier(name)) for name in row if name != "id"]
    action = (
        sql.SQL("do update set {}").format(sql.SQL(", ").join(updates)) if updates else sql.SQL("do nothing")
    )
    return sql.SQL('insert into {} ({}) values ({}) on conflict ("id") {}').format(
        sql.Identifier(table),
        sql.SQL(", ").join(columns),
        sql.SQL(", ").join(sql.Placeholder(name) for name in row),
        action,
    )


def feedback_value(step: StepDict) -> int | None:
    feedback = step.get("feedback")
    return feedback["value"] if feedback else None


def step_of(row: Row) -> StepDict:
    """A step as Chainlit reads it back: its input only where the step shows it."""
    feedback = None
    if row.get("feedback_value") is not None:
        feedback = FeedbackDict(
            forId=row["id"],
            id=row.get("feedback_id"),
            value=row["feedback_value"],
            comment=row.get("feedback_comment"),
        )
    return StepDict(
        id=row["id"],
        name=row["name"],
        type=row["type"],
        threadId=row["threadId"],
        parentId=row["parentId"],
        streaming=row["streaming"],
        waitForAnswer=row["waitForAnswer"],
        isError=row["isError"],
        metadata=row["metadata"] if row["metadata"] is not None else {},
        tags=row["tags"],
        input=row["input"] if row["showInput"] not in (None, "false") else "",
        output=row["output"],
        createdAt=row["createdAt"],
        start=row["start"],
        end=row["end"],
        generation=row["generation"],
        showInput=row["showInput"],
        language=row["language"],
        feedback=feedback,
    )


async def content_of(element: Element) -> bytes | str:
    """What the element shows: its file, its content, or what its URL serves."""
    if element.path:
        return await asyncio.to_thread(Path(element.path).read_bytes)
    if element.content:  # before the URL: a kept element's URL is its stored copy
        return element.content
    if element.url:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(element.url)
        if response.status_code != 200:
            raise ValueError(
                f"Chat history: {element.url} answered {response.status_code}; the element is not kept"
            )
        return response.content
    raise ValueError("Element url, path or content must be provided")


async def adapt_dicts_as_jsonb(conn: psycopg.AsyncConnection[Any]) -> None:
    """Chainlit passes some dict values unencoded (a message's `modes`, an element's
    `playerConfig`); psycopg cannot adapt a plain dict, so send dicts as JSONB."""
    conn.adapters.register_dumper(dict, JsonbDumper)
