"""Classify a batch of ads and write what came back: each ad through its classifier (the rules, or a
model reading its copy, video or keyframes), its classification row (with its storyboard's frames) and,
for a video a model analysed, its ledger row (`video_budget`). One ad's failure is described; the others
go on. `MODEL_CONCURRENCY` model calls at a time; `BATCH` ads written in one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai.models import Model

from core.errors import UserFacingError
from db.jsonb import jsonb
from db.pool import Database
from services.creative.ad_classifier import OFFLINE_MODEL, AdInput
from services.creative.rules_classifier import classify_offline
from services.creative.video_analysis import Analysis, AnalysisFailed, OverCap, analyse_ad, storyboard_frames
from services.creative.video_budget import load_budget, record_analyses
from services.llm.model_choice import model_name
from services.platform.storage import Storage, storage_for
from settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
MODEL_CONCURRENCY = 4  # model calls at a time
BATCH = 50  # ads classified, then written in one transaction

COLUMNS = (
    "source, model, format, awareness_level, congruence_score, congruence_components, hooks, benefits,"
    " angles, claims, transcript, storyboard, landing_page_id, transcript_lines, claim_sources, media_analysis,"
    " media_seconds, input_tokens, output_tokens"
)
_INSERT = f"""
insert into ad_creative_classifications (meta_ad_id, brand_id, organization_id, input_hash, prompt_version,
  {COLUMNS})
values (%(meta_ad_id)s, %(brand_id)s, %(organization_id)s, %(input_hash)s, %(prompt_version)s, %(source)s,
  %(model)s, %(format)s, %(awareness_level)s, %(congruence_score)s, %(congruence_components)s, %(hooks)s,
  %(benefits)s, %(angles)s, %(claims)s, %(transcript)s, %(storyboard)s, %(landing_page_id)s, %(transcript_lines)s,
  %(claim_sources)s, %(media_analysis)s, %(media_seconds)s, %(input_tokens)s, %(output_tokens)s)
on conflict (meta_ad_id, input_hash, prompt_version) do update set
  {", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in COLUMNS.split(","))}, classified_at = now()
"""


@dataclass
class Classified:
    """What one batch run did: counts, and each failed ad's line ("Name (id): why")."""

    new: int = 0
    with_hook: int = 0
    errors: int = 0
    errors_said: list[str] = field(default_factory=list)
    over_cap: int = 0
    cap_message: str | None = None


async def classify_all(
    db: Database,
    todo: list[tuple[AdInput, str]],
    *,
    brand: dict[str, Any],
    model: Model | str | None,
    version: str,
    progress: Progress | None,
    settings: Settings,
) -> Classified:
    """Classifies the ads (each with its input hash) and writes their rows; what it did."""
    result = Classified()
    gate = asyncio.Semaphore(MODEL_CONCURRENCY)
    storage = storage_for(settings)
    budget = await load_budget(db, organization_id=brand["organization_id"], settings=settings)

    async def one(ad: AdInput) -> Analysis | AnalysisFailed | OverCap | str:
        if model is None:
            return Analysis(
                classification=classify_offline(ad), seen="copy" if ad.format == "video" else None
            )
        async with gate:
            try:
                return await analyse_ad(
                    ad, model=model, storage=storage, budget=budget.take,
                    inline_max_bytes=settings.gemini_inline_video_max_bytes,
                )  # fmt: skip
            except (AnalysisFailed, OverCap) as outcome:
                return outcome
            except UserFacingError as error:
                return error.message
            except Exception as error:  # one ad's failure is counted and described; the others go on
                log.warning("classifying ad %s failed", ad.meta_ad_id, exc_info=True)
                return f"{type(error).__name__}: {str(error)[:200]}"

    name = OFFLINE_MODEL if model is None else model_name(model)
    for start in range(0, len(todo), BATCH):
        batch = todo[start : start + BATCH]
        outcomes = await asyncio.gather(*(one(ad) for ad, _ in batch))
        rows, ledger = [], []
        for (ad, digest), outcome in zip(batch, outcomes, strict=True):
            keys = {"meta_ad_id": ad.meta_ad_id, "brand_id": brand["id"], "organization_id": brand["organization_id"],
                    "input_hash": digest, "prompt_version": version, "model": name}  # fmt: skip
            if isinstance(outcome, OverCap):
                result.over_cap += 1
                result.cap_message = str(outcome)
                continue
            if isinstance(outcome, AnalysisFailed):
                ledger.append(_ledger_row(keys, ad, outcome.seen, outcome.delivery, outcome.seconds,
                                          outcome.tokens, outcome.reason))  # fmt: skip
                outcome = outcome.reason
            if isinstance(outcome, str):
                result.errors += 1
                result.errors_said.append(f"{ad.name} ({ad.meta_ad_id}): {outcome}")
                continue
            if outcome.seen in ("video", "frames"):
                tokens = (outcome.input_tokens, outcome.output_tokens)
                ledger.append(_ledger_row(keys, ad, outcome.seen, outcome.delivery, outcome.media_seconds or 0.0,
                                          tokens, None))  # fmt: skip
            rows.append(await _row(keys, ad, outcome, storage, model is None))
            hooks = outcome.classification.hooks
            if hooks.spoken or hooks.overlay or hooks.visual:
                result.with_hook += 1
        await record_analyses(db, ledger)
        if rows:
            async with db.as_service() as conn, conn.cursor() as cur:
                await cur.executemany(_INSERT, rows)
            result.new += len(rows)
        if progress is not None:
            done = start + len(batch)
            progress(f"Classified {done} of {len(todo)} ads for {brand['name']}", done / len(todo))
    return result


def _ledger_row(
    keys: dict[str, Any], ad: AdInput, seen: str | None, delivery: str | None, seconds: float,
    tokens: tuple[int, int], reason: str | None,
) -> dict[str, Any]:  # fmt: skip
    return {**keys, "media_key": ad.media_identity(), "seen": seen, "delivery": delivery, "media_seconds": seconds,
            "input_tokens": tokens[0], "output_tokens": tokens[1], "status": "failed" if reason else "analysed",
            "reason": reason}  # fmt: skip


async def _row(
    keys: dict[str, Any], ad: AdInput, outcome: Analysis, storage: Storage, offline: bool
) -> dict[str, Any]:
    """The classification row; a watched video's storyboard gets each scene's frame (stored now)."""
    classification = outcome.classification
    data = classification.model_dump()
    for hook in data["hooks"].values():  # a hook read from copy has no time: stored as before
        if hook is not None and hook["at"] is None:
            del hook["at"]
    if outcome.seen in ("video", "frames") and ad.video_path and data["storyboard"]:
        folder = f"{keys['organization_id']}/{keys['brand_id']}/{ad.meta_ad_id}"
        frames = await storyboard_frames(
            storage, video_path=ad.video_path, folder=folder, starts=[b["t"] for b in data["storyboard"]]
        )
        for beat in data["storyboard"]:
            beat["frame"] = frames.get(beat["t"])
    return {
        **keys,
        **{k: data[k] for k in ("awareness_level", "transcript")},
        **{k: jsonb(data[k]) for k in ("congruence_components", "hooks", "benefits", "angles", "claims",
                                        "storyboard", "transcript_lines", "claim_sources")},
        "source": "offline" if offline else "model", "format": ad.format,
        "congruence_score": classification.congruence_score(),
        "landing_page_id": ad.landing_page.id if ad.landing_page else None,
        "media_analysis": outcome.seen, "media_seconds": outcome.media_seconds,
        "input_tokens": None if offline else outcome.input_tokens,
        "output_tokens": None if offline else outcome.output_tokens,
    }  # fmt: skip
