"""Import an Ads Manager CSV export (ad level, broken down by day) into meta_ads and its daily rows."""

from __future__ import annotations

import asyncio
import csv
import re
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from pydantic import BaseModel

from core.errors import InvalidArgument, NotFound
from db.pool import Conn, Database
from services.brands import brand_by_id
from services.currencies import adopt_account_money
from services.meta.generated_links import link_generated_ads, links_phrase
from services.meta.product_matches import match_products
from services.meta.rows import canonical_url
from services.models import BrandRef
from services.money import checked_currency
from services.pipeline import queue_after_sync
from services.platform.accounts import find_organization
from services.storable import numeric_max, unstorable

CHUNK_ROWS = 5000

# Field -> accepted headers (lowercased, single-spaced), best first. Spend also matches "amount spent (XXX)".
_HEADERS: dict[str, tuple[str, ...]] = {
    "day": ("day", "date", "reporting starts"),
    "ad_id": ("ad id",),
    "ad_name": ("ad name",),
    "campaign": ("campaign name", "campaign"),
    "adset": ("ad set name", "adset name", "ad set"),
    "spend": ("amount spent", "spend"),
    "impressions": ("impressions",),
    "reach": ("reach",),
    "clicks": ("clicks (all)", "clicks"),
    "link_clicks": ("link clicks",),
    "add_to_carts": ("adds to cart", "website adds to cart"),
    "purchases": ("purchases", "website purchases"),
    "purchase_value": ("purchases conversion value", "website purchases conversion value"),
    "video_3s_views": ("3-second video plays", "3-second video views", "3 second video plays"),
    "video_thruplays": ("thruplays", "thruplay"),
    "video_p25": ("video plays at 25%",),
    "video_p50": ("video plays at 50%",),
    "video_p75": ("video plays at 75%",),
    "video_p100": ("video plays at 100%",),
    # The ad's copy, when the export includes Ads Manager's creative columns (what the classifier reads).
    "ad_copy": ("body", "body (ad settings)", "ad body", "primary text"),
    "headline": ("title", "title (ad settings)", "headline", "headline (ad settings)", "ad title"),
    "link": ("link", "link (ad settings)", "website url", "website url (ad settings)", "destination url"),
}
_COPY = ("ad_copy", "headline", "link")
_REQUIRED = {
    "day": "Day",
    "ad_id": "Ad ID",
    "ad_name": "Ad name",
    "spend": "Amount spent",
    "impressions": "Impressions",
}
_COUNTS = (
    "impressions", "reach", "clicks", "link_clicks", "add_to_carts", "purchases",
    "video_3s_views", "video_thruplays", "video_p25", "video_p50", "video_p75", "video_p100",
)  # fmt: skip
_METRICS = ("spend", *_COUNTS[:6], "purchase_value", *_COUNTS[6:])  # after meta_ad_id, date in a day row
_VIDEO_AT = tuple(i for i, field in enumerate(_METRICS) if field in _COUNTS[6:])

_SPEND_WITH_CURRENCY = re.compile(r"amount spent \(([a-z]{3})\)")
_NUMBER = re.compile(r"(\d{1,3}(,\d{3})+|\d+)(\.\d*)?|\.\d+")
_US_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?e\+\d+", re.IGNORECASE)
# What one day's cell may hold: spend and purchase value are numeric(14, 2); counts are bigint, kept
# well below its cap so that an ad's running totals (meta_ads_cumulative, bigint) can't overflow.
MONEY_MAX = numeric_max(14, 2)
COUNT_MAX = 10**15 - 1


