"""The Pydantic-AI agent, declared once, and the choice of model."""

from __future__ import annotations

from functools import cache

from pydantic_ai import Agent, RunContext
from pydantic_ai.capabilities import PrepareTools
from pydantic_ai.models import Model

from agent.tool_schemas import compact_tools
from prompts import load_prompt
from services.brands import visible_brands
from services.calendar_days import PERSON_TIMEZONE, local_today
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
                brands = await visible_brands(conn)
            ctx.deps.brand_names = [b.name for b in brands]
            ctx.deps.brand_zones = {
                b.name: b.timezone for b in brands if b.timezone and b.timezone != PERSON_TIMEZONE
            }
        names = ctx.deps.brand_names
        chosen = (
            f" This chat's brand is {ctx.deps.thread_brand}: use it when the person names no brand."
            if ctx.deps.thread_brand
            else ""
        )
        return (
            f"Today is {ctx.deps.today.isoformat()} ({ctx.deps.today:%A}) in the person's timezone, "
            f"{PERSON_TIMEZONE}. The person is {ctx.deps.caller.email}; their brands: "
            f"{', '.join(names) or 'none yet'}.{chosen}{_brand_days(ctx.deps)}"
        )

    return agent


def _brand_days(deps: Deps) -> str:
    """A brand's dates are its ad accounts' days: the model reads "yesterday" for it from its own today."""
    if deps.now is None or not deps.brand_zones:
        return ""
    now = deps.now
    days = "; ".join(
        f"{name}: {zone}, where today is {local_today(now, zone).isoformat()}"
        for name, zone in sorted(deps.brand_zones.items())
    )
    return f" A brand's dates are its own days, read in its timezone ({days})."
