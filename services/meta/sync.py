"""A brand's Meta ad account as a live source: link it, then sync ads and daily ad-level insights.

Incremental: per account, `sync_state` keeps the last day fully synced (the high-water mark); each
run starts `attribution_days` before it (Meta keeps revising recent days as conversions attribute)
and upserts on (ad, day), so re-runs never duplicate and a row whose figures did not change is not
written at all. Pages are written as they arrive (nothing is held); the high-water mark moves only
when the whole range is in, so a run that dies mid-way is re-done from the same place next time.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from uuid import UUID

import msgspec
from pydantic import BaseModel, SecretStr, computed_field

from db.pool import Caller, Conn, Database
from services.brands import brand_by_id, resolve_brand
from services.errors import (
    ConfigurationError,
    ExternalServiceError,
    InvalidArgument,
    MetaAuthError,
    MetaTooMuchData,
    NeedsReconnect,
    NotFound,
    UserFacingError,
)
from services.meta.api import MetaClient, RangeDone, RowReader
from services.meta.vault import TokenVault
from services.models import BrandRef
from services.presentable import Presentable, Table, table_of
from settings import Settings, get_settings

log = logging.getLogger(__name__)

INITIAL_DAYS = 90  # a first sync's history
CENT = Decimal("0.01")
ZERO_MONEY = Decimal("0.00")
COPY_CHUNK_LINES = 2_000  # about 200 kB of COPY text per write
ACCOUNT_ID = re.compile(r"^(?:act_)?(\d{5,20})$")

AD_FIELDS = (
    "id,name,effective_status,created_time,campaign_id,adset_id,campaign{name},adset{name},"
    "creative{id,body,title,thumbnail_url,video_id,object_type,link_url,object_story_spec,asset_feed_spec}"
)
INSIGHT_FIELDS = (
    "ad_id,ad_name,adset_id,campaign_id,date_start,spend,impressions,reach,clicks,inline_link_clicks,"
    "actions,action_values,video_thruplay_watched_actions,video_p25_watched_actions,"
    "video_p50_watched_actions,video_p75_watched_actions,video_p100_watched_actions"
)
# Several action types count the same purchase (pixel, on-Meta, "omni" = all channels, deduplicated):
# take the first present, never a sum.
PURCHASE_TYPES = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase")
ADD_TO_CART_TYPES = ("omni_add_to_cart", "add_to_cart", "offsite_conversion.fb_pixel_add_to_cart")
TRACKING_PARAMS = re.compile(r"^(utm_.*|fbclid|gclid|mc_[a-z]+|_hs[a-z]+|ref)$", re.IGNORECASE)

PERFORMANCE_COLUMNS = (
    "meta_ad_id",
    "date",
    "spend",
    "impressions",
    "reach",
    "clicks",
    "link_clicks",
    "add_to_carts",
    "purchases",
    "purchase_value",
    "video_3s_views",
    "video_thruplays",
    "video_p25",
    "video_p50",
    "video_p75",
    "video_p100",
)


# -- identifiers and tokens ------------------------------------------------------------------


def normalize_account_id(raw: str) -> str:
    """`act_<digits>` from what a person typed ("act_123…", "123…"), or a clear message."""
    found = ACCOUNT_ID.match(raw.strip())
    if not found:
        raise InvalidArgument(
            f"'{raw.strip()}' is not a Meta ad account ID. It looks like act_1234567890"
            " (Ads Manager → account dropdown, or Business Settings → Ad accounts)."
        )
    return f"act_{found[1]}"


@dataclass(frozen=True)
class Connection:
    """One linked ad account and how to call Meta for it (the token is never printed)."""

    brand: BrandRef
    account_id: str
    method: str  # system_user | oauth
    token: SecretStr = field(repr=False)
    expired: bool = False
    """Marked expired (Meta refused the token, or its date passed): paused until someone reconnects."""


def paused_until_reconnect(account_id: str, brand: str) -> str:
    """What an expired connection means, in the words its notification and a refused sync both use
    (/meta_status points to the same command)."""
    return f'Syncs of {account_id} are paused until someone reconnects: /connect_meta brand:"{brand}".'


def system_token(settings: Settings) -> SecretStr | None:
    return settings.meta_system_user_token


async def connections_for(conn: Conn, brand: BrandRef, settings: Settings) -> list[Connection]:
    """The brand's linked accounts with their tokens: its own (OAuth or per-brand) first, else the
    system user's (`META_SYSTEM_USER_TOKEN`)."""
    cur = await conn.execute(
        "select meta_ad_account_id, auth_method, access_token_encrypted, status from brand_ad_accounts"
        " where brand_id = %s and status <> 'disconnected' order by created_at",
        (brand.id,),
    )
    rows = await cur.fetchall()
    if not rows:
        raise NotFound(
            f"{brand.name} has no Meta ad account linked. Link one with"
            f' /meta_account brand:"{brand.name}" account:act_1234567890'
            " (or connect Facebook with /connect_meta)."
        )
    found: list[Connection] = []
    vault: TokenVault | None = None
    for row in rows:
        if row["access_token_encrypted"]:
            vault = vault or TokenVault.from_settings(settings)
            token = vault.decrypt(row["access_token_encrypted"])
        else:
            fallback = system_token(settings)
            if fallback is None:
                raise ConfigurationError(
                    f"{brand.name}'s account {row['meta_ad_account_id']} has no token of its own and"
                    " META_SYSTEM_USER_TOKEN is not set. Connect it with /connect_meta or set the variable."
                )
            token = fallback
        expired = row["status"] == "expired"
        found.append(Connection(brand, row["meta_ad_account_id"], row["auth_method"], token, expired))
    return found