class ImportSummary(BaseModel):
    """What an import did. rows_read counts every data row, including skipped total rows."""

    brand: str
    organization: str
    brand_created: bool
    rows_read: int
    ads_created: int
    ads_updated: int
    days_inserted: int
    days_updated: int
    since: date | None
    until: date | None
    currency: str | None
    converted_to: str | None = None
    """The brand's currency, when the export's amounts were converted to it (the organization's rates)."""
    ads_with_copy: int = 0
    """Ads whose copy or headline the export holds (what offline classification reads)."""
    queued: str = ""
    """What the import queued, in words ("Queued: classifying 3 new ads; …"), or ""."""
    generated_ads_linked: int = 0
    """Ads made here (/create_ads) whose live ad the export now names by its tracking id."""

    @property
    def links_line(self) -> str | None:
        return (
            f"Results came back for ads made here: {links_phrase(self.generated_ads_linked)}."
            if self.generated_ads_linked
            else None
        )


@dataclass
class _Ad:
    name: str
    campaign: str | None
    adset: str | None
    last_day: date
    ad_copy: str | None = None
    headline: str | None = None
    link: str | None = None
    """A web address (http/https) only; anything else in the column is not a landing page."""


@dataclass
class _Export:
    rows_read: int
    days: list[tuple[object, ...]]  # (meta_ad_id, date, *_METRICS)
    ads: dict[str, _Ad]
    video_ads: set[str]
    currency: str | None
    since: date
    until: date


def _header_key(header: str) -> str:
    return " ".join(header.lower().split())


def _map_columns(headers: list[str]) -> tuple[dict[str, int], str | None]:
    """Field -> column index for the fields present, and the spend currency if the header names one."""
    keys = [_header_key(h) for h in headers]
    columns: dict[str, int] = {}
    currency = None
    for field, variants in _HEADERS.items():
        for variant in variants:
            if variant in keys:
                columns[field] = keys.index(variant)
                break
    for i, key in enumerate(keys):
        if (m := _SPEND_WITH_CURRENCY.fullmatch(key)) and "spend" not in columns:
            columns["spend"], currency = i, m.group(1).upper()
    missing = [label for field, label in _REQUIRED.items() if field not in columns]
    if missing:
        message = (
            "This doesn't look like an Ads Manager daily ad-level export: "
            f"missing columns: {', '.join(missing)}."
        )
        if "day" not in columns:
            message += " Export with Breakdown → By time → Day."
        raise InvalidArgument(message)
    return columns, currency


def _bad_cell(row_no: int, header: str, value: str, expected: str) -> InvalidArgument:
    return InvalidArgument(f"Row {row_no}, column '{header}': '{value}' is not {expected}.")


def _parse_date(value: str, row_no: int, header: str) -> date:
    try:
        if _ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
        if m := _US_DATE.fullmatch(value):
            return date(int(m.group(3)), int(m.group(1)), int(m.group(2)))
    except ValueError:
        pass
    raise _bad_cell(row_no, header, value, "a date (expected YYYY-MM-DD or M/D/YYYY)")


def _parse_number(value: str, row_no: int, header: str, *, whole: bool) -> Decimal | int:
    if not value:
        return 0
    if value.isascii() and value.isdigit() and len(value) <= 12:  # the common case, fast (and in bounds)
        return int(value) if whole else Decimal(value)
    if value.isascii() and value.isdigit():
        number = Decimal(value)
    elif _NUMBER.fullmatch(value):
        number = Decimal(value.replace(",", ""))
    else:
        raise _bad_cell(row_no, header, value, "a number")
    if number > (COUNT_MAX if whole else MONEY_MAX):
        shown = value if len(value) <= 40 else f"{value[:12]}…({len(value)} characters)"
        limit = f"{COUNT_MAX:,}" if whole else f"{MONEY_MAX:,}"
        raise InvalidArgument(
            f"Row {row_no}, column '{header}': '{shown}' is more than a day can hold (at most {limit})."
        )
    if not whole:
        return number
    if number != number.to_integral_value():
        raise _bad_cell(row_no, header, value, "a whole number")
    return int(number)


def _text_cell(record: list[str], index: int | None, row_no: int, header: str) -> str:
    """A cell that is stored as text (ad ID, name, campaign, ad set): refused when Postgres can't hold it."""
    value = _cell(record, index)
    if (why := unstorable(value)) is not None:
        raise InvalidArgument(
            f"Row {row_no}, column '{header}' contains {why}, which can't be stored. "
            "Remove it and import again; nothing was imported."
        )
    return value


