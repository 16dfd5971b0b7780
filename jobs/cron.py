"""Cron in UTC (checked, its next time, in words) and a brand's schedule added as it is: below
services, so that linking an ad account can give the brand its daily sync in the linking transaction.
The runner's side (`jobs.schedules`: validation against the job types, the tick) sits above services."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from croniter import CroniterBadCronError, croniter
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from core.errors import InvalidArgument
from db.pool import Conn

DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]


def next_run(cron: str, after: datetime) -> datetime:
    """The first time strictly after `after` that `cron` (5 fields, UTC) names."""
    found: datetime = croniter(cron, after.astimezone(UTC)).get_next(datetime)
    return found


def check_cron(cron: str) -> str:
    """The expression, normalised, or a message with an example."""
    cleaned = " ".join(cron.split())
    if len(cleaned.split(" ")) != 5:
        raise InvalidArgument(
            f"'{cron}' is not a cron expression: it takes 5 fields (minute hour day month weekday),"
            " e.g. '0 6 * * *' for every day at 06:00 UTC."
        )
    try:
        croniter(cleaned)
    except (CroniterBadCronError, ValueError) as error:
        raise InvalidArgument(f"'{cron}' is not a valid cron expression ({error}).") from None
    return cleaned


def describe_cron(cron: str) -> str:
    """A cron expression (UTC) in words for the common shapes ("every day at 06:00 UTC"); any other
    shape comes back as the expression itself ("on cron '5 4 1-7 * 1' (UTC)")."""
    fields = cron.split()
    raw = f"on cron '{' '.join(fields)}' (UTC)"
    if len(fields) != 5:
        return raw
    minute, hour, day, month, weekday = fields
    if month != "*":
        return raw
    if minute.startswith("*/") and minute[2:].isdigit() and (hour, day, weekday) == ("*", "*", "*"):
        step = int(minute[2:])
        return "every minute" if step == 1 else f"every {step} minutes"
    if not minute.isdigit() or int(minute) > 59:
        return raw
    if (hour, day, weekday) == ("*", "*", "*"):
        return f"every hour at :{int(minute):02d}"
    if not hour.isdigit() or int(hour) > 23:
        return raw
    at = f"at {int(hour):02d}:{int(minute):02d} UTC"
    if day == "*" and weekday == "*":
        return f"every day {at}"
    if day == "*" and weekday in ("1-5", "MON-FRI", "mon-fri"):
        return f"every weekday (Monday to Friday) {at}"
    if day == "*" and weekday.isdigit() and int(weekday) <= 7:
        return f"every {DAYS[int(weekday) % 7]} {at}"
    if weekday == "*" and day.isdigit() and 1 <= int(day) <= 31:
        return f"every month on day {int(day)} {at}"
    return raw


class BrandSchedule(BaseModel):
    """The brand's schedule of one job type: the one it already had, or the one just added."""

    id: UUID
    cron: str
    enabled: bool
    created: bool

    @property
    def when(self) -> str:
        return describe_cron(self.cron) + ("" if self.enabled else " (paused)")


async def ensure_brand_schedule(
    conn: Conn,
    *,
    organization_id: UUID,
    brand_id: UUID,
    job_type: str,
    cron: str,
    params: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> BrandSchedule:
    """The brand's first schedule of `job_type` (any cron, paused or not), or a new one on `cron`, in the
    caller's transaction. Two callers at once for one brand make one schedule (an advisory lock)."""
    cron = check_cron(cron)
    await conn.execute(
        "select pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"schedule:{brand_id}:{job_type}",)
    )
    cur = await conn.execute(
        "select id, cron, enabled from scheduled_jobs where brand_id = %s and job_type = %s"
        " order by created_at limit 1",
        (brand_id, job_type),
    )
    found = await cur.fetchone()
    if found is not None:
        return BrandSchedule(**found, created=False)
    cur = await conn.execute(
        "insert into scheduled_jobs (organization_id, brand_id, job_type, cron, params, next_run_at)"
        " values (%s, %s, %s, %s, %s, %s) returning id, cron, enabled",
        (
            organization_id,
            brand_id,
            job_type,
            cron,
            Jsonb(params or {}),
            next_run(cron, now or datetime.now(UTC)),
        ),
    )
    row = await cur.fetchone()
    assert row is not None
    return BrandSchedule(**row, created=True)
