"""Auto-recommendations in chat: which products get newly approved templates scored and recommended
to them, and (admins) turning it on or off and setting the score threshold, confirmed first."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from jobs import api as jobs_api
from services.platform.accounts import memberships
from services.presentable import Presentable, Table, table_of
from services.products import resolve_product
from services.templates.auto import JOB_TYPE, AutoSetting, auto_settings, set_auto
from tools.actions import ActionButton, admin_of, ask_first
from tools.deps import Deps
from tools.registry import tool


class TemplateAutoResult(BaseModel, Presentable):
    summary: str
    products: list[AutoSetting] = Field(default_factory=list)
    run_id: UUID | None = None
    """The scoring run queued when auto-recommendations were turned on."""
    actions: list[ActionButton] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        columns = ["product", "brand", "enabled", "threshold"]
        return [table_of("Template auto-recommendations", self.products, columns)]


@tool(
    example='/template_auto product:"Joint Chews" enabled:true threshold:70',
    step="Template auto-recommendations",
    help="""When a template is approved, each product with auto-recommendations on gets it scored for fit
    (0-100); those at or above the product's threshold are added to its recommendations with a
    notification.""",
)
async def template_auto(
    deps: Deps,
    product: str | None = None,
    enabled: bool | None = None,
    threshold: Annotated[float, Field(ge=0, le=100)] | None = None,
    confirm: bool = False,
) -> TemplateAutoResult:
    """A product's auto-recommendations of newly approved templates that score at or above its threshold.
    Without enabled/threshold it shows the settings; admins change them (previews unless confirm:true).

    Args:
        product: Default: all your products.
        enabled: Turn it on or off.
        threshold: The score needed (default 70).
        confirm: true to apply.
    """
    caller = deps.caller
    async with deps.db.as_user(caller) as conn:
        if product is None:
            if enabled is not None or threshold is not None:
                raise InvalidArgument("Say which product to change, e.g. " + _example())
            rows = await auto_settings(conn)
            on = [r for r in rows if r.enabled]
            names = ", ".join(f"{r.product} ({r.threshold:.0f}+)" for r in on)
            return TemplateAutoResult(
                summary=f"Auto-recommendations are on for {len(on)} of your {len(rows)} product(s)"
                + (f": {names}." if on else ". Turn them on with " + _example()),
                products=rows,
            )
        found = await resolve_product(conn, name=product)
        [current] = await auto_settings(conn, product_id=found.id)
        roles = await memberships(conn, user_id=caller.user_id)
    if enabled is None and threshold is None:
        toggle = "Turn off" if current.enabled else "Turn on"
        args: dict[str, str | int | bool] = {"product": found.name, "enabled": not current.enabled}
        return TemplateAutoResult(
            summary=_describe(current), products=[current],
            actions=[ActionButton(label=f"{toggle} for {found.name}", tool="template_auto", args=args)],
        )  # fmt: skip
    admin_of(
        roles, found.organization_id, organization=f"{found.brand}'s organization",
        to="change auto-recommendations",
    )  # fmt: skip
    wanted = AutoSetting(
        product=found.name, brand=found.brand,
        enabled=current.enabled if enabled is None else enabled,
        threshold=current.threshold if threshold is None else threshold,
    )  # fmt: skip
    if wanted == current:
        return TemplateAutoResult(summary="Nothing to change: " + _describe(current), products=[current])
    if not confirm:
        args = {"product": found.name}
        if enabled is not None:
            args["enabled"] = enabled
        if threshold is not None:
            args["threshold"] = f"{threshold:g}"
        return ask_first(
            TemplateAutoResult, f"Change {found.name} ({found.brand}) to: {_describe(wanted)}",
            tool="template_auto", args=args, label="Save", products=[current],
        )  # fmt: skip
    async with deps.db.as_user(caller) as conn:
        await set_auto(conn, product_id=found.id, enabled=wanted.enabled, threshold=wanted.threshold)
    run_id = None
    if wanted.enabled:  # score the approved library for it now, not only future approvals
        run_id = await jobs_api.run_now(
            deps.db, job_type=JOB_TYPE, params={"product_ids": [str(found.id)]},
            organization_id=None, brand_id=None,
        )  # fmt: skip
    done = f"Saved. {_describe(wanted)}"
    if run_id is not None:
        done += (
            f" Scoring the approved library for {found.name} now (run {str(run_id)[:8]}); you'll be"
            " notified of the templates that make the cut."
        )
    return TemplateAutoResult(summary=done, products=[wanted], run_id=run_id)


def _describe(setting: AutoSetting) -> str:
    if not setting.enabled:
        return f"Auto-recommendations are off for {setting.product} (threshold {setting.threshold:.0f})."
    return (
        f"Auto-recommendations are on for {setting.product}: newly approved templates scoring"
        f" {setting.threshold:.0f} or more are recommended, with a notification."
    )


def _example() -> str:
    return '/template_auto product:"Joint Chews" enabled:true threshold:70'
