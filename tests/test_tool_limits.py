"""A tool's limits live in its signature: the model and MCP clients read them in the schema, and an
out-of-range value is refused by name, with the allowed range, the same in chat, slash and MCP."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.types import TextContent
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agent.mcp_server import call_tool, tool_definitions
from agent.runner import run_turn
from db.pool import Caller, Database
from tools.arguments import limits
from tools.registry import agent_tools

# Every number a tool takes, with the range it allows.
LIMITS = {
    ("create_ads", "count"): (1, 20),
    ("top_hooks", "days"): (1, 730),
    ("top_hooks", "min_spend"): (0, 999_999_999_999.99),
    ("top_hooks", "limit"): (1, 100),
    ("hook_analysis", "days"): (1, 730),
    ("hook_analysis", "min_spend"): (0, 999_999_999_999.99),
    ("congruence_check", "days"): (1, 730),
    ("congruence_check", "limit"): (1, 50),
    ("congruence_summary", "days"): (1, 730),
    ("deep_analysis", "days"): (1, 730),
    ("jobs", "limit"): (1, 100),
    ("landing_page_analyses", "limit"): (1, 100),
    ("sync_meta", "days"): (1, 730),
    ("notifications", "limit"): (1, 100),
    ("products", "price"): (0, 1_000_000),
    ("ad_performance", "days"): (1, 730),
    ("ad_performance", "min_spend"): (0, 999_999_999_999.99),
    ("ad_performance", "limit"): (1, 100),
    ("fatigue", "days"): (1, 730),
    ("fatigue", "min_spend"): (0, 999_999_999_999.99),
    ("summary", "days"): (1, 730),
    ("compare", "days"): (1, 730),
    ("compare", "min_spend"): (0, 999_999_999_999.99),
    ("research_reddit", "limit"): (1, 100),
    ("competitor_ads", "limit"): (1, 500),
    ("recommend_templates", "limit"): (1, 50),
    ("recommend_templates", "days"): (1, 730),
    ("templates", "limit"): (1, 100),
    ("template_auto", "threshold"): (0, 100),
    ("set_budget", "daily"): (0, 999_999_999_999.99),
    ("set_budget", "lifetime"): (0, 999_999_999_999.99),
    ("actions", "limit"): (1, 100),
}


def _numbers(schema: dict[str, Any]) -> dict[str, tuple[float | None, float | None]]:
    """Each integer or number argument in a tool's schema, with its (minimum, maximum)."""
    out = {}
    for name, prop in schema["properties"].items():
        if any(part.get("type") in ("integer", "number") for part in [prop, *prop.get("anyOf", [])]):
            out[name] = limits(prop)
    return out


def test_every_number_a_tool_takes_has_its_limits_in_the_schema() -> None:
    as_the_model_sees = {
        (t.name, arg): bounds
        for t in agent_tools()
        for arg, bounds in _numbers(t.tool_def.parameters_json_schema).items()
    }
    as_mcp_lists = {
        (t.name, arg): bounds for t in tool_definitions() for arg, bounds in _numbers(t.inputSchema).items()
    }
    assert as_the_model_sees == LIMITS
    assert as_mcp_lists == LIMITS


OUT_OF_RANGE = [
    ("top_hooks", "days", 0, "days must be between 1 and 730 (got 0)."),
    ("top_hooks", "days", 1000, "days must be between 1 and 730 (got 1000)."),
    ("congruence_check", "limit", 51, "limit must be between 1 and 50 (got 51)."),
    ("competitor_ads", "limit", 501, "limit must be between 1 and 500 (got 501)."),
    ("ad_performance", "min_spend", -5, "min_spend must be between 0 and 999,999,999,999.99 (got -5)."),
]


@pytest.mark.parametrize(("tool", "argument", "value", "message"), OUT_OF_RANGE)
async def test_out_of_range_is_refused_by_name_in_slash_mcp_and_for_the_model(
    db: Database, maya: Caller, tool: str, argument: str, value: int, message: str
) -> None:
    arguments: dict[str, Any] = {"brand": "Acme Pets", argument: value}

    slash = await run_turn(db=db, caller=maya, message=f'/{tool} brand:"Acme Pets" {argument}:{value}')
    assert slash.refused and slash.text == message

    mcp = await call_tool(db=db, caller=maya, name=tool, arguments=arguments)
    assert mcp.isError is True
    assert [c.text for c in mcp.content if isinstance(c, TextContent)] == [message]

    heard: list[Any] = []
    schemas: list[dict[str, Any]] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        last = messages[-1]
        assert isinstance(last, ModelRequest)
        retries = [p for p in last.parts if isinstance(p, ToolReturnPart) and p.outcome == "retried"]
        if retries:
            heard.extend(p.content for p in retries)
            return ModelResponse(parts=[TextPart("Noted.")])
        schemas.extend(t.parameters_json_schema for t in info.function_tools if t.name == tool)
        return ModelResponse(parts=[ToolCallPart(tool_name=tool, args=arguments)])

    answered = await run_turn(db=db, caller=maya, message="go", model=FunctionModel(model))
    assert answered.text == "Noted."
    assert heard == [message]
    [schema] = schemas
    assert _numbers(schema)[argument] == LIMITS[(tool, argument)]
