"""A fake Meta Graph API (Marketing API) on a free 127.0.0.1 port, for the real facebook-business SDK.

It answers what the Meta sync reads: the ad account, `/me/adaccounts`, an account's ads, its daily
ad-level insights (sync and async report runs) and the OAuth code / long-lived token exchanges, in
Meta's wire format: values as strings, `{"data": [...], "paging": {"cursors": ..., "next": ...}}`,
the usage headers, and Meta's error bodies. Faults (throttling codes, 190, 5xx bursts, a connection
dropped mid-response) are injected by path.

Insight rows are a pure function of (seed, ad index, day), computed per page, so an account with
5,000 ads × 200 days costs nothing until it is read. `insight_row` and `rows_between` give tests
the same rows the API serves, to compute expected totals independently.

Run alone (for the benchmark): `python -m fakes.meta_graph --port P --accounts act_1:5000:200
--token T` prints `ready http://127.0.0.1:P` and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import itertools
import json
import operator
import re
import secrets
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

from fakes import meta_graph_writes as writes
from fakes.meta_graph_writes import ALL_SCOPES, WriteBook, effective_status

MAX_BODY_BYTES = 1024 * 1024
MEDIA_IMAGE_BYTES = 8 * 1024  # a generated thumbnail's size (a small JPEG's)
MEDIA_VIDEO_BYTES = 256 * 1024
_MEDIA_FILE = re.compile(r"/media/(235\d{10}_thumb|234\d{10})\.(jpg|mp4)")
_GENERATED_VIDEO = re.compile(r"234\d{10}")
DEFAULT_LIMIT = 25
MAX_LIMIT = 500
SHORT_TOKEN_SECONDS = 3600
LONG_TOKEN_SECONDS = 5_184_000  # 60 days
THROTTLE_CODES = frozenset({4, 17, 613, *range(80000, 80015)})
_VERSION = re.compile(r"^/(v\d+\.\d+)(/.*)?$")
_U16 = struct.Struct("<16H")
_U = 1 / 65536

VIDEO_FIELDS = frozenset({"id", "source"})
ARCHIVE_FIELDS = frozenset(
    {
        "id",
        "page_id",
        "page_name",
        "ad_creative_bodies",
        "ad_creative_link_titles",
        "ad_creative_link_descriptions",
        "ad_delivery_start_time",
        "ad_delivery_stop_time",
        "ad_snapshot_url",
    }
)
ACCOUNT_FIELDS = frozenset(
    {
        "id",
        "account_id",
        "name",
        "account_status",
        "currency",
        "timezone_name",
        "disable_reason",
        "min_daily_budget",
    }
)
AD_FIELDS = frozenset(
    {
        "id",
        "account_id",
        "name",
        "status",
        "configured_status",
        "effective_status",
        "created_time",
        "updated_time",
        "campaign_id",
        "adset_id",
        "campaign",
        "adset",
        "creative",
    }
)
INSIGHT_FIELDS = (
    "ad_id",
    "ad_name",
    "adset_id",
    "campaign_id",
    "date_start",
    "date_stop",
    "spend",
    "impressions",
    "reach",
    "clicks",
    "inline_link_clicks",
    "actions",
    "action_values",
    "video_play_actions",
    "video_thruplay_watched_actions",
    "video_p25_watched_actions",
    "video_p50_watched_actions",
    "video_p75_watched_actions",
    "video_p100_watched_actions",
)
"""What `insight_row` returns, and what the API serves when no `fields` are asked for."""
ALL_INSIGHT_FIELDS = frozenset(INSIGHT_FIELDS)
DERIVED_INSIGHT_FIELDS = frozenset(
    {
        "account_id",
        "account_name",
        "account_currency",
        "adset_name",
        "campaign_name",
        "cpm",
        "ctr",
        "cpc",
        "frequency",
    }
)
REPORT_FIELDS = (
    "id",
    "account_id",
    "async_status",
    "async_percent_completion",
    "date_start",
    "date_stop",
    "time_ref",
    "is_running",
)
FIGURES = (
    "impressions",
    "reach",
    "spend",
    "clicks",
    "inline_link_clicks",
    "add_to_cart",
    "purchases",
    "purchase_value",
    "video_plays",
    "video_views",
    "thruplays",
    "video_p25",
    "video_p50",
    "video_p75",
    "video_p100",
)
"""The numbers behind a row, which `set_insight` and `bump` change. `video_views` = 3-second views."""
_MONEY = frozenset({"spend", "purchase_value"})
WHOLE_MONEY = {"JPY": 150, "KRW": 1400}
"""Currencies without minor units, and about how many of them the generated dollar-sized figures are."""
_VIDEO_LISTS = (
    "video_play_actions",
    "video_thruplay_watched_actions",
    "video_p25_watched_actions",
    "video_p50_watched_actions",
    "video_p75_watched_actions",
    "video_p100_watched_actions",
)
_ZEROS: tuple[float, ...] = (0,) * 15
_DATE_PRESETS = {"today": (0, 0), "yesterday": (1, 1), "maximum": (36500, 1)} | {
    f"last_{n}d": (n, 1) for n in (3, 7, 14, 28, 30, 90)
}

# Account numbers (and so ad ids) are unique across every fake of a process: Meta's ad ids are global,
# and tests that share a database must not meet another test's ads under the same id.
_ACCOUNT_NUMBERS = itertools.count(1)

_PRODUCTS = (
    ("glow-serum", "Glow Serum"),
    ("night-cream", "Night Cream"),
    ("daily-spf", "Daily SPF 50"),
    ("lip-oil", "Lip Oil"),
    ("clay-mask", "Clay Mask"),
    ("eye-gel", "Eye Gel"),
    ("body-butter", "Body Butter"),
    ("toner-mist", "Toner Mist"),
)
_CAMPAIGN_THEMES = ("Prospecting", "Retargeting", "UGC Tests", "Evergreen", "Spring Sale", "Bundles")
_HOOKS = (
    "Stop scrolling if your skin feels dry.",
    "I tried this for 30 days. Here is what happened.",
    "The 2-minute routine dermatologists love.",
    "Why is everyone talking about this serum?",
    "Your skin barrier will thank you.",
    "Sold out 3 times. Back in stock today.",
)
_FORMATS = ("UGC video", "Founder video", "Static", "Carousel", "Before-after")


def _uniforms(key: str) -> list[float]:
    """16 deterministic floats in [0, 1) from `key`: one BLAKE2b digest (fast: a single C call)."""
    return [n * _U for n in _U16.unpack(hashlib.blake2b(key.encode(), digest_size=32).digest())]


def _as_date(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(day)


def _encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"fake:{position}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, position = text.split(":")
        if prefix != "fake" or int(position) < 0:
            raise ValueError(cursor)
        return int(position)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise GraphError(400, 100, "(#100) The after cursor is not valid for this request") from exc


def _parse_fields(raw: str | None) -> dict[str, str | None] | None:
    """A `fields` param (`id,campaign{name},creative{id,body}`, or a JSON list as the SDK posts it) as
    {name: the text inside its braces, or None without braces}; None when no fields are asked for."""
    if raw is None or raw == "":
        return None
    if raw.startswith("["):
        try:
            items = json.loads(raw)
        except ValueError:
            items = None
        if isinstance(items, list):
            raw = ",".join(str(item) for item in items)
    fields: dict[str, str | None] = {}
    depth, braces = 0, False
    name: list[str] = []
    inner: list[str] = []

    def flush() -> None:
        # `adcreatives.limit(1){...}` and the like: the name is what comes before the modifier.
        key = "".join(name).split(".")[0].strip()
        if key:
            fields[key] = "".join(inner) if braces else None

    for char in raw:
        if char == "{":
            braces = True
            if depth:
                inner.append(char)
            depth += 1
        elif char == "}":
            depth -= 1
            if depth:
                inner.append(char)
        elif depth:
            inner.append(char)
        elif char == ",":
            flush()
            name, inner, braces = [], [], False
        else:
            name.append(char)
    flush()
    return fields


_DERIVED_ORDER = (
    "account_id",
    "account_name",
    "account_currency",
    "adset_name",
    "campaign_name",
    "cpm",
    "ctr",
    "cpc",
    "frequency",
)
"""DERIVED_INSIGHT_FIELDS in the order of their row arguments (22 onwards)."""
_PURCHASES = ("purchase", "offsite_conversion.fb_pixel_purchase", "omni_purchase")


@dataclass(frozen=True)
class _RowTemplate:
    """A `%` template for an insight row and the getter picking its arguments, in order, from the
    row's argument tuple (see `FakeGraph._row_text` for the argument numbers)."""

    text: str
    pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]


