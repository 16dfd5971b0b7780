"""Text and numbers Postgres can keep: the one check every import and the chat share."""

from __future__ import annotations

from decimal import Decimal


def unstorable(text: str) -> str | None:
    """What in `text` Postgres can't store ("a NUL byte (\\x00)", or a lone half of a character that
    JSON escapes can carry), or None when all of it can be stored."""
    if "\x00" in text:
        return "a NUL byte (\\x00)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return f"\\u{ord(text[error.start]):04x} (half of a character)"
    return None


def numeric_max(precision: int, scale: int) -> Decimal:
    """The largest value a numeric(precision, scale) column holds (numeric(14, 2): 999,999,999,999.99)."""
    return Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)
