"""One chat turn through the agent: the pipeline shared by the CLI, the shell and the chat UI."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Protocol

import psycopg
from pydantic import BaseModel, Field
from pydantic_ai import RunContext, UsageLimits
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, UsageLimitExceeded
from pydantic_ai.messages import (
    AgentStreamEvent,
    BinaryContent,
    FunctionToolCallEvent,
    FunctionToolResultEvent,
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    PartDeltaEvent,
    PartStartEvent,
    TextPart,
    TextPartDelta,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.usage import RunUsage

from agent.build import build_agent
from agent.conversation import summarise_answered, too_long
from agent.input_checks import message_refusal
from agent.offline import RouterContext, offline_model
from agent.slash import help_text, is_slash, parse_slash
from agent.slash_turn import SOMETHING_WENT_WRONG, ToolCallRecord, TurnAnswer
from core.errors import DatabaseUnavailable, UserFacingError
from db.pool import Caller, Database
from services.brands import visible_brands
from services.calendar_days import PERSON_TIMEZONE, local_today
from services.llm.model_choice import model_name, provider_trouble
from services.platform import observability
from services.platform.model_usage import TurnUsage, record_turn, turn_usage
from settings import get_settings
from tools.deps import Deps
from tools.registry import result_of

log = logging.getLogger(__name__)

USAGE_LIMITS = UsageLimits(request_limit=12, tool_calls_limit=8)


class TurnResult(TurnAnswer):
    # Kept for the next turn; not part of the JSON the CLI prints.
    messages: list[ModelMessage] = Field(default_factory=list, exclude=True)
    interrupted: bool = Field(default=False, exclude=True)
    """The turn failed after part of an answer had streamed to the listener."""


class TurnListener(Protocol):
    """What a surface (chat UI, Slack) hears while a turn runs."""

    async def on_text(self, delta: str) -> None: ...

    async def on_tool_start(self, call_id: str, tool: str, args: dict[str, Any]) -> None: ...

    async def on_tool_end(
        self, call_id: str, tool: str, result: BaseModel | None, error: str | None
    ) -> None: ...


@dataclass
class _Streamed:
    text: bool = False


def _event_handler(listener: TurnListener, streamed: _Streamed) -> Any:
    async def handle(ctx: RunContext[Deps], events: AsyncIterable[AgentStreamEvent]) -> None:
        async for event in events:
            if isinstance(event, PartStartEvent) and isinstance(event.part, TextPart) and event.part.content:
                streamed.text = True
                await listener.on_text(event.part.content)
            elif isinstance(event, PartDeltaEvent) and isinstance(event.delta, TextPartDelta):
                streamed.text = True
                await listener.on_text(event.delta.content_delta)
            elif isinstance(event, FunctionToolCallEvent):
                await listener.on_tool_start(
                    event.part.tool_call_id, event.part.tool_name, event.part.args_as_dict()
                )
            elif isinstance(event, FunctionToolResultEvent):
                part = event.part
                result = result_of(part.content, part.metadata) if part.outcome == "success" else None
                error = None if result is not None else str(part.content)
                await listener.on_tool_end(part.tool_call_id, part.tool_name, result, error)

    return handle


MAX_STORED_TURNS = 20


def storable_history(messages: list[ModelMessage]) -> str:
    """The conversation as JSON for storage: the last turns, cut at a user message, without full results."""
    starts = [
        i
        for i, m in enumerate(messages)
        if isinstance(m, ModelRequest) and any(isinstance(p, UserPromptPart) for p in m.parts)
    ]
    kept = messages[starts[-MAX_STORED_TURNS] :] if len(starts) > MAX_STORED_TURNS else messages
    slim: list[ModelMessage] = []
    for message in kept:
        if isinstance(message, ModelRequest):
            parts = [_slim_return(p) if isinstance(p, ToolReturnPart) else p for p in message.parts]
            message = replace(message, parts=parts)
        slim.append(message)
    return ModelMessagesTypeAdapter.dump_json(slim).decode()


IMAGE_NOT_KEPT = "(an image was shown here; not kept in the history)"


def _slim_return(part: ToolReturnPart) -> ToolReturnPart:
    """A tool return as stored: without the full result, and without images (deep_analysis's ad image)."""
    content = part.content
    if isinstance(content, list) and any(isinstance(c, BinaryContent) for c in content):
        content = [IMAGE_NOT_KEPT if isinstance(c, BinaryContent) else c for c in content]
    return replace(part, content=content, metadata=None)


@contextmanager
def _turn_span(model: str | None, spent: RunUsage) -> Iterator[None]:
    """A logfire span around a model turn when tracing is on, carrying its tokens (never its text).
    Attribute names avoid "token": the scrubber (services.platform.observability) would redact them."""
    if model is None or not observability.is_configured():
        yield
        return
    import logfire

    with logfire.span("chat turn on {model}", model=model) as span:
        try:
            yield
        finally:
            figures = turn_usage(model=model, usage=spent).model_dump(exclude={"model"})
            span.set_attributes({f"usage.{name}": value for name, value in figures.items()})


async def _keep_usage(db: Database, caller: Caller, thread_id: str | None, usage: TurnUsage) -> None:
    """The turn's tokens, kept as the caller's; a failure to keep them never costs the person the answer."""
    try:
        async with db.as_user(caller) as conn:
            await record_turn(conn, user_id=caller.user_id, thread_id=thread_id, usage=usage)
    except (DatabaseUnavailable, psycopg.Error) as error:
        log.warning("model usage not kept for %s: %s", caller.email, error)


def _records(messages: list[ModelMessage]) -> tuple[list[ToolCallRecord], list[BaseModel]]:
    calls: dict[str, ToolCallPart] = {}
    order: list[str] = []
    returns: dict[str, ToolReturnPart] = {}
    for message in messages:
        for part in message.parts:
            if isinstance(part, ToolCallPart):
                calls[part.tool_call_id] = part
                order.append(part.tool_call_id)
            elif isinstance(part, ToolReturnPart):
                returns[part.tool_call_id] = part
    records: list[ToolCallRecord] = []
    results: list[BaseModel] = []
    for call_id in order:
        call, ret = calls[call_id], returns.get(call_id)
        record = ToolCallRecord(tool=call.tool_name, args=call.args_as_dict())
        if ret is None:
            record.error = "The tool did not run."
        elif ret.outcome != "success" or (full := result_of(ret.content, ret.metadata)) is None:
            record.error = str(ret.content)
        else:
            record.result = full.model_dump(mode="json")
            results.append(full)
        records.append(record)
    return records, results


async def run_turn(
    *,
    db: Database,
    caller: Caller,
    message: str,
    history: list[ModelMessage] | None = None,
    model: Model | str | None = None,
    today: date | None = None,
    listener: TurnListener | None = None,
    brand: str | None = None,
    now: datetime | None = None,
    thread_id: str | None = None,
) -> TurnResult:
    """Answer one message. Slash commands always run exactly (through the offline router).

    `brand` is the thread's brand (the chat's brand picker): what a message that names no brand is
    about, for slash commands, the offline router and the model alike.

    With a `listener`, text streams to it as it is produced and each tool call is reported as it
    starts and ends; the returned result is the same either way.

    A turn that reached a model keeps its tokens with `thread_id` as the caller's (/usage).
    """
    turn = await _run_turn(
        db=db,
        caller=caller,
        message=message,
        history=history,
        model=model,
        today=today,
        listener=listener,
        brand=brand,
        now=now,
        thread_id=thread_id,
    )
    if listener is not None and not turn.messages[len(history or []) :]:
        # Answered without a model run (/help, a refused command) or a failed turn: the surface still
        # hears the text, after a break when part of an answer was already shown.
        await listener.on_text(("\n\n" if turn.interrupted else "") + turn.text)
    return turn


async def _run_turn(
    *,
    db: Database,
    caller: Caller,
    message: str,
    history: list[ModelMessage] | None,
    model: Model | str | None,
    today: date | None,
    listener: TurnListener | None,
    brand: str | None,
    now: datetime | None,
    thread_id: str | None,
) -> TurnResult:
    # Periods are read from the person's today (UTC's: people have no timezone setting), a brand's in its
    # accounts' timezone; a fixed `today` without a clock (tests) is every brand's.
    if today is None:
        now = now or datetime.now(UTC)
        today = local_today(now, PERSON_TIMEZONE)
    history = list(history or [])
    if (refusal := message_refusal(message)) is not None:  # before anything runs or is stored
        return TurnResult(text=refusal, refused=True, messages=history)
    slash = is_slash(message)
    if slash:
        try:
            command = parse_slash(message, brand=brand)
            if command.tool == "help":
                return TurnResult(text=help_text(command.args.get("tool")), messages=history)
        except UserFacingError as error:
            return TurnResult(text=error.message, refused=True, messages=history)
    names: list[str] | None = None
    used = None if slash or model is None else model_name(model)
    sent = history
    if used is not None:  # the model reads earlier results as summaries; too long a thread is refused
        sent = summarise_answered(history)
        if (cap := too_long(sent)) is not None:
            return TurnResult(text=cap, refused=True, messages=history)
    if slash or model is None:
        try:
            async with db.as_user(caller) as conn:
                brands = await visible_brands(conn)
        except DatabaseUnavailable as error:
            return TurnResult(text=error.message, messages=history)
        names = [b.name for b in brands]
        own_days = {b.name: local_today(now, b.timezone) for b in brands if now is not None and b.timezone}
        model = offline_model(
            RouterContext(brand_names=names, today=today, brand=brand, brand_today=own_days)
        )
    # A surface that shows progress (the chat UI) hears long tools as they go.
    progress = getattr(listener, "on_progress", None)
    deps = Deps(
        db=db,
        caller=caller,
        today=today,
        now=now,
        settings=get_settings(),
        brand_names=names,
        progress=progress,
        thread_brand=brand,
    )
    streamed = _Streamed()
    spent = RunUsage()
    try:
        with _turn_span(used, spent):
            result = await build_agent().run(
                message,
                deps=deps,
                model=model,
                message_history=sent,
                usage_limits=USAGE_LIMITS,
                usage=spent,
                event_stream_handler=_event_handler(listener, streamed) if listener is not None else None,
            )
    except UsageLimitExceeded:
        log.warning("usage limit hit for %s", caller.email)
        return TurnResult(
            text="That question took too many steps, so I stopped. Try asking for one thing at a time.",
            messages=history,
            interrupted=streamed.text,
        )
    except ModelAPIError as error:
        # The provider failed the turn (after our retries): a plain reason, the details in the log.
        log.warning("model provider failed a turn for %s: %s", caller.email, error.message)
        return TurnResult(text=provider_trouble(error, model), messages=history, interrupted=streamed.text)
    except DatabaseUnavailable as error:
        # Down or restarting: a plain sentence, never Postgres' own text (the pool logged the details).
        return TurnResult(text=error.message, messages=history, interrupted=streamed.text)
    except AgentRunError as error:
        log.exception("agent run failed")
        return TurnResult(
            text=f"Sorry, I couldn't finish that: {error.message}",
            messages=history,
            interrupted=streamed.text,
        )
    except Exception:
        # The edge of the chat: log the traceback for us, tell the person plainly.
        log.exception("turn failed for %s: %r", caller.email, message)
        return TurnResult(
            text=SOMETHING_WENT_WRONG,
            messages=history,
            interrupted=streamed.text,
        )
    finally:
        if used is not None and spent.requests:
            await _keep_usage(db, caller, thread_id, turn_usage(model=used, usage=spent))
    new = result.new_messages()
    records, results = _records(new)
    refused = slash and any(r.error for r in records)
    text = result.output
    if not text and new and isinstance(new[-1], ModelResponse):
        text = "Done."
    return TurnResult(
        text=text, tool_calls=records, refused=refused, messages=result.all_messages(), results=results
    )