def _cell(record: list[str], index: int | None) -> str:
    return record[index].strip() if index is not None and index < len(record) else ""


def _read_export(path: Path) -> _Export:
    """Parse and check the whole file before anything touches the database."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            records = list(csv.reader(f))
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path} is not a UTF-8 CSV file. In Ads Manager use Export → CSV.") from exc
    except OSError as exc:
        raise InvalidArgument(f"Can't read {path}: {exc.strerror}.") from exc
    except csv.Error as exc:
        raise InvalidArgument(f"{path} is not a readable CSV file ({exc}).") from exc
    if not any(c.strip() for r in records for c in r):
        raise InvalidArgument(f"{path} is empty.")
    headers = records[0]
    columns, currency = _map_columns(headers)
    day_col = columns["day"]
    # Without a Day column, Reporting starts is the date, and Reporting ends must be the same day.
    by_start = _header_key(headers[day_col]) == "reporting starts"
    ends = next((i for i, h in enumerate(headers) if by_start and _header_key(h) == "reporting ends"), None)

    numeric = [
        (columns.get(f), headers[columns[f]] if f in columns else f, f in _COUNTS) for f in _METRICS
    ]  # a metric column the export lacks reads as blank, i.e. 0
    days: list[tuple[object, ...]] = []
    ads: dict[str, _Ad] = {}
    video_ads: set[str] = set()
    seen: dict[tuple[str, date], int] = {}
    for row_no, record in enumerate(records[1:], start=2):  # row 1 is the header, as in a spreadsheet
        ad_id = _text_cell(record, columns["ad_id"], row_no, headers[columns["ad_id"]])
        day_text = _cell(record, day_col)
        if not ad_id or not day_text:
            continue  # the totals row and other summary lines
        if _SCIENTIFIC.fullmatch(ad_id):
            raise InvalidArgument(
                f"Row {row_no}: Ad ID '{ad_id}' was rounded by a spreadsheet app. "
                "Import the CSV exactly as Ads Manager exported it."
            )
        day = _parse_date(day_text, row_no, headers[day_col])
        end_text = _cell(record, ends)
        if end_text and _parse_date(end_text, row_no, "Reporting ends") != day:
            raise InvalidArgument(
                f"Row {row_no} covers {day_text} to {end_text}, not a single day. "
                "Export with Breakdown → By time → Day."
            )
        if (first := seen.setdefault((ad_id, day), row_no)) != row_no:
            raise InvalidArgument(
                f"Rows {first} and {row_no} both hold ad {ad_id} on {day}. Export with only the "
                "Day breakdown (no age, placement or other breakdowns)."
            )
        values = [
            _parse_number(_cell(record, i), row_no, header, whole=whole) for i, header, whole in numeric
        ]
        days.append((ad_id, day, *values))
        if any(values[i] for i in _VIDEO_AT):
            video_ads.add(ad_id)
        if ad_id not in ads or day >= ads[ad_id].last_day:  # name, campaign, ad set as of the latest day
            text = {f: _text_cell(record, columns.get(f), row_no, headers[columns[f]]) if f in columns else ""
                    for f in ("ad_name", "campaign", "adset", *_COPY)}  # fmt: skip
            before = ads.get(ad_id)
            # A blank copy cell on the latest day keeps what an earlier day said.
            copy = {f: text[f] or (getattr(before, f) if before else None) or None for f in _COPY}
            if copy["link"] and not copy["link"].lower().startswith(("http://", "https://")):
                copy["link"] = getattr(before, "link", None)
            ads[ad_id] = _Ad(
                name=text["ad_name"] or ad_id, campaign=text["campaign"] or None, adset=text["adset"] or None,
                last_day=day, **copy,
            )  # fmt: skip
    if not days:
        raise InvalidArgument(f"{path} has no ad rows: every row lacks an Ad ID or a Day.")
    dates = [d for _, d in seen]
    return _Export(
        rows_read=sum(1 for r in records[1:] if any(c.strip() for c in r)),
        days=days,
        ads=ads,
        video_ads=video_ads,
        currency=currency,
        since=min(dates),
        until=max(dates),
    )


async def _resolve_organization(conn: Conn, *, org_name: str | None, brand_name: str) -> tuple[UUID, str]:
    """The organization to import into: the one named, the only one, or the only one with this brand."""
    if org_name is not None:
        org_id = await find_organization(conn, name=org_name)
        cur = await conn.execute("select id, name from organizations where id = %s", (org_id,))
        candidates = await cur.fetchall()
    else:
        cur = await conn.execute("select id, name from organizations order by name")
        candidates = await cur.fetchall()
        if len(candidates) > 1:
            cur = await conn.execute(
                "select o.id, o.name from organizations o join brands b on b.organization_id = o.id"
                " where lower(b.name) = lower(%s) order by o.name",
                (brand_name,),
            )
            with_brand = await cur.fetchall()
            if len(with_brand) == 1:
                candidates = with_brand
    if len(candidates) == 1:
        return UUID(str(candidates[0]["id"])), str(candidates[0]["name"])
    if not candidates:
        raise InvalidArgument(
            'There is no organization yet. Create one with: viraltracker org create "NAME", then pass --org "NAME".'
        )
    names = ", ".join(f"'{r['name']}'" for r in candidates[:10])
    raise InvalidArgument(
        f"More than one organization could hold brand '{brand_name}' ({names}). Say which with --org \"NAME\"."
    )


async def _find_or_create_brand(conn: Conn, *, organization_id: UUID, name: str) -> tuple[UUID, str, bool]:
    cur = await conn.execute(
        "select id, name from brands where organization_id = %s and lower(name) = lower(%s)",
        (organization_id, name),
    )
    row = await cur.fetchone()
    created = row is None
    if row is None:
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s) returning id, name",
            (organization_id, name),
        )
        row = await cur.fetchone()
        assert row is not None
    return UUID(str(row["id"])), str(row["name"]), created


async def _upsert_ads(conn: Conn, *, brand_id: UUID, organization_id: UUID, export: _Export) -> int:
    """Insert or refresh the ads; the number that already existed. Refuses ads of another brand."""
    cur = await conn.execute(
        "select meta_ad_id, brand_id from meta_ads where meta_ad_id = any(%s) order by meta_ad_id",
        (list(export.ads),),
    )
    existing = await cur.fetchall()
    foreign = [r["meta_ad_id"] for r in existing if r["brand_id"] != brand_id]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise InvalidArgument(
            f"Ad ID {foreign[0]}{more} already belongs to another brand, so nothing was imported. "
            "Check that this export is for the brand you named."
        )
    # Video is never downgraded (the file may lack video columns) and a synced 'carousel' is kept;
    # copy the file lacks keeps what a sync (or an earlier export) stored.
    async with conn.cursor() as cur:
        await cur.executemany(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name, campaign, adset, format,"
            " ad_copy, headline)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " on conflict (meta_ad_id) do update set name = excluded.name,"
            " campaign = coalesce(excluded.campaign, meta_ads.campaign),"
            " adset = coalesce(excluded.adset, meta_ads.adset),"
            " format = case when excluded.format = 'video' then 'video' else meta_ads.format end,"
            " ad_copy = coalesce(excluded.ad_copy, meta_ads.ad_copy),"
            " headline = coalesce(excluded.headline, meta_ads.headline),"
            " updated_at = now()"
            " where meta_ads.brand_id = excluded.brand_id"
            " and (meta_ads.name, meta_ads.campaign, meta_ads.adset, meta_ads.format, meta_ads.ad_copy,"
            " meta_ads.headline) is distinct from"
            " (excluded.name, coalesce(excluded.campaign, meta_ads.campaign),"
            " coalesce(excluded.adset, meta_ads.adset),"
            " case when excluded.format = 'video' then 'video' else meta_ads.format end,"
            " coalesce(excluded.ad_copy, meta_ads.ad_copy), coalesce(excluded.headline, meta_ads.headline))",
            [
                (ad_id, brand_id, organization_id, ad.name, ad.campaign, ad.adset,
                 "video" if ad_id in export.video_ads else "image", ad.ad_copy, ad.headline)
                for ad_id, ad in export.ads.items()
            ],
        )  # fmt: skip
        # Landing pages as the sync stores them (canonical URL), for product matching and congruence.
        await cur.executemany(
            "insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)"
            " values (%s, %s, %s, %s) on conflict (meta_ad_id, canonical_url) do nothing",
            [
                (ad_id, organization_id, ad.link, canonical_url(ad.link))
                for ad_id, ad in export.ads.items()
                if ad.link
            ],
        )
    return len(existing)


async def _upsert_days(
    conn: Conn,
    *,
    brand_id: UUID,
    organization_id: UUID,
    days: list[tuple[object, ...]],
    progress: Callable[[int, int], None] | None,
) -> int:
    """COPY into a temp table, then upsert by chunk; the number of (ad, day) rows that already existed.

    Sorted ad by ad, oldest day first, so that a chunk holds whole ads: each chunk's upsert makes
    the rollup (meta_ads_cumulative) recompute its ads' running totals from their earliest day in
    it, once per ad, where chunks cutting across ads would recompute the same histories again and
    again.
    """
    days = sorted(days, key=lambda day: (str(day[0]), str(day[1])))  # ISO dates sort as dates
    metrics = ", ".join(_METRICS)
    await conn.execute(
        "create temp table meta_csv_rows (n int not null, meta_ad_id text not null, date date not null,"
        f" {', '.join(f'{m} numeric' for m in _METRICS)}) on commit drop"
    )
    async with conn.cursor() as cur:
        async with cur.copy(f"copy meta_csv_rows (n, meta_ad_id, date, {metrics}) from stdin") as copy:
            for n, row in enumerate(days):
                await copy.write_row((n, *row))
        await cur.execute(
            "select count(*) as n from meta_csv_rows r join meta_ads_performance p using (meta_ad_id, date)"
        )
        found = await cur.fetchone()
        assert found is not None
        changed = " or ".join(f"p.{m} is distinct from excluded.{m}" for m in _METRICS)
        for start in range(0, len(days), CHUNK_ROWS):
            await cur.execute(
                f"insert into meta_ads_performance as p (meta_ad_id, date, brand_id, organization_id, {metrics})"
                f" select meta_ad_id, date, %s, %s, {metrics} from meta_csv_rows where n >= %s and n < %s"
                " on conflict (meta_ad_id, date) do update set"
                f" {', '.join(f'{m} = excluded.{m}' for m in _METRICS)}, updated_at = now()"
                f" where p.brand_id = excluded.brand_id and ({changed})",
                (brand_id, organization_id, start, start + CHUNK_ROWS),
            )
            if progress is not None:
                progress(min(start + CHUNK_ROWS, len(days)), len(days))
    return int(found["n"])


async def import_meta_csv(
    db: Database,
    *,
    path: Path,
    brand_name: str,
    org_name: str | None = None,
    currency: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Upsert an Ads Manager daily ad-level CSV for the brand (created if missing), all or nothing.
    Its amounts are in the currency its header names ("Amount spent (EUR)"), else in `currency`."""
    brand_name = brand_name.strip()
    if not brand_name:
        raise InvalidArgument("A brand needs a name.")
    if not path.is_file():
        raise NotFound(f"File not found: {path}")
    given = checked_currency(currency) if currency else None
    export = await asyncio.to_thread(_read_export, path)
    if given and export.currency and given != export.currency:
        raise InvalidArgument(
            f"The export's header says its amounts are in {export.currency}, not {given}; nothing was imported."
        )
    export.currency = export.currency or given
    async with db.as_service() as conn:
        org_id, organization = await _resolve_organization(conn, org_name=org_name, brand_name=brand_name)
        brand_id, brand, brand_created = await _find_or_create_brand(
            conn, organization_id=org_id, name=brand_name
        )
        held = await brand_by_id(conn, brand_id)
        await adopt_account_money(
            conn, brand=held, currency=export.currency, timezone=None,
            what="This export is", refused="nothing was imported",
        )  # fmt: skip
        if export.currency and held.currency and export.currency != held.currency:
            export.days = await _converted(conn, export, brand=held)
        to_classify = await _copy_changed(conn, export)
        ads_existing = await _upsert_ads(conn, brand_id=brand_id, organization_id=org_id, export=export)
        days_existing = await _upsert_days(
            conn, brand_id=brand_id, organization_id=org_id, days=export.days, progress=progress
        )
        ref = BrandRef(id=brand_id, name=brand, organization_id=org_id)
        # An ad made here and launched with its tracking id (in its name or link) meets its results.
        linked = await link_generated_ads(conn, brand=ref)
        await match_products(conn, brand_id=brand_id)
        # As a sync does: the ads whose copy is new or changed are classified by the next worker.
        queued = await queue_after_sync(conn, brand=ref, creatives=0, ads=to_classify)
    return ImportSummary(
        brand=brand,
        organization=organization,
        brand_created=brand_created,
        rows_read=export.rows_read,
        ads_created=len(export.ads) - ads_existing,
        ads_updated=ads_existing,
        days_inserted=len(export.days) - days_existing,
        days_updated=days_existing,
        since=export.since,
        until=export.until,
        currency=export.currency,
        converted_to=held.currency if held.currency != export.currency else None,
        ads_with_copy=sum(1 for ad in export.ads.values() if ad.ad_copy or ad.headline),
        generated_ads_linked=linked,
        queued=queued.sentence,
    )


