"""List prices of the chat models, per million tokens, for what a turn costs (`make bench-tokens`, /usage).

Anthropic and Google's published prices (December 2026; the same as genai-prices 0.2.5). Anthropic bills a
5-minute cache write at 1.25x input and a read at 0.1x; Gemini's implicit cache writes nothing extra.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    uncached_input: float
    cache_write: float
    cache_read: float
    output: float


PRICES: dict[str, Price] = {
    "claude-opus-4-1": Price(15.0, 18.75, 1.50, 75.0),
    "claude-opus-4-5": Price(5.0, 6.25, 0.50, 25.0),
    "claude-opus-4-6": Price(5.0, 6.25, 0.50, 25.0),
    "claude-sonnet-4-5": Price(3.0, 3.75, 0.30, 15.0),
    "claude-sonnet-4-6": Price(3.0, 3.75, 0.30, 15.0),
    "claude-haiku-4-5": Price(1.0, 1.25, 0.10, 5.0),
    "gemini-2.5-flash": Price(0.30, 0.30, 0.03, 2.50),
    "gemini-2.5-pro": Price(1.25, 1.25, 0.125, 10.0),
}


def price_of(model: str) -> Price | None:
    """The price of `model` (`anthropic:claude-sonnet-4-6`, a dated snapshot too), or None if unlisted."""
    bare = model.split(":", 1)[-1]
    found = [name for name in PRICES if bare.startswith(name)]
    return PRICES[max(found, key=len)] if found else None


def cost_usd(
    *, model: str, uncached_input: int, cache_write: int, cache_read: int, output: int
) -> float | None:
    """What these tokens cost at `model`'s list price, in US dollars (None for an unlisted model)."""
    price = price_of(model)
    if price is None:
        return None
    return (
        uncached_input * price.uncached_input
        + cache_write * price.cache_write
        + cache_read * price.cache_read
        + output * price.output
    ) / 1_000_000
