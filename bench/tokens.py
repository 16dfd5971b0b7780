"""Token budget benchmark: what each model request of a 10-turn chat sends, and what it costs.

In a fresh embedded database with the demo data, a scripted 10-turn conversation (seven tool-using
turns, three plain follow-ups) goes through `run_turn` as Maya, on the model
`services.llm.model_choice.chat_model` builds (the real `anthropic` client through Pydantic-AI) against
the fake Anthropic API, which accounts for prompt caching as the API does (fakes/anthropic_cache.py:
cache writes on first use, reads after, the minimum cacheable length, tokens at ~4 characters each).
The history goes from turn to turn as the chat keeps it (`storable_history`, then read back).

Per request: uncached input, cache write, cache read, output tokens, and the cost at the configured
model's list prices (services/llm/prices.py); then the totals, and what the same tokens would cost
with no caching. Target: after the thread's first turn, at most 2,000 uncached input tokens per
model request, held here to the stricter reading: uncached plus cache write (the automatic
breakpoint writes a request's new tail to the cache, so it is never "uncached"). `make bench-tokens` (`--model` to price another Claude model).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

TARGET_UNCACHED = 2000

# (question, tool call or None for a plain answer): tools named as the person would get them.
SCRIPT: list[tuple[str, tuple[str, dict[str, Any]] | None]] = [
    ("How are my brands doing?", ("brands", {})),
    ("Top hooks for Acme Pets, last 30 days?", ("top_hooks", {"brand": "Acme Pets", "days": 30})),
    ("Which Acme ads are worst by CPA?", ("ad_performance", {"brand": "Acme Pets", "sort": "cpa", "order": "bottom"})),
    ("Why might those be struggling?", None),
    ("Give me the summary for Acme Pets this month.", ("summary", {"brand": "Acme Pets", "days": 30})),
    ("How does that compare with the 30 days before?", ("compare", {"brand": "Acme Pets", "days": 30})),
    ("And congruence?", ("congruence_summary", {"brand": "Acme Pets"})),
    ("Any fatigue in the last two weeks?", ("fatigue", {"brand": "Acme Pets", "days": 14})),
    ("What should I test next week?", None),
    ("Thanks, a three-line recap please.", None),
]  # fmt: skip
ANSWER = (
    "Here is what stands out: spend is steady, the question hooks about senior dogs keep the best hook rate,"
    " and the two offer ads with the weakest congruence are the ones losing money. I would move budget from"
    " the bottom three ads to the top two and test a new opening line on the weakest offer."
)


def _questions_so_far(request: Any) -> int:
    return sum(
        1
        for m in request.body.get("messages") or []
        if m.get("role") == "user"
        and (isinstance(m.get("content"), str) or any(b.get("type") == "text" for b in m["content"]))
    )


def respond(request: Any) -> Any:
    """The scripted model: the turn's tool call, then an answer about its result."""
    from fakes.anthropic_api import Reply

    _, call = SCRIPT[min(_questions_so_far(request), len(SCRIPT)) - 1]
    if call is None or request.tool_results:
        return Reply.say(ANSWER)
    return Reply.calls(call)


