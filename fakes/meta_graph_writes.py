"""The fake Graph API's writes: ad sets and campaigns as nodes, and POSTs that change an ad's, ad
set's or campaign's `status`, `daily_budget` or `lifetime_budget`, recorded for tests to check.

Meta's wire format: budgets are strings of the account currency's minor units (cents), a write
answers `{"success": true}`, and refusals are Meta's error bodies: 200 (the token lacks
`ads_management`), 100 (an invalid parameter; subcode 1885272 for a budget under the account's
minimum, with Meta's "Budget Too Low" title). Throttling (17, 80004) and 10 come from
`FakeGraph.fail`, as for reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fakes.meta_graph import FakeAccount, FakeGraph

WRITE_SCOPE = "ads_management"
ALL_SCOPES = ("ads_read", "ads_management", "business_management")
STATUSES = ("ACTIVE", "PAUSED", "DELETED", "ARCHIVED")
BUDGET_FIELDS = ("daily_budget", "lifetime_budget")
ADSET_FIELDS = frozenset(
    {"id", "name", "account_id", "campaign_id", "status", "configured_status", "effective_status",
     "daily_budget", "lifetime_budget", "budget_remaining"}
)  # fmt: skip
CAMPAIGN_FIELDS = ADSET_FIELDS - {"campaign_id"}
DEFAULT_ADSET_DAILY = 5000  # $50.00 a day: ad sets carry the budgets unless a campaign has its own
BUDGET_TOO_LOW = 1885272
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}
ZERO_DECIMAL = frozenset({"JPY", "KRW", "CLP", "COP", "HUF", "IDR", "ISK", "PYG", "TWD", "VND"})


@dataclass
class FakeWrite:
    """One write Meta applied: the object and the fields it set (as sent: strings)."""

    object_id: str
    fields: dict[str, str]
    time: float


@dataclass
class WriteBook:
    """What writes changed, and who may write: kept on `FakeGraph.book`."""

    writes: list[FakeWrite] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    """Object id → its configured status, once written (or set by a test)."""
    budgets: dict[str, dict[str, int]] = field(default_factory=dict)
    """Ad set / campaign id → {daily_budget | lifetime_budget: minor units}; ad sets default to a daily one."""
    scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Token → the permissions it was granted (absent: every one in ALL_SCOPES)."""

    def writes_to(self, object_id: str) -> list[dict[str, str]]:
        return [w.fields for w in self.writes if w.object_id == object_id]


def money(account: FakeAccount, minor: int) -> str:
    """How Meta's user messages write an amount: $1.00, ¥100, 12.50 SEK."""
    amount = minor if account.currency in ZERO_DECIMAL else minor / 100
    text = f"{amount:,.0f}" if account.currency in ZERO_DECIMAL else f"{amount:,.2f}"
    symbol = _SYMBOLS.get(account.currency)
    return f"{symbol}{text}" if symbol else f"{text} {account.currency}"


def _parent(fake: FakeGraph, object_id: str) -> tuple[str, FakeAccount, int] | None:
    """('adset' | 'campaign', account, index) for an ad set or campaign id the fake's ads use."""
    kind = {"236": "adset", "237": "campaign"}.get(object_id[:3])
    if kind is None or len(object_id) != 13 or not object_id.isdigit():
        return None
    number, index = int(object_id[3:7]), int(object_id[7:])
    per = 4 if kind == "adset" else 20
    for account in list(fake.accounts.values()):
        if account.number == number and index * per < account.n_ads:
            return kind, account, index
    return None


def status_of(book: WriteBook, object_id: str, default: str) -> str:
    return book.statuses.get(object_id, default)


def effective_status(fake: FakeGraph, configured: str, adset_id: str, campaign_id: str) -> str:
    """Meta's effective status: a paused campaign or ad set pauses what it holds."""
    if configured != "ACTIVE":
        return configured
    if fake.book.statuses.get(campaign_id, "ACTIVE") == "PAUSED":
        return "CAMPAIGN_PAUSED"
    if fake.book.statuses.get(adset_id, "ACTIVE") == "PAUSED":
        return "ADSET_PAUSED"
    return configured


