"""With tracing on, agent runs, tool calls and SQL are traced, and secrets never appear in a span."""

from __future__ import annotations

import json

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agent.runner import run_turn
from db.pool import Caller, Database
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
    spans = exporter.get_finished_spans()
    names = [s.name for s in spans]
    assert any("agent run" in n or "invoke_agent" in n for n in names), names
    assert any("top_hooks" in n for n in names), names
    sql = [s for s in spans if s.attributes and "db.statement" in s.attributes]
    # the tool's own query (window sums come from the per-ad running totals)
    assert any("meta_ads_cumulative" in str(s.attributes["db.statement"]) for s in sql)  # type: ignore[index]
    dumped = json.dumps(
        [{"name": s.name, "attributes": dict(s.attributes or {})} for s in spans], default=str
    )
    assert "EAAB-very-secret" not in dumped and "sk-ant-secret" not in dumped
    assert '"sub"' not in dumped  # per-request JWT claims are bound parameters, never in statements
