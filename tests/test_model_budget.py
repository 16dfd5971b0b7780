"""The model path's token budget, at the fake Anthropic API on the real client: the stable prefix (tool
definitions, static instructions) is cached and the turn's own context comes after it; the fake
accounts for caching as Anthropic does; each answer's `max_tokens` fits an answer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic_ai import models
from pydantic_ai.messages import (
    ModelMessage,
    ModelMessagesTypeAdapter,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)

from agent.render import tables_for
from agent.runner import run_turn, storable_history
from db.pool import Caller, Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, FakeRequest, Reply
from fakes.anthropic_cache import PromptCache, block_tokens, request_blocks
from prompts import load_prompt
from services.llm.model_choice import chat_model
from settings import Settings
from tests.ad_helpers import drop_shop, new_shop


def top_hooks_then_say(request: FakeRequest) -> Reply:
    """One tool call per question, then a sentence about its result."""
    if request.tool_results:
        return Reply.say("Your best hook is the senior-dog question.")
    return Reply.calls(("top_hooks", {"brand": "Acme Pets", "days": 30, "limit": 3}))


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with models.override_allow_model_requests(True), FakeAnthropic(top_hooks_then_say) as running:
        yield running


def model_on(fake: FakeAnthropic, name: str = "anthropic:claude-sonnet-4-6") -> Any:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=fake.url, VIRALTRACKER_MODEL=name
    )
    return chat_model(settings)


async def test_the_first_request_caches_tools_and_instructions_with_the_turns_context_after(
    fake: FakeAnthropic, db: Database, maya: Caller
) -> None:
    model = model_on(fake)
    first = await run_turn(db=db, caller=maya, message="best hooks for acme?", model=model)
    await run_turn(db=db, caller=maya, message="and again?", model=model, history=first.messages)
    opening, answering, second_opening, _ = fake.requests
    body = opening.body
    assert body["max_tokens"] == 4096  # an answer's budget, not the model's 64,000
    # Tool definitions: 10,311 tokens (41,276 characters) before their schemas were compacted and long
    # prose moved to /help; 10,150 with 45 tools; 7,244 with every description cut to what choosing and
    # calling the tool needs (the rest in /help) and no "additionalProperties": false.
    assert sum(block_tokens(t) for t in body["tools"]) < 7460
    tools = {t["name"]: t for t in body["tools"]}
    assert not any("additionalProperties" in t["input_schema"] for t in body["tools"])
    assert tools["ad_performance"]["input_schema"]["properties"]["min_spend"]["description"] == (
        "Minimum spend for an ad to be ranked (default 50, in the brand's currency)."
    )
    moved = "Ads under `min_spend` are left out of the ranking (the answer says how many)."
    assert moved not in tools["ad_performance"]["description"]
    helped = await run_turn(db=db, caller=maya, message="/help ad_performance")
    assert (
        helped.text.splitlines()[2]
        == "Metrics are computed from raw counts summed per ad over the window. " + moved
    )
    assert tools["blueprint"]["input_schema"]["properties"]["brand"] == {
        "type": "string",
        "description": "The brand to write for. Needed unless rerun/compare/export_id is given.",
    }  # an optional argument as its own type: leaving it out means null
    assert body["tools"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}
    assert not any("cache_control" in t for t in body["tools"][:-1])
    system = body["system"]
    cached = [i for i, b in enumerate(system) if "cache_control" in b]
    context = next(i for i, b in enumerate(system) if b["text"].startswith("Today is "))
    assert system[cached[0]]["text"] == load_prompt("system").text  # the static instructions, cached
    assert cached == [cached[0]] and context > cached[0]  # the turn's context after the breakpoint
    assert "maya@northwind.example" in system[context]["text"]
    assert body["cache_control"] == {"type": "ephemeral", "ttl": "5m"}  # the conversation, automatically
    # The fake's accounting: the first request writes tools + instructions + the question; the rest read.
    assert opening.usage is not None and opening.usage["cache_read_input_tokens"] == 0
    assert opening.usage["cache_creation_input_tokens"] > 8000
    prefix = sum(block_tokens(b) for b in request_blocks(opening.body))
    assert answering.usage is not None and answering.usage["cache_read_input_tokens"] == prefix
    assert second_opening.usage is not None
    # The next turn reads the first question's prefix; what follows it is new (the answered result is now
    # its summary), and small.
    assert second_opening.usage["cache_read_input_tokens"] == prefix
    assert second_opening.usage["input_tokens"] + second_opening.usage["cache_creation_input_tokens"] < 2000


def body_of(*blocks: dict[str, Any], model: str = "claude-sonnet-4-6", auto: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": list(blocks)}]}
    if auto:
        body["cache_control"] = {"type": "ephemeral"}
    return body


def text(chars: int, mark: bool = False, fill: str = "a") -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": fill * chars}
    return {**block, "cache_control": {"type": "ephemeral"}} if mark else block


def test_the_fake_caches_a_prefix_only_from_the_models_minimum_length() -> None:
    cache = PromptCache()
    short = body_of(text(4000, mark=True), text(400))  # ~1,000 tokens before the breakpoint: too short
    assert cache.account(short).cache_creation_input_tokens == 0
    assert cache.account(short).cache_read_input_tokens == 0
    sonnet = body_of(text(4400, mark=True), text(400))  # ~1,100 tokens: Sonnet caches it, Haiku doesn't
    head, tail = block_tokens(text(4400)), block_tokens(text(400))
    assert (head, tail) == (1107, 107)  # (4,400 + 27 characters of JSON) / 4, rounded up
    written = cache.account(sonnet)
    assert (written.cache_read_input_tokens, written.cache_creation_input_tokens, written.input_tokens) == (
        0,
        head,
        tail,
    )
    read = cache.account(sonnet)
    assert (read.cache_read_input_tokens, read.cache_creation_input_tokens, read.input_tokens) == (
        head,
        0,
        tail,
    )
    haiku = {**sonnet, "model": "claude-haiku-4-5"}
    assert cache.account(haiku).cache_creation_input_tokens == 0  # 2,048 for Haiku
    now = [0.0]
    expiring = PromptCache(clock=lambda: now[0])
    expiring.account(sonnet)
    now[0] = 301.0  # five minutes without a read: gone
    assert expiring.account(sonnet).cache_read_input_tokens == 0


def test_the_fake_reads_an_earlier_prefix_within_the_lookback_and_refuses_five_breakpoints(
    fake: FakeAnthropic,
) -> None:
    cache = PromptCache()
    first = cache.account(body_of(text(8000), text(40, fill="b"), auto=True))
    assert first.cache_creation_input_tokens == first.total  # automatic caching: the last block
    grown = cache.account(body_of(text(8000), text(40, fill="b"), text(40, fill="c"), auto=True))
    assert grown.cache_read_input_tokens == first.total  # the previous request's prefix, one block back
    assert grown.cache_creation_input_tokens == block_tokens(text(40, fill="c"))
    import anthropic

    with (
        anthropic.Anthropic(api_key=API_KEY, base_url=fake.url, max_retries=0) as client,
        pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"),
    ):
        client.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=100,
            messages=[{"role": "user", "content": [text(10, mark=True) for _ in range(5)]}],  # type: ignore[misc]
        )


def brands_then_say(request: FakeRequest) -> Reply:
    if request.tool_results or "just say hi" in request.user_text.splitlines()[-1]:
        return Reply.say("Here you are.")
    return Reply.calls(("brands", {}))


async def test_usage_shows_the_organizations_month_by_person_and_model_as_the_fake_counted(
    db: Database, maya: Caller
) -> None:
    shop = await new_shop(db, "usage", [])
    try:
        # Before any model turn: said in words, with no empty table under it.
        unused = await run_turn(db=db, caller=shop.member, message="/usage")
        assert (
            unused.text
            == f"No model usage in {datetime.now(UTC):%B %Y} yet: slash commands and offline answers use no model."
        )
        assert [tables_for(result) for result in unused.results] == [[]]
        with models.override_allow_model_requests(True), FakeAnthropic(brands_then_say) as fake:
            sonnet, haiku = model_on(fake), model_on(fake, "anthropic:claude-haiku-4-5")
            whose: list[tuple[str, str]] = []  # (email, model) of each request the fake answered

            async def turn(caller: Caller, message: str, model: Any, name: str, thread: str) -> Any:
                before = len(fake.requests)
                done = await run_turn(db=db, caller=caller, message=message, model=model, thread_id=thread)
                whose.extend([(caller.email, name)] * (len(fake.requests) - before))
                return done

            await turn(maya, "my brands?", sonnet, "anthropic:claude-sonnet-4-6", "t-maya")  # another org
            first = await turn(shop.admin, "my brands?", sonnet, "anthropic:claude-sonnet-4-6", "t-admin")
            await run_turn(
                db=db, caller=shop.admin, message="just say hi", model=sonnet, history=first.messages,
                thread_id="t-admin",
            )  # fmt: skip
            whose.append((shop.admin.email, "anthropic:claude-sonnet-4-6"))
            await turn(shop.member, "my brands?", haiku, "anthropic:claude-haiku-4-5", "t-member")
            requests = list(fake.requests)
        shown = await run_turn(db=db, caller=shop.member, message="/usage")
        [call] = shown.tool_calls
        assert call.result is not None
        # Independently: the fake's own per-request usage, summed per person and model, at list prices.
        prices = {"anthropic:claude-sonnet-4-6": (3.0, 3.75, 0.30, 15.0), "anthropic:claude-haiku-4-5": (1.0, 1.25, 0.10, 5.0)}  # fmt: skip
        expected: dict[tuple[str, str], list[float]] = {}
        for (email, name), request in zip(whose, requests, strict=True):
            if email == maya.email:
                continue
            assert request.usage is not None
            figures = [request.usage[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")]  # fmt: skip
            line = expected.setdefault((email, name), [0, 0, 0, 0, 0])
            for i, value in enumerate(figures):
                line[i] += value
            line[4] += sum(v * p for v, p in zip(figures, prices[name], strict=True)) / 1_000_000
        got = {
            (line["email"], line["model"]): [
                line["uncached_input"], line["cache_write"], line["cache_read"], line["output"], line["cost_usd"]
            ]
            for line in call.result["lines"]
        }  # fmt: skip
        assert got.keys() == expected.keys()  # maya's organization is not in it
        for key, figures in expected.items():
            assert got[key][:4] == figures[:4]
            assert got[key][4] == pytest.approx(figures[4])
        turns = {(line["email"], line["turns"], line["requests"]) for line in call.result["lines"]}
        assert turns == {(shop.admin.email, 2, 3), (shop.member.email, 1, 2)}
        total = sum(sum(f[:4]) for f in expected.values())
        cost = sum(f[4] for f in expected.values())
        month = f"{datetime.now(UTC):%B %Y}"
        assert (
            shown.text
            == f"{month}: 3 model turns by 2 people, {total:,} tokens, ${cost:,.4f} at list prices."
        )
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select thread_id, count(*) as turns from model_usage where user_id = %s group by thread_id",
                (shop.admin.user_id,),
            )
            assert [(r["thread_id"], r["turns"]) for r in await cur.fetchall()] == [("t-admin", 2)]
    finally:
        await drop_shop(db, shop)


async def test_a_later_turn_sends_an_answered_result_as_its_summary_and_the_chat_keeps_the_table(
    fake: FakeAnthropic, db: Database, maya: Caller
) -> None:
    model = model_on(fake)
    first = await run_turn(db=db, caller=maya, message="best hooks for acme?", model=model)
    [call] = first.tool_calls
    assert call.result is not None and len(call.result["rows"]) == 3  # what the person was shown
    stored = ModelMessagesTypeAdapter.validate_json(storable_history(first.messages))
    await run_turn(db=db, caller=maya, message="and bloom?", model=model, history=stored)
    answering, next_opening = fake.requests[1], fake.requests[2]

    def sent_result(request: FakeRequest) -> Any:
        [block] = [
            b for m in request.body["messages"] if isinstance(m["content"], list)
            for b in m["content"] if b.get("type") == "tool_result"
        ]  # fmt: skip
        content = block["content"]
        return json.loads(content if isinstance(content, str) else content[0]["text"])

    assert len(sent_result(answering)["rows"]) == 3  # the turn's own request: the full result
    assert sent_result(next_opening) == {
        "summary": call.result["summary"],
        "note": "Summarised (answered earlier); the person has the full result. Call the tool again for its rows.",
    }


async def test_a_thread_too_long_for_the_model_is_refused_with_a_clear_message(
    fake: FakeAnthropic, db: Database, maya: Caller
) -> None:
    long_answer = "Spend moved from the question hooks to the offer ads. " * 300  # ~16,500 characters
    history: list[ModelMessage] = []
    for i in range(10):
        history += [
            ModelRequest(parts=[UserPromptPart(content=f"question {i}")]),
            ModelResponse(parts=[TextPart(content=long_answer)]),
        ]
    turn = await run_turn(db=db, caller=maya, message="and now?", model=model_on(fake), history=history)
    tokens = len(ModelMessagesTypeAdapter.dump_json(history)) // 4
    assert 40_000 < tokens < 45_000
    assert turn.text == (
        f"This chat has grown too long for me to keep reading (about {tokens:,} tokens of conversation;"
        " the limit is 40,000). Please start a new chat to go on: this one stays in your history with its"
        " tables and charts. Slash commands still work here."
    )
    assert fake.requests == [] and turn.messages == history  # nothing sent, nothing added
    shown = await run_turn(db=db, caller=maya, message="/brands", model=model_on(fake), history=history)
    assert shown.tool_calls[0].tool == "brands" and shown.tool_calls[0].error is None


async def test_gemini_gets_a_stable_prefix_and_an_answers_budget(db: Database, maya: Caller) -> None:
    from fakes import gemini_api

    with models.override_allow_model_requests(True), gemini_api.FakeGemini(lambda r: gemini_api.Reply.say("Hi.")) as fake:  # fmt: skip
        settings = Settings(_env_file=None, GEMINI_API_KEY=gemini_api.API_KEY, GEMINI_BASE_URL=fake.url)  # type: ignore[call-arg]
        model = chat_model(settings)
        first = await run_turn(db=db, caller=maya, message="hello", model=model)
        await run_turn(db=db, caller=maya, message="again", model=model, history=first.messages)
    one, two = (r.body for r in fake.requests)
    assert one["generationConfig"]["maxOutputTokens"] == 8192  # thinking counts in Gemini 2.5's budget
    # Its implicit cache reads a repeated prefix: the same instructions and tools, the turn's context last.
    system = "\n".join(p["text"] for p in one["systemInstruction"]["parts"])
    assert system.startswith(load_prompt("system").text) and "Today is " in system
    assert system.index("Today is ") > len(load_prompt("system").text)
    assert (one["systemInstruction"], one["tools"]) == (two["systemInstruction"], two["tools"])
    assert two["contents"][: len(one["contents"])] == one["contents"]