# -- parsing ---------------------------------------------------------------------------------


def _int(value: Any) -> int:
    if value is None:
        return 0
    try:
        return int(value)  # Meta's counts: strings of digits
    except (ValueError, TypeError):
        pass
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError):
        return 0


def _money(value: Any) -> Decimal:
    if value is None:
        return ZERO_MONEY
    try:
        return Decimal(str(value)).quantize(CENT)
    except (InvalidOperation, ValueError, TypeError):
        return ZERO_MONEY


class Action(msgspec.Struct, gc=False):
    """One entry of an insights action list (`actions`, `action_values`, the video lists)."""

    action_type: Any = None
    value: Any = None


class InsightRow(msgspec.Struct, gc=False):
    """The fields of a daily ad-level insights row that we keep (INSIGHT_FIELDS), as Meta sends them."""

    ad_id: Any = None
    ad_name: Any = None
    date_start: Any = None
    spend: Any = None
    impressions: Any = None
    reach: Any = None
    clicks: Any = None
    inline_link_clicks: Any = None
    actions: list[Action] = []
    action_values: list[Action] = []
    video_thruplay_watched_actions: list[Action] = []
    video_p25_watched_actions: list[Action] = []
    video_p50_watched_actions: list[Action] = []
    video_p75_watched_actions: list[Action] = []
    video_p100_watched_actions: list[Action] = []


_ROW_FIELDS = tuple((f.name, f.type == list[Action]) for f in msgspec.structs.fields(InsightRow))


def insight_row(row: dict[str, Any]) -> InsightRow:
    """A row read as plain JSON, as an `InsightRow`; a field of another shape than Meta's reads as absent."""
    fields: dict[str, Any] = {}
    for name, is_list in _ROW_FIELDS:
        value = row.get(name)
        if is_list:
            value = (
                [Action(e.get("action_type"), e.get("value")) for e in value if isinstance(e, dict)]
                if isinstance(value, list)
                else []
            )
        fields[name] = value
    return InsightRow(**fields)


INSIGHT_ROWS = RowReader(InsightRow, insight_row)


def _by_type(entries: list[Action]) -> dict[Any, Any]:
    return {e.action_type: e.value for e in entries}


def _first(by_type: dict[Any, Any], types: Sequence[str]) -> Any:
    for kind in types:
        if kind in by_type:
            return by_type[kind]
    return None


def _video_views(entries: list[Action]) -> Any:
    for entry in entries:
        if entry.action_type == "video_view":
            return entry.value
    return None


_MONEY_TEXT = re.compile(r"\d{1,12}(?:\.\d{1,2})?")
_DAY_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _count_text(value: Any) -> str:
    """A count as Postgres reads it. Meta sends strings of digits: those pass as they are."""
    if value.__class__ is str and value.isascii() and value.isdigit() and len(value) < 19:
        return value
    return str(_int(value))


def _money_text(value: Any) -> str:
    if value.__class__ is str and _MONEY_TEXT.fullmatch(value):
        return value
    return str(_money(value))


def insight_fields(row: InsightRow | dict[str, Any]) -> tuple[str, ...] | None:
    """One insights row as the text of our columns (PERFORMANCE_COLUMNS), or None when it names no
    ad or no valid day. 3-second views are `actions` of type `video_view` (`video_play_actions`
    counts any start). Kept as text: the sync streams it to Postgres as it came."""
    if isinstance(row, dict):
        row = insight_row(row)
    ad_id, day = row.ad_id, row.date_start
    if not ad_id or day.__class__ is not str or not _DAY_TEXT.fullmatch(day):
        return None
    actions = _by_type(row.actions) if row.actions else {}
    link_clicks = row.inline_link_clicks
    if link_clicks is None:
        link_clicks = actions.get("link_click")
    return (
        str(ad_id),
        day,
        _money_text(row.spend),
        _count_text(row.impressions),
        _count_text(row.reach),
        _count_text(row.clicks),
        _count_text(link_clicks),
        _count_text(_first(actions, ADD_TO_CART_TYPES)),
        _count_text(_first(actions, PURCHASE_TYPES)),
        _money_text(_first(_by_type(row.action_values), PURCHASE_TYPES)),
        _count_text(actions.get("video_view")),
        _count_text(_video_views(row.video_thruplay_watched_actions)),
        _count_text(_video_views(row.video_p25_watched_actions)),
        _count_text(_video_views(row.video_p50_watched_actions)),
        _count_text(_video_views(row.video_p75_watched_actions)),
        _count_text(_video_views(row.video_p100_watched_actions)),
    )


def copy_line(row: InsightRow | dict[str, Any]) -> tuple[str, str, str] | None:
    """(ad, day, the row as a line of COPY text: the ad's name, then PERFORMANCE_COLUMNS), or None."""
    if isinstance(row, dict):
        row = insight_row(row)
    fields = insight_fields(row)
    if fields is None:
        return None
    name = str(row.ad_name or fields[0]).translate(_COPY_ESCAPES)
    return fields[0], fields[1], "\t".join((name, *fields)) + "\n"


