"""Readiness at a glance: per brand, what data it has (ads, spend, creatives, classifications, products),
how its Meta accounts are (health, last and next sync), and the one next step to take, as a command.

Apart from services/brands.py because it reads the Meta connections, which themselves resolve brands.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from db.pool import Caller, Conn
from services.meta.connections import ConnectionStatus, meta_status
from services.models import BrandRef
from services.platform.accounts import memberships
from services.presentable import Column, Presentable, Table, table_of

NextFire = Callable[[str, datetime], datetime]
"""The first time after a moment that a cron expression (UTC) names (jobs.schedules.next_run)."""


class ToolReadiness(BaseModel):
    tool: str
    ready: bool
    note: str


class BrandOverview(BaseModel):
    name: str
    ads: int
    ads_with_spend: int
    """Ads that spent in the last 30 days."""
    video_ads: int
    creatives_downloaded: int
    """Ads with a stored image or video (ad_assets)."""
    classified_ads: int
    products: int
    landing_pages: int
    reviews: int
    first_day: date | None
    last_day: date | None
    spend_last_30_days: float
    currency: str | None = None
    """The currency of its spend (each brand keeps its accounts'); None before any data came in."""
    linked_accounts: int
    account_health: str
    last_sync: datetime | None
    next_sync: str
    next_step: str
    tools: list[ToolReadiness]


class BrandsResult(BaseModel, Presentable):
    brands: list[BrandOverview]
    summary: str

    def as_tables(self) -> list[Table]:
        data = (
            "name",
            Column("ads", "integer"),
            Column("ads_with_spend", "integer"),
            Column("creatives_downloaded", "integer"),
            Column("classified_ads", "integer"),
            Column("products", "integer"),
            Column("landing_pages", "integer"),
            Column("reviews", "integer"),
            "first_day",
            "last_day",
            Column("spend_last_30_days", "integer"),  # brands differ in currency: said beside it
            "currency",
        )
        setup = ("name", Column("linked_accounts", "integer"), "account_health", "last_sync", "next_sync",
                 "next_step")  # fmt: skip
        if not self.brands:
            return []  # the summary says what to do; empty tables would only say "No results"
        # Two tables: one row each would be too wide to read in a chat or a terminal.
        return [table_of("Brands", self.brands, data), table_of("Setup", self.brands, setup)]


_OVERVIEW_SQL = """
select b.id, b.name, b.organization_id, b.currency,
  (select count(*) from meta_ads a where a.brand_id = b.id) as ads,
  (select count(distinct p.meta_ad_id) from meta_ads_performance p
    where p.brand_id = b.id and p.date between %(since)s and %(until)s and p.spend > 0) as ads_with_spend,
  (select count(*) from meta_ads a where a.brand_id = b.id and a.format = 'video') as video_ads,
  (select count(distinct s.meta_ad_id) from ad_assets s where s.brand_id = b.id) as creatives_downloaded,
  (select count(distinct c.meta_ad_id) from ad_creative_classifications c where c.brand_id = b.id)
    as classified_ads,
  (select count(*) from products p where p.brand_id = b.id and p.archived_at is null) as products,
  (select count(*) from brand_landing_pages l where l.brand_id = b.id) as landing_pages,
  (select count(*) from amazon_reviews r where r.brand_id = b.id) as reviews,
  (select min(p.date) from meta_ads_performance p where p.brand_id = b.id) as first_day,
  (select max(p.date) from meta_ads_performance p where p.brand_id = b.id) as last_day,
  (select coalesce(sum(p.spend), 0) from meta_ads_performance p
    where p.brand_id = b.id and p.date between %(since)s and %(until)s) as spend_last_30_days,
  greatest((select max(s.last_run_at) from sync_state s where s.brand_id = b.id and s.stream = 'insights'),
    (select max(r.finished_at) from job_runs r where r.brand_id = b.id and r.job_type = 'meta_sync')) as last_sync,
  exists (select 1 from sync_state s where s.brand_id = b.id and s.stream = 'insights' and s.last_status = 'ok')
    as ever_synced,
  (select r.status from job_runs r where r.brand_id = b.id and r.job_type = 'meta_sync'
    and r.status in ('queued', 'running') order by r.created_at desc limit 1) as sync_in_progress
from brands b
where b.archived_at is null
order by b.name
"""

_SCHEDULES_SQL = """
select brand_id, cron, next_run_at from scheduled_jobs
where enabled and job_type = 'meta_sync' and brand_id is not null
"""


def plain(command: str) -> str:
    return command


def code(command: str) -> str:
    """A command in a code span: Chainlit's Markdown reads `:word` as a directive and drops it."""
    return f"`{command}`"


def next_step(
    brand: str,
    *,
    products: int,
    linked_accounts: int,
    ads: int,
    ever_synced: bool,
    classified_ads: int,
    paused: bool = False,
    shown: Callable[[str], str] = plain,
) -> str:
    """The one thing to do next for a brand, with the command that does it, in order of what is missing."""
    quoted = f'brand:"{brand}"'
    if products == 0:
        return "add a product: " + shown(f'/products add {quoted} name:"…" urls:https://…')
    if linked_accounts == 0 and ads == 0:
        return (
            f"link an ad account: {shown(f'/meta_account {quoted} account:act_…')}"
            f" (or {shown(f'/connect_meta {quoted}')})"
        )
    if paused:  # every linked account's token expired or was revoked: no sync runs until then
        return "reconnect Meta (syncs are paused): " + shown(f"/connect_meta {quoted}")
    if linked_accounts and not ever_synced:
        return "sync it: " + shown(f"/sync_meta {quoted}")
    if ads and classified_ads == 0:
        return "classify its ads: " + shown(f"/classify {quoted}")
    if ads == 0:
        return "wait for the sync to bring ads, or run " + shown(f"/sync_meta {quoted}")
    return "ready: try " + shown(f"/top_hooks {quoted}")


def _next_sync(
    in_progress: str | None, schedules: list[dict[str, Any]], now: datetime, next_fire: NextFire
) -> str:
    if in_progress is not None:
        return "running now" if in_progress == "running" else "queued now"
    # A stored time already past (workers down, or never ticked) fires at the next tick: show the cron's next.
    times = [
        row["next_run_at"] if row["next_run_at"] and row["next_run_at"] > now else next_fire(row["cron"], now)
        for row in schedules
    ]
    return f"{min(times):%Y-%m-%d %H:%M} UTC" if times else "not scheduled"


def _expired(status: ConnectionStatus, now: datetime) -> bool:
    return status.status == "expired" or (
        status.token_expires_at is not None and status.token_expires_at <= now
    )


def _health(statuses: list[ConnectionStatus]) -> str:
    linked = [s for s in statuses if s.status != "disconnected"]
    if not linked:
        return "no account linked"
    attention = [f"{s.account_id}: {s.health}" for s in linked if not s.health.startswith("Healthy")]
    return "; ".join(attention) if attention else "Healthy."


async def brand_overview(
    conn: Conn, *, since: date, until: date, now: datetime, next_fire: NextFire
) -> BrandsResult:
    """The caller's brands: what data each has, its accounts' health, its last and next sync, which
    tools can answer for it, and the next step to take."""
    cur = await conn.execute(_OVERVIEW_SQL, {"since": since, "until": until})
    rows = await cur.fetchall()
    cur = await conn.execute(_SCHEDULES_SQL)
    schedules: dict[UUID, list[dict[str, Any]]] = {}
    for row in await cur.fetchall():
        schedules.setdefault(row["brand_id"], []).append(row)
    brands: list[BrandOverview] = []
    steps: list[str] = []  # the summary's, commands in code spans
    for row in rows:
        ref = BrandRef(id=row["id"], name=row["name"], organization_id=row["organization_id"])
        statuses = (await meta_status(conn, brand=ref, now=now)).connections
        linked_statuses = [s for s in statuses if s.status != "disconnected"]
        linked = len(linked_statuses)
        paused = bool(linked_statuses) and all(_expired(s, now) for s in linked_statuses)
        ads, classified = int(row["ads"]), int(row["classified_ads"])
        step = partial(
            next_step, ref.name, products=int(row["products"]), linked_accounts=linked, ads=ads,
            ever_synced=bool(row["ever_synced"]), classified_ads=classified, paused=paused,
        )  # fmt: skip
        steps.append(step(shown=code))
        brands.append(
            BrandOverview(
                name=row["name"],
                ads=ads,
                ads_with_spend=int(row["ads_with_spend"]),
                video_ads=int(row["video_ads"]),
                creatives_downloaded=int(row["creatives_downloaded"]),
                classified_ads=classified,
                products=int(row["products"]),
                landing_pages=int(row["landing_pages"]),
                reviews=int(row["reviews"]),
                first_day=row["first_day"],
                last_day=row["last_day"],
                spend_last_30_days=round(float(row["spend_last_30_days"]), 2),
                currency=row["currency"],
                linked_accounts=linked,
                account_health=_health(statuses),
                last_sync=row["last_sync"],
                next_sync=_next_sync(row["sync_in_progress"], schedules.get(ref.id, []), now, next_fire),
                next_step=step(),
                tools=_tools(ads=ads, classified=classified, has_performance=row["last_day"] is not None),
            )
        )
    if not brands:
        summary = "You have no brands yet. " + first_brand_steps(code)
    else:
        summary = f"You have {len(brands)} brand{'s' if len(brands) != 1 else ''}. Next steps:\n" + "\n".join(
            f"- {b.name} ({b.ads} ads, {b.classified_ads} classified): {step}"
            for b, step in zip(brands, steps, strict=True)
        )
    return BrandsResult(brands=brands, summary=summary)


def _tools(*, ads: int, classified: int, has_performance: bool) -> list[ToolReadiness]:
    return [
        ToolReadiness(
            tool="ad_performance",
            ready=has_performance,
            note="daily performance present" if has_performance else "needs ad performance (import or sync)",
        ),
        ToolReadiness(
            tool="top_hooks / hook_analysis",
            ready=has_performance and classified > 0,
            note=f"{classified} of {ads} ads classified"
            if classified
            else "needs classified ads (hooks come from classification)",
        ),
        ToolReadiness(
            tool="congruence_check / congruence_summary",
            ready=classified > 0,
            note=f"{classified} of {ads} ads have congruence components"
            if classified
            else "needs classified ads with a landing page",
        ),
        ToolReadiness(tool="deep_analysis", ready=ads > 0, note=f"{ads} ads" if ads else "needs ads"),
    ]


def first_brand_steps(shown: Callable[[str], str] = plain) -> str:
    """Setting up a brand from nothing, step by step, each with its command."""
    brand = 'brand:"Your brand"'
    create = shown('/brand name:"Your brand" website:https://…')
    add = shown(f'/products add {brand} name:"…" urls:https://…')
    link, connect = shown(f"/meta_account {brand} account:act_…"), shown("/connect_meta")
    return (
        "To get started:\n"
        f"1. Create a brand: {create}\n"
        f"2. Add its products: {add}\n"
        f"3. Link its ad account: {link} (or {connect})\n"
        f"4. Sync it: {shown(f'/sync_meta {brand}')}\n"
        f"5. Classify its ads: {shown(f'/classify {brand}')}\n\n"
        f"Or import an Ads Manager export: {shown('viraltracker import meta-csv FILE --brand NAME')}."
    )


async def first_brand_checklist(
    conn: Conn, *, caller: Caller, shown: Callable[[str], str] = plain, brief: bool = False
) -> str | None:
    """For a person whose organizations have no brand yet, the steps to set one up (and, for a member
    who isn't an admin, who can create brands); None when they can see a brand. `brief`: a line
    pointing to the steps instead of them (a toast at chat start)."""
    cur = await conn.execute("select 1 from brands where archived_at is null limit 1")
    if await cur.fetchone() is not None:
        return None
    roles = await memberships(conn, user_id=caller.user_id)
    if not roles:
        return "You are not in an organization yet: ask an admin to add you to one."
    if any(m.role == "admin" for m in roles.values()):
        if brief:
            return "Your organization has no brand yet: choose “Set up your first brand” below for the steps."
        return "Your organization has no brand yet.\n\n" + first_brand_steps(shown)
    # A member sees only their own membership row: the admins come from a function that shows
    # the admins of the caller's own organizations (migration 20261205000600).
    cur = await conn.execute(
        "select organization, string_agg(email, ', ' order by email) as admins"
        " from public.my_organization_admins() group by organization"
    )
    admins = {row["organization"]: row["admins"] for row in await cur.fetchall()}
    who = "; ".join(
        f"{m.organization}: {admins.get(m.organization) or 'no admin yet'}"
        for m in sorted(roles.values(), key=lambda m: m.organization)
    )
    return (
        "Your organization has no brand yet, and only its admins can create one"
        f" ({who}): ask one to create it with {shown('/brand')}. Then {shown('/brands')} shows each step to take."
    )
