"""The template library: images imported into a pending queue (`services.templates.importing`),
reviewed by platform reviewers, then approved for every organization's recommendations.

Reviewers hold the `template_reviewer` platform role (`platform_roles`, granted by the operator with
`viraltracker templates reviewer EMAIL`); row-level security shows them the pending queue and lets
them change a template's review, and nothing else of it. Everyone else sees approved templates only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotAllowed, NotFound
from db.pool import Caller, Conn, Database
from services.platform.storage import Storage, storage_for
from services.templates.auto import on_templates_approved
from services.templates.images import demo_image
from services.templates.importing import (
    ImportItem,
    ImportResult,
    TemplateMeta,
    import_templates,
    normalise_meta,
)
from settings import Settings, get_settings

log = logging.getLogger(__name__)

Status = Literal["pending", "approved", "rejected"]
Decision = Literal["approved", "rejected"]
__all__ = ["ImportItem", "ImportResult", "TemplateMeta", "import_templates"]


class Template(BaseModel):
    id: UUID
    name: str | None
    status: Status
    category: str | None
    format: str | None
    tags: list[str]
    source: str | None
    source_url: str | None
    description: str | None
    image_path: str | None
    thumbnail_path: str | None
    width: int | None
    height: int | None
    created_at: datetime
    reviewed_at: datetime | None
    review_reason: str | None


class ReviewResult(BaseModel):
    decision: Decision
    changed: list[Template] = Field(default_factory=list)
    unchanged: list[Template] = Field(default_factory=list)
    """Already reviewed before this decision: left as they were."""
    auto_note: str | None = None
    """What the auto-recommendation step did (or why it could not), after an approval."""


_COLUMNS = (
    "id, name, status, category, format, tags, source, source_url, description, image_path,"
    " thumbnail_path, width, height, created_at, reviewed_at, review_reason"
)


async def is_reviewer(conn: Conn) -> bool:
    """Whether the connection's caller may review templates (a platform role)."""
    cur = await conn.execute("select public.is_template_reviewer() as ok")
    row = await cur.fetchone()
    return bool(row and row["ok"])


async def list_templates(
    conn: Conn,
    *,
    status: Status | None = None,
    category: str | None = None,
    ids: list[UUID] | None = None,
    limit: int = 50,
) -> list[Template]:
    """Templates, newest first. Under a person's connection: approved ones, and for reviewers all."""
    where: list[str] = ["true"]
    params: list[object] = []
    if status:
        where.append("status = %s")
        params.append(status)
    if category:
        where.append("category = %s")
        params.append(normalise_meta(TemplateMeta(category=category)).category)
    if ids is not None:
        where.append("id = any(%s)")
        params.append(ids)
    cur = await conn.execute(
        f"select {_COLUMNS} from scraped_templates where {' and '.join(where)}"
        " order by created_at desc, name limit %s",
        (*params, limit),
    )
    return [Template(**row) for row in await cur.fetchall()]


async def count_pending(conn: Conn) -> int:
    """Templates waiting for review (0 for anyone but a reviewer: they can't see the queue)."""
    cur = await conn.execute("select count(*) as n from scraped_templates where status = 'pending'")
    row = await cur.fetchone()
    return int(row["n"]) if row else 0


async def find_templates(conn: Conn, *, refs: list[str]) -> list[Template]:
    """Templates by id or an id's first 6+ characters, among those the caller can see."""
    found: dict[UUID, Template] = {}
    for ref in refs:
        ref = ref.strip().lower()
        if len(ref) < 6 or not re.fullmatch(r"[0-9a-f-]+", ref):
            raise InvalidArgument(f"Give at least the first 6 characters of a template's id (got '{ref}').")
        cur = await conn.execute(
            f"select {_COLUMNS} from scraped_templates where id::text like %s limit 2", (ref + "%",)
        )
        rows = await cur.fetchall()
        if not rows:
            raise NotFound(f"No template '{ref}'; /templates status:pending lists the queue with ids.")
        if len(rows) > 1:
            raise InvalidArgument(f"'{ref}' starts several template ids; give more of it.")
        template = Template(**rows[0])
        found[template.id] = template
    return list(found.values())


REVIEWERS_ONLY = (
    "Only template reviewers can approve or reject templates, and see the pending queue; you are not"
    " one. A platform operator can add you with: viraltracker templates reviewer EMAIL"
)


