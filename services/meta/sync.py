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
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, SecretStr, computed_field

from core.errors import (
    InvalidArgument,
    MetaAuthError,
    MetaTooMuchData,
    NeedsReconnect,
    UserFacingError,
)
from db.pool import Caller, Conn, Database
from services.brands import brand_by_id, resolve_brand
from services.calendar_days import local_today
from services.meta.api import MetaClient, RangeDone
from services.meta.connections import Connection, as_caller, connections_for, paused_until_reconnect
from services.meta.generated_links import link_generated_ads, links_phrase
from services.meta.media import STORED_CREATIVES, new_creatives_and_ads
from services.meta.product_matches import match_products
from services.meta.rows import (
    AD_FIELDS,
    INSIGHT_FIELDS,
    INSIGHT_ROWS,
    UPSERT_AD,
    ad_row,
    canonical_url,
    copy_line,
    write_insights,
)
from services.models import BrandRef
from services.pipeline import Queued, queue_after_sync
from services.presentable import Presentable, Table, table_of
from settings import Settings, get_settings

log = logging.getLogger(__name__)

INITIAL_DAYS = 90  # a first sync's history
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
    generated_linked: int = 0  # live ads linked to the generated ads they came from
    queued: Queued = Field(default_factory=Queued)
    """The downloads and classifications this account's new ads set going."""


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
    def queued(self) -> Queued:
        total = Queued()
        for account in self.accounts:
            total.add(account.queued)
        return total

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
            parts[-1] += f"; {links_phrase(a.generated_linked)}" if a.generated_linked else ""
        after = self.queued.sentence
        return (
            f"Meta sync for {self.brand} — "
            + "; ".join(parts)
            + (f". {after}" if after else "")
            + "".join(f" {p}" for p in self.paused)
        )


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
        return as_caller(self.db, self.caller)

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
        async with self._session() as conn:
            if isinstance(brand_name, UUID):
                brand = await brand_by_id(conn, brand_name)
            else:
                brand = await resolve_brand(conn, name=brand_name)
            connections = await connections_for(conn, brand, self.settings)
        # Meta's days are the account's: "today" is the brand's, in its accounts' timezone.
        today = today or local_today(datetime.now(UTC), brand.timezone)
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
                state.generated_linked = await link_generated_ads(conn, brand=connection.brand)
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
            # One round trip per page (executemany pipelines), not per ad. What the page brings is queued
            # in the transaction that stores it: both or neither (a stored ad always has its download and
            # classification queued; the next sync would find it unchanged and queue nothing).
            async with self._session() as conn, conn.cursor() as cur:
                await cur.execute(STORED_CREATIVES, ([ad["meta_ad_id"] for ad in ads],))
                creatives, changed = new_creatives_and_ads(
                    {row["meta_ad_id"]: row for row in await cur.fetchall()}, ads
                )
                queued = await queue_after_sync(
                    conn, brand=connection.brand, creatives=creatives, ads=changed
                )
                await cur.executemany(UPSERT_AD, [{**ad, **owner} for ad in ads])
                state.ads_written += max(cur.rowcount, 0)
                await cur.executemany(
                    "insert into meta_ad_destinations (meta_ad_id, organization_id, url, canonical_url)"
                    " values (%s, %s, %s, %s) on conflict (meta_ad_id, canonical_url) do update"
                    # the latest raw link: a utm_content tracking id added in Ads Manager is read from it
                    " set url = excluded.url where meta_ad_destinations.url is distinct from excluded.url",
                    destinations,
                )
            state.queued.add(queued)
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
                        state.rows_written += await write_insights(conn, connection, lines)
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


async def _match_products(conn: Conn, brand: BrandRef, state: AccountSync) -> None:
    """The brand's ads matched to its product pages; the counts for the answer."""
    found = await match_products(conn, brand_id=brand.id)
    state.ads_with_destination, state.ads_matched_to_products = found.with_destination, found.matched
    state.top_unmatched_pages = found.top_unmatched


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
