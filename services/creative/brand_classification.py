"""Classify a brand's ads (hooks, awareness, benefits, congruence with the landing page) in the background.

Dedup by `(input_hash, prompt_version)`: an ad whose input (copy, headline, format, media, landing page)
is unchanged for the current classifier reuses its stored result (`cached`); a changed ad is classified
again (`new`). The rows feed `top_hooks`, `hook_analysis` and the congruence tools, whatever the brand's
source (Meta sync, CSV import, demo). Runs as the service role (a job); tenancy comes from the brand row.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field, computed_field

from core.errors import NotFound
from db.pool import Database
from services.creative.ad_classifier import (
    OFFLINE_MODEL,
    OFFLINE_VERSION,
    AdInput,
    LandingPage,
    prompt_version,
)
from services.creative.classify_batch import COLUMNS, classify_all
from services.llm.model_choice import chat_model, configured_model
from services.meta.media import url_identity
from services.meta.rows import canonical_url
from settings import Settings

Progress = Callable[[str, float], None]
MAX_ERROR_SAMPLES = 5

_ADS_SQL = """
select a.meta_ad_id, a.name, a.format, a.ad_copy, a.headline, a.thumbnail_url, a.video_id, a.video_url,
       d.url as destination_url, p.id as product_id, p.name as product_name, p.description as product_description,
       latest.source as latest_source, latest.input_hash as latest_hash, latest.prompt_version as latest_version,
       v.path as video_path, v.sha256 as video_sha256, v.content_type as video_content_type,
       v.media_key as video_key, img.path as thumbnail_path, img.content_type as thumbnail_content_type
from meta_ads a
left join ad_assets v on v.meta_ad_id = a.meta_ad_id and v.kind = 'video'
left join ad_assets img on img.meta_ad_id = a.meta_ad_id and img.kind = 'image'
  and img.content_type in ('image/jpeg', 'image/png', 'image/gif', 'image/webp') and img.bytes <= 5242880 -- 5 MB: Anthropic's image limit
left join lateral (select url from meta_ad_destinations d where d.meta_ad_id = a.meta_ad_id
                   order by d.created_at, d.canonical_url limit 1) d on true
left join lateral (select p.id, p.name, p.description from meta_ad_product_matches m
                   join products p on p.id = m.product_id where m.meta_ad_id = a.meta_ad_id
                   order by m.confidence desc nulls last, p.name limit 1) p on true
left join lateral (select c.source, c.input_hash, c.prompt_version from ad_creative_classifications c
                   where c.brand_id = a.brand_id and c.meta_ad_id = a.meta_ad_id
                   order by c.classified_at desc limit 1) latest on true
left join lateral (select s.spend_cents from meta_ads_cumulative s where s.meta_ad_id = a.meta_ad_id
                   order by s.date desc limit 1) spend on true
where a.brand_id = %(brand_id)s
order by coalesce(spend.spend_cents, 0) desc, a.meta_ad_id
"""
# Reuse: the same input already classified for another of the brand's ads (a creative duplicated
# across ad sets), or this ad's own older row for the input it has again (made the latest).
_COPY = f"""
insert into ad_creative_classifications (meta_ad_id, brand_id, organization_id, input_hash, prompt_version,
  {COLUMNS})
