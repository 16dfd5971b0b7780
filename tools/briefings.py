"""Briefings in chat (what changed for a brand, and a schedule that posts it to Slack) and the
organization's Slack channel for notifications; writes are for admins, previewed, then confirmed."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NoData, NotAllowed
from jobs import api as jobs_api
from jobs.schedules import check_cron
from services.analytics import briefings as service
from services.brands import resolve_brand
from services.money import InCurrency
from services.platform import slack_channels as channels
from services.platform.accounts import Membership, memberships
from services.platform.slack_out import slack_configured
from services.presentable import Column, Format, Presentable, Shown, Table, with_rows
from tools.actions import ActionButton, admin_of, ask_first
from tools.deps import Deps
from tools.registry import tool

NOT_CONFIGURED = (
    " Warning: Slack is not connected here (SLACK_BOT_TOKEN is not set), so posts will fail until it is."
)


class BriefingAnswer(InCurrency, Presentable):
    summary: str
    briefing: service.Briefing | None = None
    schedule_id: UUID | None = None
    run_id: UUID | None = None
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        return briefing_tables(self.briefing) if self.briefing is not None else []


@tool(
    example='/briefing brand:"Acme Pets" period:day',
    step="Briefing: what changed for {brand} ({period})",
    help="""Winners and losers are judged against the brand's baseline; a hook is fatiguing when its hook rate
    falls while frequency rises; each finding comes with its figures and formula. It reports the
    delta, not the state: yesterday or the last 7 days against the 4 periods before. A schedule such
    as "0 8 * * *" posts every day at 08:00 UTC.""",
)
async def briefing(
    deps: Deps,
    brand: str,
    period: service.Period = "day",
    channel: str | None = None,
    schedule: str | None = None,
    confirm: bool = False,
) -> BriefingAnswer:
    """What changed for a brand: new winners and losers, hooks gaining or fatiguing, spend shifts, scaling
    ads with congruence problems. With channel (and schedule), admins post it to Slack; previews unless
    confirm:true; ask first.

    Args:
        period: day (yesterday) or week (the last 7 full days).
        channel: Slack channel (#name or ID) to post to.
        schedule: A cron in UTC to post on.
        confirm: true to post or schedule.
    """
    caller = deps.caller
    if schedule is not None and channel is None:
        raise InvalidArgument('Say which Slack channel to post to, e.g. channel:"#growth".')
    cron = check_cron(schedule) if schedule is not None else None
    target = channels.check_channel(channel) if channel is not None else None
    async with deps.db.as_user(caller) as conn:
        found = await resolve_brand(conn, name=brand)
        roles = await memberships(conn, user_id=caller.user_id) if target else {}
        try:
            result: service.Briefing | None = await service.briefing(
                conn, brand=found, period=period, today=deps.today
            )
        except NoData:
            if target is None:
                raise
            result = None  # a schedule for a quiet brand is fine: its posts will say so
    if target is None:
        assert result is not None
        return BriefingAnswer(summary=result.summary, briefing=result)
    admin_of(roles, found.organization_id, organization=f"{found.name}'s organization", to="post briefings")
    when = f"on '{cron}' (UTC)" if cron else "now"
    what = f"the {found.name} briefing ({period}) to {target} {when}"
    warn = "" if slack_configured(deps.settings) else NOT_CONFIGURED
    args: dict[str, str | int | bool] = {"brand": found.name, "period": period, "channel": target}
    if cron:
        args["schedule"] = cron
    if not confirm:
        preview = f" It would read: {result.summary}" if result else ""
        return ask_first(
            BriefingAnswer, f"Post {what}?", tool="briefing", args=args,
            label="Schedule" if cron else "Post", note=f"{warn}{preview}", briefing=result,
        )  # fmt: skip
    params = {"period": period, "channel": target}
    if cron:
        schedule_id = await jobs_api.create_schedule(
            deps.db, job_type="briefing", cron=cron, params=params,
            organization_id=found.organization_id, brand_id=found.id,
        )  # fmt: skip
        return BriefingAnswer(
            summary=f"Scheduled: {what}. See it in /jobs view:schedules.{warn}",
            briefing=result,
            schedule_id=schedule_id,
        )
    run_id = await jobs_api.run_now(
        deps.db, job_type="briefing", params=params,
        organization_id=found.organization_id, brand_id=found.id,
    )  # fmt: skip
    return BriefingAnswer(
        summary=f"Posting {what} (run {str(run_id)[:8]}).{warn}", briefing=result, run_id=run_id
    )


class ChannelRow(BaseModel):
    organization: str
    channel: str | None
    role: str


class SlackChannelAnswer(BaseModel, Presentable):
    summary: str
    channels: list[ChannelRow] = Field(default_factory=list)
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        rows = [[r.organization, r.channel, r.role] for r in self.channels]
        return [Table("Slack channels for notifications", ["organization", "channel", "role"], rows)]


@tool(
    example='/slack_channel channel:"#alerts"',
    step="Slack channel for notifications",
    help="Notifications posted are finished syncs, failed jobs, expiring tokens and the like.",
)
async def slack_channel(
    deps: Deps,
    channel: str | None = None,
    clear: bool = False,
    brand: str | None = None,
    confirm: bool = False,
) -> SlackChannelAnswer:
    """The Slack channel for your organization's notifications (never personal ones). Without channel or
    clear it shows the setting; admins set or clear it (previews unless confirm:true; ask first).

    Args:
        channel: #name or ID.
        clear: true to stop posting.
        brand: A brand of the organization (if you are in several).
        confirm: true to apply.
    """
    caller = deps.caller
    if channel is not None and clear:
        raise InvalidArgument("Give either channel or clear:true, not both.")
    target = channels.check_channel(channel) if channel is not None else None
    async with deps.db.as_user(caller) as conn:
        owner = (await resolve_brand(conn, name=brand)).organization_id if brand is not None else None
        roles = await memberships(conn, user_id=caller.user_id)
        rows = [
            ChannelRow(
                organization=m.organization,
                channel=await channels.slack_channel(conn, organization_id=m.organization_id),
                role=m.role,
            )
            for m in sorted(roles.values(), key=lambda m: m.organization)
        ]
    if target is None and not clear:
        said = "; ".join(f"{r.organization}: {r.channel or 'not posted to Slack'}" for r in rows)
        return SlackChannelAnswer(
            summary=f"Notifications to Slack — {said or 'you have no organization'}.", channels=rows
        )
    org = _one_organization(roles, owner)
    admin_of(roles, org.organization_id, organization=org.organization, to="change its Slack channel")
    current = next(r.channel for r in rows if r.organization == org.organization)
    if current == target:
        return SlackChannelAnswer(
            summary=f"Nothing to change: {_describe(org.organization, current)}", channels=rows
        )
    warn = "" if target is None or slack_configured(deps.settings) else NOT_CONFIGURED
    wanted = _describe(org.organization, target)
    if not confirm:
        args: dict[str, str | int | bool] = {"channel": target} if target else {"clear": True}
        if brand is not None:
            args["brand"] = brand
        return ask_first(
            SlackChannelAnswer, f"Change to: {wanted}", tool="slack_channel", args=args, label="Save",
            note=warn, channels=rows,
        )  # fmt: skip
    async with deps.db.as_user(caller) as conn:
        await channels.set_slack_channel(
            conn, organization_id=org.organization_id, channel=target, user_id=caller.user_id
        )
    rows = [
        r.model_copy(update={"channel": target}) if r.organization == org.organization else r for r in rows
    ]
    return SlackChannelAnswer(summary=f"Saved. {wanted}{warn}", channels=rows)


def _one_organization(roles: dict[UUID, Membership], owner: UUID | None) -> Membership:
    """The organization of the brand named, else the caller's only one."""
    if owner is not None:
        return roles[owner]
    if len(roles) == 1:
        return next(iter(roles.values()))
    if not roles:
        raise NotAllowed("You are not in an organization yet: there is no channel to set.")
    names = ", ".join(sorted(f"'{m.organization}'" for m in roles.values()))
    raise InvalidArgument(
        f'You are in several organizations ({names}): name one of its brands too, e.g. brand:"Acme Pets".'
    )


def _describe(organization: str, channel: str | None) -> str:
    if channel is None:
        return f"{organization}'s notifications are not posted to Slack."
    return f"{organization}'s notifications are posted to {channel} (personal ones are not)."


def briefing_tables(b: service.Briefing) -> list[Table]:
    """A briefing's tables (those with rows): winners, losers, hooks, spend shifts, congruence, formulas."""
    ad_fields = ["ad_name", "meta_ad_id", "spend", "roas", "vs_baseline_roas", "cpa", "previous_roas"]
    tables = [
        _table(f"New winners — {b.brand}, {b.current.label}", b.winners, ad_fields),
        _table(f"New losers — {b.brand}, {b.current.label}", b.losers, ad_fields),
    ]
    fields = ["trend", "ad_name", "hook", "previous_hook_rate", "hook_rate", "hook_rate_change",
              "previous_frequency", "frequency", "frequency_change"]  # fmt: skip
    tables.append(_table("Hooks gaining or fatiguing", b.hooks, fields))
    fields = ["level", "name", "spend", "baseline_share", "share", "shift_points"]
    tables.append(_table("Spend shifts (share of spend vs baseline)", b.spend_shifts, fields))
    fields = ["ad_name", "baseline_period_spend", "spend", "spend_change", "congruence_score", "problems"]
    tables.append(_table("Scaling ads with congruence problems", b.congruence, fields))
    tables.append(Table("Formulas and thresholds", ["formula"], [[f] for f in b.formulas]))
    return with_rows(*tables)


_FORMATS: dict[str, Format] = {
    "previous_roas": "ratio",
    "vs_baseline_roas": "ratio",
    "previous_hook_rate": "percent",
    "previous_frequency": "decimal",
    "frequency": "decimal",
    "hook_rate_change": "change",
    "frequency_change": "change",
    "baseline_period_spend": "money",
    "congruence_score": "decimal",
}
"""Columns in a unit of their own (raw numbers: the chat sorts them, the CSV keeps them); the other
columns named after a metric are in its unit."""

_SHOWN = {
    "baseline_share": lambda v: f"{v:.1%}",
    "share": lambda v: f"{v:.1%}",
    "shift_points": lambda v: f"{v:+.1f}",
    "spend_change": lambda v: "new spend" if v is None else f"{v:+.0%}",
}
"""Columns written as the briefing's text writes them (sorted by their numbers)."""


def _table(title: str, items: list[Any], fields: list[str]) -> Table:
    columns = [Column(f, _FORMATS[f]) if f in _FORMATS else f for f in fields]
    values = [
        [
            Shown(getattr(item, f), _SHOWN[f](getattr(item, f))) if f in _SHOWN else getattr(item, f)
            for f in fields
        ]
        for item in items
    ]
    return Table(title, columns, values)
