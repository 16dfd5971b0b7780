"""Meta's rows as ours: ads and daily insights parsed (msgspec), normalised, and written by COPY."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from db.pool import Conn
from services.meta.api import RowReader
from services.meta.connections import Connection

CENT = Decimal("0.01")
ZERO_MONEY = Decimal("0.00")
COPY_CHUNK_LINES = 2_000  # about 200 kB of COPY text per write
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

UPSERT_AD = """
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


async def write_insights(conn: Conn, connection: Connection, batch: dict[tuple[str, str], str]) -> int:
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
