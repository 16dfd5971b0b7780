"""Tools for Meta as a live source: link an ad account, sync it, see how the connections are doing."""

from __future__ import annotations

from pydantic import Field

from services import brands as brand_service
from services.meta import connections
from services.meta import oauth as meta_oauth
from services.meta import sync as meta_sync
from tools.actions import ActionButton
from tools.common import Days
from tools.deps import Deps
from tools.registry import tool


@tool(
    example='/meta_account brand:"Acme Pets" account:act_1234567890',
    step="Linking {account} to {brand}",
    help="""The account is read with the system user's token. The daily sync runs at 06:00 UTC; change it with
    /schedules.""",
)
async def meta_account(deps: Deps, brand: str, account: str) -> connections.LinkResult:
    """Link a brand to a Meta ad account by its ID, after checking that Meta can read it. Adds a daily sync
    unless the brand has one.

    Args:
        account: act_1234567890 (or the digits).
    """
    return await connections.link_account(deps.db, deps.caller, brand_name=brand, account=account)


@tool(
    example='/sync_meta brand:"Acme Pets"',
    step="Syncing {brand} from Meta",
    help="""Incremental: from the last sync, re-reading the last 7 days that Meta still revises. A worker runs
    the downloads and classification; a notification says when they are done.""",
)
async def sync_meta(
    deps: Deps, brand: str, days: Days | None = None, ads_only: bool = False
) -> meta_sync.SyncResult:
    """Fetch a brand's ads and daily results from Meta now (incremental; never duplicates), match their
    landing pages to products, and queue creative downloads and classification.

    Args:
        days: Re-read this many days back instead of resuming.
        ads_only: Only ads and landing pages (quick; no daily results).
    """
    return await meta_sync.MetaSync(deps.db, deps.caller).run(
        brand, today=deps.today, days=days, ads_only=ads_only
    )


class MetaStatusAnswer(connections.MetaStatusResult):
    """The status, with a Reconnect button (a Facebook sign-in link) per brand whose token needs it."""

    actions: list[ActionButton] = Field(default_factory=list)


@tool(
    example='/meta_status brand:"Acme Pets"',
    step="Checking Meta connections",
    help="Reconnect when a token has expired or expires within 7 days.",
)
async def meta_status(deps: Deps, brand: str | None = None) -> MetaStatusAnswer:
    """Each linked Meta ad account: how it is connected, token expiry, last sync, and what to do when it
    needs attention.

    Args:
        brand: One brand (default all).
    """
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand) if brand else None
        status = await connections.meta_status(conn, brand=brand_ref)
    brands = dict.fromkeys(c.brand for c in status.connections if c.needs_reconnect)
    return MetaStatusAnswer(
        **status.model_dump(),
        actions=[
            ActionButton(label=f"Reconnect {name}", tool="connect_meta", args={"brand": name})
            for name in brands
        ],
    )


@tool(
    example='/connect_meta brand:"Acme Pets"',
    step="Preparing a Facebook sign-in for {brand}",
    help="""The long-lived token is stored encrypted. The link works once, for 15 minutes, and only for this
    person, signed in to the chat in the browser that opens it.""",
)
async def connect_meta(deps: Deps, brand: str) -> meta_oauth.ConnectLink:
    """Give the person a one-time Connect Facebook link (15 minutes) so the brand reads its ad account with
    their access.
    """
    return await meta_oauth.start_connect(deps.db, deps.caller, brand_name=brand)