_MONEY_AT = tuple(2 + i for i, field in enumerate(_METRICS) if field in ("spend", "purchase_value"))


async def _converted(conn: Conn, export: _Export, *, brand: BrandRef) -> list[tuple[object, ...]]:
    """The export's day rows with amounts in the brand's currency, each day at the organization's latest
    rate on or before it; refused for a day before the first rate."""
    cur = await conn.execute(
        "select day, rate from currency_rates where organization_id = %s and from_currency = %s"
        " and to_currency = %s order by day",
        (brand.organization_id, export.currency, brand.currency),
    )
    rates = [(row["day"], row["rate"]) for row in await cur.fetchall()]
    days = [day for day, _ in rates]
    converted = []
    for row in export.days:
        at = bisect_right(days, row[1]) - 1
        if at < 0:
            raise InvalidArgument(
                f"No {export.currency} to {brand.currency} rate on or before {row[1]}: load one with"
                " viraltracker rates load FILE.csv --org ORGANIZATION; nothing was imported."
            )
        rate = rates[at][1]
        converted.append(tuple(round(v * rate, 2) if i in _MONEY_AT else v for i, v in enumerate(row)))
    return converted


async def _copy_changed(conn: Conn, export: _Export) -> int:
    """The export's ads with copy that is new or differs from what is stored (blank cells keep it)."""
    cur = await conn.execute(
        "select meta_ad_id, ad_copy, headline from meta_ads where meta_ad_id = any(%s)", (list(export.ads),)
    )
    stored = {row["meta_ad_id"]: (row["ad_copy"], row["headline"]) for row in await cur.fetchall()}
    changed = 0
    for ad_id, ad in export.ads.items():
        if not (ad.ad_copy or ad.headline):
            continue
        before = stored.get(ad_id)
        if before is None or (ad.ad_copy or before[0], ad.headline or before[1]) != before:
            changed += 1
    return changed
