"""`make eval`: the labelled phrasings of evals/cases.yaml against the offline router and, when a model
key is set, against the configured model, with accuracy per category and every miss.

A case is a hit when the first tool call names the expected tool, carries each listed argument (text
compared case-insensitively) and, for a tool that takes a window, covers the expected dates (days:N and
since/until are compared as the dates they resolve to). Cases for a tool the registry does not have yet
are reported as "not built yet" and left out of the score.

    .venv/bin/python -m evals.run [--offline-only]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field
from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, ModelAPIError
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models import Model

from agent.build import build_agent, configured_model, model_label
from agent.offline import RouterContext, route
from agent.runner import USAGE_LIMITS
from core.errors import UserFacingError
from db.pool import Caller, Database
from services.windows import resolve_window
from settings import Settings, get_settings
from tools.deps import Deps
from tools.registry import get_spec

CASES = Path(__file__).resolve().parent / "cases.yaml"
OFFLINE_FLOOR = 0.95
"""The offline router's accuracy CI holds it to (tests/test_eval.py), over the tools that exist."""
MODEL_CONCURRENCY = 4
WINDOW_ARGS = ("days", "since", "until")


class Turn(BaseModel):
    """An earlier turn of the thread: what was asked and the call that answered it."""

    message: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)


class Case(BaseModel):
    message: str
    category: str
    tool: str
    args: dict[str, Any] = Field(default_factory=dict)
    since: date | None = None
    until: date | None = None
    any_window: bool = False
    """Two periods in one question ("this week vs last week"): the window arguments are not judged."""
    history: list[Turn] = Field(default_factory=list)


class EvalSet(BaseModel):
    today: date
    brands: list[str]
    cases: list[Case]


def load_cases(path: Path = CASES) -> EvalSet:
    return EvalSet.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


@dataclasses.dataclass(frozen=True)
class Answer:
    """What the router or model did first: a tool call, or text (a question back, a refusal)."""

    tool: str | None = None
    args: dict[str, Any] = dataclasses.field(default_factory=dict)
    text: str | None = None

    def __str__(self) -> str:
        if self.tool is None:
            return f"text: {(self.text or '').strip()[:120]!r}"
        return f"{self.tool} {_shown(self.args)}"


@dataclasses.dataclass(frozen=True)
class Outcome:
    case: Case
    answer: Answer | None
    verdict: str
    """"hit", "miss" or "not built yet"."""


def _shown(args: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in args.items()) + "}"


def _expected(case: Case) -> str:
    args = dict(case.args)
    if case.since is not None:
        args.update(since=case.since.isoformat(), until=(case.until or case.since).isoformat())
    return f"{case.tool} {_shown(args)}"


def _same(want: Any, got: Any) -> bool:
    if isinstance(want, bool) or isinstance(got, bool):
        return str(want).lower() == str(got).lower()
    return str(want).strip().casefold() == str(got).strip().casefold()


def _window(args: dict[str, Any], today: date) -> tuple[date, date] | None:
    try:
        window = resolve_window(
            today=today,
            days=int(args["days"]) if args.get("days") is not None else None,
            since=date.fromisoformat(str(args["since"])) if args.get("since") else None,
            until=date.fromisoformat(str(args["until"])) if args.get("until") else None,
        )
    except (UserFacingError, ValueError):
        return None
    return window.since, window.until


def judge(case: Case, answer: Answer, *, today: date) -> bool:
    """Whether the answer is the labelled call (the tool, the listed arguments, the window's dates)."""
    if answer.tool != case.tool:
        return False
    if not all(_same(want, answer.args.get(key)) for key, want in case.args.items()):
        return False
    spec = get_spec(case.tool)
    if spec is None or "since" not in spec.arguments or case.any_window:
        return True
    wanted = _window({"since": case.since, "until": case.until} if case.since else {}, today)
    return _window(answer.args, today) == wanted


def history_messages(turns: list[Turn]) -> list[ModelMessage]:
    """Earlier turns as a thread holds them: the question, the call, its result, the answer."""
    messages: list[ModelMessage] = []
    for index, turn in enumerate(turns):
        call_id = f"eval-{index}"
        messages += [
            ModelRequest(parts=[UserPromptPart(turn.message)]),
            ModelResponse(parts=[ToolCallPart(turn.tool, turn.args, tool_call_id=call_id)]),
            ModelRequest(parts=[ToolReturnPart(turn.tool, "(shown to the person)", tool_call_id=call_id)]),
            ModelResponse(parts=[TextPart("Here it is.")]),
        ]
    return messages


def _first_answer(response: ModelResponse) -> Answer:
    for part in response.parts:
        if isinstance(part, ToolCallPart):
            return Answer(tool=part.tool_name, args=part.args_as_dict())
    return Answer(text="".join(p.content for p in response.parts if isinstance(p, TextPart)))


def _built(case: Case) -> bool:
    return get_spec(case.tool) is not None and all(get_spec(t.tool) is not None for t in case.history)


# ---- the two sides ----------------------------------------------------------------------------------


def offline_answer(case: Case, evalset: EvalSet) -> Answer:
    """The offline router's first answer (agent/offline.py route), no database involved."""
    context = RouterContext(brand_names=evalset.brands, today=evalset.today)
    messages = [*history_messages(case.history), ModelRequest(parts=[UserPromptPart(case.message)])]
    return _first_answer(route(case.message, context=context, history=messages))


