"""A brand's reporting currency and timezone, which follow from its ad accounts and imports, and the
dated rates an organization keeps to convert an account in another currency (never guessed)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel

from core.errors import InvalidArgument
from db.pool import Conn
from services.models import BrandRef
from services.money import checked_currency
from services.windows import Window


async def has_rates(conn: Conn, *, organization_id: UUID, from_currency: str, to_currency: str) -> bool:
    cur = await conn.execute(
        "select 1 from currency_rates where organization_id = %s and from_currency = %s and to_currency = %s"
        " limit 1",
        (organization_id, from_currency, to_currency),
    )
    return await cur.fetchone() is not None


async def adopt_account_money(
    conn: Conn, *, brand: BrandRef, currency: str | None, timezone: str | None, what: str, refused: str
) -> None:
    """Make the account's currency and timezone the brand's when it has none yet; refuse (`what`, e.g.
    "Ad account act_1 is", and what `refused` nothing happened) one in another currency unless the
    organization keeps rates from it to the brand's."""
    other = currency is not None and brand.currency is not None and currency != brand.currency
    if other and not await has_rates(
        conn,
        organization_id=brand.organization_id,
        from_currency=str(currency),
        to_currency=str(brand.currency),
    ):
        raise InvalidArgument(
            f"{what} in {currency}, but {brand.name}'s figures are in {brand.currency}: amounts in two"
            f" currencies can't be added up, so {refused}. Use a brand of its own for it, or load dated"
            f" {currency} to {brand.currency} rates with: viraltracker rates load FILE.csv --org ORGANIZATION"
        )
    await conn.execute(
        "update brands set currency = coalesce(currency, %s), timezone = coalesce(timezone, %s) where id = %s",
        (currency, timezone, brand.id),
    )


@dataclass(frozen=True)
class Conversion:
    """What a brand's window holds in currencies other than its own, converted with the organization's
    rates: the amounts to add to the plain sums, or the currency and day no rate covers."""

    spend: Decimal = Decimal(0)
    purchase_value: Decimal = Decimal(0)
    missing: tuple[str, date] | None = None


async def conversion(conn: Conn, *, brand: BrandRef, window: Window) -> Conversion:
    """How the brand's plain sums over the window change when each account's days are converted to the
    brand's currency at the latest rate on or before the day (nothing for a one-currency brand)."""
    if brand.currency is None:
        return Conversion()
    cur = await conn.execute(
        "select a.currency, p.date, sum(p.spend) as spend, sum(p.purchase_value) as purchase_value,"
        " (select r.rate from currency_rates r where r.organization_id = a.organization_id"
        "  and r.from_currency = a.currency and r.to_currency = %(currency)s and r.day <= p.date"
        "  order by r.day desc limit 1) as rate"
        " from brand_ad_accounts a join meta_ads m on m.meta_ad_account_id = a.meta_ad_account_id"
        " and m.brand_id = a.brand_id"
        " join meta_ads_performance p on p.meta_ad_id = m.meta_ad_id"
        " where a.brand_id = %(brand)s and a.currency <> %(currency)s and p.date between %(since)s and %(until)s"
        " group by a.currency, a.organization_id, p.date order by p.date",
        {"brand": brand.id, "currency": brand.currency, "since": window.since, "until": window.until},
    )
    spend = value = Decimal(0)
    for row in await cur.fetchall():
        if row["rate"] is None:
            return Conversion(missing=(str(row["currency"]), row["date"]))
        spend += row["spend"] * (row["rate"] - 1)
        value += row["purchase_value"] * (row["rate"] - 1)
    return Conversion(spend=spend, purchase_value=value)


class RatesLoaded(BaseModel):
    organization: str
    rates: int
    pairs: list[str]
    since: date
    until: date

    @property
    def summary(self) -> str:
        return (
            f"Loaded {self.rates} rate(s) for {self.organization} ({', '.join(self.pairs)}),"
            f" {self.since} to {self.until}."
        )


MAX_RATE_ROWS = 100_000


def read_rates(path: Path) -> list[tuple[date, str, str, Decimal]]:
    """Rows of `day,from,to,rate` (a header row first): 1 `from` = `rate` `to` on `day`."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            records = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InvalidArgument(f"Can't read {path} as a CSV file ({exc}).") from None
    header = [h.strip().lower() for h in records[0]] if records else []
    if header != ["day", "from", "to", "rate"]:
        raise InvalidArgument(f"{path} must start with the header day,from,to,rate.")
    if not 1 < len(records) <= MAX_RATE_ROWS + 1:
        raise InvalidArgument(f"{path} must hold between 1 and {MAX_RATE_ROWS:,} rates.")
    rows = []
    for n, record in enumerate(records[1:], start=2):
        try:
            day, source, target, rate = (c.strip() for c in record)
            parsed = (
                date.fromisoformat(day),
                checked_currency(source),
                checked_currency(target),
                Decimal(rate),
            )
        except (ValueError, InvalidOperation):
            raise InvalidArgument(
                f"Row {n} of {path} is not day,from,to,rate (like 2026-12-01,EUR,USD,1.08)."
            ) from None
        if not parsed[3] > 0 or parsed[1] == parsed[2]:
            raise InvalidArgument(
                f"Row {n} of {path}: a rate is above 0 and between two different currencies."
            )
        rows.append(parsed)
    return rows


async def load_rates(conn: Conn, *, organization_id: UUID, organization: str, path: Path) -> RatesLoaded:
    """Store (or replace, per day and pair) the organization's rates from a CSV file, all or nothing."""
    rows = read_rates(path)
    async with conn.cursor() as cur:
        await cur.executemany(
            "insert into currency_rates (organization_id, day, from_currency, to_currency, rate)"
            " values (%s, %s, %s, %s, %s) on conflict (organization_id, from_currency, to_currency, day)"
            " do update set rate = excluded.rate",
            [(organization_id, *row) for row in rows],
        )
    return RatesLoaded(
        organization=organization,
        rates=len(rows),
        pairs=sorted({f"{f} to {t}" for _, f, t, _ in rows}),
        since=min(r[0] for r in rows),
        until=max(r[0] for r in rows),
    )
