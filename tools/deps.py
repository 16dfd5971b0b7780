"""What every tool run gets from the pipeline (never from the model): who is asking, and the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from db.pool import Caller, Database


@dataclass
class Deps:
    db: Database
    caller: Caller
    today: date
    # The caller's brand names, looked up once per run (the instructions are rebuilt per model request).
    brand_names: list[str] | None = field(default=None, repr=False)
    progress: Callable[[str | None, str], None] | None = field(default=None, repr=False)
    """(tool call id, message): a long tool says how far it is ("Scored 40 of 100 templates"); the chat
    shows it on that tool's step. None where nobody watches (CLI, tests)."""

    def report(self, call_id: str | None, message: str) -> None:
        if self.progress is not None:
            self.progress(call_id, message)
