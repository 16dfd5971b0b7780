"""The monthly allowance of analysed video minutes per organization, and the ledger it is counted from.

Every video a model is asked to analyse (watched or seen as keyframes, analysed or failed) is a row
of `video_analyses` with its length and tokens; the allowance is
`organizations.video_minutes_per_month`, else `VIRALTRACKER_VIDEO_MINUTES_PER_MONTH`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from db.pool import Database
from settings import Settings

CAP_SETTING = "VIRALTRACKER_VIDEO_MINUTES_PER_MONTH"

_LEDGER = """
insert into video_analyses (organization_id, brand_id, meta_ad_id, media_key, input_hash, prompt_version, model,
  seen, delivery, media_seconds, input_tokens, output_tokens, status, reason)
values (%(organization_id)s, %(brand_id)s, %(meta_ad_id)s, %(media_key)s, %(input_hash)s, %(prompt_version)s,
  %(model)s, %(seen)s, %(delivery)s, %(media_seconds)s, %(input_tokens)s, %(output_tokens)s, %(status)s, %(reason)s)
"""


@dataclass
class VideoBudget:
    """This month's allowance and use, in seconds; `take` is called once per video before its analysis."""

    cap_seconds: float
    used_seconds: float
    month: str

    def take(self, seconds: float) -> str | None:
        """Counts the video's seconds as used (None), or says why it is refused (the cap would pass)."""
        if self.used_seconds + seconds > self.cap_seconds:
            return self.message
        self.used_seconds += seconds
        return None

    @property
    def message(self) -> str:
        return (
            f"this organization's video analysis cap of {self.cap_seconds / 60:g} minutes for {self.month} is"
            f" reached ({self.used_seconds / 60:.1f} minutes analysed); they are analysed next month,"
            f" or raise the cap ({CAP_SETTING})"
        )


async def load_budget(db: Database, *, organization_id: UUID, settings: Settings) -> VideoBudget:
    now = datetime.now(UTC)
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select o.video_minutes_per_month as own,"
            " (select coalesce(sum(v.media_seconds), 0) from video_analyses v where v.organization_id = o.id"
            "  and v.analysed_at >= date_trunc('month', now() at time zone 'UTC') at time zone 'UTC') as used"
            " from organizations o where o.id = %s",
            (organization_id,),
        )
        row = await cur.fetchone()
    minutes = row["own"] if row and row["own"] is not None else settings.video_minutes_per_month
    used = float(row["used"]) if row else 0.0
    return VideoBudget(cap_seconds=float(minutes) * 60, used_seconds=used, month=now.strftime("%B %Y"))


async def record_analyses(db: Database, rows: list[dict[str, Any]]) -> None:
    """Writes the ledger rows of one batch of analyses (analysed and failed)."""
    if rows:
        async with db.as_service() as conn, conn.cursor() as cur:
            await cur.executemany(_LEDGER, rows)
