"""A slash command answered without the agent: the one tool it names, called and told exactly as the
offline router would (agent.runner), for one-off commands (`viraltracker ask '/brands'`) that should
not pay for importing Pydantic-AI and every tool module."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from pydantic import BaseModel, Field

from agent.input_checks import message_refusal
from agent.slash import help_text, parse_slash
from core.errors import DatabaseUnavailable, UserFacingError
from db.pool import Caller, Database
from services.brands import visible_brands
from services.calendar_days import PERSON_TIMEZONE, local_today
from settings import get_settings
from tools.deps import Deps
from tools.registry import WithImages, for_model, get_spec

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = (
    "Something went wrong on our side and has been logged. Nothing was changed; please try again."
)


class ToolCallRecord(BaseModel):
    tool: str
    args: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None


class TurnAnswer(BaseModel):
    """What a turn answered: its text, the tool calls, and the full results the surfaces draw."""

    text: str
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    refused: bool = False
    """A slash command whose input was refused (the CLI exits 2)."""
    results: list[BaseModel] = Field(default_factory=list, exclude=True)


def result_text(result: BaseModel) -> str:
    """What the offline router says of a tool's result: its summary, else the result as the model reads it."""
    shown = for_model(result)
    text = str(shown["summary"]) if "summary" in shown else str(shown)
    return text or "Done."


async def answer_slash(
    *,
    db: Database,
    caller: Caller,
    message: str,
    brand: str | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> TurnAnswer:
    """Answer a slash command as `agent.runner.run_turn` does, byte for byte (tests/test_slash_turn.py)."""
    if today is None:
        now = now or datetime.now(UTC)
        today = local_today(now, PERSON_TIMEZONE)
    if (refusal := message_refusal(message)) is not None:
        return TurnAnswer(text=refusal, refused=True)
    try:
        command = parse_slash(message, brand=brand)
        if command.tool == "help":
            return TurnAnswer(text=help_text(command.args.get("tool")))
    except UserFacingError as error:
        return TurnAnswer(text=error.message, refused=True)
    record = ToolCallRecord(tool=command.tool, args=command.args)
    try:
        async with db.as_user(caller) as conn:
            brands = await visible_brands(conn)
        spec = get_spec(command.tool)
        assert spec is not None  # parse_slash found it
        deps = Deps(
            db=db,
            caller=caller,
            today=today,
            now=now,
            settings=get_settings(),
            brand_names=[b.name for b in brands],
            thread_brand=brand,
            reads_images=False,  # the offline router reads no images
        )
        answered = await spec.answer(deps, command.args)
    except DatabaseUnavailable as error:
        return TurnAnswer(text=error.message)
    except UserFacingError as error:
        record.error = error.message
        return TurnAnswer(text=error.message, tool_calls=[record], refused=True)
    except Exception:
        # The edge of the command: log the traceback for us, tell the person plainly.
        log.exception("turn failed for %s: %r", caller.email, message)
        return TurnAnswer(text=SOMETHING_WENT_WRONG)
    result = answered.result if isinstance(answered, WithImages) else answered
    record.result = result.model_dump(mode="json")
    return TurnAnswer(text=result_text(result), tool_calls=[record], results=[result])