def performance_row(row: InsightRow | dict[str, Any]) -> tuple[Any, ...]:
    """One insights row as typed values of our columns (what `copy_line` sends, as Postgres reads it)."""
    fields = insight_fields(row)
    if fields is None:
        raise ValueError("an insights row without an ad or a valid day")
    ad_id, day, spend, *counts = fields
    value = counts.pop(6)  # purchase_value, between purchases and the video counts
    ints = [int(c) for c in counts]
    money = Decimal(spend).quantize(CENT), Decimal(value).quantize(CENT)
    return (ad_id, date.fromisoformat(day), money[0], *ints[:6], money[1], *ints[6:])


def canonical_url(url: str) -> str:
    """The page an ad sends people to, without what varies per ad: scheme and host in lower case,
    no "www.", no tracking parameters (utm_*, fbclid, …), no fragment, no trailing slash."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in (80, 443):
        host = f"{host}:{parts.port}"
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not TRACKING_PARAMS.match(k)))
    path = parts.path.rstrip("/") or ""
    return urlunsplit(("https", host, path, query, ""))


def destination_urls(creative: dict[str, Any]) -> list[str]:
    """Every landing page a creative links to (single link, carousel cards, dynamic creative)."""
    urls: list[str] = []
    story = creative.get("object_story_spec") or {}
    link_data = story.get("link_data") or {}
    video_data = story.get("video_data") or {}
    candidates = [
        creative.get("link_url"),
        link_data.get("link"),
        ((video_data.get("call_to_action") or {}).get("value") or {}).get("link"),
        *(card.get("link") for card in link_data.get("child_attachments") or [] if isinstance(card, dict)),
        *(
            entry.get("website_url")
            for entry in (creative.get("asset_feed_spec") or {}).get("link_urls") or []
            if isinstance(entry, dict)
        ),
    ]
    for url in candidates:
        if isinstance(url, str) and url.startswith(("http://", "https://")) and url not in urls:
            urls.append(url)
    return urls


def ad_row(ad: dict[str, Any]) -> dict[str, Any]:
    creative = ad.get("creative") or {}
    story = creative.get("object_story_spec") or {}
    link_data = story.get("link_data") or {}
    video_id = creative.get("video_id") or (story.get("video_data") or {}).get("video_id")
    if link_data.get("child_attachments"):
        ad_format = "carousel"
    elif video_id or creative.get("object_type") == "VIDEO":
        ad_format = "video"
    else:
        ad_format = "image"
    created = ad.get("created_time")
    return {
        "meta_ad_id": str(ad["id"]),
        "name": str(ad.get("name") or ad["id"]),
        "campaign": (ad.get("campaign") or {}).get("name"),
        "campaign_id": ad.get("campaign_id") or (ad.get("campaign") or {}).get("id"),
        "adset": (ad.get("adset") or {}).get("name"),
        "adset_id": ad.get("adset_id") or (ad.get("adset") or {}).get("id"),
        "format": ad_format,
        "ad_copy": creative.get("body") or link_data.get("message"),
        "headline": creative.get("title") or link_data.get("name"),
        "thumbnail_url": creative.get("thumbnail_url"),
        "video_id": str(video_id) if video_id else None,
        "status": str(ad.get("effective_status") or "unknown").lower(),
        "created_time": datetime.strptime(created, "%Y-%m-%dT%H:%M:%S%z") if created else None,
        "urls": destination_urls(creative),
    }


# -- writing ---------------------------------------------------------------------------------

_UPSERT_AD = """
insert into meta_ads (meta_ad_id, brand_id, organization_id, meta_ad_account_id, name, campaign,
  campaign_id, adset, adset_id, format, ad_copy, headline, thumbnail_url, video_id, status, created_time)
values (%(meta_ad_id)s, %(brand_id)s, %(organization_id)s, %(account)s, %(name)s, %(campaign)s,
  %(campaign_id)s, %(adset)s, %(adset_id)s, %(format)s, %(ad_copy)s, %(headline)s, %(thumbnail_url)s,
  %(video_id)s, %(status)s, %(created_time)s)
on conflict (meta_ad_id) do update set
  meta_ad_account_id = excluded.meta_ad_account_id, name = excluded.name, campaign = excluded.campaign,
  campaign_id = excluded.campaign_id, adset = excluded.adset, adset_id = excluded.adset_id,
  format = excluded.format, ad_copy = excluded.ad_copy, headline = excluded.headline,
  thumbnail_url = excluded.thumbnail_url, video_id = excluded.video_id, status = excluded.status,
  created_time = excluded.created_time, updated_at = now()
where (meta_ads.meta_ad_account_id, meta_ads.name, meta_ads.campaign, meta_ads.campaign_id, meta_ads.adset,
       meta_ads.adset_id, meta_ads.format, meta_ads.ad_copy, meta_ads.headline, meta_ads.thumbnail_url,
       meta_ads.video_id, meta_ads.status, meta_ads.created_time)
  is distinct from
      (excluded.meta_ad_account_id, excluded.name, excluded.campaign, excluded.campaign_id, excluded.adset,
       excluded.adset_id, excluded.format, excluded.ad_copy, excluded.headline, excluded.thumbnail_url,
       excluded.video_id, excluded.status, excluded.created_time)
