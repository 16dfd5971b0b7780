"""Names for discovered patterns written by the analysis model (when a key is set), in one call for
the run: each pattern's id, sources and most central members go in, a short angle-style name comes
back per id. Offline, or when the model fails, patterns keep their most central phrase and the report
says why."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, ModelHTTPError

from prompts import load_prompt
from services.llm.model_choice import analysis_model, model_name
from settings import Settings

if TYPE_CHECKING:
    from services.research.patterns import Pattern

log = logging.getLogger(__name__)

MAX_NAMED = 60  # patterns named per run (strongest first); the rest keep their central phrase
MEMBERS_SHOWN = 8
MEMBER_CHARS = 200
MAX_NAME_CHARS = 80
TIMEOUT_SECONDS = 60.0


class PatternName(BaseModel):
    id: str = Field(description="The theme's id as given, e.g. P3")
    name: str = Field(description="2-7 words, an ad angle in the customers' terms")


class PatternNames(BaseModel):
    names: list[PatternName]


def names_agent() -> Agent[None, PatternNames]:
    return Agent(
        output_type=PatternNames,
        instructions=load_prompt("pattern_names").text,
        name="pattern_names",
        retries=1,
    )


def themes_text(patterns: list[Pattern], labels: Mapping[Any, str]) -> str:
    """What the model reads: `[P1] 5 mentions in Amazon reviews, ads` and the central members."""
    out = []
    for i, p in enumerate(patterns[:MAX_NAMED], start=1):
        kinds = ", ".join(labels.get(k, k) for k in p.source_breakdown)
        texts = list(dict.fromkeys([p.name, *(m.text for m in p.members)]))[:MEMBERS_SHOWN]
        lines = "\n".join(f"- {' '.join(t.split())[:MEMBER_CHARS]}" for t in texts)
        out.append(f"[P{i}] {len(p.members)} mentions in {kinds}\n{lines}")
    return "\n\n".join(out)


async def name_patterns(
    patterns: list[Pattern], *, labels: Mapping[Any, str], settings: Settings
) -> str | None:
    """Rename `patterns` in place with the model's names (named_by = 'model'). Returns a note for the
    report: who named them, or why the central phrases stayed; None when there was nothing to name."""
    if not patterns:
        return None
    model = analysis_model(settings)
    if model is None:
        return "Names: each pattern's most central phrase (set a model key for written names)."
    try:
        result = await names_agent().run(themes_text(patterns, labels), model=model, timeout=TIMEOUT_SECONDS)
    except (ModelHTTPError, AgentRunError, TimeoutError) as error:
        log.warning("pattern naming failed: %s", error)
        return (
            f"Names: each pattern's most central phrase ({model_name(model)} could not name them: {error})."
        )
    named = 0
    for item in result.output.names:
        index = item.id.strip().upper().removeprefix("P")
        name = " ".join(item.name.split()).strip(" .\"'")[:MAX_NAME_CHARS]
        if index.isdigit() and 1 <= int(index) <= min(len(patterns), MAX_NAMED) and name:
            pattern = patterns[int(index) - 1]
            if pattern.named_by != "model":
                pattern.name, pattern.named_by = name, "model"
                named += 1
    left = len(patterns) - named
    return f"Names written by {model_name(model)}" + (
        f"; {left} pattern(s) keep their most central phrase." if left else "."
    )