def _eval_deps(evalset: EvalSet, settings: Settings) -> Deps:
    # The run stops at the model's first answer, before any tool runs: the database is never opened.
    return Deps(
        db=Database("postgresql://eval.invalid/none"),
        caller=Caller(user_id=uuid.UUID(int=0), email="eval@viraltracker.invalid"),
        today=evalset.today,
        settings=settings,
        brand_names=list(evalset.brands),
    )


async def model_answer(case: Case, evalset: EvalSet, *, model: Model | str, settings: Settings) -> Answer:
    """The model's first answer through the chat's agent (its instructions and tools), no tool run."""
    agent = build_agent()
    async with agent.iter(
        case.message,
        deps=_eval_deps(evalset, settings),
        model=model,
        message_history=history_messages(case.history),
        usage_limits=USAGE_LIMITS,
    ) as run:
        async for node in run:
            if Agent.is_call_tools_node(node):
                return _first_answer(node.model_response)
    return Answer(text=run.result.output if run.result else "")


def score(evalset: EvalSet, answers: dict[int, Answer | None]) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for index, case in enumerate(evalset.cases):
        answer = answers.get(index)
        if not _built(case):
            outcomes.append(Outcome(case, answer, "not built yet"))
        elif answer is not None and judge(case, answer, today=evalset.today):
            outcomes.append(Outcome(case, answer, "hit"))
        else:
            outcomes.append(Outcome(case, answer, "miss"))
    return outcomes


def run_offline(evalset: EvalSet) -> list[Outcome]:
    answers = {i: offline_answer(c, evalset) for i, c in enumerate(evalset.cases) if _built(c)}
    return score(evalset, dict(answers))


async def run_model(
    evalset: EvalSet, *, model: Model | str, settings: Settings, concurrency: int = MODEL_CONCURRENCY
) -> list[Outcome]:
    gate = asyncio.Semaphore(concurrency)

    async def one(case: Case) -> Answer:
        async with gate:
            try:
                return await model_answer(case, evalset, model=model, settings=settings)
            except (ModelAPIError, AgentRunError) as error:  # a miss with its reason; the run goes on
                return Answer(text=f"(the call failed: {type(error).__name__}: {error})")

    built = [(i, c) for i, c in enumerate(evalset.cases) if _built(c)]
    answers = await asyncio.gather(*(one(c) for _, c in built))
    return score(evalset, {i: a for (i, _), a in zip(built, answers, strict=True)})


# ---- the report -------------------------------------------------------------------------------------


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def accuracy(outcomes: list[Outcome]) -> float:
    scored = [o for o in outcomes if o.verdict != "not built yet"]
    return sum(o.verdict == "hit" for o in scored) / len(scored) if scored else 0.0


def report(title: str, outcomes: list[Outcome]) -> str:
    """Accuracy per category and overall, the cases left out, then each miss: message, expected, got."""
    lines = [title]
    categories: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        categories.setdefault(outcome.case.category, []).append(outcome)
    width = max(len(c) for c in categories) if categories else 0
    for category, group in categories.items():
        scored = [o for o in group if o.verdict != "not built yet"]
        if not scored:
            lines.append(f"  {category:<{width}}  not built yet ({_cases(len(group))} left out of the score)")
            continue
        hits = sum(o.verdict == "hit" for o in scored)
        left_out = len(group) - len(scored)
        extra = f"  ({_cases(left_out)} not built yet, left out)" if left_out else ""
        lines.append(f"  {category:<{width}}  {hits}/{len(scored)}  {hits / len(scored):.0%}{extra}")
    scored_all = [o for o in outcomes if o.verdict != "not built yet"]
    hits_all = sum(o.verdict == "hit" for o in scored_all)
    lines.append(f"  {'overall':<{width}}  {hits_all}/{len(scored_all)}  {accuracy(outcomes):.1%}")
    missing = sorted({o.case.tool for o in outcomes if o.verdict == "not built yet"})
    if missing:
        left_out = sum(o.verdict == "not built yet" for o in outcomes)
        lines.append(
            f"  Not built yet: {', '.join(missing)} ({_cases(left_out)} left out of the score until "
            "the registry has them)."
        )
    misses = [o for o in outcomes if o.verdict == "miss"]
    if misses:
        lines.append(f"Misses ({len(misses)}):")
        for o in misses:
            lines += [
                f"  - {o.case.message!r}  [{o.case.category}]",
                f"      expected: {_expected(o.case)}",
                f"      got:      {o.answer if o.answer is not None else '(nothing)'}",
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None, *, echo: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(prog="make eval", description=__doc__)
    parser.add_argument("--offline-only", action="store_true", help="skip the configured model")
    options = parser.parse_args(argv)
    evalset = load_cases()
    outcomes = run_offline(evalset)
    echo(report(f"Offline router: {len(evalset.cases)} cases, today {evalset.today}", outcomes))
    echo(
        f"Floor for CI: {OFFLINE_FLOOR:.0%} ({'met' if accuracy(outcomes) >= OFFLINE_FLOOR else 'NOT met'})."
    )
    settings = get_settings()
    model = configured_model(settings)
    if options.offline_only:
        return 0
    if model is None:
        echo("\nNo model key set (ANTHROPIC_API_KEY or GEMINI_API_KEY): the model side was not run.")
        return 0
    outcomes = asyncio.run(run_model(evalset, model=model, settings=settings))
    echo("\n" + report(f"Model {model_label(model)}: {len(evalset.cases)} cases", outcomes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
