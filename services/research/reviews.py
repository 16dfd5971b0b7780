"""Import Amazon reviews from a file (CSV or JSON, as review exports and scrapers write them) into
`amazon_reviews`, where the evidence reader (personas, content gaps, pattern discovery) hears them.

Header names vary between tools ("Review Text", "review_body", "content", "stars", …): each field
accepts several, compared without case, spaces or punctuation. The review text is the one column that
must be there; a file without it is refused whole, before anything is written. A row that can't be read
(no text, a rating that isn't 1-5 stars, a date that isn't one) is refused on its own, counted and
described. Every imported row carries `import_key` = sha256(ASIN, the text with case and spacing
normalised), unique per brand: importing the same export again adds nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from db.pool import Caller, Conn, Database
from services import brands as brand_service
from services.models import BrandRef
from services.platform.accounts import find_organization
from services.products import resolve_product
from services.storable import unstorable

BATCH = 500
MOST_REFUSALS_SHOWN = 20
MAX_BODY = 20_000  # characters kept of one review

# Field -> accepted headers, compared as lowercase letters and digits only ("Review Text" = "review_text").
HEADERS: dict[str, tuple[str, ...]] = {
    "body": ("body", "reviewtext", "reviewbody", "text", "content", "review", "reviewcontent", "comment",
             "reviewdescription", "description"),
    "title": ("title", "reviewtitle", "summary", "headline", "reviewheader", "reviewsummary"),
    "rating": ("rating", "stars", "starrating", "reviewrating", "overall", "score", "reviewstarrating",
               "ratingscore"),
    "date": ("date", "reviewdate", "reviewedon", "datereviewed", "reviewtime", "time", "createdat", "timestamp"),
    "asin": ("asin", "productasin", "parentasin", "asinoriginal"),
    "verified": ("verified", "verifiedpurchase", "isverified", "verifiedbuyer", "verifiedreview"),
}  # fmt: skip
_KEY = re.compile(r"[^a-z0-9]")
_RATING = re.compile(r"^\s*(\d(?:\.\d+)?)\s*(?:out of 5(?: stars)?|/\s*5|stars?)?\s*$", re.IGNORECASE)
_ASIN = re.compile(r"^[A-Z0-9]{10}$")
_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%d/%m/%Y", "%B %d, %Y", "%b %d, %Y", "%d %B %Y", "%Y/%m/%d")
_ON_DATE = re.compile(r"\bon (.+)$")  # "Reviewed in the United States on March 3, 2024"
_TRUE = {"true", "yes", "y", "1", "verified", "verified purchase", "t"}
_FALSE = {"false", "no", "n", "0", "", "f", "unverified"}


class ReviewImportResult(BaseModel):
    summary: str
    brand: str
    product: str | None = None
    rows_read: int
    imported: int
    already_had: int
    refused: int
    refusals: list[str] = Field(default_factory=list)
    """The first refused rows, each with why (all are counted in `refused`)."""


@dataclass(frozen=True)
class Review:
    asin: str | None
    rating: int | None
    title: str | None
    body: str
    reviewed_on: date | None
    verified: bool
    key: str


def _header_key(header: str) -> str:
    return _KEY.sub("", header.casefold())


def map_columns(headers: list[str], *, source: str) -> dict[str, str]:
    """Field -> the file's header for it. Refuses a file without a review text column."""
    keyed = {_header_key(h): h for h in headers if isinstance(h, str)}
    columns = {}
    for field, variants in HEADERS.items():
        found = next((keyed[v] for v in variants if v in keyed), None)
        if found is not None:
            columns[field] = found
    if "body" not in columns:
        shown = ", ".join(f"'{h}'" for h in headers[:12]) or "none"
        raise InvalidArgument(
            f"{source} has no review text column. Name it one of: body, review text, text, content"
            f" (its columns: {shown}). Nothing was imported."
        )
    return columns


def review_key(asin: str | None, body: str) -> str:
    return hashlib.sha256(f"{asin or ''}\n{' '.join(body.split()).casefold()}".encode()).hexdigest()


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _storable(text: str, column: str) -> str:
    if (why := unstorable(text)) is not None:
        raise ValueError(f"{column} contains {why}, which can't be stored")
    return text


def _rating(value: Any) -> int | None:
    text = _text(value)
    if not text:
        return None
    found = _RATING.match(text)
    stars = float(found[1]) if found else -1
    if not 1 <= stars <= 5 or stars != int(stars):
        raise ValueError(f"rating '{text}' is not 1 to 5 stars")
    return int(stars)