def _node(fake: FakeGraph, kind: str, account: FakeAccount, index: int) -> dict[str, Any]:
    first_ad = fake._profile(account, index * (4 if kind == "adset" else 20))
    object_id = first_ad.adset_id if kind == "adset" else first_ad.campaign_id
    status = fake.book.statuses.get(object_id, "ACTIVE")
    node: dict[str, Any] = {
        "id": object_id,
        "name": first_ad.adset_name if kind == "adset" else first_ad.campaign_name,
        "account_id": account.digits,
        "status": status,
        "configured_status": status,
        "effective_status": status,
    }
    if kind == "adset":
        node["campaign_id"] = first_ad.campaign_id
        if fake.book.statuses.get(first_ad.campaign_id, "ACTIVE") == "PAUSED" and status == "ACTIVE":
            node["effective_status"] = "CAMPAIGN_PAUSED"
    default = {"daily_budget": DEFAULT_ADSET_DAILY} if kind == "adset" else {}
    budgets = fake.book.budgets.get(object_id, default)
    for name, value in budgets.items():  # Meta leaves out a budget the object does not have
        node[name] = str(value)
    if budgets:
        node["budget_remaining"] = str(next(iter(budgets.values())))
    return node


def route(
    fake: FakeGraph, method: str, node: str, edge: str, params: dict[str, str], allowed: set[str] | None
) -> dict[str, Any] | None:
    """Answer a read of an ad set or campaign, or a write to one or to an ad; None: not ours."""
    from fakes.meta_graph import GraphError

    token = params.get("access_token", "")
    if node == "me" and edge == "permissions" and method == "GET":
        granted = fake.book.scopes.get(token, ALL_SCOPES)
        return {"data": [{"permission": p, "status": "granted"} for p in granted]}
    if edge:
        return None
    parent = _parent(fake, node)
    if parent is not None:
        kind, account, index = parent
        if allowed is not None and account.id not in allowed:
            return None
        if method == "GET":
            known, name = (ADSET_FIELDS, "AdSet") if kind == "adset" else (CAMPAIGN_FIELDS, "Campaign")
            return fake._select(_node(fake, kind, account, index), params, known, name, frozenset({"id"}))
    else:
        try:
            account, _ = fake._locate(node)
        except KeyError:
            return None
        if allowed is not None and account.id not in allowed:
            return None
        kind = "ad"
    if method != "POST":
        return None
    if WRITE_SCOPE not in fake.book.scopes.get(token, ALL_SCOPES):
        raise GraphError(
            403, 200, "(#200) Requires ads_management permission to manage the object", kind="OAuthException"
        )
    fields = {k: v for k, v in params.items() if k in ("status", *BUDGET_FIELDS)}
    unknown = sorted(set(params) - set(fields) - {"access_token", "method", "format"})
    if unknown or not fields:
        raise GraphError(400, 100, f"(#100) Invalid parameter: {', '.join(unknown) or 'nothing to update'}",
                         kind="OAuthException")  # fmt: skip
    if "status" in fields and fields["status"] not in STATUSES:
        raise GraphError(400, 100, "(#100) Param status must be one of {ACTIVE, PAUSED, DELETED, ARCHIVED}")
    budgets: dict[str, int] = {}
    for name in BUDGET_FIELDS:
        if name not in fields:
            continue
        if kind == "ad":
            raise GraphError(400, 100, f"(#100) Tried accessing nonexisting field ({name}) on node type (Ad)")
        if not fields[name].isdigit():
            raise GraphError(400, 100, f"(#100) Param {name} must be an integer")
        budgets[name] = int(fields[name])
        if name == "daily_budget" and budgets[name] < account.min_daily_budget:
            raise GraphError(
                400, 100, "Invalid parameter", subcode=BUDGET_TOO_LOW, user_title="Budget Too Low",
                user_msg=f"The budget for this {'ad set' if kind == 'adset' else 'campaign'} must be at least"
                f" {money(account, account.min_daily_budget)}. Please edit your budget to enable delivery"
                " of your ads.",
            )  # fmt: skip
    with fake._lock:
        if "status" in fields:
            fake.book.statuses[node] = fields["status"]
        if budgets:
            fake.book.budgets[node] = budgets  # a daily budget replaces a lifetime one, and back
        fake.book.writes.append(FakeWrite(node, fields, time.time()))
    return {"success": True}
