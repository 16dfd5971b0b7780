"""One chat turn through the agent: the pipeline shared by the CLI, the shell and the chat UI."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from pydantic import BaseModel, Field
from pydantic_ai import UsageLimits
from pydantic_ai.exceptions import AgentRunError, UsageLimitExceeded
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart, ToolReturnPart
from pydantic_ai.models import Model

from agent.build import build_agent
from agent.offline import RouterContext, offline_model
from agent.slash import help_text, is_slash, parse_slash
from db.pool import Caller, Database
from services.brands import visible_brands
from services.errors import UserFacingError
from tools.deps import Deps

log = logging.getLogger(__name__)

USAGE_LIMITS = UsageLimits(request_limit=12, tool_calls_limit=8)


class ToolCallRecord(BaseModel):
    tool: str
    args: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None


class TurnResult(BaseModel):
    text: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    refused: bool = False
    """A slash command whose input was refused (the CLI exits 2)."""

    # Kept for the next turn; not part of the JSON the CLI prints.
    messages: list[ModelMessage] = Field(default_factory=list, exclude=True)
    results: list[BaseModel] = Field(default_factory=list, exclude=True)


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
        elif ret.outcome != "success" or not isinstance(ret.content, BaseModel):
            record.error = str(ret.content)
        else:
            record.result = ret.content.model_dump(mode="json")
            results.append(ret.content)
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
) -> TurnResult:
    """Answer one message. Slash commands always run exactly (through the offline router)."""
    today = today or date.today()
    history = list(history or [])
    slash = is_slash(message)
    if slash:
        try:
            command = parse_slash(message)
            if command.tool == "help":
                return TurnResult(text=help_text(command.args.get("tool")), messages=history)
        except UserFacingError as error:
            return TurnResult(text=error.message, refused=True, messages=history)
    if slash or model is None:
        async with db.as_user(caller) as conn:
            names = [b.name for b in await visible_brands(conn)]
        model = offline_model(RouterContext(brand_names=names, today=today))
    deps = Deps(db=db, caller=caller, today=today)
    try:
        result = await build_agent().run(
            message, deps=deps, model=model, message_history=history, usage_limits=USAGE_LIMITS
        )
    except UsageLimitExceeded:
        log.warning("usage limit hit for %s", caller.email)
        return TurnResult(
            text="That question took too many steps, so I stopped. Try asking for one thing at a time.",
            messages=history,
        )
    except AgentRunError as error:
        log.exception("agent run failed")
        return TurnResult(text=f"Sorry, I couldn't finish that: {error.message}", messages=history)
    except Exception:
        # The edge of the chat: log the traceback for us, tell the person plainly.
        log.exception("turn failed for %s: %r", caller.email, message)
        return TurnResult(
            text="Something went wrong on our side and has been logged. Nothing was changed; please try again.",
            messages=history,
        )
    new = result.new_messages()
    records, results = _records(new)
    refused = slash and any(r.error for r in records)
    text = result.output
    if not text and new and isinstance(new[-1], ModelResponse):
        text = "Done."
    return TurnResult(
        text=text, tool_calls=records, refused=refused, messages=result.all_messages(), results=results
    )
