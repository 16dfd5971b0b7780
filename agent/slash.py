"""The slash grammar shared by chat, the CLI and the offline model.

`/tool key:value key:"quoted value"` (also `key=value`); `/help`; `/help TOOL`.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from rapidfuzz import process

from core.errors import InvalidArgument, NotFound
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


def _choice_argument(spec: ToolSpec, word: str) -> str | None:
    """The argument that takes `word` as one of its fixed choices (a Literal), if exactly one does."""
    found = [
        name
        for name, field in spec.args_model.model_fields.items()
        if word.lower() in _choices(field.annotation)
    ]
    return found[0] if len(found) == 1 else None


def _choices(annotation: Any) -> set[str]:
    if get_origin(annotation) is Literal:
        return {str(a).lower() for a in get_args(annotation)}
    return {c for a in get_args(annotation) for c in _choices(a)}  # Optional[Literal[...]], Annotated


def parse_slash(text: str, *, brand: str | None = None) -> SlashCommand:
    """Parse and validate a slash command, or raise a user-facing error saying exactly what is wrong.

    `brand` is the thread's brand: a command that needs a brand and names none gets it."""
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
            # A bare first word is the argument whose choices name it (/schedules create, /products add),
            # else the first required argument, else the first one: /top_hooks "Acme Pets", /jobs failed.
            first = _choice_argument(spec, token) or (
                spec.required[0] if spec.required else next(iter(spec.arguments), None)
            )
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
    if brand and "brand" in spec.required and "brand" not in given:
        given["brand"] = brand
    validated = spec.parse(given)
    return SlashCommand(tool=spec.name, args=validated.model_dump(mode="json", exclude_unset=True))


CATALOGUE = (
    "brands",
    "ad_performance",
    "summary",
    "compare",
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
        lines = [f"/{spec.name} — {spec.short_description}", ""]
        lines += [spec.help, ""] if spec.help else []
        lines.append("Arguments:")
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
