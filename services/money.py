"""Money as the ad account keeps it: its currency (ISO 4217), shown with Babel in the organization's
locale, and Meta's minor units for writes.

Which currency a figure is in is set once per brand (`shown_in`, by the tool layer once the brand is
resolved) and read wherever money is formatted, so the services' sentences and the results' tables
need no currency argument at every call. A result made under it keeps it (`InCurrency`), since the
chat, Slack and MCP draw its tables after the tool has returned.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from copy import copy
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency, get_currency_precision, list_currencies
from pydantic import BaseModel, Field

from core.errors import InvalidArgument

DEFAULT_CURRENCY = "USD"
DEFAULT_LOCALE = "en_US"


@dataclass(frozen=True)
class Money:
    """The currency figures are in, and the locale whose separators they are shown with."""

    currency: str = DEFAULT_CURRENCY
    locale: str = DEFAULT_LOCALE


_DEFAULT = Money()
_SHOWN: ContextVar[Money] = ContextVar("money_shown")


def current() -> Money:
    return _SHOWN.get(_DEFAULT)


@contextmanager
def shown_in(money: Money) -> Iterator[Money]:
    """Figures formatted inside are in this currency and locale; the one before comes back after."""
    token = _SHOWN.set(money)
    try:
        yield money
    finally:
        _SHOWN.reset(token)


def use(money: Money) -> None:
    """From here to the end of the current `shown_in` block (a tool call's), figures are in `money`."""
    _SHOWN.set(money)


def format_money(value: float | Decimal, *, whole: bool = False, money: Money | None = None) -> str:
    """$1,234.50, €1.234,50 or ¥1,235 (JPY has no minor unit); `whole` drops the minor units."""
    m = money or current()
    # A float's exact binary value, so it rounds as Python's own f"{x:,.2f}" always did.
    value = Decimal(value) if isinstance(value, float) else value
    if whole:
        pattern = copy(Locale.parse(m.locale).currency_formats["standard"])
        pattern.frac_prec = (0, 0)  # the locale's own pattern (symbol before or after), no minor units
        return pattern.apply(value, Locale.parse(m.locale), currency=m.currency, currency_digits=False)
    return format_currency(value, m.currency, locale=m.locale)


def currency_symbol(money: Money | None = None) -> str:
    """'$', '€', '¥': for an axis label ("Spend ($)") and a chart's tick prefix."""
    m = money or current()
    return Locale.parse(m.locale).currency_symbols.get(m.currency, m.currency)


def checked_currency(code: str) -> str:
    """An ISO 4217 code in capitals, or a message naming what was given."""
    upper = code.strip().upper()
    if upper not in _KNOWN:
        raise InvalidArgument(f"'{code}' is not a currency code (ISO 4217, like EUR, USD or JPY).")
    return upper


def checked_locale(name: str) -> str:
    """A locale Babel knows ('de_DE', 'en-GB'), normalised, or a message naming what was given."""
    try:
        return str(Locale.parse(name.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError):
        raise InvalidArgument(f"'{name}' is not a locale (like en_US, de_DE or fr_FR).") from None


_KNOWN = frozenset(list_currencies())


def minor_units(currency: str) -> int:
    """Digits after the decimal point Meta's API counts in: 2 for USD and EUR, 0 for JPY and KRW."""
    return int(get_currency_precision(currency))


def to_minor(amount: Decimal, currency: str) -> int:
    """An amount in Meta's API units (cents for USD, yen for JPY): budgets are written this way."""
    return int((amount * 10 ** minor_units(currency)).to_integral_value(ROUND_HALF_UP))


def from_minor(units: int, currency: str) -> Decimal:
    """Meta's API units back to an amount (2500 USD cents -> 25.00; 2500 JPY -> 2500)."""
    return Decimal(units).scaleb(-minor_units(currency))


# Meta's minimum daily budget for an ad set billed on impressions, in the account's currency.
MIN_DAILY_BUDGET: dict[str, Decimal] = {
    "USD": Decimal("1.00"), "EUR": Decimal("1.00"), "GBP": Decimal("1.00"), "CAD": Decimal("1.00"),
    "AUD": Decimal("1.00"), "NZD": Decimal("1.00"), "CHF": Decimal("1.00"), "SGD": Decimal("1.00"),
    "SEK": Decimal("10"), "NOK": Decimal("10"), "DKK": Decimal("10"), "JPY": Decimal("100"),
    "KRW": Decimal("1000"), "INR": Decimal("40"), "BRL": Decimal("1.00"), "MXN": Decimal("10"),
}  # fmt: skip


def min_daily_budget(currency: str) -> Decimal:
    """The smallest daily budget Meta takes in this currency; refused for a currency not in the table."""
    if currency not in MIN_DAILY_BUDGET:
        raise InvalidArgument(
            f"No minimum daily budget is known for {currency}; set the budget in Ads Manager."
        )
    return MIN_DAILY_BUDGET[currency]


def _shown_currency() -> str:
    return current().currency


def _shown_locale() -> str:
    return current().locale


class InCurrency(BaseModel):
    """Mixed into a result that holds money: the currency its figures are in (what MCP clients and the
    model read beside the numbers), and the locale its tables are drawn in (not sent to anyone)."""

    currency: str = Field(default_factory=_shown_currency)
    money_locale: str = Field(default_factory=_shown_locale, exclude=True)

    @property
    def money(self) -> Money:
        return Money(self.currency, self.money_locale)
