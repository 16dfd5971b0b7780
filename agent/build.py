"""The Pydantic-AI agent, declared once, and the choice of model."""

from __future__ import annotations

from functools import cache

from pydantic_ai import Agent, RunContext
from pydantic_ai.capabilities import PrepareTools
from pydantic_ai.models import Model

from agent.tool_schemas import compact_tools
from prompts import load_prompt
from services.brands import visible_brands
from services.calendar_days import PERSON_TIMEZONE
from services.llm.model_choice import chat_model
from settings import Settings
from tools.deps import Deps
from tools.registry import agent_tools


def configured_model(settings: Settings) -> Model | str | None:
    """The chat's model (app.py, cli.py): Anthropic or Gemini built from the settings (key, base URL,
    our retries), another named model as is, or None offline."""
    return chat_model(settings)


def model_label(model: Model | str | None) -> str:
    if model is None:
        return "offline (slash commands and simple questions)"
    return model if isinstance(model, str) else model.model_name


@cache
def build_agent() -> Agent[Deps, str]:
    agent: Agent[Deps, str] = Agent(
        deps_type=Deps,
        output_type=str,
        tools=agent_tools(),
        instructions=load_prompt("system").text,
        name="viraltracker",
        capabilities=[PrepareTools(compact_tools)],
    )

    # Dynamic, so it goes after the cached static instructions (services.llm.model_choice.answer_settings).
    @agent.instructions
    async def caller_context(ctx: RunContext[Deps]) -> str:
        if ctx.deps.brand_names is None:
            async with ctx.deps.db.as_user(ctx.deps.caller) as conn:
                ctx.deps.brand_names = [b.name for b in await visible_brands(conn)]
        names = ctx.deps.brand_names
        chosen = (
            f" This chat's brand is {ctx.deps.thread_brand}: use it when the person names no brand."
            if ctx.deps.thread_brand
            else ""
        )
        return (
            f"Today is {ctx.deps.today.isoformat()} ({ctx.deps.today:%A}) in the person's timezone, "
            f"{PERSON_TIMEZONE}. The person is {ctx.deps.caller.email}; their brands: "
            f"{', '.join(names) or 'none yet'}.{chosen}"
        )

    return agent
