"""The slash grammar shared by chat, the CLI and the offline model.

`/tool key:value key:"quoted value"` (also `key=value`); `/help`; `/help TOOL`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import ValidationError
from rapidfuzz import process

from services.errors import InvalidArgument, NotFound
from tools.registry import ToolSpec, all_specs, get_spec


@dataclass
class SlashCommand:
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    """Validated arguments in JSON form (only those the person gave)."""


def is_slash(text: str) -> bool:
    return text.lstrip().startswith("/")


def _unknown_tool(name: str) -> NotFound:
    names = [s.name for s in all_specs()]
    close = process.extractOne(name, names, score_cutoff=70)
    hint = f" Did you mean /{close[0]}?" if close else ""
    return NotFound(f"Unknown command '/{name}'.{hint} Type /help for the list.")


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as error:
        raise InvalidArgument(f"Couldn't read that command: {error} (check the quotes).") from error


def _choices(annotation: Any) -> list[str]:
    out: list[str] = []
    for arg in get_args(annotation):
        out.extend(_choices(arg) if get_args(arg) else [arg] if isinstance(arg, str) else [])
    return out


def _explain(spec: ToolSpec, error: ValidationError, given: dict[str, str]) -> str:
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
    if kind.startswith("int_"):
        return f"{name} must be a whole number (got '{got}')."
    if kind.startswith("float_"):
        return f"{name} must be a number (got '{got}')."
    if kind.startswith("date_"):
        return f"{name} must be a date like 2026-01-31 (got '{got}')."
    return f"{name}: {e['msg']} (got '{got}')."


def parse_slash(text: str) -> SlashCommand:
    """Parse and validate a slash command, or raise a user-facing error saying exactly what is wrong."""
    tokens = _split(text.strip()[1:])
    if not tokens:
        raise InvalidArgument("Type a command after '/', e.g. /help.")
    name, rest = tokens[0].lower(), tokens[1:]
    if name == "help":
        return SlashCommand(tool="help", args={"tool": rest[0].lstrip("/")} if rest else {})
    spec = get_spec(name)
    if spec is None:
        raise _unknown_tool(name)
    given: dict[str, str] = {}
    for i, token in enumerate(rest):
        cut = min((p for p in (token.find(":"), token.find("=")) if p > 0), default=-1)
        if cut < 0:
            # A bare first word is the first required argument, else the first one: /top_hooks "Acme Pets",
            # /jobs failed.
            first = spec.required[0] if spec.required else next(iter(spec.arguments), None)
            if i == 0 and first is not None:
                given[first] = token
                continue
            raise InvalidArgument(f"Couldn't read '{token}': write key:value, e.g. {spec.example}")
        key, value = token[:cut].strip().lower(), token[cut + 1 :].strip()
        key = dict(spec.aliases).get(key, key)
        if not value:
            raise InvalidArgument(f"{key} has no value: write {key}:VALUE.")
        if key in given:
            raise InvalidArgument(f"{key} is given twice.")
        given[key] = value
    try:
        validated = spec.args_model.model_validate(given)
    except ValidationError as error:
        raise InvalidArgument(_explain(spec, error, given)) from None
    return SlashCommand(tool=spec.name, args=validated.model_dump(mode="json", exclude_unset=True))


CATALOGUE = (
    "brands",
    "ad_performance",
    "top_hooks",
    "hook_analysis",
    "congruence_check",
    "congruence_summary",
    "deep_analysis",
    "meta_status",
    "meta_account",
    "connect_meta",
    "sync_meta",
    "jobs",
    "notifications",
)


def ordered_specs() -> list[ToolSpec]:
    specs = {s.name: s for s in all_specs()}
    return [specs[n] for n in CATALOGUE if n in specs] + [s for n, s in specs.items() if n not in CATALOGUE]


def help_text(tool: str | None = None) -> str:
    """`/help` (every tool) or `/help TOOL` (its arguments and an example)."""
    if tool:
        spec = get_spec(tool.lower())
        if spec is None:
            raise _unknown_tool(tool)
        lines = [f"/{spec.name} — {spec.short_description}", "", "Arguments:"]
        for pname, f in spec.args_model.model_fields.items():
            need = "required" if f.is_required() else f"default {f.default!r}"
            lines.append(f"  {pname} ({need})")
        lines += ["", f"Example: {spec.example}"]
        return "\n".join(lines)
    lines = ["Commands (type /help COMMAND for its arguments):"]
    lines += [f"  /{s.name} — {s.short_description}" for s in ordered_specs()]
    lines += [
        "",
        'Arguments are key:value or key:"quoted value"; windows are days:N (the N full days before today)',
        "or since:YYYY-MM-DD until:YYYY-MM-DD.",
    ]
    return "\n".join(lines)
