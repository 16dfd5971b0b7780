"""Competitors' ads from the Meta Ad Library, kept as a brand's evidence.

`GET /<version>/ads_archive` (search_page_ids, ad_reached_countries, ad_active_status=ALL) through the
same `MetaClient` as the Meta sync (the SDK, limits respected, pages followed by `after` cursors, the
token in a header). The token is the brand's own Facebook connection when it has one, else
`META_SYSTEM_USER_TOKEN`. Each ad is stored once per brand (`competitor_ads`, by its archive id; a
re-run refreshes it); the evidence reader hears its copy as the "competitor_ads" source. Meta puts an
access token in `ad_snapshot_url`: it is removed before the link is stored or shown.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg.types.json import Jsonb
from pydantic import BaseModel, Field, SecretStr

from core.errors import ConfigurationError, InvalidArgument, NotFound
from db.pool import Caller, Database
from services import brands as brand_service
from services.meta.api import MetaClient
from services.meta.connections import connections_for, system_token
from services.models import BrandRef
from services.presentable import Presentable, Table, with_rows
from settings import Settings

FIELDS = (
    "id", "ad_creative_bodies", "ad_creative_link_titles", "ad_creative_link_descriptions",
    "ad_delivery_start_time", "ad_delivery_stop_time", "page_id", "page_name", "ad_snapshot_url",
)  # fmt: skip
MOST_ADS = 500
PAGE_SIZE = 50
MOST_PAGES = 10  # per run
_PAGE_IDS = re.compile(r"^\d{5,20}(?:\s*,\s*\d{5,20}){0,9}$")
_COUNTRY = re.compile(r"^(?:[A-Z]{2}|ALL)$")


class CompetitorAd(BaseModel):
    ad_archive_id: str
    page_id: str
    page_name: str | None
    bodies: list[str] = Field(default_factory=list)
    link_titles: list[str] = Field(default_factory=list)
    link_descriptions: list[str] = Field(default_factory=list)
    delivery_start: datetime | None = None
    delivery_stop: datetime | None = None
    snapshot_url: str | None = None


class CompetitorAdsResult(BaseModel, Presentable):
    summary: str
    brand: str
    page_ids: list[str]
    country: str
    found: int
    stored_new: int
    already_had: int
    pages_read: int
    ads: list[CompetitorAd] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        rows: list[list[object]] = [
            [a.page_name, " | ".join(a.link_titles), " | ".join(a.bodies)[:300], a.delivery_start,
             a.delivery_stop, a.snapshot_url]
            for a in self.ads
        ]  # fmt: skip
        columns = ["page", "headline", "text", "started", "stopped", "snapshot"]
        return with_rows(Table(f"Competitor ads — {self.country}", columns, rows))


def check_arguments(page: str | None, country: str, limit: int) -> tuple[list[str], str]:
    text = " ".join((page or "").split())
    if not text:
        raise InvalidArgument(
            "Which competitor? Give its numeric Facebook page id, e.g. page:123456789012345 (in the page's"
            " About → Page transparency, or in the Ad Library's address: view_all_page_id=…)."
        )
    if not _PAGE_IDS.match(text):
        raise InvalidArgument(
            f"'{text}' is not a Facebook page id. Give the competitor's numeric page id (up to 10, comma-"
            "separated), e.g. page:123456789012345: it is in the page's About → Page transparency, or in"
            " the Ad Library's address (view_all_page_id=…)."
        )
    code = country.strip().upper()
    if not _COUNTRY.match(code):
        raise InvalidArgument(f"'{country}' is not a two-letter country code (e.g. country:US, country:DE).")
    if not 1 <= limit <= MOST_ADS:
        raise InvalidArgument(f"limit must be between 1 and {MOST_ADS} ads (got {limit}).")
    return [p.strip() for p in text.split(",")], code


def without_token(url: Any) -> str | None:
    """The snapshot link without the access_token Meta puts in its query."""
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "access_token"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _strings(value: Any) -> list[str]:
    return [str(v).strip() for v in value if str(v).strip()] if isinstance(value, list) else []


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("+0000", "+00:00"))
    except ValueError:
        return None


def ad_of(row: dict[str, Any]) -> CompetitorAd:
    return CompetitorAd(
        ad_archive_id=str(row["id"]), page_id=str(row.get("page_id") or ""), page_name=row.get("page_name"),
        bodies=_strings(row.get("ad_creative_bodies")), link_titles=_strings(row.get("ad_creative_link_titles")),
        link_descriptions=_strings(row.get("ad_creative_link_descriptions")),
        delivery_start=_time(row.get("ad_delivery_start_time")), delivery_stop=_time(row.get("ad_delivery_stop_time")),
        snapshot_url=without_token(row.get("ad_snapshot_url")),
    )  # fmt: skip


async def _token(db: Database, caller: Caller, brand: BrandRef, settings: Settings) -> SecretStr:
    """The brand's own connection's token (OAuth) first, else the system user's."""
    async with db.as_user(caller) as conn:
        try:
            linked = await connections_for(conn, brand, settings)
        except (NotFound, ConfigurationError):
            linked = []
    own = [c.token for c in linked if c.method == "oauth"]
    token = own[0] if own else system_token(settings)
    if token is None:
        raise ConfigurationError(
            "Reading Meta's Ad Library needs a Meta token: connect the brand's Facebook with"
            f' /connect_meta brand:"{brand.name}", or set META_SYSTEM_USER_TOKEN.'
        )
    return token


