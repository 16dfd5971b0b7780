"""A tool's arguments refused in one clear sentence, the same in chat, slash commands, MCP and for the model."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, get_args

from pydantic import ValidationError

if TYPE_CHECKING:
    from tools.registry import ToolSpec

RANGES = ("greater_than_equal", "less_than_equal", "greater_than", "less_than")
"""Pydantic's error types for a value outside a `Field(ge=…, le=…)` limit."""


def _choices(annotation: Any) -> list[str]:
    out: list[str] = []
    for arg in get_args(annotation):
        out.extend(_choices(arg) if get_args(arg) else [arg] if isinstance(arg, str) else [])
    return out


def explain(spec: ToolSpec, error: ValidationError, given: dict[str, str]) -> str:
    """One clear sentence for the first thing wrong with the arguments."""
    e = error.errors()[0]
    name = str(e["loc"][0]) if e["loc"] else ""
    got = given.get(name, "")
    if len(got) > 60:  # a pasted wall of digits is named, not echoed whole
        got = f"{got[:40]}… ({len(got):,} characters)"
    kind = e["type"]
    if kind == "extra_forbidden":
        takes = ", ".join(spec.arguments) or "no arguments"
        return f"Unknown argument '{name}' for /{spec.name}. It takes: {takes}."
    if kind == "missing":
        return f"/{spec.name} needs {name}. Example: {spec.example}"
    if kind == "literal_error":
        annotation = spec.args_model.model_fields[name].annotation
        return f"{name} must be one of: {', '.join(_choices(annotation))} (got '{got}')."
    if kind in RANGES:
        return _out_of_range(spec, name, e["input"])
    if kind.startswith("int_"):
        return f"{name} must be a whole number (got '{got}')."
    if kind.startswith("float_"):
        return f"{name} must be a number (got '{got}')."
    if kind.startswith("date_"):
        return f"{name} must be a date like 2026-01-31 (got '{got}')."
    return f"{name}: {e['msg']} (got '{got}')."


def _out_of_range(spec: ToolSpec, name: str, value: Any) -> str:
    """'days must be between 1 and 730 (got 0).': both limits, read from the schema the model sees."""
    got = _number(value)
    if got == "nan":
        return f"{name} must be a number (got nan)."
    low, high = limits(spec.args_model.model_json_schema()["properties"][name])
    if low is not None and high is not None:
        return f"{name} must be between {_bound(low)} and {_bound(high)} (got {got})."
    if low is not None:
        return f"{name} must be at least {_bound(low)} (got {got})."
    return f"{name} must be at most {_bound(high)} (got {got})."


def limits(schema: dict[str, Any]) -> tuple[float | None, float | None]:
    """An argument's (minimum, maximum) in its JSON schema (inside `anyOf` for an optional one)."""
    for part in [schema, *schema.get("anyOf", [])]:
        low = part.get("minimum", part.get("exclusiveMinimum"))
        high = part.get("maximum", part.get("exclusiveMaximum"))
        if low is not None or high is not None:
            return low, high
    return None, None


def _bound(value: float | None) -> str:
    """730, 100, 999,999,999,999.99."""
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,}"
    return str(int(value or 0))


def _number(value: Any) -> str:
    """The value as typed, short: '0', '120', '1e+40' for forty nines, 'inf' for 1e400."""
    text = str(value).strip()
    if isinstance(value, int) or (text.lstrip("-").isdigit() and len(text) <= 15):
        return str(int(value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return text
    if math.isfinite(number) and number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"