async def finalize_approval(
    db: Database,
    caller: Caller,
    template_ids: list[UUID],
    decision: Decision = "approved",
    reason: str | None = None,
    *,
    settings: Settings | None = None,
) -> ReviewResult:
    """Approve or reject pending templates as the caller (a reviewer; anyone else is refused and
    nothing changes). Templates already reviewed are left as they were. After an approval, products
    that opted in get the new templates scored (the auto-recommendation step); its failure never
    undoes the approval."""
    if not template_ids:
        raise InvalidArgument("Name at least one template to review.")
    async with db.as_user(caller) as conn:
        if not await is_reviewer(conn):
            raise NotAllowed(REVIEWERS_ONLY)
        templates = await list_templates(conn, ids=template_ids, limit=len(template_ids))
        missing = set(template_ids) - {t.id for t in templates}
        if missing:
            raise NotFound(f"No template {', '.join(str(m)[:8] for m in sorted(missing, key=str))}.")
        cur = await conn.execute(
            "update scraped_templates set status = %s, reviewed_at = now(), reviewed_by = %s,"
            " review_reason = %s where id = any(%s) and status = 'pending' returning id",
            (decision, caller.user_id, reason, template_ids),
        )
        changed_ids = {row["id"] for row in await cur.fetchall()}
        templates = await list_templates(conn, ids=template_ids, limit=len(template_ids))
    result = ReviewResult(
        decision=decision,
        changed=[t for t in templates if t.id in changed_ids],
        unchanged=[t for t in templates if t.id not in changed_ids],
    )
    if decision == "approved" and result.changed:
        changed = [t.id for t in result.changed]
        result.auto_note = await _auto_recommend(db, changed, settings or get_settings())
    return result


async def _auto_recommend(db: Database, template_ids: list[UUID], settings: Settings) -> str | None:
    """Run the auto-recommendation hook; report, never raise."""
    try:
        outcome = await on_templates_approved(db, template_ids, settings)
    except Exception as error:  # the approval stands whatever happens here
        log.exception("auto-recommendations after approving %s failed", template_ids)
        return f"Auto-recommendations could not run ({type(error).__name__}); the approval stands."
    summary = getattr(outcome, "summary", None)
    return str(summary) if summary else None


async def set_reviewer(conn: Conn, *, email: str, remove: bool = False) -> bool:
    """Grant (or take back) the template reviewer role; returns whether anything changed."""
    cur = await conn.execute("select id from auth.users where lower(email) = lower(%s)", (email.strip(),))
    user = await cur.fetchone()
    if user is None:
        raise NotFound(f"No user '{email}'. Add them first: viraltracker user add {email} --org NAME")
    if remove:
        cur = await conn.execute(
            "delete from platform_roles where user_id = %s and role = 'template_reviewer'", (user["id"],)
        )
    else:
        cur = await conn.execute(
            "insert into platform_roles (user_id, role) values (%s, 'template_reviewer')"
            " on conflict do nothing",
            (user["id"],),
        )
    return cur.rowcount > 0


def template_file(settings: Settings, path: str | None, *, storage: Storage | None = None) -> str | None:
    """Where a stored template image can be opened (a local path in the embedded default)."""
    if not path:
        return None
    return (storage or storage_for(settings)).locate(path)


class StoredImage(BaseModel):
    path: str
    sha256: str
    bytes: int
    width: int
    height: int
    content_type: str = "image/png"


async def store_demo_images(
    settings: Settings, catalogue: list[tuple[str, str, str, str]], *, storage: Storage | None = None
) -> dict[str, StoredImage]:
    """Draw and store the demo library's images (slug, name, category, format each): the same files
    every time, at `templates/demo/<slug>.png`."""
    storage = storage or storage_for(settings)
    stored: dict[str, StoredImage] = {}
    for slug, name, category, fmt in catalogue:
        data = await asyncio.to_thread(demo_image, name, category, fmt)
        path = f"templates/demo/{slug}.png"
        handle, staged = tempfile.mkstemp(dir=storage.staging, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        try:
            await storage.put(path, Path(staged), "image/png")
        finally:
            Path(staged).unlink(missing_ok=True)
        digest = hashlib.sha256(data).hexdigest()
        stored[slug] = StoredImage(path=path, sha256=digest, bytes=len(data), width=256, height=256)
    return stored