def _date(value: Any) -> date | None:
    if isinstance(value, int | float) and not isinstance(value, bool):  # epoch seconds or milliseconds
        seconds = value / 1000 if value > 10_000_000_000 else value
        try:
            return datetime.fromtimestamp(seconds, tz=UTC).date()
        except (OverflowError, OSError, ValueError):
            raise ValueError(f"date {value:.15g} is not a time in seconds or milliseconds") from None
    text = _text(value)
    if not text:
        return None
    if found := _ON_DATE.search(text):
        text = found[1].strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ].*", text):
        text = text[:10]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date '{text}' is not a date (e.g. 2024-03-03, 3/3/2024 or March 3, 2024)")


def _verified(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).casefold()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"verified '{_text(value)}' is not yes or no")


def read_row(record: dict[str, Any], columns: dict[str, str]) -> Review:
    """One review from a row (ValueError says what is wrong with it)."""

    def cell(field: str) -> Any:
        value = record.get(columns[field]) if field in columns else None
        return _storable(value, columns[field]) if isinstance(value, str) else value

    body = _text(cell("body"))[:MAX_BODY]
    if not body:
        raise ValueError("no review text")
    asin = _text(cell("asin")).upper() or None
    if asin is not None and not _ASIN.match(asin):
        raise ValueError(f"ASIN '{asin}' is not 10 letters and digits")
    verified = _verified(cell("verified")) if "verified" in columns else True
    return Review(
        asin=asin, rating=_rating(cell("rating")), title=_text(cell("title")) or None, body=body,
        reviewed_on=_date(cell("date")), verified=verified, key=review_key(asin, body),
    )  # fmt: skip


Rows = list[tuple[str, dict[str, Any] | str]]
"""Each row with where it is ("row 7", "item 3", "line 4"): its fields, or why it can't be read."""


def read_file(path: Path) -> tuple[dict[str, str], Rows]:
    """The columns and the rows, read before any write."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"{path} is not a UTF-8 text file: export the reviews as CSV or JSON.") from exc
    except OSError as exc:
        raise InvalidArgument(f"Can't read {path}: {exc.strerror}.") from exc
    if not raw.strip():
        raise InvalidArgument(f"{path} is empty.")
    if raw.lstrip()[:1] in "[{":
        rows = _json_rows(raw, path)
        headers = list(dict.fromkeys(k for _, item in rows if isinstance(item, dict) for k in item))
        return map_columns(headers, source=str(path)), rows
    reader = csv.DictReader(io.StringIO(raw, newline=""))
    try:
        headers = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise InvalidArgument(f"{path} is not a readable CSV file ({exc}).") from exc
    return map_columns(headers, source=str(path)), _csv_rows(reader, raw.count("\n") + 1)


def _csv_rows(reader: csv.DictReader[str], lines: int) -> Rows:
    """The data rows (blank ones skipped); one the csv module can't read (a cell over its 131,072
    characters) is refused on its own and the reader goes on with the next."""
    rows: Rows = []
    for n in range(2, lines + 2):  # row 1 is the header, as in a spreadsheet; a row takes a line or more
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append((f"row {n}", f"can't be read ({exc})"))
            continue
        if any(_text(v) for v in record.values()):
            rows.append((f"row {n}", dict(record)))
    return rows


class _TooDeep(Exception):
    """JSON nested deeper than Python's parser goes (it raises RecursionError)."""


def _integer(digits: str) -> int | float:
    # Past 18 digits no field is a count or a time: a float keeps json from refusing 4,300+ digits.
    return int(digits) if len(digits) <= 18 else float(digits)


def _loads(text: str) -> Any:
    try:
        return json.loads(text, parse_int=_integer)
    except RecursionError:
        raise _TooDeep from None