"""

_UPSERT_PERFORMANCE = f"""
with stubs as (
  -- An ad Meta no longer lists (deleted, archived) still has its days: keep them under its name.
  insert into meta_ads (meta_ad_id, brand_id, organization_id, meta_ad_account_id, name)
  select n.meta_ad_id, %(brand_id)s::uuid, %(organization_id)s::uuid, %(account)s, n.ad_name
  from (select i.meta_ad_id, min(i.ad_name) as ad_name from _insights i group by i.meta_ad_id) n
  where not exists (select 1 from meta_ads a where a.meta_ad_id = n.meta_ad_id)
  on conflict (meta_ad_id) do nothing
)
insert into meta_ads_performance (brand_id, organization_id, {", ".join(PERFORMANCE_COLUMNS)})
select %(brand_id)s::uuid, %(organization_id)s::uuid, {", ".join(PERFORMANCE_COLUMNS)} from _insights
on conflict (meta_ad_id, date) do update set
  {", ".join(f"{c} = excluded.{c}" for c in PERFORMANCE_COLUMNS[2:])}, updated_at = now()
where ({", ".join(f"meta_ads_performance.{c}" for c in PERFORMANCE_COLUMNS[2:])})
  is distinct from ({", ".join(f"excluded.{c}" for c in PERFORMANCE_COLUMNS[2:])})