async def measure(home: Path, model_name: str) -> bool:
    from pydantic_ai import models
    from pydantic_ai.messages import ModelMessagesTypeAdapter

    from agent.runner import run_turn, storable_history
    from db.embedded import start_embedded
    from db.migrate import migrate
    from db.pool import Database
    from fakes.anthropic_api import API_KEY, FakeAnthropic
    from services.demo.seed import seed_demo
    from services.llm.model_choice import chat_model
    from services.llm.prices import cost_usd, price_of
    from services.platform.accounts import find_caller
    from settings import Settings

    if price_of(model_name) is None:
        raise SystemExit(f"no list price for {model_name} in services/llm/prices.py")
    url = start_embedded(home / "pgdata")
    models.ALLOW_MODEL_REQUESTS = True
    async with Database(url, max_size=4) as db:
        await migrate(db)
        await seed_demo(db, seed=7)
        async with db.as_owner() as conn:
            maya = await find_caller(conn, email="maya@northwind.example")
        with FakeAnthropic(respond) as fake:
            settings = Settings(
                _env_file=None,  # type: ignore[call-arg]
                ANTHROPIC_API_KEY=API_KEY,
                ANTHROPIC_BASE_URL=fake.url,
                VIRALTRACKER_MODEL=model_name,
                VIRALTRACKER_HOME=str(home),
            )
            model = chat_model(settings)
            stored = "[]"
            turn_of: list[int] = []
            for number, (question, _) in enumerate(SCRIPT, start=1):
                history = ModelMessagesTypeAdapter.validate_json(stored)
                turn = await run_turn(db=db, caller=maya, message=question, model=model, history=history)
                if turn.text != ANSWER:
                    print(f"  FAIL: turn {number} answered {turn.text[:160]!r}")
                    return False
                stored = storable_history(turn.messages)
                turn_of += [number] * (len(fake.requests) - len(turn_of))
            requests = list(fake.requests)
    header = f"{'turn':>4} {'req':>3}  {'uncached':>8} {'cache wr':>8} {'cache rd':>8} {'output':>6}  {'cost $':>9}"
    print(header)
    print("-" * len(header))
    totals = dict.fromkeys(("uncached", "write", "read", "output"), 0)
    cost = no_cache_cost = 0.0
    worst_later = 0
    for index, (number, request) in enumerate(zip(turn_of, requests, strict=True), start=1):
        usage = request.usage
        assert usage is not None, "every request is answered"
        figures = {
            "uncached": usage["input_tokens"],
            "write": usage["cache_creation_input_tokens"],
            "read": usage["cache_read_input_tokens"],
            "output": usage["output_tokens"],
        }
        for key, value in figures.items():
            totals[key] += value
        priced = cost_usd(
            model=model_name, uncached_input=figures["uncached"], cache_write=figures["write"],
            cache_read=figures["read"], output=figures["output"],
        )  # fmt: skip
        unpriced = cost_usd(
            model=model_name, uncached_input=figures["uncached"] + figures["write"] + figures["read"],
            cache_write=0, cache_read=0, output=figures["output"],
        )  # fmt: skip
        cost += priced or 0.0
        no_cache_cost += unpriced or 0.0
        if number > 1:  # what the request added: uncached, or written to the cache for the next one
            worst_later = max(worst_later, figures["uncached"] + figures["write"])
        print(
            f"{number:>4} {index:>3}  {figures['uncached']:>8,} {figures['write']:>8,} {figures['read']:>8,}"
            f" {figures['output']:>6,}  {priced or 0.0:>9.5f}"
        )
    print("-" * len(header))
    print(
        f"{'all':>4} {len(requests):>3}  {totals['uncached']:>8,} {totals['write']:>8,} {totals['read']:>8,}"
        f" {totals['output']:>6,}  {cost:>9.5f}"
    )
    print(f"  model {model_name}; the same tokens with no caching would cost ${no_cache_cost:.5f}")
    ok = worst_later <= TARGET_UNCACHED
    verdict = "meets" if ok else "MISSES"
    print(
        f"  {verdict} the target: ≤ {TARGET_UNCACHED:,} input tokens not read from the cache (uncached + cache"
        f" write) per request after the first turn (most: {worst_later:,})"
    )
    return ok


def main() -> None:
    from bench.chat_load import stop_embedded_postgres

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="anthropic:claude-sonnet-4-6", help="an Anthropic model to price")
    args = parser.parse_args()
    if not args.model.startswith("anthropic:"):
        parser.error(
            "--model must be an Anthropic model (anthropic:NAME): the bench runs on the Anthropic fake"
        )
    home = Path(tempfile.mkdtemp(prefix=f"vt-tokens-bench-{uuid.uuid4().hex[:6]}-"))
    try:
        ok = asyncio.run(measure(home, args.model))
    finally:
        stop_embedded_postgres(home / "pgdata")
        shutil.rmtree(home, ignore_errors=True)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