select %(meta_ad_id)s, brand_id, organization_id, input_hash, prompt_version, {COLUMNS}
from ad_creative_classifications
where brand_id = %(brand_id)s and input_hash = %(input_hash)s and prompt_version = %(prompt_version)s
order by classified_at desc limit 1
on conflict (meta_ad_id, input_hash, prompt_version) do update set classified_at = now()
"""


class ClassificationResult(BaseModel):
    """What one run did, in counts a marketer can read (`summary`)."""

    brand: str
    classifier: str
    prompt_version: str
    new: int = 0
    cached: int = 0
    skipped: int = 0
    errors: int = 0
    left_for_later: int = 0
    """Ads past `limit`: classified by the next run."""
    skip_reasons: dict[str, int] = Field(default_factory=dict)
    error_samples: list[str] = Field(default_factory=list)
    with_hook: int = 0
    """Of the `new` ads, those with at least one hook found."""
    no_copy: int = 0
    """Ads skipped because the offline rules had no copy or headline to read."""
    no_copy_names: list[str] = Field(default_factory=list)
    """The first few of those ads' names (`NO_COPY_NAMES`)."""
    over_cap: int = 0
    """Video ads not analysed because the organization's monthly video minutes are used up."""
    cap_message: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary(self) -> str:
        if not (
            self.new or self.cached or self.skipped or self.errors or self.left_for_later or self.over_cap
        ):
            return (
                f"{self.brand} has no ads to classify yet: link its Meta ad account (/meta_account or"
                " /connect_meta) and sync, or import an Ads Manager export (viraltracker import meta-csv)."
            )
        offline = self.classifier == OFFLINE_MODEL
        by = "the offline rules (text only; set ANTHROPIC_API_KEY or GEMINI_API_KEY for full classification)"
        parts = [
            f"Classified {self.new} new or changed ads for {self.brand} with {by if offline else self.classifier}"
        ]
        parts.append(f"{self.cached} unchanged ads kept their classification")
        if self.skipped:
            reasons = ", ".join(f"{n} {_plural(why, n)}" for why, n in sorted(self.skip_reasons.items()))
            parts.append(f"{self.skipped} skipped ({reasons})")
        if self.left_for_later:
            parts.append(f"{self.left_for_later} left for the next run (limit reached)")
        text = "; ".join(parts) + "."
        if self.no_copy:
            text += f" No copy to read: {self.no_copy_listed()}."
        if self.over_cap:
            text += f" {self.over_cap} video {'ad' if self.over_cap == 1 else 'ads'} not analysed: {self.cap_message}."
        if self.errors:
            text += f" {self.errors} failed: " + "; ".join(self.error_samples) + "."
        return text

    def no_copy_listed(self) -> str:
        """The named ads with no copy, then how many more ("A, B, C and 15 more")."""
        names = ", ".join(self.no_copy_names)
        more = self.no_copy - len(self.no_copy_names)
        return f"{names} and {more} more" if more > 0 else names


NO_COPY_NAMES = 3  # ads named in the answer; the rest are counted
NO_COPY = "ad without text (the offline rules read text only)"


def _plural(reason: str, n: int) -> str:
    """'ad without text' for one, 'ads without text' for more (the reasons name one ad)."""
    return reason if n == 1 else reason.replace("ad ", "ads ", 1)


def _skip_reason(ad: AdInput, offline: bool) -> str | None:
    if offline:  # the rules read the copy alone: an ad without media (a CSV import's) is still read
        return None if ad.text else NO_COPY
    if ad.format in ("image", "carousel") and not ad.thumbnail_url:
        return f"{ad.format} ad without an image"
    if ad.format == "video" and not (ad.video_id or ad.video_url):
        return "video ad without a video"
    return None


async def _inputs(
    db: Database, brand_id: UUID
) -> tuple[dict[str, Any], list[tuple[AdInput, dict[str, Any]]]]:
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select id, name, organization_id, brand_voice_tone from brands where id = %s", (brand_id,)
        )
        brand = await cur.fetchone()
        if brand is None:
            raise NotFound(f"No brand with id {brand_id}.")
        cur = await conn.execute(
            "select distinct on (url) id, url, title, raw_markdown, benefits, content_hash, product_id"
            " from brand_landing_pages where brand_id = %s order by url, scraped_at desc",
            (brand_id,),
        )
        pages = await cur.fetchall()
        cur = await conn.execute(_ADS_SQL, {"brand_id": brand_id})
        rows = await cur.fetchall()
    by_url = {canonical_url(p["url"]): p for p in pages}
    by_product = {p["product_id"]: p for p in pages if p["product_id"]}
    ads = []
    for row in rows:
        page = (by_url.get(canonical_url(row["destination_url"])) if row["destination_url"] else None) or (
            by_product.get(row["product_id"])
        )
        landing = None
        if page is not None:
            landing = LandingPage(
                id=page["id"], url=page["url"], title=page["title"], text=(page["raw_markdown"] or "")[:8000],
                benefits=[str(b) for b in page["benefits"] or []], content_hash=page["content_hash"],
            )  # fmt: skip
        # The downloaded file, when it is of the ad's current video (the downloads key it the same way).
        video_key = f"video:{row['video_id']}" if row["video_id"] else url_identity(row["video_url"] or "")
        downloaded = row["format"] == "video" and row["video_path"] and row["video_key"] == video_key
        ad = AdInput(
            **{k: row[k] for k in ("meta_ad_id", "name", "format", "ad_copy", "headline", "thumbnail_url")},
            **{k: row[k] if downloaded else None for k in ("video_path", "video_sha256", "video_content_type")},
            thumbnail_path=row["thumbnail_path"], thumbnail_content_type=row["thumbnail_content_type"],
            video_id=row["video_id"], video_url=row["video_url"], brand_name=brand["name"],
            brand_voice=brand["brand_voice_tone"], product_name=row["product_name"],
            product_description=row["product_description"], destination_url=row["destination_url"],
            landing_page=landing,
        )  # fmt: skip
        ads.append((ad, row))
    return brand, ads


