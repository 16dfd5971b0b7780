"""The template library in chat: browse approved templates as an image grid; reviewers see the
pending queue with Approve/Reject buttons, each previewed first and done only on confirmation."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotAllowed
from services.demo.catalogue import EXAMPLE_PENDING_TEMPLATE
from services.platform.server_files import ServerFile, shown_name
from services.platform.storage import storage_for
from services.presentable import Presentable, Table
from services.templates import library
from tools.actions import ActionButton, ask_first
from tools.common import Limit
from tools.deps import Deps
from tools.registry import tool

SHORT_ID = 8
MOST_BUTTONS = 5
Shown = Literal["approved", "pending", "rejected", "all"]
Verdict = Literal["approve", "reject"]


class TemplateRow(BaseModel):
    id: str
    """The template's id cut to 8 characters (enough to name it in /review_templates)."""
    name: str
    status: str
    category: str | None
    format: str | None
    tags: str
    source: str | None
    size: str | None
    created_at: datetime
    image_file: ServerFile | None = None
    """The thumbnail: a local file in the embedded default (shown as a grid in chat; answers name it)."""


class TemplateList(Presentable):
    """Templates shown as a table and a grid of their thumbnails (mixed into the answers that list them)."""

    if TYPE_CHECKING:  # a field of the model it is mixed into (declared there, in its place)
        templates: list[TemplateRow]

    def as_tables(self) -> list[Table]:
        if not self.templates:
            return []
        fields = ["id", "name", "status", "category", "format", "tags", "source", "size"]
        rows = [[*(getattr(t, f) for f in fields), shown_name(t.image_file) if t.image_file else None]
                for t in self.templates]  # fmt: skip
        return [Table("Templates", [*fields, "image_file"], rows)]

    def as_images(self) -> list[tuple[str, str]]:
        return [(f"{t.name} · {t.id}", t.image_file) for t in self.templates if t.image_file]


class TemplatesResult(BaseModel, TemplateList):
    summary: str
    status: Shown
    templates: list[TemplateRow] = Field(default_factory=list)
    actions: list[ActionButton] = Field(default_factory=list)


def _rows(deps: Deps, templates: list[library.Template]) -> list[TemplateRow]:
    storage = storage_for(deps.settings)
    rows = []
    for t in templates:
        picture = t.thumbnail_path or t.image_path
        rows.append(
            TemplateRow(
                id=str(t.id)[:SHORT_ID], name=t.name or "Untitled", status=t.status, category=t.category,
                format=t.format, tags=", ".join(t.tags), source=t.source,
                size=f"{t.width}×{t.height}" if t.width and t.height else None, created_at=t.created_at,
                image_file=storage.locate(picture) if picture else None,
            )
        )  # fmt: skip
    return rows


@tool(
    example="/templates status:pending",
    step="Opening the template library",
    help="""Templates are ad layouts shared by every organization; pending is the review queue, where reviewers
    get Approve and Reject buttons.""",
)
async def templates(
    deps: Deps, status: Shown = "approved", category: str | None = None, limit: Limit = 24
) -> TemplatesResult:
    """The template library, newest first, with images. Pending and rejected ones are for template
    reviewers only.

    Args:
        category: e.g. ugc, testimonial, before_after, listicle, offer.
    """
    async with deps.db.as_user(deps.caller) as conn:
        reviewer = await library.is_reviewer(conn)
        if status != "approved" and not reviewer:
            raise NotAllowed(library.REVIEWERS_ONLY)
        found = await library.list_templates(
            conn, status=None if status == "all" else status, category=category, limit=limit
        )
        waiting = await library.count_pending(conn) if reviewer and status == "approved" else 0
    what = {"approved": "approved", "pending": "pending review", "rejected": "rejected", "all": "in all"}
    scope = f" in {category}" if category else ""
    if not found:
        text = f"No templates {what[status]}{scope}."
        if status == "pending":
            text = f"The review queue is empty{scope}: nothing is waiting for approval."
    else:
        text = f"{len(found)} template(s) {what[status]}{scope}" + (
            f" (the newest {limit}; raise limit for more)" if len(found) == limit else ""
        )
        text += ": " + "; ".join(f"{t.name} ({t.category or 'no category'})" for t in found[:MOST_BUTTONS])
        if len(found) > MOST_BUTTONS:
            text += f"; and {len(found) - MOST_BUTTONS} more"
        text += "."
    if waiting:
        text += f" {waiting} template(s) are waiting for your review: /templates status:pending"
    actions: list[ActionButton] = []
    pending = [t for t in found if t.status == "pending"]
    if reviewer and pending:
        for t in pending[:MOST_BUTTONS]:
            short = str(t.id)[:SHORT_ID]
            actions.append(_button(f"Approve {t.name}", short, "approve"))
            actions.append(_button(f"Reject {t.name}", short, "reject"))
        if len(pending) > 1:
            every = ",".join(str(t.id)[:SHORT_ID] for t in pending)
            actions.append(_button(f"Approve all {len(pending)} shown", every, "approve"))
    return TemplatesResult(summary=text, status=status, templates=_rows(deps, found), actions=actions)


