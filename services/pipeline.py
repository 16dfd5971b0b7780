"""What follows linking an ad account and every sync, without anyone asking.

Linking gives the brand a daily Meta sync (unless it has a meta_sync schedule already), editable with
/schedules. A sync queues, in the transaction that stores a page of ads, the download of the page's new
creatives (`asset_download`) and the classification of its new or changed ads (`ad_classification`),
unless a run of that type is already queued and not started (it reads what this transaction stores).
The two share a per-brand lock: the classification runs after the download queued before it.

The job types' parameters live here, as services may import the queue but not the runner (`jobs.builtin`
registers the types with these models).
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from db.pool import Conn
from jobs.cron import ensure_brand_schedule
from jobs.queue import enqueue_unless_waiting
from services.models import BrandRef

META_SYNC_JOB = "meta_sync"
ASSET_DOWNLOAD_JOB = "asset_download"
CLASSIFICATION_JOB = "ad_classification"
CREATIVES_LOCK = "creatives"
"""The lock group of the download and the classification: per brand, one after the other."""
DAILY_SYNC_CRON = "0 6 * * *"
"""A linked account's default sync: every day at 06:00 UTC (Meta has settled yesterday's figures in
most time zones by then)."""


class BrandJobParams(BaseModel):
    """A brand; subclasses add the service's own keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    brand_id: UUID


class ClassificationParams(BrandJobParams):
    only_new: bool = True
    """False: classify every ad again, changed or not (a new prompt or model to try)."""
    limit: int | None = Field(default=None, ge=1, le=100_000)


class AssetDownloadParams(BrandJobParams):
    max_videos: int | None = Field(default=None, ge=0, le=10_000)
    max_images: int | None = Field(default=None, ge=0, le=100_000)


# -- linking: the daily sync -----------------------------------------------------------------


async def schedule_daily_sync(conn: Conn, *, brand: BrandRef) -> str:
    """Give the brand its daily Meta sync in the caller's (linking) transaction unless it has a
    meta_sync schedule; the sentence that says which."""
    schedule = await ensure_brand_schedule(
        conn,
        organization_id=brand.organization_id,
        brand_id=brand.id,
        job_type=META_SYNC_JOB,
        cron=DAILY_SYNC_CRON,
    )
    if schedule.created:
        return f"A daily sync is scheduled: {schedule.when}; change it with /schedules."
    return f"Its Meta sync schedule stays as it was: {schedule.when}; change it with /schedules."


# -- each sync: download and classify what it brought ----------------------------------------


class Queued(BaseModel):
    """What a sync set going: counts of what it brought, and the runs it queued (none when a waiting
    run of the type takes them)."""

    creatives: int = 0
    """Ads whose creative (thumbnail, video) is new: their download is queued."""
    ads: int = 0
    """New ads, or ads whose copy, headline, format or media changed: their classification is queued."""
    runs: list[UUID] = Field(default_factory=list)

    def add(self, other: Queued) -> None:
        self.creatives += other.creatives
        self.ads += other.ads
        self.runs += other.runs

    @property
    def sentence(self) -> str:
        """What was queued, in words ("Queued: downloading 12 new creatives, …"), or "" when nothing."""
        parts = []
        if self.creatives:
            parts.append(f"downloading {self.creatives:,} new creative{'s' if self.creatives != 1 else ''}")
        if self.ads:
            parts.append(f"classifying {self.ads:,} new ad{'s' if self.ads != 1 else ''}")
        return f"Queued: {', '.join(parts)}; you'll get a notification." if parts else ""


async def queue_after_sync(conn: Conn, *, brand: BrandRef, creatives: int, ads: int) -> Queued:
    """In the caller's transaction (the one storing the ads): a download run when there are new
    creatives, a classification run when there are new or changed ads, each unless one is waiting."""
    queued = Queued(creatives=creatives, ads=ads)
    wanted: list[tuple[str, BaseModel]] = []
    if creatives:
        # Every creative, not only the top spenders' (the service's default): they are queued for being new.
        every = AssetDownloadParams(brand_id=brand.id, max_images=100_000, max_videos=10_000)
        wanted.append((ASSET_DOWNLOAD_JOB, every))
    if ads:
        wanted.append((CLASSIFICATION_JOB, ClassificationParams(brand_id=brand.id)))
    for job_type, params in wanted:  # the download first: the lock runs them in this order
        run_id = await enqueue_unless_waiting(
            conn,
            job_type,
            params,
            organization_id=brand.organization_id,
            brand_id=brand.id,
            lock_group=CREATIVES_LOCK,
        )
        if run_id is not None:
            queued.runs.append(run_id)
    return queued