_UPSERT = """
insert into competitor_ads (brand_id, organization_id, ad_archive_id, page_id, page_name, country, bodies,
                            link_titles, link_descriptions, delivery_start, delivery_stop, snapshot_url)
values (%(brand)s, %(org)s, %(ad_archive_id)s, %(page_id)s, %(page_name)s, %(country)s, %(bodies)s,
        %(link_titles)s, %(link_descriptions)s, %(delivery_start)s, %(delivery_stop)s, %(snapshot_url)s)
on conflict (brand_id, ad_archive_id) do update set page_name = excluded.page_name, bodies = excluded.bodies,
  link_titles = excluded.link_titles, link_descriptions = excluded.link_descriptions,
  delivery_stop = excluded.delivery_stop, snapshot_url = excluded.snapshot_url, fetched_at = now()
returning (xmax = 0) as inserted
"""


async def competitor_ads(
    db: Database, caller: Caller, *, brand: str, page: str | None, country: str = "US", limit: int = 100,
    settings: Settings, client_factory: Callable[[SecretStr], MetaClient] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> CompetitorAdsResult:  # fmt: skip
    """Read a competitor's ads (every status) from the Ad Library and keep them as the brand's evidence."""
    async with db.as_user(caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
    page_ids, code = check_arguments(page, country, limit)
    token = await _token(db, caller, brand_ref, settings)
    client = (
        client_factory(token)
        if client_factory
        else MetaClient(token=token, graph_url=settings.meta_graph_url)
    )
    loop = asyncio.get_running_loop()

    def on_wait(why: str, seconds: float) -> None:  # called in the SDK's worker thread: report on the loop
        loop.call_soon_threadsafe(progress, f"Waiting {seconds:.0f} s: {why}")

    client.on_wait = on_wait
    params = {
        "search_page_ids": page_ids, "ad_reached_countries": [code], "ad_active_status": "ALL",
        "fields": ",".join(FIELDS), "limit": min(PAGE_SIZE, limit),
    }  # fmt: skip
    pages: Iterator[list[Any]] = client.pages(("ads_archive",), params)
    ads: list[CompetitorAd] = []
    read = 0
    while len(ads) < limit and read < MOST_PAGES:
        rows = await asyncio.to_thread(next, pages, None)  # the SDK is synchronous
        if rows is None:
            break
        read += 1
        ads += [ad_of(r) for r in rows if isinstance(r, dict) and r.get("id")]
        progress(f"Read {len(ads)} ads from the Ad Library ({read} page(s))")
    ads = ads[:limit]
    new = 0
    async with db.as_user(caller) as conn:
        for ad in ads:
            values = ad.model_dump()
            for key in ("bodies", "link_titles", "link_descriptions"):
                values[key] = Jsonb(values[key])
            cur = await conn.execute(
                _UPSERT, {**values, "brand": brand_ref.id, "org": brand_ref.organization_id, "country": code}
            )
            found = await cur.fetchone()
            new += bool(found and found["inserted"])
    names = sorted({a.page_name for a in ads if a.page_name}) or page_ids
    if not ads:
        text = (
            f"The Ad Library has no ads of page {', '.join(page_ids)} reaching {code}. Meta lists ads about"
            " social issues everywhere but other ads only where they reached the EU: try country:DE or FR."
        )
    else:
        text = (
            f"Read {len(ads)} ad(s) of {', '.join(names)} reaching {code} from Meta's Ad Library; stored {new} new"
            f" for {brand_ref.name}" + (f", {len(ads) - new} already kept (refreshed)" if new < len(ads) else "")
            + ". Their copy now counts as evidence: run /discover_patterns to compare themes."
        )  # fmt: skip
    return CompetitorAdsResult(
        summary=text, brand=brand_ref.name, page_ids=page_ids, country=code, found=len(ads), stored_new=new,
        already_had=len(ads) - new, pages_read=read, ads=ads,
    )  # fmt: skip
