"""What a long thread sends the model: earlier turns' tool results as their summaries, and a cap.

A tool result the model has already answered is sent again, in later turns, as its summary (the person
keeps the full table in the chat; the model can call the tool again for the rows). The same history
always becomes the same summaries, so each turn's prefix stays cacheable. A thread whose history is
still too long after that is refused with a message, before any model request.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelRequest, ToolReturnPart

SUMMARISED = (
    "Summarised (answered earlier); the person has the full result. Call the tool again for its rows."
)
KEPT_CHARS = 600
"""A result without a summary keeps this much of its text."""
MAX_HISTORY_TOKENS = 40_000
CHARS_PER_TOKEN = 4
"""The estimate of a history's tokens: its JSON at ~4 characters a token (as fakes/anthropic_cache.py)."""


def summarise_answered(history: list[ModelMessage]) -> list[ModelMessage]:
    """Earlier turns (all answered) with each tool result replaced by its summary."""
    summarised: list[ModelMessage] = []
    for message in history:
        if isinstance(message, ModelRequest) and any(isinstance(p, ToolReturnPart) for p in message.parts):
            parts = [_summary_of(p) if isinstance(p, ToolReturnPart) else p for p in message.parts]
            message = replace(message, parts=parts)
        summarised.append(message)
    return summarised


def _summary_of(part: ToolReturnPart) -> ToolReturnPart:
    content: Any = part.content
    if isinstance(content, dict) and content.get("note") == SUMMARISED:
        return part  # summarised in an earlier turn: unchanged, so the cached prefix still matches
    if isinstance(content, dict) and isinstance(content.get("summary"), str):
        return replace(part, content={"summary": content["summary"], "note": SUMMARISED})
    if part.outcome != "success":
        return part  # an error the model read: short, and what it answered about
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    if len(text) <= KEPT_CHARS:
        return part
    return replace(part, content={"start": text[:KEPT_CHARS], "note": SUMMARISED})


def history_tokens(history: list[ModelMessage]) -> int:
    """The estimated tokens of a history as sent (its JSON at ~4 characters a token)."""
    return len(ModelMessagesTypeAdapter.dump_json(history)) // CHARS_PER_TOKEN


def too_long(history: list[ModelMessage]) -> str | None:
    """What the person reads when the thread is too long to send the model, or None."""
    tokens = history_tokens(history)
    if tokens <= MAX_HISTORY_TOKENS:
        return None
    return (
        f"This chat has grown too long for me to keep reading (about {tokens:,} tokens of conversation;"
        f" the limit is {MAX_HISTORY_TOKENS:,}). Please start a new chat to go on: this one stays in your"
        " history with its tables and charts. Slash commands still work here."
    )
