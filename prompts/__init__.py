"""Prompt texts live in this folder as .md files; the first line carries the version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_DIR = Path(__file__).resolve().parent
_VERSION = re.compile(r"^<!--\s*version:\s*(\S+)\s*-->\s*\n")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: str
    text: str


@cache
def load_prompt(name: str) -> Prompt:
    raw = (_DIR / f"{name}.md").read_text(encoding="utf-8")
    match = _VERSION.match(raw)
    version = match.group(1) if match else "0"
    text = raw[match.end() :] if match else raw
    return Prompt(name=name, version=f"{name}-{version}", text=text.strip())