"""


# The same without the conflict handling, for days the brand has no rows for yet.
_INSERT_PERFORMANCE = _UPSERT_PERFORMANCE[: _UPSERT_PERFORMANCE.index("on conflict (meta_ad_id, date)")]

# The lock first (a CTE calling a volatile function is run before the query that reads it), then
# the check: it holds until this transaction's rows are in.
_NEW_DAYS_ONLY = """
with locked as (select pg_advisory_xact_lock(hashtextextended(%(account)s, 0)))
select not exists (
  select 1 from meta_ads_performance where brand_id = %(brand_id)s and date >= %(first_day)s
) as new_days_only
from locked
"""


async def _write_insights(conn: Conn, connection: Connection, batch: dict[tuple[str, str], str]) -> int:
    """One batch of insight rows (`copy_line`s by ad and day): COPY into a temporary table, then one
    statement. The rows written (a row whose figures did not change is not).

    Days the brand has no rows for yet (a first sync, or the days after the last one) are a plain
    insert; otherwise an upsert that skips unchanged rows. Writers of one ad account take turns (a
    transaction lock), so the check holds until the rows are in."""
    owner = {
        "brand_id": connection.brand.id,
        "organization_id": connection.brand.organization_id,
        "account": connection.account_id,
    }
    cur = await conn.execute(_NEW_DAYS_ONLY, {**owner, "first_day": min(day for _, day in batch)})
    check = await cur.fetchone()
    await conn.execute(
        # Dropped at commit: a pooled connection serves several roles, and a temporary table kept
        # from one (say the service role's) is another's (a person's) to be refused.
        "create temporary table _insights (ad_name text, meta_ad_id text, date date,"
        " spend numeric, impressions bigint, reach bigint, clicks bigint, link_clicks bigint,"
        " add_to_carts bigint, purchases bigint, purchase_value numeric, video_3s_views bigint,"
        " video_thruplays bigint, video_p25 bigint, video_p50 bigint, video_p75 bigint, video_p100 bigint)"
        " on commit drop"
    )
    cur = conn.cursor()
    async with cur.copy(f"copy _insights (ad_name, {', '.join(PERFORMANCE_COLUMNS)}) from stdin") as copy:
        chunk: list[str] = []
        for line in batch.values():
            chunk.append(line)
            if len(chunk) == COPY_CHUNK_LINES:
                await copy.write("".join(chunk))
                chunk.clear()
        if chunk:
            await copy.write("".join(chunk))
    new_only = check is not None and check["new_days_only"]
    cur = await conn.execute(_INSERT_PERFORMANCE if new_only else _UPSERT_PERFORMANCE, owner)
    return max(cur.rowcount, 0)


# -- the run ---------------------------------------------------------------------------------


class AccountSync(BaseModel):
    account_id: str
    since: date
    until: date
    ads: int = 0
    ads_written: int = 0
    rows: int = 0
    rows_written: int = 0
    calls: int = 0
    throttled: int = 0
    error: str | None = None
    ads_only: bool = False
    resumed: bool = False  # started where an unfinished run stopped
    saved_through: date | None = None  # every day up to this one is in (when the run stops early)
    ads_with_destination: int = 0
    ads_matched_to_products: int = 0
    top_unmatched_pages: list[str] = []


class SyncResult(BaseModel, Presentable):
    brand: str
    accounts: list[AccountSync]
    paused: list[str] = []
    """Accounts not synced because their connection expired, each with how to reconnect."""

    def as_tables(self) -> list[Table]:
        columns = [
            "account_id",
            "since",
            "until",
            "ads",
            "rows",
            "rows_written",
            "calls",
            "throttled",
            "error",
        ]
        return [table_of("Meta sync", self.accounts, columns)]

    @property
    def ok(self) -> bool:
        return not self.paused and all(a.error is None for a in self.accounts)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        parts = []
        for a in self.accounts:
            head = f"{a.account_id}: {a.since:%b %-d}–{a.until:%b %-d}"
            if a.resumed:
                head += " (resumed where the last sync stopped)"
            if a.error:
                parts.append(f"{head} stopped: {a.error} ({a.rows:,} daily rows were saved before that)")
                if a.saved_through is not None:
                    parts[-1] += (
                        f"; every day through {a.saved_through:%b %-d} is in, and the next sync goes on from there"
                    )
            elif a.ads_only:
                parts.append(
                    f"{a.account_id}: {a.ads:,} ads and their landing pages (no daily results fetched)"
                )
            else:
                parts.append(
                    f"{head}: {a.ads:,} ads, {a.rows:,} daily rows fetched, {a.rows_written:,} new or changed"
                )
            if not a.error and a.ads_with_destination:
                parts[-1] += (
                    f"; {a.ads_matched_to_products:,} of {a.ads_with_destination:,} ads with a landing page"
                    " link to a known product page"
                )
        return f"Meta sync for {self.brand} — " + "; ".join(parts) + "".join(f" {p}" for p in self.paused)


Progress = Callable[[str, float], None]  # (what is happening, fraction done 0..1)


@dataclass
class MetaSync:
    """Syncs one brand. `client_factory` builds a `MetaClient` for a token (tests shrink its waits)."""

    db: Database
    caller: Caller | None  # None: the service role (jobs); else under the caller's RLS
    settings: Settings = field(default_factory=get_settings)
    client_factory: Callable[[SecretStr], MetaClient] | None = None
    progress: Progress | None = None
    batch_rows: int = 20_000

    def _session(self) -> AbstractAsyncContextManager[Conn]:
        return _as(self.db, self.caller)

    def _client(self, token: SecretStr) -> MetaClient:
        if self.client_factory is not None:
            return self.client_factory(token)
        return MetaClient(token=token, graph_url=self.settings.meta_graph_url)

    def _say(self, what: str, done: float) -> None:
        if self.progress is not None:
            self.progress(what, max(0.0, min(1.0, done)))

    async def run(
        self,
        brand_name: str | UUID,
        *,
        today: date | None = None,
        days: int | None = None,
        ads_only: bool = False,
    ) -> SyncResult:
        """Sync the brand's linked accounts (the brand by name as a person wrote it, or by id as jobs
        do). `ads_only`: just the ads and their landing pages (quick, e.g. for a brand never synced
        whose destinations are wanted), no daily results."""
        if days is not None and not 1 <= days <= 730:
            raise InvalidArgument(f"days must be between 1 and 730 (got {days}).")
        today = today or datetime.now(UTC).date()
        async with self._session() as conn:
            if isinstance(brand_name, UUID):
                brand = await brand_by_id(conn, brand_name)
            else:
                brand = await resolve_brand(conn, name=brand_name)
            connections = await connections_for(conn, brand, self.settings)
        # An expired connection is not tried (nor marked active again) until someone reconnects it.
        paused = [
            f"The Meta token for {c.account_id} expired or was revoked. "
            + paused_until_reconnect(c.account_id, brand.name)
            for c in connections
            if c.expired
        ]
        if len(paused) == len(connections):
            raise NeedsReconnect(" ".join(paused))
        result = SyncResult(brand=brand.name, accounts=[], paused=paused)
        for connection in (c for c in connections if not c.expired):
            result.accounts.append(await self._account(connection, today=today, days=days, ads_only=ads_only))
        return result

    async def _account(
        self, connection: Connection, *, today: date, days: int | None, ads_only: bool
    ) -> AccountSync:
        async with self._session() as conn:
            mark, resume_from = await _high_water_mark(conn, connection.account_id)
            await _set_state(conn, connection, "running", None, None)
        revised = today - timedelta(days=self.settings.meta_attribution_days - 1)  # Meta still revises these
        resumed = None
        if days is not None:
            since = today - timedelta(days=days - 1)
        elif mark is not None:
            since = min(mark, today) - timedelta(days=self.settings.meta_attribution_days - 1)
        else:
            since = today - timedelta(days=INITIAL_DAYS - 1)
        if days is None and not ads_only and resume_from is not None and since < resume_from:
            # The last run stopped mid-way: every day before `resume_from` is in; the revised days
            # are read again whatever happened.
            since = resumed = min(resume_from, revised)
        state = AccountSync(
            account_id=connection.account_id,
            since=since,
            until=today,
            ads_only=ads_only,
            resumed=resumed is not None,
        )
        client = self._client(connection.token)
        try:
            await self._sync_ads(client, connection, state)
            async with self._session() as conn:
                await _match_products(conn, connection.brand, state)
            if not ads_only:
                await self._sync_insights(client, connection, state)
        except MetaAuthError as error:
            state.error = error.message
            async with self._session() as conn:
                await conn.execute(
                    "update brand_ad_accounts set status = 'expired', last_error = %s"
                    " where brand_id = %s and meta_ad_account_id = %s",
                    (error.message, connection.brand.id, connection.account_id),
                )
        except UserFacingError as error:
            state.error = error.message
        except Exception:
            log.exception("Meta sync of %s failed", connection.account_id)
            state.error = (
                "an unexpected error on our side (logged); the next sync re-reads from the last complete one"
            )
        finally:
            state.calls, state.throttled = client.calls, client.throttles
        async with self._session() as conn:
            if state.error is None and ads_only:
                await _set_state(conn, connection, "ok", None, None)
            elif state.error is None:
                await _set_state(conn, connection, "ok", None, max(mark or today, today))
                # Marked expired meanwhile (the daily check): it stays so until someone reconnects.
                await conn.execute(
                    "update brand_ad_accounts set last_synced_at = now(),"
                    " status = case status when 'expired' then status else 'active' end,"
                    " last_error = case status when 'expired' then last_error end"
                    " where brand_id = %s and meta_ad_account_id = %s",
                    (connection.brand.id, connection.account_id),
                )
            else:
                await _set_state(conn, connection, "failed", state.error, None)
        return state

    async def _sync_ads(self, client: MetaClient, connection: Connection, state: AccountSync) -> None:
        self._say(f"{connection.account_id}: ads", 0.0)
        pages = client.pages((connection.account_id, "ads"), {"fields": AD_FIELDS})
        async for page in _pages_in_thread(pages):
            ads = [ad_row(ad) for ad in page if ad.get("id")]
            owner = {
                "brand_id": connection.brand.id,
                "organization_id": connection.brand.organization_id,
                "account": connection.account_id,
            }
            destinations = [
                (ad["meta_ad_id"], connection.brand.organization_id, url, canonical_url(url))
                for ad in ads
                for url in ad["urls"]
            ]
            # One round trip per page (executemany pipelines), not per ad.
            async with self._session() as conn, conn.cursor() as cur:
                await cur.executemany(_UPSERT_AD, [{**ad, **owner} for ad in ads])
                state.ads_written += max(cur.rowcount, 0)
                await cur.executemany(
                    "insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)"
                    " values (%s, %s, %s, %s) on conflict (meta_ad_id, canonical_url) do nothing",
                    destinations,
                )
            state.ads += len(ads)
            self._say(f"{connection.account_id}: {state.ads:,} ads", 0.0)

    async def _sync_insights(self, client: MetaClient, connection: Connection, state: AccountSync) -> None:
        params = {
            "level": "ad",
            "time_increment": 1,
            "time_range": {"since": state.since.isoformat(), "until": state.until.isoformat()},
            "fields": INSIGHT_FIELDS,
        }
        span = (state.until - state.since).days + 1
        # Writing runs beside fetching: pages keep coming while the database takes a batch. A batch
        # holds one line per (ad, day): a row Meta repeats across pages is written once, as last sent.
        # A `date` in the queue is a checkpoint: every day before it is in (the rows queued before it
        # are committed), so a run that stops after it resumes from it.
        writes: asyncio.Queue[dict[tuple[str, str], str] | date | None] = asyncio.Queue(maxsize=1)

        async def writer() -> None:
            while (lines := await writes.get()) is not None:
                async with self._session() as conn:
                    if isinstance(lines, date):
                        await conn.execute(
                            "update sync_state set resume_from = %s where meta_ad_account_id = %s"
                            " and stream = 'insights'",
                            (lines, connection.account_id),
                        )
                    else:
                        state.rows_written += await _write_insights(conn, connection, lines)
                if isinstance(lines, date):  # committed
                    state.saved_through = lines - timedelta(days=1)

        async def put(lines: dict[tuple[str, str], str] | date | None) -> None:
            putting = asyncio.ensure_future(writes.put(lines))
            await asyncio.wait({putting, writing}, return_when=asyncio.FIRST_COMPLETED)
            if not putting.done():
                putting.cancel()
                writing.result()  # the writer failed: raise its error here

        writing = asyncio.ensure_future(writer())
        batch: dict[tuple[str, str], str] = {}
        last_day = state.since.isoformat()  # ISO days compare as text
        if span > client.limits.async_after_days:
            pages = client.report_pages(connection.account_id, state.since, state.until, params, INSIGHT_ROWS)
        else:
            pages = _sync_then_async(client, connection.account_id, state, params)
        try:
            async for page in _pages_in_thread(pages):
                if isinstance(page, RangeDone):
                    if page.last < state.until:
                        if batch:
                            await put(batch)
                            batch = {}
                        await put(page.last + timedelta(days=1))
                    continue
                for row in page:
                    parsed = copy_line(row)
                    if parsed is not None:
                        ad_id, day, line = parsed
                        batch[ad_id, day] = line
                        if day > last_day:
                            last_day = day
                state.rows += len(page)
                if len(batch) >= self.batch_rows:
                    await put(batch)
                    batch = {}
                done = ((date.fromisoformat(last_day) - state.since).days + 1) / span
                self._say(f"{connection.account_id}: {state.rows:,} daily rows", done)
        finally:
            # Whatever was fetched is written, also when fetching stopped with an error.
            if not writing.done():
                if batch:
                    await put(batch)
                await put(None)
            await writing
        self._say(f"{connection.account_id}: {state.rows:,} daily rows", 1.0)


def _sync_then_async(
    client: MetaClient, account: str, state: AccountSync, params: dict[str, Any]
) -> Iterator[list[Any] | RangeDone]:
    """A plain request; when Meta finds it too large (100 / 1487534), async report runs instead."""
    try:
        yield from client.pages((account, "insights"), params, INSIGHT_ROWS)
    except MetaTooMuchData:
        yield from client.report_pages(account, state.since, state.until, params, INSIGHT_ROWS)


async def _pages_in_thread(pages: Iterator[list[Any] | RangeDone]) -> Any:
    """The pages of a (synchronous) SDK iterator, each fetched in a worker thread while the previous
    one is written."""
    done = object()

    def step() -> Any:
        return next(pages, done)

    pending = asyncio.ensure_future(asyncio.to_thread(step))
    try:
        while True:
            page = await pending
            if page is done:
                return
            pending = asyncio.ensure_future(asyncio.to_thread(step))
            yield page
    finally:
        if not pending.done():
            pending.cancel()


_MATCH_PRODUCTS = """
with product as (
  select p.id, p.organization_id, c.canonical
  from products p join unnest(%(ids)s::uuid[], %(pages)s::text[]) as c(id, canonical) on c.id = p.id
), inserted as (
  insert into meta_ad_product_matches (meta_ad_id, product_id, organization_id, match_method, confidence)
  select distinct d.meta_ad_id, pr.id, pr.organization_id, 'url', 1.0
  from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
  join product pr on pr.canonical = d.canonical_url
  where a.brand_id = %(brand)s
  on conflict (meta_ad_id, product_id) do nothing
)
select count(distinct d.meta_ad_id) as with_destination,
       count(distinct d.meta_ad_id) filter (where pr.id is not null) as matched
