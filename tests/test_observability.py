"""With tracing on, agent runs, tool calls and SQL are traced, and secrets never appear in a span."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic_ai import models

from agent.runner import run_turn
from db.pool import Caller, Database
from fakes.anthropic_api import API_KEY, FakeAnthropic, Reply
from services.llm.model_choice import chat_model
from services.platform.observability import configure_tracing
from settings import Settings


async def test_turns_are_traced_with_secrets_scrubbed(database_url: str, maya: Caller) -> None:
    exporter = InMemorySpanExporter()
    assert configure_tracing(Settings(), span_processors=[SimpleSpanProcessor(exporter)])
    import logfire

    # A secret passed as a span attribute (as a Meta token or API key would be) is scrubbed.
    with logfire.span("connect meta", access_token="EAAB-very-secret", api_key="sk-ant-secret"):
        pass
    async with Database(database_url, max_size=2) as traced_db:  # pools opened after tracing is on are traced
        await run_turn(db=traced_db, caller=maya, message='/top_hooks brand:"Acme Pets" days:30')
        with models.override_allow_model_requests(True), FakeAnthropic(lambda r: Reply.say("Hi.")) as fake:
            settings = Settings(_env_file=None, ANTHROPIC_API_KEY=API_KEY, ANTHROPIC_BASE_URL=fake.url)  # type: ignore[call-arg]
            await run_turn(db=traced_db, caller=maya, message="hello", model=chat_model(settings))
            [usage] = [r.usage for r in fake.requests]
    spans = exporter.get_finished_spans()
    # A model turn's span carries its tokens as the provider counted them.
    # (Pydantic-AI's own token metrics are scrubbed for the word "token": these names avoid it.)
    [turn] = [
        s
        for s in spans
        if (s.attributes or {}).get("logfire.msg") == "chat turn on anthropic:claude-sonnet-4-6"
    ]
    assert (
        usage is not None
        and dict(turn.attributes or {}).items()
        >= {
            "usage.requests": 1,
            "usage.uncached_input": usage["input_tokens"],
            "usage.cache_write": usage["cache_creation_input_tokens"],
            "usage.cache_read": usage["cache_read_input_tokens"],
            "usage.output": usage["output_tokens"],
        }.items()
    )
    names = [s.name for s in spans]
    assert any("agent run" in n or "invoke_agent" in n for n in names), names
    assert any("top_hooks" in n for n in names), names
    sql = [s for s in spans if s.attributes and "db.statement" in s.attributes]
    # the tool's own query (window sums come from the per-ad running totals)
    assert any("meta_ads_cumulative" in str(s.attributes["db.statement"]) for s in sql)  # type: ignore[index]
    dumped = json.dumps(
        [{"name": s.name, "attributes": dict(s.attributes or {})} for s in spans], default=str
    )
    assert "EAAB-very-secret" not in dumped and "sk-ant-secret" not in dumped and API_KEY not in dumped
    assert '"sub"' not in dumped  # per-request JWT claims are bound parameters, never in statements
