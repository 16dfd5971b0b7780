"""What every tool run gets from the pipeline (never from the model): who is asking, and the database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from db.pool import Caller, Database
from settings import Settings


@dataclass
class Deps:
    db: Database
    caller: Caller
    today: date
    """The person's today; inside a tool about a brand, the brand's (its ad accounts' timezone)."""
    settings: Settings = field(repr=False)
    # The caller's brand names, looked up once per run (the instructions are rebuilt per model request).
    brand_names: list[str] | None = field(default=None, repr=False)
    brand_zones: dict[str, str] = field(default_factory=dict, repr=False)
    """Brands whose days are another timezone's than the person's (their accounts'), by name."""
    thread_brand: str | None = None
    """The brand this chat is about (its brand picker): the model uses it when the person names none."""
    progress: Callable[[str | None, str], None] | None = field(default=None, repr=False)
    """(tool call id, message): a long tool says how far it is ("Scored 40 of 100 templates"); the chat
    shows it on that tool's step. None where nobody watches (CLI, tests)."""
    tool_call_id: str | None = None
    """The call a tool is answering (the registry sets it per call): its progress goes on that call's step."""
    now: datetime | None = None
    """The turn's clock (UTC), from which a brand's today is read in its timezone; None: `today` for all."""
    timezone: str | None = None
    """The brand's timezone when `today` was read in it and it is not the person's (answers say so)."""
    reads_images: bool = False
    """Whether the model reads images a tool adds to its result (`services.llm.model_choice.reads_images`)."""

    def report(self, message: str) -> None:
        if self.progress is not None:
            self.progress(self.tool_call_id, message)