from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
left join product pr on pr.canonical = d.canonical_url
where a.brand_id = %(brand)s
"""

_TOP_UNMATCHED = """
select d.canonical_url, count(distinct d.meta_ad_id) as ads
from meta_ad_destinations d join meta_ads a on a.meta_ad_id = d.meta_ad_id
where a.brand_id = %(brand)s and d.canonical_url <> all(%(pages)s::text[])
group by d.canonical_url order by ads desc, d.canonical_url limit 3
"""


async def _match_products(conn: Conn, brand: BrandRef, state: AccountSync) -> None:
    """Ads whose landing page is one of the brand's product pages (canonical URLs equal), matched in
    SQL over the stored destinations; the counts and the most used unmatched pages for the answer."""
    cur = await conn.execute(
        "select id, product_url from products where brand_id = %s and product_url is not null", (brand.id,)
    )
    products = [(row["id"], canonical_url(row["product_url"])) for row in await cur.fetchall()]
    params = {"brand": brand.id, "ids": [p[0] for p in products], "pages": [p[1] for p in products]}
    cur = await conn.execute(_MATCH_PRODUCTS, params)
    stats = await cur.fetchone()
    state.ads_with_destination = int(stats["with_destination"]) if stats else 0
    state.ads_matched_to_products = int(stats["matched"]) if stats else 0
    cur = await conn.execute(_TOP_UNMATCHED, params)
    state.top_unmatched_pages = [row["canonical_url"] for row in await cur.fetchall()]


async def _high_water_mark(conn: Conn, account_id: str) -> tuple[date | None, date | None]:
    """(the last day fully synced, the day an unfinished run got to) for the account."""
    cur = await conn.execute(
        "select high_water_mark, resume_from from sync_state where meta_ad_account_id = %s and stream = 'insights'",
        (account_id,),
    )
    row = await cur.fetchone()
    return (row["high_water_mark"], row["resume_from"]) if row else (None, None)


async def _set_state(
    conn: Conn, connection: Connection, status: str, error: str | None, mark: date | None
) -> None:
    await conn.execute(
        "insert into sync_state (brand_id, organization_id, meta_ad_account_id, stream, high_water_mark,"
        " last_run_at, last_status, last_error) values (%s, %s, %s, 'insights', %s, now(), %s, %s)"
        " on conflict (meta_ad_account_id, stream) do update set last_run_at = now(),"
        " last_status = excluded.last_status, last_error = excluded.last_error,"
        " high_water_mark = coalesce(excluded.high_water_mark, sync_state.high_water_mark),"
        # A run that got the whole range in leaves nothing to resume.
        " resume_from = case when excluded.high_water_mark is null then sync_state.resume_from end",
        (connection.brand.id, connection.brand.organization_id, connection.account_id, mark, status, error),
    )


async def ensure_account_is_free(db: Database, *, account_id: str, organization_id: Any) -> None:
    """An ad account's ads belong to one organization (ad IDs are unique across the database): refuse
    to link an account another organization already reads, rather than fail at its first sync."""
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select 1 from brand_ad_accounts where meta_ad_account_id = %s and organization_id <> %s"
            " union all select 1 from meta_ads where meta_ad_account_id = %s and organization_id <> %s limit 1",
            (account_id, organization_id, account_id, organization_id),
        )
        taken = await cur.fetchone() is not None
    if taken:
        raise InvalidArgument(
            f"{account_id} is already linked by another organization here; an ad account's data can"
            " belong to only one. Ask whoever runs ViralTracker to move it."
        )


def _as(db: Database, caller: Caller | None) -> AbstractAsyncContextManager[Conn]:
    return db.as_user(caller) if caller is not None else db.as_service()


# -- linking an account ----------------------------------------------------------------------


class LinkResult(BaseModel, Presentable):
    brand: str
    account_id: str
    account_name: str
    currency: str | None = None
    method: str

    def as_tables(self) -> list[Table]:
        return []  # one account, said in the summary

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        return (
            f"Linked {self.account_id} ({self.account_name}, {self.currency or 'currency unknown'}) to"
            f' {self.brand}. Sync it with /sync_meta brand:"{self.brand}".'
        )


async def link_account(
    db: Database,
    caller: Caller | None,
    *,
    brand_name: str,
    account: str,
    settings: Settings | None = None,
    client_factory: Callable[[SecretStr], MetaClient] | None = None,
) -> LinkResult:
    """Link an ad account to a brand with the system user's token, after checking Meta lets it read it.
    `caller` None: as the service role (the CLI, run by whoever operates the deployment)."""
    settings = settings or get_settings()
    account_id = normalize_account_id(account)
    async with _as(db, caller) as conn:
        brand = await resolve_brand(conn, name=brand_name)
    token = system_token(settings)
    if token is None:
        raise ConfigurationError(
            "Linking an account by ID uses META_SYSTEM_USER_TOKEN, which is not set."
            " Set it, or connect Facebook with /connect_meta."
        )
    client = (
        client_factory(token)
        if client_factory
        else MetaClient(token=token, graph_url=settings.meta_graph_url)
    )
    try:
        info = await asyncio.to_thread(
            client.get, (account_id,), {"fields": "id,name,account_status,currency,timezone_name"}
        )
    except ExternalServiceError as error:
        if "code 100" in error.message:
            raise NotFound(
                f"Meta has no ad account {account_id} that this token can read. Check the ID, and that the"
                " system user was given access to the account in Business Settings."
            ) from None
        raise
    if info.get("account_status") not in (1, None):
        raise InvalidArgument(
            f"{account_id} ({info.get('name')}) is not active in Meta (status {info.get('account_status')})."
        )
    await ensure_account_is_free(db, account_id=account_id, organization_id=brand.organization_id)
    async with _as(db, caller) as conn:
        await conn.execute(
            "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id, auth_method, status)"
            " values (%s, %s, %s, 'system_user', 'active') on conflict (brand_id, meta_ad_account_id)"
            " do update set status = 'active', last_error = null",
            (brand.id, brand.organization_id, account_id),
        )
    return LinkResult(
        brand=brand.name,
        account_id=account_id,
        account_name=str(info.get("name") or account_id),
        currency=info.get("currency"),
        method="system_user",
    )


# -- status ----------------------------------------------------------------------------------

EXPIRY_WARNING_DAYS = 7


class ConnectionStatus(BaseModel):
    brand: str
    account_id: str
    method: str
    status: str
    token_expires_at: datetime | None
    last_synced_at: datetime | None
    last_sync: str | None
    health: str
    needs_reconnect: bool = False  # expired, revoked, or expiring within EXPIRY_WARNING_DAYS


class MetaStatusResult(BaseModel, Presentable):
    connections: list[ConnectionStatus]
    summary: str

    def as_tables(self) -> list[Table]:
        columns = ["brand", "account_id", "method", "status", "token_expires_at", "last_synced_at", "health"]
        return [table_of("Meta connections", self.connections, columns)]


async def meta_status(conn: Conn, *, brand: BrandRef | None, now: datetime | None = None) -> MetaStatusResult:
    """Each linked ad account: how it is connected, until when, when it last synced, and what to do."""
    now = now or datetime.now(UTC)
    cur = await conn.execute(
        "select b.name as brand, a.meta_ad_account_id, a.auth_method, a.status, a.token_expires_at,"
        " a.last_synced_at, a.last_error, s.last_status, s.last_error as sync_error"
        " from brand_ad_accounts a join brands b on b.id = a.brand_id"
        " left join sync_state s on s.meta_ad_account_id = a.meta_ad_account_id and s.stream = 'insights'"
        " where (%(brand)s::uuid is null or a.brand_id = %(brand)s) order by b.name, a.created_at",
        {"brand": brand.id if brand else None},
    )
    rows = await cur.fetchall()
    found = [_status_of(row, now) for row in rows]
    scope = brand.name if brand else "your brands"
    if not found:
        summary = (
            f'No Meta ad account is linked to {scope}. Link one with /meta_account brand:"NAME"'
            " account:act_1234567890, or connect Facebook with /connect_meta."
        )
    else:
        attention = [c for c in found if not c.health.startswith("Healthy")]
        summary = f"{len(found)} Meta ad account(s) linked to {scope}; " + (
            f"{len(attention)} need attention." if attention else "all healthy."
        )
    return MetaStatusResult(connections=found, summary=summary)


def _status_of(row: dict[str, Any], now: datetime) -> ConnectionStatus:
    expires: datetime | None = row["token_expires_at"]
    reconnect = f'Reconnect with /connect_meta brand:"{row["brand"]}".'
    needs_reconnect = row["status"] == "expired" or (
        expires is not None and expires - now <= timedelta(days=EXPIRY_WARNING_DAYS)
    )
    if row["status"] == "expired":
        health = f"Token expired or revoked. {reconnect}"
    elif expires is not None and expires <= now:
        health = f"Token expired on {expires:%b %-d}. {reconnect}"
    elif expires is not None and expires - now <= timedelta(days=EXPIRY_WARNING_DAYS):
        health = f"Token expires on {expires:%b %-d}. {reconnect}"
    elif row["last_status"] == "failed":
        health = f"Last sync failed: {row['sync_error'] or row['last_error'] or 'unknown error'}"
    elif row["last_synced_at"] is None:
        health = f'Never synced. Run /sync_meta brand:"{row["brand"]}".'
    else:
        health = "Healthy."
    return ConnectionStatus(
        brand=row["brand"],
        account_id=row["meta_ad_account_id"],
        method=row["auth_method"],
        status=row["status"],
        token_expires_at=expires,
        last_synced_at=row["last_synced_at"],
        last_sync=row["last_status"],
        health=health,
        needs_reconnect=needs_reconnect,
    )