def _button(label: str, ids: str, decision: Verdict) -> ActionButton:
    return ActionButton(label=label, tool="review_templates", args={"ids": ids, "decision": decision})


class ReviewAnswer(BaseModel, TemplateList):
    summary: str
    decision: Verdict
    templates: list[TemplateRow] = Field(default_factory=list)
    actions: list[ActionButton] = Field(default_factory=list)


@tool(
    example=f"/review_templates ids:{str(EXAMPLE_PENDING_TEMPLATE)[:8]} decision:approve",
    step="Reviewing templates",
    help="""Approved templates become available to every organization, and products that opted in get them
    scored. An id's first 8 characters are enough.""",
)
async def review_templates(
    deps: Deps,
    ids: str,
    decision: Verdict,
    reason: str | None = None,
    confirm: bool = False,
) -> ReviewAnswer:
    """Approve or reject templates in the review queue (template reviewers only). Previews unless
    confirm:true; ask first.

    Args:
        ids: Template ids, comma-separated.
        reason: Why (kept with the review).
        confirm: true to apply.
    """
    refs = [r for r in ids.replace(" ", ",").split(",") if r]
    if not refs:
        raise InvalidArgument("Name at least one template id, e.g. ids:1f0c2a9e.")
    caller = deps.caller
    async with deps.db.as_user(caller) as conn:
        if not await library.is_reviewer(conn):
            raise NotAllowed(library.REVIEWERS_ONLY)
        found = await library.find_templates(conn, refs=refs)
    pending = [t for t in found if t.status == "pending"]
    done = [t for t in found if t.status != "pending"]
    already = "; ".join(f"{t.name} is already {t.status}" for t in done)
    if not pending:
        return ReviewAnswer(
            summary=f"Nothing to review: {already}.", decision=decision, templates=_rows(deps, found)
        )
    names = ", ".join(t.name or "Untitled" for t in pending)
    verb = "Approve" if decision == "approve" else "Reject"
    if not confirm:
        effect = (
            "They become available to every organization, and products that opted in get them scored."
            if decision == "approve"
            else "They leave the queue and are never recommended."
        )
        text = f"{verb} {len(pending)} template(s): {names}? {effect}"
        if already:
            text += f" ({already}: left as it is.)"
        args: dict[str, str | int | bool] = {
            "ids": ",".join(str(t.id)[:SHORT_ID] for t in pending), "decision": decision,
        }  # fmt: skip
        if reason:
            args["reason"] = reason
        return ask_first(
            ReviewAnswer, text, tool="review_templates", args=args, label=verb,
            decision=decision, templates=_rows(deps, pending),
        )  # fmt: skip
    result = await library.finalize_approval(
        deps.db,
        caller,
        [t.id for t in pending],
        "approved" if decision == "approve" else "rejected",
        reason,
    )
    text = f"{'Approved' if decision == 'approve' else 'Rejected'} {len(result.changed)} template(s)"
    text += ": " + ", ".join(t.name or "Untitled" for t in result.changed) + "." if result.changed else "."
    if result.unchanged:
        text += (
            " Already reviewed meanwhile: "
            + ", ".join(f"{t.name} ({t.status})" for t in result.unchanged)
            + "."
        )
    if result.auto_note:
        text += f" {result.auto_note}"
    return ReviewAnswer(
        summary=text, decision=decision, templates=_rows(deps, result.changed + result.unchanged)
    )