def _json_rows(raw: str, path: Path) -> Rows:
    """A list of review objects (or {"reviews": [...]}), or JSON lines; an item or line that isn't a
    review object is refused on its own, a file with none is refused whole."""
    deep = f"{path} is nested too deeply to read: a review export is a list of flat objects. Nothing was imported."
    try:
        data = _loads(raw)
    except _TooDeep:
        raise InvalidArgument(deep) from None
    except json.JSONDecodeError as whole:
        invalid = f"{path} is not valid JSON (line {whole.lineno}: {whole.msg})."
        lines = [(n, line) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
        if raw.lstrip()[:1] != "{" or len(lines) < 2:
            raise InvalidArgument(invalid) from whole
        rows: Rows = [(f"line {n}", _line(line)) for n, line in lines]  # JSON lines: one review a line
        if not any(isinstance(item, dict) for _, item in rows):
            raise InvalidArgument(invalid) from whole
        return rows
    if isinstance(data, dict):
        data = next(
            (data[k] for k in ("reviews", "data", "items", "results") if isinstance(data.get(k), list)),
            [data],
        )
    if not isinstance(data, list) or not any(isinstance(item, dict) for item in data):
        raise InvalidArgument(f'{path} is not a list of review objects (or {{"reviews": [...]}}).')
    return [(f"item {n}", i if isinstance(i, dict) else "not a review object") for n, i in enumerate(data, 1)]


def _line(line: str) -> dict[str, Any] | str:
    try:
        item = _loads(line)
    except _TooDeep:
        return "nested too deeply to read"
    except json.JSONDecodeError as exc:
        return f"not valid JSON (column {exc.colno}: {exc.msg})"
    return item if isinstance(item, dict) else "not a review object"


async def _brand(conn: Conn, *, name: str, org: str | None) -> BrandRef:
    if org is not None:  # several organizations may have a brand of this name: the named one's
        org_id = await find_organization(conn, name=org)
        cur = await conn.execute(
            "select id, name, organization_id from brands where organization_id = %s"
            " and lower(name) = lower(%s)",
            (org_id, " ".join(name.split())),
        )
        row = await cur.fetchone()
        if row is not None:
            return BrandRef(**row)
    return await brand_service.resolve_brand(conn, name=name)


_INSERT = """
insert into amazon_reviews (brand_id, organization_id, product_id, asin, rating, title, body, reviewed_on,
                            verified_purchase, import_key)
select %(brand)s, %(org)s, %(product)s, r.* from unnest(%(asin)s::text[], %(rating)s::smallint[],
  %(title)s::text[], %(body)s::text[], %(day)s::date[], %(verified)s::boolean[], %(key)s::text[]) as r
on conflict (brand_id, import_key) where import_key is not null do nothing
returning id
"""


def _batches(reviews: list[Review]) -> Iterator[list[Review]]:
    for start in range(0, len(reviews), BATCH):
        yield reviews[start : start + BATCH]


async def import_reviews(
    db: Database, caller: Caller | None, *, path: Path, brand: str, product: str | None = None,
    org: str | None = None, progress: Callable[[int, int], None] | None = None,
) -> ReviewImportResult:  # fmt: skip
    """Import a review export for one brand (and product). `caller` None: the service role (the CLI's
    operator), else the person's own brands only."""
    columns, rows = read_file(path)
    reviews: list[Review] = []
    refusals: list[str] = []
    seen: set[str] = set()
    duplicates = 0
    for where, record in rows:
        try:
            if isinstance(record, str):  # unreadable JSON item or line: the reason
                raise ValueError(record)
            review = read_row(record, columns)
        except ValueError as why:
            refusals.append(f"{where.capitalize()}: {why}.")
            continue
        if review.key in seen:
            duplicates += 1  # the same review twice in the file
            continue
        seen.add(review.key)
        reviews.append(review)
    session = db.as_service() if caller is None else db.as_user(caller)
    async with session as conn:
        brand_ref = await _brand(conn, name=brand, org=org)
        product_ref = await resolve_product(conn, name=product, brand_id=brand_ref.id) if product else None
        imported = 0
        for n, batch in enumerate(_batches(reviews)):
            cur = await conn.execute(_INSERT, {
                "brand": brand_ref.id, "org": brand_ref.organization_id,
                "product": product_ref.id if product_ref else None,
                "asin": [r.asin for r in batch], "rating": [r.rating for r in batch],
                "title": [r.title for r in batch], "body": [r.body for r in batch],
                "day": [r.reviewed_on for r in batch], "verified": [r.verified for r in batch],
                "key": [r.key for r in batch],
            })  # fmt: skip
            imported += len(await cur.fetchall())
            if progress is not None:
                progress(min(len(reviews), (n + 1) * BATCH), len(reviews))
    already = len(reviews) - imported + duplicates
    scope = brand_ref.name + (f" / {product_ref.name}" if product_ref else "")
    text = f"Imported {imported} review(s) into {scope} from {len(rows)} row(s)"
    text += f"; {already} already imported" if already else ""
    text += f"; {len(refusals)} refused" if refusals else ""
    text += "."
    if refusals:
        more = len(refusals) - MOST_REFUSALS_SHOWN
        text += " " + " ".join(refusals[:MOST_REFUSALS_SHOWN]) + (f" (and {more} more)" if more > 0 else "")
    return ReviewImportResult(
        summary=text, brand=brand_ref.name, product=product_ref.name if product_ref else None,
        rows_read=len(rows), imported=imported, already_had=already, refused=len(refusals),
        refusals=refusals[:MOST_REFUSALS_SHOWN],
    )  # fmt: skip
