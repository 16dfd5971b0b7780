"""Tool schemas as the model reads them: the registry's, without what costs tokens and says nothing.

An optional argument whose default is null is sent as its own type (leaving it out means null), and a
`"default": null` is dropped, and so is the top level's `"additionalProperties": false` (an unknown
argument is refused by name anyway); limits stay (the model sees them, tests/test_tool_limits.py). Calls
are still checked against the full signature (`ToolSpec.parse`), so nothing the model sends changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from pydantic_ai import RunContext
from pydantic_ai.tools import ToolDefinition

NULL = {"type": "null"}


def compact_schema(schema: Any) -> Any:
    """The same JSON schema in fewer tokens (see the module's docstring)."""
    if isinstance(schema, list):
        return [compact_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    choices = schema.get("anyOf")
    if (
        isinstance(choices, list)
        and len(choices) == 2
        and NULL in choices
        and schema.get("default", 0) is None
    ):
        [kept] = [c for c in choices if c != NULL]
        rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
        return compact_schema({**kept, **rest})
    return {
        key: compact_schema(value)
        for key, value in schema.items()
        if not (key == "default" and value is None)
    }


async def compact_tools(ctx: RunContext[Any], definitions: list[ToolDefinition]) -> list[ToolDefinition]:
    """Every tool definition with its schema compacted, in the same order (a stable cached prefix)."""
    return [
        replace(d, parameters_json_schema=_open(compact_schema(d.parameters_json_schema)))
        for d in definitions
    ]


def _open(schema: dict[str, Any]) -> dict[str, Any]:
    """The arguments' schema without `"additionalProperties": false`: 8 tokens a tool, and `parse` refuses
    an unknown argument by name ('Unknown argument 'x' for /tool. It takes: …')."""
    return {k: v for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
