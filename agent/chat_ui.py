"""The chat UI's side of a turn: streamed text, one step per tool call, tables and charts as elements."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any, Literal

import chainlit as cl
from pydantic import BaseModel

from agent.charts import PlotlyChart, title_of
from agent.chat_elements import keep_elements
from agent.chat_markdown import StreamedAsWritten, as_written
from agent.render import actions_of, cards_of, charts_for, files_of, images_of, panels_of, tables_for
from agent.runner import TurnResult
from tools.actions import ActionButton
from tools.registry import get_spec

FLUSH_SECONDS = 0.04  # batch tokens: thousands of tiny socket messages slow the browser
PROGRESS_SECONDS = 0.25  # a long tool's progress on its step, at most this often
ACTION = "vt_action"
"""The one Chainlit action name: every button carries an `ActionButton` (a command) as its payload."""
ONCE_KEY = "vt_once_actions"
ONCE_KEPT = 20
TABLES_ELEMENT = "ResultTables"
"""The custom element (public/elements/ResultTables.jsx) that draws an answer's tables."""


class ChainlitListener:
    """Hears a running turn and shows it: tokens into the answer, tool calls as named steps."""

    def __init__(self) -> None:
        self.answer: cl.Message | None = None
        self.steps: dict[str, cl.Step] = {}
        self._buffer = ""
        self._streamed = StreamedAsWritten()
        self._last_flush = 0.0
        self._last_progress = 0.0
        self._updates: set[asyncio.Task[Any]] = set()

    async def on_text(self, delta: str) -> None:
        self._buffer += delta
        if time.monotonic() - self._last_flush >= FLUSH_SECONDS:
            await self.flush()

    async def flush(self) -> None:
        if not self._buffer:
            return
        if self.answer is None:
            self.answer = cl.Message(content="")
        token, replaces = self._streamed.add(self._buffer)
        await self.answer.stream_token(token, is_sequence=replaces)
        self._buffer = ""
        self._last_flush = time.monotonic()

    async def on_tool_start(self, call_id: str, tool: str, args: dict[str, Any]) -> None:
        await self.flush()
        spec = get_spec(tool)
        step = cl.Step(name=spec.step_title(args) if spec else tool, type="tool", show_input=True)
        step.input = as_written(readable_args(args))
        await step.send()
        self.steps[call_id] = step

    def on_progress(self, call_id: str | None, message: str) -> None:
        """A running tool's progress ("Scored 40 of 100 templates") on its step, a few times a second."""
        step = self.steps.get(call_id or "")
        if step is None:
            return
        step.output = as_written(message)
        if time.monotonic() - self._last_progress < PROGRESS_SECONDS:
            return
        self._last_progress = time.monotonic()
        update = asyncio.get_running_loop().create_task(step.update())
        self._updates.add(update)  # kept until done: the loop holds tasks weakly
        update.add_done_callback(self._updates.discard)

    async def on_tool_end(self, call_id: str, tool: str, result: BaseModel | None, error: str | None) -> None:
        step = self.steps.get(call_id)
        if step is None:
            return
        if result is not None:
            step.output = as_written(str(getattr(result, "summary", ""))) or "Done."
        else:
            step.output = as_written(error or "Failed.")
            step.is_error = True
        await step.update()

    async def finish(self, turn: TurnResult) -> cl.Message:
        """End the stream and attach the full tables and charts to the answer."""
        await self.flush()
        if self.answer is None:
            self.answer = cl.Message(content=as_written(turn.text))
        elements, content_suffix = elements_for(turn.results)
        elements, not_kept = await keep_elements(elements)
        if content_suffix or not_kept:
            self.answer.content += content_suffix + not_kept
        self.answer.elements = elements
        self.answer.actions = chat_actions(turn.results)
        await self.answer.send()
        remember_once(self.answer)
        return self.answer


def readable_args(args: dict[str, Any]) -> str:
    """A tool call's arguments as a person reads them ("brand: Acme Pets · days: 30"), not JSON."""
    return (
        " · ".join(f"{key}: {_arg(value)}" for key, value in args.items() if value is not None)
        or "No arguments."
    )


def _arg(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_arg(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {_arg(v)}" for k, v in value.items())
    return str(value)


def elements_for(results: list[BaseModel]) -> tuple[list[Any], str]:
    """Tables (sortable, each with its CSV), charts, and for one ad its transcript and storyboard in
    side panels."""
    elements: list[Any] = []
    suffix = ""
    shown = [table.for_chat() for result in results if not cards_of(result) for table in tables_for(result)]
    if tables := shown:  # a result with a card (one ad, a persona) reads as the card, not narrow tables
        elements.append(result_tables(tables))
    if cards := [card for result in results if (card := cards_of(result))]:
        suffix += "".join("\n\n" + as_written(card) for card in cards)
    for result in results:
        for figure in charts_for(result):
            elements.append(PlotlyChart(name=title_of(figure), figure=figure, display="inline"))
        # One ad's creative beside its card; else a grid of thumbnails.
        size: Literal["small", "medium"] = "medium" if cards_of(result) else "small"
        for name, where in images_of(result):  # a grid of thumbnails (template images)
            if where.startswith(("http://", "https://")):
                elements.append(cl.Image(name=name, url=where, display="inline", size=size))
            elif os.path.isfile(where):  # a file gone from storage is left out, not an error
                elements.append(cl.Image(name=name, path=where, display="inline", size=size))
        for name, path in files_of(result):  # exports offered for download (blueprints)
            if os.path.isfile(path):
                elements.append(cl.File(name=name, path=path, display="inline"))
        if panels := panels_of(result):  # long texts beside the answer (an ad's transcript, storyboard)
            elements += [
                cl.Text(name=name, content=as_written(text), display="side") for name, text in panels
            ]
            suffix += "\n\nOpen: " + " · ".join(name for name, _ in panels)
    return elements, suffix


def result_tables(tables: list[dict[str, Any]]) -> cl.CustomElement:
    """An answer's tables, drawn by public/elements/ResultTables.jsx: stacked in order, each titled,
    sorted by raw values, with its CSV. One element for them all, so their order is the same after a
    reload (elements come back from the history in no particular order)."""
    return cl.CustomElement(name=TABLES_ELEMENT, props={"tables": tables}, display="inline")


def chat_actions(results: list[BaseModel]) -> list[cl.Action]:
    """The results' follow-ups as buttons under the answer."""
    return [
        cl.Action(name=ACTION, payload=button.model_dump(mode="json"), label=button.label)
        for result in results
        for button in actions_of(result)
    ]


def remember_once(message: cl.Message) -> None:
    """Keep a message's one-click buttons (a confirmation's pair) so a click can remove them all."""
    once = [a.to_dict() for a in message.actions if ActionButton.model_validate(a.payload).once]
    if not once:
        return
    kept = dict(cl.user_session.get(ONCE_KEY) or {})
    kept[message.id] = once
    cl.user_session.set(ONCE_KEY, dict(list(kept.items())[-ONCE_KEPT:]))


async def forget_once(message_id: str | None) -> None:
    """Remove a message's one-click buttons from the chat (after one of them was clicked)."""
    kept = dict(cl.user_session.get(ONCE_KEY) or {})
    for action in kept.pop(message_id or "", []):
        await cl.Action(**action).remove()
    cl.user_session.set(ONCE_KEY, kept)