def _row_template(keep: frozenset[str], present: tuple[bool, ...], whole_money: bool = False) -> _RowTemplate:
    """The template for rows with the fields in `keep`, where `present` says which optional figures
    are non-zero (links, 3-second views, carts, purchases, purchase value, the six video lists);
    `whole_money` for a currency without minor units (JPY: "1523", not "1523.00")."""
    money = "d" if whole_money else ".2f"
    links, views, carts, buys, value, *video = present
    parts: list[str] = []
    args: list[int] = []

    def add(text: str, *arg: int) -> None:
        parts.append(text)
        args.extend(arg)

    def action(kind: str, arg: int, spec: str = "s") -> str:
        args.append(arg)
        return f'{{"action_type":"{kind}","value":"%{spec}"}}'

    for arg, name in enumerate(("ad_id", "ad_name", "adset_id", "campaign_id")):
        if name in keep:
            add(f'"{name}":%s' if name == "ad_name" else f'"{name}":"%s"', arg)
    add('"date_start":"%s","date_stop":"%s"', 4, 4)
    if "spend" in keep:
        add(f'"spend":"%{money}"', 5)
    for arg, name in enumerate(("impressions", "reach", "clicks", "inline_link_clicks"), start=6):
        if name in keep:
            add(f'"{name}":"%s"', arg)
    if "actions" in keep and (links or views or carts or buys):
        actions = [action("link_click", 9)] if links else []
        if views:
            actions.append(action("video_view", 10))
        if carts:
            actions.append(action("add_to_cart", 11))
        if buys:
            actions += [action(kind, 12) for kind in _PURCHASES]
        parts.append('"actions":[' + ",".join(actions) + "]")
    if value and "action_values" in keep:
        parts.append('"action_values":[' + ",".join(action(kind, 13, money) for kind in _PURCHASES) + "]")
    for arg, (name, nonzero) in enumerate(zip(_VIDEO_LISTS, video, strict=True), start=14):
        if nonzero and name in keep:
            parts.append(f'"{name}":[' + action("video_view", arg) + "]")
    for arg, name in enumerate(_DERIVED_ORDER, start=22):
        if name in keep:
            add(f'"{name}":%s', arg)
    return _RowTemplate("{" + ",".join(parts) + "}", operator.itemgetter(*args))


def _pick(node: dict[str, Any], fields: dict[str, str | None]) -> dict[str, Any]:
    """The node's fields asked for, in that order. A nested object (an ad's `campaign`, `adset`,
    `creative`) is its `id` alone unless its fields are named in braces, as Meta does; deeper
    levels come whole."""
    out: dict[str, Any] = {}
    for name, inner in fields.items():
        if name not in node:
            continue  # a field without a value is left out
        value = node[name]
        if isinstance(value, dict) and "id" in value:
            wanted = _parse_fields(inner) or {}
            value = {k: value[k] for k in [*wanted, "id"] if k in value}
        out[name] = value
    return out


@dataclass
class FakeRequest:
    """One request the fake received: `path` without the version prefix or query."""

    method: str
    path: str
    params: dict[str, str]
    """Query string and form body together, as received (JSON values still JSON text)."""
    time: float
    status: int = 0


@dataclass
class FakeAccount:
    """An ad account, and the parameters its ads and insight rows are generated from."""

    id: str
    name: str
    currency: str
    timezone_name: str
    account_status: int
    number: int
    """Position among the fake's accounts: it makes this account's object ids unique."""
    n_ads: int = 0
    since: date = date(2026, 1, 1)
    days: int = 0
    seed: int = 1
    video_share: float = 0.6
    min_daily_budget: int = 100
    """The smallest daily budget Meta accepts on this account, in its currency's minor units."""
    profiles: dict[int, _AdProfile] = field(default_factory=dict, repr=False)

    @property
    def digits(self) -> str:
        return self.id.removeprefix("act_")

    def ad_prefix(self) -> str:
        return f"238{self.number:04d}"

    def node(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "account_id": self.digits,
            "name": self.name,
            "account_status": self.account_status,
            "currency": self.currency,
            "timezone_name": self.timezone_name,
            "disable_reason": 0,
            "min_daily_budget": self.min_daily_budget,
        }


@dataclass(frozen=True)
class _AdProfile:
    """An ad's lasting traits: its ids, creative and the scale of its daily figures."""

    index: int
    ad_id: str
    name: str
    adset_id: str
    adset_name: str
    campaign_id: str
    campaign_name: str
    video: bool
    start: int
    """First day (offset from the account's `since`) with delivery."""
    stop: int
    """Day offset after the last with delivery (paused ads stop early)."""
    impressions: float
    cpm: float
    ctr: float
    link_share: float
    cart_rate: float
    buy_rate: float
    order_value: float
    creative: dict[str, Any]
    created_time: str
    name_json: str


@dataclass
class _Fault:
    path_contains: str
    times: int
    skip: int
    kind: Literal["error", "drop"]
    code: int = 0
    subcode: int | None = None
    status: int = 400
    regain_minutes: int | None = None
    message: str | None = None
    drop_when: Literal["mid_body", "before_status"] = "mid_body"


@dataclass
class _ReportRun:
    id: str
    account: FakeAccount
    since: date
    until: date
    params: dict[str, str]
    """The POST's `level`, `time_increment` and `fields`: the report's rows are read with them."""
    polls_needed: int
    fails: bool
    created: float
    polls: int = 0


@dataclass
class _OAuthCode:
    token: str
    accounts: set[str] | None
    redirect_uri: str | None
    expired: bool
    used: bool = False


