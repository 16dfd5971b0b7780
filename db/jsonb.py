"""The one way a value is written into a JSON/JSONB column: pydantic's JSON mode, never ad hoc."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb
from pydantic import BaseModel
from pydantic_core import to_jsonable_python


def jsonb(value: BaseModel | Any) -> Jsonb:
    """A JSONB parameter: models as `model_dump(mode="json")`, and the same conversions (dates, UUIDs,
    decimals, nested models) for dicts and lists."""
    if isinstance(value, BaseModel):
        return Jsonb(value.model_dump(mode="json"))
    return Jsonb(to_jsonable_python(value))
