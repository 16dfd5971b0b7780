"""What identifies an ad's creative across syncs, and what a page of synced ads brings that is new:
creatives to download and ads to classify (kept light: the classifier imports it, not the Meta SDK)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def url_identity(url: str) -> str:
    """A media URL without what changes between syncs (Meta's CDN signs URLs with per-sync query
    parameters and serves them from many hosts): its path."""
    return urlsplit(url).path or url


def _media(ad: dict[str, Any]) -> tuple[str | None, str | None]:
    """(the thumbnail's identity, the video's id): what a creative download stores for the ad."""
    thumbnail, video = ad.get("thumbnail_url"), ad.get("video_id")
    return (url_identity(thumbnail) if thumbnail else None, video if ad.get("format") == "video" else None)


def _classifier_reads(ad: dict[str, Any]) -> tuple[Any, ...]:
    return (
        ad.get("format"),
        (ad.get("ad_copy") or "").strip(),
        (ad.get("headline") or "").strip(),
        _media(ad),
    )


STORED_CREATIVES = (
    "select meta_ad_id, format, ad_copy, headline, thumbnail_url, video_id from meta_ads"
    " where meta_ad_id = any(%s)"
)
"""What the ads of a page were before it is written (the input of `new_creatives_and_ads`)."""


def new_creatives_and_ads(before: dict[str, dict[str, Any]], ads: list[dict[str, Any]]) -> tuple[int, int]:
    """Of a page of ads (`ad_row`s), given what was stored before: (ads whose creative is new, so its
    download is due; ads that are new or whose copy, headline, format or media changed, so their
    classification is due)."""
    creatives = changed = 0
    for ad in ads:
        old = before.get(ad["meta_ad_id"])
        media = _media(ad)
        if any(media) and (old is None or _media(old) != media):
            creatives += 1
        if old is None or _classifier_reads(old) != _classifier_reads(ad):
            changed += 1
    return creatives, changed
