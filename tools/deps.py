"""What every tool run gets from the pipeline (never from the model): who is asking, and the database."""

from __future__ import annotations

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
