"""What every tool run gets from the pipeline (never from the model): who is asking, and the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from db.pool import Caller, Database


@dataclass
class Deps:
    db: Database
    caller: Caller
    today: date
