"""`make eval`: the labelled phrasings (evals/cases.yaml) scored against the offline router, with a floor
CI holds it to; tools not built yet left out and said; the model side's plumbing against the Anthropic fake."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic_ai import models

from evals.run import (
    OFFLINE_FLOOR,
    Case,
    EvalSet,
    accuracy,
    load_cases,
    main,
    report,
    run_model,
    run_offline,
)
from fakes import anthropic_api
from services.llm.model_choice import chat_model
from settings import Settings
from tools.registry import all_specs

TODAY = date(2026, 12, 5)
BRANDS = ["Acme Pets", "Bloom Botanicals"]


def test_the_offline_router_meets_the_floor_on_the_labelled_set() -> None:
    outcomes = run_offline(load_cases())
    scored = [o for o in outcomes if o.verdict != "not built yet"]
    assert len(scored) >= 150
    assert accuracy(outcomes) >= OFFLINE_FLOOR, report("Offline router", outcomes)


def test_the_set_covers_every_tool_of_the_registry_and_the_period_forms() -> None:
    evalset = load_cases()
    labelled = [case.tool for case in evalset.cases]
    thin = {spec.name: labelled.count(spec.name) for spec in all_specs() if labelled.count(spec.name) < 2}
    assert thin == {}  # every chat tool has at least two phrasings
    periods = [c for c in evalset.cases if c.category == "periods"]
    assert len(periods) >= 30 and all(c.since is not None for c in periods)
    assert {"summary", "compare", "fatigue"} <= set(labelled)


def test_cases_for_a_tool_not_built_yet_are_left_out_of_the_score_and_said() -> None:
    evalset = EvalSet(
        today=TODAY,
        brands=BRANDS,
        cases=[
            Case(
                category="hooks",
                message="top hooks for Acme Pets",
                tool="top_hooks",
                args={"brand": "Acme Pets"},
            ),
            Case(category="hooks", message="top hooks for Bloom Botanicals last week", tool="ad_performance"),
            Case(category="forecasts", message="forecast Acme Pets spend for December", tool="forecast"),
        ],
    )
    outcomes = run_offline(evalset)
    assert [o.verdict for o in outcomes] == ["hit", "miss", "not built yet"]
    assert accuracy(outcomes) == 0.5
    assert report("Offline router", outcomes).splitlines() == [
        "Offline router",
        "  hooks      1/2  50%",
        "  forecasts  not built yet (1 case left out of the score)",
        "  overall    1/2  50.0%",
        "  Not built yet: forecast (1 case left out of the score until the registry has them).",
        "Misses (1):",
        "  - 'top hooks for Bloom Botanicals last week'  [hooks]",
        "      expected: ad_performance {}",
        "      got:      top_hooks {brand: Bloom Botanicals, since: 2026-11-23, until: 2026-11-29}",
    ]


def test_a_window_is_judged_by_its_dates_and_an_unread_period_is_a_miss() -> None:
    evalset = EvalSet(
        today=TODAY,
        brands=BRANDS,
        cases=[
            # days:30 is the default window: the same dates as no period at all.
            Case(category="p", message="top hooks for Acme Pets last 30 days", tool="top_hooks"),
            Case(
                category="p",
                message="top hooks for Acme Pets in October",
                tool="top_hooks",
                since=date(2026, 9, 1),
                until=date(2026, 9, 30),
            ),
        ],
    )
    assert [o.verdict for o in run_offline(evalset)] == ["hit", "miss"]


def test_make_eval_prints_the_offline_score_and_says_the_model_was_not_run(
    monkeypatch: Any,
) -> None:
    printed: list[str] = []
    monkeypatch.setattr("evals.run.get_settings", lambda: Settings(_env_file=None))  # type: ignore[call-arg]
    assert main([], echo=printed.append) == 0
    out = "\n".join(printed)
    assert out.startswith("Offline router: ")
    assert "\n  periods " in out and "\n  overall " in out  # a line per category, then the total
    assert "Floor for CI: 95% (met)." in out
    assert out.endswith("No model key set (ANTHROPIC_API_KEY or GEMINI_API_KEY): the model side was not run.")


async def test_the_model_side_scores_the_first_tool_call_through_the_chat_agent() -> None:
    evalset = EvalSet(
        today=TODAY,
        brands=BRANDS,
        cases=[
            Case(
                category="periods",
                message="top hooks for Acme Pets in October",
                tool="top_hooks",
                args={"brand": "Acme Pets"},
                since=date(2026, 10, 1),
                until=date(2026, 10, 31),
            ),
            Case(category="setup", message="what brands do I have?", tool="brands"),
            Case(
                category="creative",
                message="make 3 ads for Joint Chews",
                tool="create_ads",
                args={"product": "Joint Chews", "count": 3},
            ),
        ],
    )
    answers = {
        "top hooks for Acme Pets in October": anthropic_api.Reply.calls(
            ("top_hooks", {"brand": "Acme Pets", "since": "2026-10-01", "until": "2026-10-31"})
        ),
        "what brands do I have?": anthropic_api.Reply.calls(("brands", {})),
        "make 3 ads for Joint Chews": anthropic_api.Reply.say("Which product do you mean?"),
    }
    with (
        models.override_allow_model_requests(True),
        anthropic_api.FakeAnthropic(lambda request: answers[request.user_text]) as fake,
    ):
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None, ANTHROPIC_API_KEY=anthropic_api.API_KEY, ANTHROPIC_BASE_URL=fake.url
        )
        outcomes = await run_model(evalset, model=chat_model(settings), settings=settings)  # type: ignore[arg-type]
        requests = list(fake.requests)
    assert [o.verdict for o in outcomes] == ["hit", "hit", "miss"]
    assert len(requests) == 3  # one per case: the run stops at the first answer, no tool runs
    for request in requests:
        assert "Today is 2026-12-05 (Saturday) in the person's timezone, UTC." in request.text
        assert "their brands: Acme Pets, Bloom Botanicals." in request.text
        assert {"top_hooks", "brands", "create_ads"} <= set(request.tool_names)
    assert report("Model", outcomes).splitlines()[-4:] == [
        "Misses (1):",
        "  - 'make 3 ads for Joint Chews'  [creative]",
        "      expected: create_ads {product: Joint Chews, count: 3}",
        "      got:      text: 'Which product do you mean?'",
    ]