class GraphError(Exception):
    """Raised inside the fake to answer with Meta's error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        subcode: int | None = None,
        kind: str = "OAuthException",
        transient: bool = False,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        super().__init__(message)
        error: dict[str, Any] = {"message": message, "type": kind, "code": code}
        if subcode is not None:
            error["error_subcode"] = subcode
        error["is_transient"] = transient
        if user_title is not None:
            error["error_user_title"] = user_title
        if user_msg is not None:
            error["error_user_msg"] = user_msg
        error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
        self.status = status
        self.code = code
        self.body = {"error": error}


def _unsupported(method: str, object_id: str) -> GraphError:
    return GraphError(
        400,
        100,
        f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation. Please read the Graph "
        "API documentation at https://developers.facebook.com/docs/graph-api",
        subcode=33,
        kind="GraphMethodException",
    )


def _expired_token_error() -> GraphError:
    now = datetime.now(UTC)
    ended = now - timedelta(hours=1)
    return GraphError(
        400,
        190,
        f"Error validating access token: Session has expired on {ended:%A, %d-%b-%y %H:%M:%S} UTC. "
        f"The current time is {now:%A, %d-%b-%y %H:%M:%S} UTC.",
        subcode=463,
        user_title="Session expired",
        user_msg="Your session has expired. Please log in again.",
    )


def _invalid_token_error() -> GraphError:
    return GraphError(400, 190, "Invalid OAuth access token - Cannot parse access token")


def fault_error(
    code: int, subcode: int | None = None, status: int = 400, message: str | None = None
) -> GraphError:
    """Meta's error for an injected fault, with Meta's wording for the well-known codes."""
    transient = status >= 500 or code in THROTTLE_CODES or code in (1, 2)
    title: str | None = None
    user_msg: str | None = None
    if code == 1:
        default = "An unknown error occurred"
    elif code == 2:
        default = "Service temporarily unavailable"
    elif code == 4:
        default = "(#4) Application request limit reached"
    elif code == 17:
        default = "(#17) User request limit reached"
    elif code == 613:
        default = "(#613) Calls to this api have exceeded the rate limit."
    elif 80000 <= code <= 80014:
        default = (
            f"(#{code}) There have been too many calls to this ad-account. Wait a bit and try again. "
            "For more info, please refer to "
            "https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management."
        )
    elif code == 190 and subcode == 463 and message is None:
        return _expired_token_error()
    elif code == 190:
        default = "Invalid OAuth access token - Cannot parse access token"
    elif code == 100 and subcode == 1487534:
        default = "Please reduce the amount of data you're asking for, then retry your request"
        title, user_msg = "Too much data", default
    elif code == 100:
        default = "(#100) Invalid parameter"
    elif code == 10:
        default = "(#10) Application does not have permission for this action"
    elif code == 200:
        default = "(#200) Requires ads_management permission to manage the object"
    else:
        default = f"(#{code}) An error occurred"
    if code in THROTTLE_CODES:
        title, user_msg = "Too many requests", "There have been too many calls. Wait a bit and try again."
    if status < 500 and title is None and code != 190:
        title, user_msg = "Request failed", message or default
    return GraphError(
        status,
        code,
        message or default,
        subcode=subcode,
        transient=transient,
        user_title=title,
        user_msg=user_msg,
    )


class FakeGraph:
    """Use as a context manager; `url` is the Graph root to give the SDK (`session.GRAPH = fake.url`)."""

    def __init__(self) -> None:
        self.accounts: dict[str, FakeAccount] = {}
        self.tokens: dict[str, set[str] | None] = {}
        """Valid access tokens → the account ids each may read (None: every account)."""
        self.expired_tokens: set[str] = set()
        self.token_expires: dict[str, int] = {}
        """Long-lived token → when it ends (epoch seconds), as `/debug_token` and a re-exchange tell."""
        self.exchange_omits_expires_in = False
        """When set, the `fb_exchange_token` answer has no `expires_in` (Meta's answer at times; its end
        is then only in `/debug_token`, where 0 means never)."""
        self.exchanged_tokens_never_expire = False
        """When set, exchanged tokens don't expire: no `expires_in`, `/debug_token` says `expires_at` 0."""
        self.unextendable_tokens: set[str] = set()
        """Long-lived tokens Meta won't extend: exchanging one answers the same token and its remaining
        lifetime (what Meta does when the person has not used the app lately)."""
        self.usage: dict[str, int] = {
            "call_count": 1,
            "total_cputime": 1,
            "total_time": 1,
            "acc_util": 1,
            "regain_minutes": 0,
        }
        self.async_polls_needed = 3
        self.fail_async_reports = 0
        self.max_sync_rows: int | None = None
        """When set, a sync insights request spanning more (ads × days) answers 100 / 1487534."""
        self.app_id: str | None = None
        self.app_secret: str | None = None
        """When set, the OAuth endpoints check `client_id` / `client_secret` against them."""
        self.requests: list[FakeRequest] = []
        self.unlisted: set[str] = set()
        """Ads /ads no longer lists (`unlist`)."""
        self.internal_errors: list[Exception] = []
        """Exceptions raised by the fake itself (answered with a 500 of type FakeGraphBug)."""
        self._lock = threading.Lock()
        self._faults: list[_Fault] = []
        self._reports: dict[str, _ReportRun] = {}
        self._report_seq = 0
        self._oauth_codes: dict[str, _OAuthCode] = {}
        self._overrides: dict[tuple[str, date], dict[str, float]] = {}
        self._bumps: list[tuple[str, date, date, float]] = []
        self._prefixes: dict[str, FakeAccount] = {}
        self._templates: dict[tuple[frozenset[str], tuple[bool, ...], bool], _RowTemplate] = {}
        self._server: ThreadingHTTPServer | None = None
        self.video_sources: dict[str, str] = {}
        """Video id → the URL `GET /{video_id}?fields=source` answers (any valid token may read it)."""
        self.media_root: str | None = None
        """Set (to `url`) before ads are read: generated creatives' thumbnails and their videos' sources
        are files this fake serves under /media/, as a CDN would; else thumbnails point at
        scontent.example, which never resolves."""
        self.book = WriteBook()
        """Writes to ads, ad sets and campaigns, their statuses and budgets, each token's permissions."""
        self.archive_ads: list[dict[str, Any]] = []
        """The Ad Library (`GET /ads_archive`): ad nodes, each with the `countries` it reached."""
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "the fake is not running"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> FakeGraph:
        """Listen on 127.0.0.1:`port` (0: a free one) in a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        server.daemon_threads = True
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-meta-graph", daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the port (idempotent)."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> FakeGraph:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- data ------------------------------------------------------------------------------------

    def add_token(self, token: str, accounts: Iterable[str] | None = None) -> None:
        """Make `token` valid for `accounts` (None: every account)."""
        self.tokens[token] = None if accounts is None else set(accounts)
        self.expired_tokens.discard(token)

    def expire_token(self, token: str) -> None:
        """From now on `token` gets 190 / subcode 463 (session expired)."""
        self.expired_tokens.add(token)

    def add_account(
        self,
        act_id: str,
        *,
        name: str,
        currency: str = "USD",
        timezone_name: str = "America/New_York",
        account_status: int = 1,
        tokens: set[str] | None = None,
    ) -> FakeAccount:
        """An ad account with no ads yet; `tokens` (created if new) may read it."""
        if not re.fullmatch(r"act_\d+", act_id):
            raise ValueError(f"an ad account id is act_ and digits, not {act_id!r}")
        account = FakeAccount(
            id=act_id,
            name=name,
            currency=currency,
            timezone_name=timezone_name,
            account_status=account_status,
            number=next(_ACCOUNT_NUMBERS),
        )
        self.accounts[act_id] = account
        self._prefixes[account.ad_prefix()] = account
        for token in tokens or ():
            allowed = self.tokens.setdefault(token, set())
            if allowed is not None:
                allowed.add(act_id)
        return account

    def generate(
        self, act_id: str, *, n_ads: int, since: date, days: int, seed: int = 1, video_share: float = 0.6
    ) -> None:
        """Give the account `n_ads` ads with a row per ad per day for `days` days from `since`.

        Nothing is stored per row: rows are computed from (seed, ad index, day) when read.
        """
        if n_ads > 999_999:
            raise ValueError("at most 999,999 ads per account")
        account = self.accounts[act_id]
        account.n_ads, account.since, account.days = n_ads, since, days
        account.seed, account.video_share = seed, video_share
        account.profiles.clear()

    def set_insight(self, ad_id: str, day: date | str, **figures: float) -> None:
        """Change one row's figures (names in FIGURES, e.g. spend=12.5, impressions=900, purchases=2).

        Overrides are applied after `bump`, and are not checked for consistency.
        """
        unknown = set(figures) - set(FIGURES)
        if unknown:
            raise ValueError(f"unknown figures {sorted(unknown)}; known: {FIGURES}")
        self._locate(ad_id)
        self._overrides.setdefault((ad_id, _as_date(day)), {}).update(figures)

    def relabel(self, ad_id: str, *, name: str | None = None, link: str | None = None) -> None:
        """What a marketer types in Ads Manager: the ad's `name` (its insight rows carry it too) and
        its creative's `link_url` (where it sends people)."""
        account, index = self._locate(ad_id)
        with self._lock:
            profile = self._profile(account, index)
            creative = {**profile.creative, **({"link_url": link} if link is not None else {})}
            name = profile.name if name is None else name
            account.profiles[index] = replace(
                profile, name=name, name_json=json.dumps(name), creative=creative
            )

    def bump(self, act_id: str, since: date | str, until: date | str, factor: float) -> None:
        """Scale every figure of the account's rows from `since` to `until` (inclusive) by `factor`."""
        self._bumps.append((act_id, _as_date(since), _as_date(until), factor))

    def add_oauth_code(
        self,
        code: str,
        token: str,
        *,
        accounts: Iterable[str] | None = None,
        redirect_uri: str | None = None,
        expired: bool = False,
    ) -> None:
        """An authorization code that `/oauth/access_token` exchanges (once) for `token`."""
        self._oauth_codes[code] = _OAuthCode(
            token=token,
            accounts=None if accounts is None else set(accounts),
            redirect_uri=redirect_uri,
            expired=expired,
        )

    def add_archive_ad(
        self, page_id: str, page_name: str, *, body: str, title: str = "", countries: Iterable[str] = ("US",),
        start: str = "2026-01-05T08:00:00+0000", stop: str | None = None,
    ) -> str:  # fmt: skip
        """An ad in the Ad Library (its archive id is returned); its snapshot URL carries a token, as Meta's do."""
        ad_id = str(900_000_000_000_000 + len(self.archive_ads))
        node: dict[str, Any] = {
            "id": ad_id, "page_id": page_id, "page_name": page_name, "ad_creative_bodies": [body],
            "ad_creative_link_titles": [title] if title else [], "ad_creative_link_descriptions": [],
            "ad_delivery_start_time": start,
            "ad_snapshot_url": f"https://www.facebook.com/ads/archive/render_ad/?id={ad_id}&access_token=SNAPSHOT-TOKEN",
            "countries": list(countries),
        }  # fmt: skip
        if stop is not None:
            node["ad_delivery_stop_time"] = stop
        self.archive_ads.append(node)
        return ad_id

    def ad_ids(self, act_id: str) -> list[str]:
        account = self.accounts[act_id]
        return [self._profile(account, index).ad_id for index in range(account.n_ads)]

    def ad(self, ad_id: str) -> dict[str, Any]:
        """The ad with every field, as `/ads` serves it."""
        account, index = self._locate(ad_id)
        return self._ad_node(account, self._profile(account, index))

    def insight_row(self, ad_id: str, day: date | str) -> dict[str, Any]:
        """The row as served when all of INSIGHT_FIELDS are asked for.

        A day without delivery gives impressions "0" (and no action lists): the API leaves such
        rows out, and their figures add nothing to a total.
        """
        account, index = self._locate(ad_id)
        day = _as_date(day)
        profile = self._profile(account, index)
        row: dict[str, Any] = json.loads(
            self._row_text(account, profile, day, self._numbers(account, profile, day))
        )
        return row

    def rows_between(self, act_id: str, since: date | str, until: date | str) -> Iterator[dict[str, Any]]:
        """The rows the API serves for the range, in its order: by date, then ad id."""
        account = self.accounts[act_id]
        first, last = self._clip(account, _as_date(since), _as_date(until))
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            for index in range(account.n_ads):
                profile = self._profile(account, index)
                numbers = self._delivers(account, profile, day)
                if numbers is not None:
                    yield json.loads(self._row_text(account, profile, day, numbers))

    # -- faults and introspection ----------------------------------------------------------------

    def fail(
        self,
        path_contains: str,
        *,
        code: int,
        subcode: int | None = None,
        times: int = 1,
        status: int = 400,
        after_calls: int = 0,
        regain_minutes: int | None = None,
        message: str | None = None,
    ) -> None:
        """The next `times` requests whose path contains `path_contains` (after `after_calls` of them
        pass, counted from now, whatever another fault did to them) get Meta's error `code` with HTTP
        `status`. When two faults are due on one request, the one registered first wins. For throttling codes the usage header of
        that level reads 100 (x-app-usage for 4, x-business-use-case-usage for 17 and 80000–80014,
        x-ad-account-usage for 613), and `regain_minutes` goes into the business-use-case header's
        `estimated_time_to_regain_access`."""
        with self._lock:
            self._faults.append(
                _Fault(
                    path_contains,
                    times,
                    after_calls,
                    "error",
                    code=code,
                    subcode=subcode,
                    status=status,
                    regain_minutes=regain_minutes,
                    message=message,
                )
            )

    def unlist(self, ad_id: str, *, name: str | None = None) -> None:
        """Meta stops listing the ad under /ads (deleted or archived) while its days stay in the
        insights; `name` renames it first (the name its insight rows carry)."""
        account, index = self._locate(ad_id)
        with self._lock:
            if name is not None:
                profile = self._profile(account, index)
                account.profiles[index] = replace(profile, name=name, name_json=json.dumps(name))
            self.unlisted.add(ad_id)

    def drop(
        self,
        path_contains: str,
        *,
        times: int = 1,
        after_calls: int = 0,
        when: Literal["mid_body", "before_status"] = "mid_body",
    ) -> None:
        """Drop the connection of the next matching requests: mid-body (a Content-Length longer than
        what is sent, then the socket closes) or before any byte of the response."""
        with self._lock:
            self._faults.append(_Fault(path_contains, times, after_calls, "drop", drop_when=when))

    def media(self, path: str) -> tuple[bytes, str] | None:
        """A generated creative's file under /media/ (bytes that depend on its name only), or None."""
        found = _MEDIA_FILE.fullmatch(path)
        if self.media_root is None or found is None:
            return None
        name, suffix = found.groups()
        size = MEDIA_IMAGE_BYTES if suffix == "jpg" else MEDIA_VIDEO_BYTES
        body = (hashlib.sha256(name.encode()).digest() * (size // 32 + 1))[:size]
        return body, "image/jpeg" if suffix == "jpg" else "video/mp4"

    def calls(self, path_contains: str = "") -> int:
        """How many requests had `path_contains` in their path."""
        with self._lock:
            return sum(1 for request in self.requests if path_contains in request.path)

    # -- serving ---------------------------------------------------------------------------------

    def answer(
        self, method: str, raw_path: str, params: dict[str, str]
    ) -> tuple[int, dict[str, Any] | str, dict[str, str], _Fault | None]:
        """Status, body (a JSON object, or its text), extra headers and the drop fault (if any)."""
        match = _VERSION.match(raw_path)
        version, path = (match.group(1), match.group(2) or "/") if match else ("", raw_path)
        request = FakeRequest(method=method, path=path, params=params, time=time.time())
        with self._lock:
            self.requests.append(request)
            fault = self._take_fault(path)
        account = self._account_of(path)
        status, headers = 200, {}
        body_or_text: dict[str, Any] | str = {}
        throttled: _Fault | None = None
        try:
            if fault is not None and fault.kind == "error":
                throttled = fault
                raise fault_error(fault.code, fault.subcode, fault.status, fault.message)
            body_or_text = self._route(method, path, params, version)
        except GraphError as error:
            status, body_or_text = error.status, error.body
            if error.code == 190:
                headers["WWW-Authenticate"] = (
                    f'OAuth "Facebook Platform" "invalid_token" "{error.body["error"]["message"]}"'
                )
        except Exception as exc:  # a bug in the fake: say so loudly, not as a transient Meta error
            traceback.print_exc()
            self.internal_errors.append(exc)
            status = 500
            body_or_text = {
                "error": {"message": f"FakeGraph bug: {exc!r}", "type": "FakeGraphBug", "code": -1}
            }
        headers.update(self._usage_headers(path, account, throttled))
        if version:
            headers["facebook-api-version"] = version
        request.status = status
        return status, body_or_text, headers, fault if fault is not None and fault.kind == "drop" else None

    def _take_fault(self, path: str) -> _Fault | None:
        chosen: _Fault | None = None
        for fault in self._faults:
            if fault.path_contains not in path:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                continue
            if chosen is None and fault.times > 0:
                fault.times -= 1
                chosen = fault
        self._faults = [fault for fault in self._faults if fault.times > 0]
        return chosen

    def _account_of(self, path: str) -> FakeAccount | None:
        node = path.strip("/").split("/")[0]
        if node.startswith("act_"):
            return self.accounts.get(node)
        report = self._reports.get(node)
        return report.account if report is not None else None

    def _usage_headers(
        self, path: str, account: FakeAccount | None, throttled: _Fault | None
    ) -> dict[str, str]:
        usage = self.usage
        call_count, cputime, total_time = usage["call_count"], usage["total_cputime"], usage["total_time"]
        regain = usage.get("regain_minutes", 0)
        code = throttled.code if throttled is not None else 0
        app = {"call_count": call_count, "total_cputime": cputime, "total_time": total_time}
        if code == 4:
            app["call_count"] = 100
        headers = {"x-app-usage": json.dumps(app, separators=(",", ":"))}
        if account is None:
            return headers
        buc_count = call_count
        if 80000 <= code <= 80014 or code == 17:
            buc_count = 100
        if throttled is not None and throttled.regain_minutes is not None:
            regain = throttled.regain_minutes
        insights = "/insights" in path or path.strip("/").split("/")[0] in self._reports
        buc = {
            "type": "ads_insights" if insights else "ads_management",
            "call_count": buc_count,
            "total_cputime": cputime,
            "total_time": total_time,
            "estimated_time_to_regain_access": regain,
            "ads_api_access_tier": "standard_access",
        }
        util = 100 if code == 613 else usage.get("acc_util", 0)
        headers["x-business-use-case-usage"] = json.dumps({account.digits: [buc]}, separators=(",", ":"))
        headers["x-ad-account-usage"] = json.dumps(
            {"acc_id_util_pct": util, "reset_time_duration": 0, "ads_api_access_tier": "standard_access"},
            separators=(",", ":"),
        )
        return headers

    def _route(self, method: str, path: str, params: dict[str, str], version: str) -> dict[str, Any] | str:
        if path == "/oauth/access_token":
            return self._oauth(params)
        parts = path.strip("/").split("/")
        if path == "/debug_token" and self._is_app_token(params.get("access_token")):
            return self._debug_token(params.get("input_token", ""))
        allowed = self._check_token(params.get("access_token"))
        if path == "/debug_token":
            return self._debug_token(params.get("input_token", ""))
        node, edge = parts[0], "/".join(parts[1:])
        if node == "" and method == "GET" and "ids" in params:
            # Several nodes in one call, as Graph reads `?ids=a,b`: {id: node}; one unknown id fails all.
            ids = [one for one in params["ids"].split(",") if one]
            if len(ids) > 50:
                raise GraphError(400, 100, "(#100) Too many IDs. Maximum: 50.")
            rest = {k: v for k, v in params.items() if k != "ids"}
            return {one: self._route(method, f"/{one}", rest, version) for one in ids}
        if (written := writes.route(self, method, node, edge, params, allowed)) is not None:
            return written
        if node == "me":
            if edge == "" and method == "GET":
                return {"id": "100000000000001", "name": "Fake Meta User"}
            if edge == "adaccounts" and method == "GET":
                visible = [a for a in list(self.accounts.values()) if allowed is None or a.id in allowed]
                return self._page(
                    [a.node() for a in visible], params, path, version, frozenset({"id", "account_id"})
                )
            raise _unsupported(method, node)
        if node == "ads_archive" and edge == "" and method == "GET":
            return self._archive_page(params, path, version)
        if node.startswith("act_"):
            account = self.accounts.get(node)
            if account is None or (allowed is not None and node not in allowed):
                raise _unsupported(method, node)
            if edge == "" and method == "GET":
                return self._select(account.node(), params, ACCOUNT_FIELDS, "AdAccount", frozenset({"id"}))
            if edge == "ads" and method == "GET":
                return self._ads_page(account, params, path, version)
            if edge == "insights" and method == "GET":
                first, last = self._clip(account, *self._time_range(account, params))
                cells = ((last - first).days + 1) * account.n_ads
                if self.max_sync_rows is not None and cells > self.max_sync_rows:
                    raise fault_error(100, 1487534)
                return self._insights_page(account, first, last, params, path, version)
            if edge == "insights" and method == "POST":
                return self._start_report(account, params)
            raise _unsupported(method, node)
        with self._lock:
            report = self._reports.get(node)
        if report is not None and (allowed is None or report.account.id in allowed):
            if edge == "" and method == "GET":
                return self._poll_report(report, params)
            if edge == "insights" and method == "GET":
                if report.polls < report.polls_needed or report.fails:
                    raise GraphError(
                        400, 100, f"(#100) Report run {report.id} has not completed: it cannot be read"
                    )
                params = report.params | params
                return self._insights_page(report.account, report.since, report.until, params, path, version)
        if method == "GET" and edge == "" and node in self.video_sources:
            video = {"id": node, "source": self.video_sources[node]}
            return self._select(video, params, VIDEO_FIELDS, "AdVideo", frozenset({"id"}))
        if method == "GET" and edge == "" and self.media_root and _GENERATED_VIDEO.fullmatch(node):
            video = {"id": node, "source": f"{self.media_root}/media/{node}.mp4?oe=signed"}
            return self._select(video, params, VIDEO_FIELDS, "AdVideo", frozenset({"id"}))
        if method == "GET" and edge == "" and node.isdigit():
            try:
                account, index = self._locate(node)
            except KeyError:
                pass
            else:
                if allowed is None or account.id in allowed:
                    ad = self._ad_node(account, self._profile(account, index))
                    return self._select(ad, params, AD_FIELDS, "Ad", frozenset({"id"}))
        raise _unsupported(method, node)

    def _check_token(self, token: str | None) -> set[str] | None:
        if token is None or token not in self.tokens:
            raise _invalid_token_error()
        if token in self.expired_tokens:
            raise _expired_token_error()
        return self.tokens[token]

    # -- OAuth -----------------------------------------------------------------------------------

    def _is_app_token(self, token: str | None) -> bool:
        """Meta's app access token, `{app-id}|{app-secret}` (only when the fake has an app)."""
        return self.app_id is not None and token == f"{self.app_id}|{self.app_secret}"

    def _check_app(self, params: dict[str, str]) -> None:
        if self.app_id is not None and params.get("client_id") != self.app_id:
            raise GraphError(400, 101, "Error validating application. Invalid application ID.")
        if self.app_secret is not None and params.get("client_secret") != self.app_secret:
            raise GraphError(400, 1, "Error validating client secret.")

    def _oauth(self, params: dict[str, str]) -> dict[str, Any]:
        self._check_app(params)
        if params.get("grant_type") == "fb_exchange_token":
            short = params.get("fb_exchange_token", "")
            self._check_token(short)
            now = int(time.time())
            if short in self.unextendable_tokens:
                remaining = max(self.token_expires.get(short, now + LONG_TOKEN_SECONDS) - now, 0)
                return {"access_token": short, "token_type": "bearer", "expires_in": remaining}
            long = "EAAL" + hashlib.sha256(short.encode()).hexdigest()[:40]
            accounts = self.tokens[short]
            self.tokens[long] = None if accounts is None else set(accounts)
            self.expired_tokens.discard(long)
            self.token_expires[long] = 0 if self.exchanged_tokens_never_expire else now + LONG_TOKEN_SECONDS
            if self.exchange_omits_expires_in or self.exchanged_tokens_never_expire:
                return {"access_token": long, "token_type": "bearer"}
            return {"access_token": long, "token_type": "bearer", "expires_in": LONG_TOKEN_SECONDS}
        code = params.get("code")
        if not code:
            raise GraphError(400, 100, "Missing authorization code")
        with self._lock:
            grant = self._oauth_codes.get(code)
            if grant is None:
                raise GraphError(400, 100, "Invalid verification code format.")
            if grant.used:
                raise GraphError(400, 100, "This authorization code has been used.", subcode=36009)
            if grant.expired:
                raise GraphError(400, 100, "This authorization code has expired.", subcode=36007)
            if grant.redirect_uri is not None and params.get("redirect_uri") != grant.redirect_uri:
                raise GraphError(
                    400,
                    100,
                    "Error validating verification code. Please make sure your redirect_uri is identical "
                    "to the one you used in the OAuth dialog request",
                    subcode=36008,
                )
            grant.used = True
        self.tokens[grant.token] = None if grant.accounts is None else set(grant.accounts)
        self.expired_tokens.discard(grant.token)
        return {"access_token": grant.token, "token_type": "bearer", "expires_in": SHORT_TOKEN_SECONDS}

    def _debug_token(self, input_token: str) -> dict[str, Any]:
        now = int(time.time())
        data: dict[str, Any] = {
            "app_id": self.app_id or "1000000000000001",
            "type": "USER",
            "application": "ViralTracker",
            "data_access_expires_at": now + 90 * 86400,
            "expires_at": self.token_expires.get(input_token, now + LONG_TOKEN_SECONDS),
            "is_valid": input_token in self.tokens and input_token not in self.expired_tokens,
            "scopes": list(self.book.scopes.get(input_token, ALL_SCOPES)),
            "user_id": "100000000000001",
        }
        if input_token in self.expired_tokens:
            data["expires_at"] = now - 3600
            data["error"] = {"code": 190, "message": "Session has expired", "subcode": 463}
        elif input_token not in self.tokens:
            data["error"] = {"code": 190, "message": "Invalid OAuth access token."}
        return {"data": data}

    # -- ads -------------------------------------------------------------------------------------

    def _locate(self, ad_id: str) -> tuple[FakeAccount, int]:
        account = self._prefixes.get(ad_id[:-6])
        if account is None or not ad_id[-6:].isdigit() or int(ad_id[-6:]) >= account.n_ads:
            raise KeyError(ad_id)
        return account, int(ad_id[-6:])

    def _profile(self, account: FakeAccount, index: int) -> _AdProfile:
        profile = account.profiles.get(index)
        if profile is None:
            profile = account.profiles[index] = self._make_profile(account, index)
        return profile

    def _make_profile(self, account: FakeAccount, index: int) -> _AdProfile:
        u = _uniforms(f"ad:{account.seed}:{index}")
        prefix = f"{account.number:04d}"
        ad_id = f"{account.ad_prefix()}{index:06d}"
        adset, campaign = index // 4, index // 20
        video = u[0] < account.video_share
        slug, product = _PRODUCTS[int(u[1] * len(_PRODUCTS))]
        fmt = ("UGC video", "Founder video")[u[2] < 0.3] if video else _FORMATS[2 + int(u[2] * 3)]
        # Where the landing URL sits cycles with the index, so even a few ads show every place.
        if fmt == "Carousel":
            kind = "carousel"
        elif video:
            kind = "asset_feed" if index % 5 == 4 else "link_url"
        else:
            kind = ("link_url", "story_link", "link_url", "asset_feed")[index % 4]
        days = max(account.days, 1)
        start = 0 if u[4] < 0.7 else 1 + int(u[5] * days * 0.6)
        paused = u[6] < 0.2
        stop = days if not paused else start + 1 + int((days - start - 1) * (0.5 + 0.5 * u[7]))
        url = f"https://acme.example/products/{slug}?utm_source=fb&utm_medium=paid&utm_content=ad{index}"
        creative_id = f"235{prefix}{index:06d}"
        thumbs = f"{self.media_root}/media" if self.media_root else "https://scontent.example/v/t45"
        creative: dict[str, Any] = {
            "id": creative_id,
            "body": _HOOKS[int(u[8] * len(_HOOKS))],
            "title": f"{product} - free shipping today",
            "thumbnail_url": f"{thumbs}/{creative_id}_thumb.jpg",
            "object_type": "VIDEO" if video else "SHARE",
        }
        if video:
            creative["video_id"] = f"234{prefix}{index:06d}"
        if kind == "link_url":
            creative["link_url"] = url
        elif kind == "story_link":
            creative["object_story_spec"] = {
                "page_id": "110000000000001",
                "link_data": {"link": url, "message": creative["body"], "name": creative["title"]},
            }
        elif kind == "asset_feed":
            creative["asset_feed_spec"] = {
                "bodies": [{"text": creative["body"]}],
                "link_urls": [{"website_url": url, "display_url": "acme.example"}],
            }
        else:
            links = [
                f"https://acme.example/products/{_PRODUCTS[(index + n) % len(_PRODUCTS)][0]}?utm_source=fb"
                for n in range(3)
            ]
            creative["object_story_spec"] = {
                "page_id": "110000000000001",
                "link_data": {
                    "link": "https://acme.example/collections/bestsellers?utm_source=fb",
                    "message": creative["body"],
                    "child_attachments": [
                        {"link": link, "name": f"Pick {n + 1}"} for n, link in enumerate(links)
                    ],
                },
            }
        created = account.since + timedelta(days=start - 1)
        name = f"{product} - {fmt} - v{index % 7 + 1}"
        adset_id, campaign_id = f"236{prefix}{adset:06d}", f"237{prefix}{campaign:06d}"
        theme = _CAMPAIGN_THEMES[campaign % len(_CAMPAIGN_THEMES)]
        return _AdProfile(
            index=index,
            ad_id=ad_id,
            name=name,
            adset_id=adset_id,
            adset_name=f"{theme} - Broad {adset % 5 + 1}",
            campaign_id=campaign_id,
            campaign_name=f"{theme} {campaign + 1}",
            video=video,
            start=start,
            stop=stop,
            impressions=300 + 4700 * u[9] ** 2,
            cpm=6 + 18 * u[10],
            ctr=0.006 + 0.024 * u[11],
            link_share=0.55 + 0.35 * u[12],
            cart_rate=0.03 + 0.09 * u[13],
            buy_rate=0.2 + 0.4 * u[14],
            order_value=22 + 68 * u[15],
            creative=creative,
            name_json=json.dumps(name),
            created_time=f"{created.isoformat()}T{9 + index % 8:02d}:{index % 60:02d}:00+0000",
        )

    def _ad_node(self, account: FakeAccount, profile: _AdProfile) -> dict[str, Any]:
        status = self.book.statuses.get(profile.ad_id, "ACTIVE" if profile.stop >= account.days else "PAUSED")
        return {
            "id": profile.ad_id,
            "account_id": account.digits,
            "name": profile.name,
            "status": status,
            "configured_status": status,
            "effective_status": effective_status(self, status, profile.adset_id, profile.campaign_id),
            "created_time": profile.created_time,
            "updated_time": profile.created_time,
            "campaign_id": profile.campaign_id,
            "adset_id": profile.adset_id,
            "campaign": {"id": profile.campaign_id, "name": profile.campaign_name},
            "adset": {"id": profile.adset_id, "name": profile.adset_name},
            "creative": profile.creative,
        }

    def _ads_page(
        self, account: FakeAccount, params: dict[str, str], path: str, version: str
    ) -> dict[str, Any]:
        fields = self._fields(params, AD_FIELDS, "Ad", frozenset({"id"}))
        start, limit = self._start(params), self._limit(params)
        stop = min(start + limit, account.n_ads)
        data = [
            _pick(self._ad_node(account, profile), fields)
            for profile in (self._profile(account, i) for i in range(start, stop))
            if profile.ad_id not in self.unlisted
        ]
        body = self._paged(data, start, stop, stop < account.n_ads, params, path, version)
        if params.get("summary") in ("true", "1", "total_count"):
            body["summary"] = {"total_count": account.n_ads}
        return body

    # -- insights --------------------------------------------------------------------------------

    def _numbers(self, account: FakeAccount, profile: _AdProfile, day: date) -> tuple[float, ...]:
        """The row's figures, in FIGURES order (counts as ints, money as floats): generated, then
        bumped, then overridden. All zero on a day without delivery.

        Locals and a tuple, not a dict: a 500-row page must be quick.
        """
        numbers: tuple[float, ...] = _ZEROS
        if profile.start <= (day - account.since).days < profile.stop:
            digest = hashlib.blake2b(
                f"r:{account.seed}:{profile.index}:{day.toordinal()}".encode(), digest_size=32
            ).digest()
            # 16 draws in 0..65535; `_U` turns one into a fraction of 1.
            r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14, r15 = _U16.unpack(digest)
            if r0 >= 1311:  # 2%: a day without delivery now and then
                weekend = 1.15 if day.weekday() >= 5 else 1.0
                impressions = round(profile.impressions * (0.6 + 0.8 * _U * r1) * weekend)
                clicks = round(impressions * profile.ctr * (0.7 + 0.6 * _U * r2))
                links = round(clicks * profile.link_share)
                carts = int(links * profile.cart_rate * (0.5 + _U * r3) + _U * r4)
                buys = min(carts, int(carts * profile.buy_rate * (0.5 + _U * r5) + _U * r6))
                numbers = (
                    impressions,
                    round(impressions * (0.72 + 0.23 * _U * r7)),
                    round(impressions * profile.cpm * (0.85 + 0.3 * _U * r8) / 1000, 2),
                    clicks,
                    links,
                    carts,
                    buys,
                    round(buys * profile.order_value * (0.8 + 0.4 * _U * r9), 2),
                )
                if profile.video:
                    plays = round(impressions * (0.25 + 0.3 * _U * r10))
                    views = round(plays * (0.35 + 0.3 * _U * r11))
                    p25 = round(views * (0.55 + 0.25 * _U * r12))
                    p50 = round(p25 * (0.5 + 0.2 * _U * r13))
                    p75 = round(p50 * (0.55 + 0.2 * _U * r14))
                    p100 = round(p75 * (0.5 + 0.3 * _U * r15))
                    thruplays = p100 + round((views - p100) * 0.3 * _U * r12)
                    numbers += (plays, views, thruplays, p25, p50, p75, p100)
                else:
                    numbers += _ZEROS[:7]
        if self._bumps or self._overrides:
            numbers = self._adjust(account, profile, day, numbers)
        return numbers

    def _adjust(
        self, account: FakeAccount, profile: _AdProfile, day: date, numbers: tuple[float, ...]
    ) -> tuple[float, ...]:
        """`bump` and `set_insight` applied to one row's figures."""
        figures: dict[str, float] | None = None
        for act_id, since, until, factor in self._bumps:
            if act_id == account.id and since <= day <= until:
                figures = figures or dict(zip(FIGURES, numbers, strict=True))
                for name in FIGURES:
                    value = figures[name] * factor
                    figures[name] = round(value, 2) if name in _MONEY else round(value)
        override = self._overrides.get((profile.ad_id, day))
        if override:
            figures = (figures or dict(zip(FIGURES, numbers, strict=True))) | override
        if figures is None:
            return numbers
        return tuple(figures[name] if name in _MONEY else int(figures[name]) for name in FIGURES)

    def _delivers(self, account: FakeAccount, profile: _AdProfile, day: date) -> tuple[float, ...] | None:
        """The row's figures if the API serves it (impressions > 0), else None; cheap for idle days."""
        if (
            not profile.start <= (day - account.since).days < profile.stop
            and (profile.ad_id, day) not in self._overrides
        ):
            return None
        numbers = self._numbers(account, profile, day)
        return numbers if numbers[0] > 0 else None

    def _row_text(
        self,
        account: FakeAccount,
        profile: _AdProfile,
        day: date,
        numbers: tuple[float, ...],
        keep: frozenset[str] = ALL_INSIGHT_FIELDS,
    ) -> str:
        """The row as JSON text with the fields in `keep` (fields and actions without data left out).

        A 500-row page must be quick, so the text comes from one cached `%` template per (fields,
        which figures are non-zero): no dict and no json.dumps per row. `insight_row` parses this
        same text, so tests see exactly what is served.
        """
        imps, reach, spend, clicks, links, carts, buys, value, plays, views, thru, p25, p50, p75, p100 = (
            numbers
        )
        iso = day.isoformat()
        per_dollar = WHOLE_MONEY.get(account.currency)
        if per_dollar is not None:  # Meta reports a currency without minor units in whole units
            spend, value = round(spend * per_dollar), round(value * per_dollar)
        args: tuple[Any, ...] = (
            profile.ad_id,
            profile.name_json,
            profile.adset_id,
            profile.campaign_id,
            iso,
            spend,
            imps,
            reach,
            clicks,
            links,
            views,
            carts,
            buys,
            value,
            plays,
            thru,
            p25,
            p50,
            p75,
            p100,
            0,
            0,
        )
        present = (
            links > 0,
            views > 0,
            carts > 0,
            buys > 0,
            value > 0,
            plays > 0,
            thru > 0,
            p25 > 0,
            p50 > 0,
            p75 > 0,
            p100 > 0,
        )
        key = (keep, present, per_dollar is not None)
        template = self._templates.get(key)
        if template is None:
            template = self._templates[key] = _row_template(keep, present, per_dollar is not None)
        if not keep.isdisjoint(DERIVED_INSIGHT_FIELDS):
            args += (
                json.dumps(account.digits),
                json.dumps(account.name),
                json.dumps(account.currency),
                json.dumps(profile.adset_name),
                json.dumps(profile.campaign_name),
                f'"{spend * 1000 / imps:.6f}"' if imps else '"0"',
                f'"{clicks * 100 / imps:.6f}"' if imps else '"0"',
                f'"{spend / clicks:.6f}"' if clicks else '"0"',
                f'"{imps / reach:.6f}"' if reach else '"0"',
            )
        return template.text % template.pick(args)

    def _insights_page(
        self,
        account: FakeAccount,
        first: date,
        last: date,
        params: dict[str, str],
        path: str,
        version: str,
    ) -> str:
        """One page of daily ad rows, ordered by (date, ad id), as JSON text. The cursor is the
        position in the (day, ad) grid, so any page is found in O(1)."""
        keep = self._insight_fields(params)
        first, last = self._clip(account, first, last)  # no rows outside the generated days
        n_ads = account.n_ads
        total = ((last - first).days + 1) * n_ads if last >= first and n_ads else 0
        start, limit = self._start(params), self._limit(params)
        rows: list[str] = []
        position = start
        day, day_number = first, -1
        while position < total and len(rows) < limit:
            if position // n_ads != day_number:
                day_number = position // n_ads
                day = first + timedelta(days=day_number)
            profile = self._profile(account, position % n_ads)
            position += 1
            numbers = self._delivers(account, profile, day)
            if numbers is not None:
                rows.append(self._row_text(account, profile, day, numbers, keep))
        # The next page starts at the next row with delivery: skip the idle cells now.
        while position < total:
            day = first + timedelta(days=position // n_ads)
            if self._delivers(account, self._profile(account, position % n_ads), day) is not None:
                break
            position += 1
        paging = self._paging(bool(rows), start, position, position < total, params, path, version)
        tail = "" if paging is None else ',"paging":' + json.dumps(paging, separators=(",", ":"))
        return '{"data":[' + ",".join(rows) + "]" + tail + "}"

    def _insight_fields(self, params: dict[str, str]) -> frozenset[str]:
        """The fields to serve (all of INSIGHT_FIELDS when none are asked for); 100 for a shape the
        fake does not serve (it has daily ad-level rows only, not Meta's aggregates)."""
        level = params.get("level", "account")
        if level != "ad":
            raise GraphError(400, 100, f"(#100) FakeGraph serves level=ad only, not level={level}")
        if params.get("time_increment") != "1":
            raise GraphError(400, 100, "(#100) FakeGraph serves time_increment=1 (daily rows) only")
        requested = _parse_fields(params.get("fields"))
        if requested is None:
            return ALL_INSIGHT_FIELDS
        unknown = set(requested) - ALL_INSIGHT_FIELDS - DERIVED_INSIGHT_FIELDS
        if unknown:
            raise GraphError(
                400,
                100,
                f"(#100) {sorted(unknown)[0]} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ "
                "for all valid values",
            )
        return frozenset(requested)

    def _time_range(self, account: FakeAccount, params: dict[str, str]) -> tuple[date, date]:
        raw = params.get("time_range")
        if raw:
            try:
                span = json.loads(raw)
                first, last = date.fromisoformat(span["since"]), date.fromisoformat(span["until"])
            except (ValueError, KeyError, TypeError) as exc:
                raise GraphError(
                    400, 100, "(#100) time_range must be a JSON object with since and until dates"
                ) from exc
            if first > last:
                raise GraphError(400, 100, "(#100) time_range: since must not be after until")
            return first, last
        preset = params.get("date_preset", "last_30d")
        if preset not in _DATE_PRESETS:
            raise GraphError(400, 100, f"(#100) FakeGraph does not serve date_preset={preset}")
        back, end = _DATE_PRESETS[preset]
        today = date.today()
        return today - timedelta(days=back), today - timedelta(days=end)

    def _clip(self, account: FakeAccount, first: date, last: date) -> tuple[date, date]:
        """The part of [first, last] inside the account's generated days."""
        return max(first, account.since), min(last, account.since + timedelta(days=account.days - 1))

    # -- async report runs -----------------------------------------------------------------------

    def _start_report(self, account: FakeAccount, params: dict[str, str]) -> dict[str, Any]:
        self._insight_fields(params)
        first, last = self._time_range(account, params)
        with self._lock:
            self._report_seq += 1
            report_id = f"90{account.number:04d}{self._report_seq:09d}"
            fails = self.fail_async_reports > 0
            if fails:
                self.fail_async_reports -= 1
            self._reports[report_id] = _ReportRun(
                id=report_id,
                account=account,
                since=first,
                until=last,
                params={k: v for k, v in params.items() if k in ("level", "time_increment", "fields")},
                polls_needed=max(self.async_polls_needed, 1),
                fails=fails,
                created=time.time(),
            )
        return {"report_run_id": report_id}

    def _poll_report(self, report: _ReportRun, params: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            report.polls += 1
            polls, needed = report.polls, report.polls_needed
        if polls >= needed:
            status, percent = ("Job Failed", 0) if report.fails else ("Job Completed", 100)
        elif polls == needed - 1:
            status, percent = "Job Running", 100  # Meta reads 100% a poll before it is done
        elif polls == 1:
            status, percent = "Job Not Started", 0
        else:
            status, percent = "Job Running", (polls - 1) * 100 // (needed - 1)
        node: dict[str, Any] = {
            "id": report.id,
            "account_id": report.account.digits,
            "async_status": status,
            "async_percent_completion": percent,
            "date_start": report.since.isoformat(),
            "date_stop": report.until.isoformat(),
            "time_ref": int(report.created),
            "is_running": status in ("Job Not Started", "Job Running"),
        }
        return self._select(node, params, frozenset(REPORT_FIELDS), "AdReportRun", frozenset(REPORT_FIELDS))

    def _archive_page(self, params: dict[str, str], path: str, version: str) -> dict[str, Any]:
        """`/ads_archive` as Meta answers it: page ids and countries are required JSON lists."""

        def listed(name: str) -> list[str]:
            try:
                value = json.loads(params.get(name) or "null")
            except ValueError:
                value = None
            if not isinstance(value, list) or not value:
                raise GraphError(400, 100, f"(#100) The parameter {name} is required and must be a list")
            return [str(v) for v in value]

        pages, countries = set(listed("search_page_ids")), set(listed("ad_reached_countries"))
        status = params.get("ad_active_status", "ACTIVE")
        matching = [
            ad for ad in self.archive_ads
            if ad["page_id"] in pages and ("ALL" in countries or countries & set(ad["countries"]))
            and (status == "ALL" or ("ad_delivery_stop_time" not in ad) == (status == "ACTIVE"))
        ]  # fmt: skip
        fields = self._fields(params, ARCHIVE_FIELDS, "ArchivedAd", frozenset({"id"}))
        start, limit = self._start(params), self._limit(params)
        stop = min(start + limit, len(matching))
        data = [_pick(ad, fields) for ad in matching[start:stop]]
        return self._paged(data, start, stop, stop < len(matching), params, path, version)

    # -- paging and fields -----------------------------------------------------------------------

    def _fields(
        self, params: dict[str, str], known: frozenset[str], node_type: str, default: frozenset[str]
    ) -> dict[str, str | None]:
        """The fields asked for (`default` when none are), each with its nested selection; Meta's
        error 100 for a field the node type does not have."""
        requested = _parse_fields(params.get("fields"))
        if requested is None:
            return dict.fromkeys(sorted(default))
        for name in requested:
            if name not in known:
                raise GraphError(
                    400, 100, f"(#100) Tried accessing nonexisting field ({name}) on node type ({node_type})"
                )
        return requested | ({} if "id" in requested else {"id": None})

    def _select(
        self,
        node: dict[str, Any],
        params: dict[str, str],
        known: frozenset[str],
        node_type: str,
        default: frozenset[str],
    ) -> dict[str, Any]:
        return _pick(node, self._fields(params, known, node_type, default))

    def _limit(self, params: dict[str, str]) -> int:
        raw = params.get("limit", str(DEFAULT_LIMIT))
        if not raw.isdigit() or int(raw) == 0:
            raise GraphError(400, 100, f"(#100) limit must be a positive integer, not {raw!r}")
        return min(int(raw), MAX_LIMIT)

    def _start(self, params: dict[str, str]) -> int:
        after = params.get("after")
        return _decode_cursor(after) if after else 0

    def _page(
        self,
        items: list[dict[str, Any]],
        params: dict[str, str],
        path: str,
        version: str,
        default: frozenset[str],
    ) -> dict[str, Any]:
        fields = self._fields(params, ACCOUNT_FIELDS, "AdAccount", default)
        start, limit = self._start(params), self._limit(params)
        stop = min(start + limit, len(items))
        data = [_pick(item, fields) for item in items[start:stop]]
        return self._paged(data, start, stop, stop < len(items), params, path, version)

    def _paged(
        self,
        data: list[dict[str, Any]],
        start: int,
        after: int,
        more: bool,
        params: dict[str, str],
        path: str,
        version: str,
    ) -> dict[str, Any]:
        paging = self._paging(bool(data), start, after, more, params, path, version)
        return {"data": data} if paging is None else {"data": data, "paging": paging}

    def _paging(
        self,
        any_data: bool,
        start: int,
        after: int,
        more: bool,
        params: dict[str, str],
        path: str,
        version: str,
    ) -> dict[str, Any] | None:
        """Meta's `paging`: cursors on every non-empty page, `next` only when there is more."""
        if not any_data:
            return None
        paging: dict[str, Any] = {
            "cursors": {"before": _encode_cursor(start), "after": _encode_cursor(after)}
        }
        if more:
            query = {k: v for k, v in params.items() if k != "before"} | {"after": _encode_cursor(after)}
            prefix = f"/{version}" if version else ""
            paging["next"] = f"{self.url}{prefix}{path}?{urlencode(query)}"
        return paging


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # an idle keep-alive connection does not hold a thread for long
    # Headers and body go out in two writes: without TCP_NODELAY the body waits for the client's
    # delayed ACK (~40 ms) on every keep-alive response, which no real server makes its clients pay.
    disable_nagle_algorithm = True
    server_version = "fake-graph"

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        fake: FakeGraph = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        if self.command == "GET" and (media := fake.media(url.path)) is not None:
            body, content_type = media  # a CDN file: no token, no Graph envelope
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.send_error(413)
            return
        raw = self.rfile.read(length) if length else b""
        if raw:
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    parsed = {}
                if isinstance(parsed, dict):
                    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in parsed.items()})
            else:
                params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        # Like Graph: the token may come as a header ("OAuth <token>" or "Bearer <token>") instead.
        scheme, _, credentials = (self.headers.get("Authorization") or "").partition(" ")
        if "access_token" not in params and scheme.lower() in ("oauth", "bearer") and credentials:
            params["access_token"] = credentials.strip()
        status, payload, headers, drop = fake.answer(self.command, url.path, params)
        if drop is not None and drop.drop_when == "before_status":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        data = (payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data) + (4096 if drop is not None else 0)))
        self.send_header("x-fb-trace-id", "A" + secrets.token_urlsafe(8))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if drop is not None:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests and the benchmark show their own output."""


def main(argv: list[str] | None = None) -> None:
    """Serve a generated fake until killed: the benchmark runs it in its own process."""
    parser = argparse.ArgumentParser(prog="python -m fakes.meta_graph", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--accounts",
        nargs="+",
        default=["act_1:50:30"],
        metavar="ACT:ADS:DAYS",
        help="e.g. act_1:5000:200 (rows from today - DAYS to yesterday)",
    )
    parser.add_argument("--token", action="append", default=[], help="a valid token for every account")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--async-polls", type=int, default=3)
    parser.add_argument("--media", action="store_true", help="serve the creatives' thumbnails and videos")
    args = parser.parse_args(argv)
    fake = FakeGraph()
    fake.async_polls_needed = args.async_polls
    if args.media:  # the media URLs name the fake's own address: listen before the ads are built
        fake.start(args.port)
        fake.media_root = fake.url
    for token in args.token or ["test-token"]:
        fake.add_token(token)
    for spec in args.accounts:
        act_id, n_ads, days = spec.split(":")
        fake.add_account(act_id, name=f"Account {act_id}")
        fake.generate(
            act_id,
            n_ads=int(n_ads),
            since=date.today() - timedelta(days=int(days)),
            days=int(days),
            seed=args.seed,
        )
        fake.ad_ids(act_id)  # build the ads' profiles now, not during the first timed pages
    if not args.media:
        fake.start(args.port)
    print(f"ready {fake.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        fake.close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