async def classify_brand_ads(
    db: Database,
    *,
    brand_id: UUID,
    settings: Settings,
    progress: Progress | None = None,
    only_new: bool = True,
    limit: int | None = None,
) -> ClassificationResult:
    """Classify the brand's new and changed ads (biggest spenders first); reuse stored results for the rest.

    `only_new=False` classifies every ad again. `limit` caps the ads classified in this run (the rest are
    counted as left for later). One ad that fails is counted and described; the others go on.
    """
    model = configured_model(settings)
    version = OFFLINE_VERSION if model is None else prompt_version()
    brand, ads = await _inputs(db, brand_id)
    result = ClassificationResult(
        brand=brand["name"], classifier=model or OFFLINE_MODEL, prompt_version=version
    )
    skips: Counter[str] = Counter()
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select distinct input_hash from ad_creative_classifications"
            " where brand_id = %s and prompt_version = %s",
            (brand_id, version),
        )
        known_hashes = {r["input_hash"] for r in await cur.fetchall()}
    todo: list[tuple[AdInput, str]] = []
    reuse: list[dict[str, Any]] = []
    for ad, row in ads:
        reason = _skip_reason(ad, model is None)
        if reason:
            skips[reason] += 1
            if reason == NO_COPY and len(result.no_copy_names) < NO_COPY_NAMES:
                result.no_copy_names.append(ad.name)
            continue
        digest = ad.input_hash()
        if only_new:
            if (row["latest_hash"], row["latest_version"]) == (digest, version):
                result.cached += 1
                continue
            # The rules never replace what a model (or the demo seed) said about the same ad.
            if model is None and (row["latest_source"] == "demo" or (
                row["latest_source"] == "model" and row["latest_hash"] == digest)):  # fmt: skip
                result.cached += 1
                continue
            if digest in known_hashes:
                reuse.append({"meta_ad_id": ad.meta_ad_id, "brand_id": brand_id, "input_hash": digest,
                              "prompt_version": version})  # fmt: skip
                continue
        if limit is not None and len(todo) >= limit:
            result.left_for_later += 1
            continue
        todo.append((ad, digest))
        known_hashes.add(digest)
    result.skipped, result.skip_reasons = sum(skips.values()), dict(skips)
    result.no_copy = skips[NO_COPY]
    engine = None if model is None else chat_model(settings)
    done = await classify_all(db, todo, brand=brand, model=engine, version=version, progress=progress,
                              settings=settings)  # fmt: skip
    result.new, result.with_hook, result.errors = done.new, done.with_hook, done.errors
    result.over_cap, result.cap_message = done.over_cap, done.cap_message
    result.error_samples = done.errors_said[:MAX_ERROR_SAMPLES]
    if reuse:  # after the run: a duplicate may reuse what this run just classified
        async with db.as_service() as conn:
            for params in reuse:
                cur = await conn.execute(_COPY, params)
                if cur.rowcount:
                    result.cached += 1
                else:
                    result.errors += 1
                    if len(result.error_samples) < MAX_ERROR_SAMPLES:
                        result.error_samples.append(
                            f"{params['meta_ad_id']}: same creative as an ad that failed"
                        )
    if progress is not None:
        progress(f"Classified ads for {brand['name']}", 1.0)
    return result
