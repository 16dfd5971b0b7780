"""Tools over creative intelligence: hooks, hook categories, congruence, one ad in depth."""

from __future__ import annotations

from datetime import date
from typing import Literal

from services.analytics import congruence as congruence_service
from services.analytics import deep_analysis as deep_service
from services.analytics import hooks as hooks_service
from services.brands import resolve_brand
from services.creative.assets import fetch_ad_image
from services.platform.storage import storage_for
from tools.common import Days, Limit, MinSpend, ShortLimit, window_of
from tools.deps import Deps
from tools.registry import WithImages, tool

HookMetric = Literal["hook_rate", "hold_rate", "thruplay_rate", "ctr", "cpa", "roas"]


@tool(
    example='/top_hooks brand:"Acme Pets" days:30 metric:hook_rate',
    step="Ranking hooks by {metric} for {brand}, {window}",
    help="""hook_rate = 3-second video plays / impressions; hold_rate = ThruPlays / 3-second video plays;
    both from raw counts summed per ad. Unclassified ads and ads under `min_spend` are counted, not
    ranked. hook_type any takes the spoken hook first, then the overlay, then the visual.""",
)
async def top_hooks(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    metric: HookMetric = "hook_rate",
    hook_type: hooks_service.HookType = "any",
    min_spend: MinSpend = 50.0,
    limit: Limit = 10,
) -> hooks_service.TopHooksResult:
    """Rank a brand's ad hooks (the opening line, overlay or visual) by how well they performed.

    Args:
        days: Last N full days (default 30); or since/until.
        hook_type: Which hook of each ad.
        min_spend: Minimum spend for an ad to be ranked (default 50, in the brand's currency).
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        return await hooks_service.top_hooks(
            conn,
            brand=brand_ref,
            window=window,
            metric=metric,
            hook_type=hook_type,
            min_spend=min_spend,
            limit=limit,
        )


@tool(
    example='/hook_analysis brand:"Acme Pets" days:90',
    step="Comparing hook categories for {brand}, {window}",
    help="Each category's ratios are of the counts summed over its ads; video ratios use video ads only.",
)
async def hook_analysis(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    hook_type: hooks_service.HookType = "any",
    min_spend: MinSpend = 50.0,
) -> hooks_service.HookAnalysisResult:
    """Compare hook categories (question, problem callout, testimonial, ...) by hook rate, hold rate, CTR, CPA, ROAS.

    Args:
        days: Last N full days (default 30); or since/until.
        min_spend: Minimum spend for an ad to count (default 50, in the brand's currency).
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        return await hooks_service.hook_analysis(
            conn, brand=brand_ref, window=window, hook_type=hook_type, min_spend=min_spend
        )


@tool(
    example='/congruence_check brand:"Acme Pets" ad:JC_Podcast_Demo_v1',
    step="Checking ad ↔ landing page congruence for {brand}, {window}",
)
async def congruence_check(
    deps: Deps,
    brand: str,
    ad: str | None = None,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
    limit: ShortLimit = 10,
) -> congruence_service.CongruenceCheckResult:
    """Check how well ads match their landing pages per dimension (product, offer, angle, benefits, claims,
    audience, voice). With ad, that ad; otherwise the brand's top spenders.

    Args:
        ad: A Meta ad ID or exact ad name.
        days: Last N full days (default 30); or since/until.
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        return await congruence_service.congruence_check(
            conn, brand=brand_ref, window=window, ad=ad, limit=limit
        )


@tool(
    example='/congruence_summary brand:"Acme Pets"',
    step="Summarising congruence for {brand}, {window}",
)
async def congruence_summary(
    deps: Deps,
    brand: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
) -> congruence_service.CongruenceSummaryResult:
    """Count aligned / weak / missing per congruence dimension across a brand's ads with spend in the window.

    Args:
        days: Last N full days (default 30); or since/until.
    """
    window = window_of(deps, days, since, until)
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        return await congruence_service.congruence_summary(conn, brand=brand_ref, window=window)


@tool(
    example='/deep_analysis brand:"Acme Pets" ad:JC_Podcast_Demo_v1',
    step="Analysing ad {ad} of {brand}, {window}",
    help="The image is the ad's thumbnail, downloaded now if the asset downloads have not.",
)
async def deep_analysis(
    deps: Deps,
    brand: str,
    ad: str,
    days: Days | None = None,
    since: date | None = None,
    until: date | None = None,
) -> WithImages[deep_service.DeepAnalysisResult]:
    """Everything about one ad: classification, hooks, transcript, storyboard, claims, congruence and performance, with its image.

    Args:
        ad: The Meta ad ID, or (a unique part of) its name.
        days: Last N full days (default 30); or since/until.
    """
    window = window_of(deps, days, since, until)
    show_image = deps.reads_images
    async with deps.db.as_user(deps.caller) as conn:
        brand_ref = await resolve_brand(conn, name=brand)
        result = await deep_service.deep_analysis(conn, brand=brand_ref, window=window, ad=ad)
        stored = await deep_service.stored_ad_image(conn, meta_ad_id=result.meta_ad_id)
        fetch = show_image and stored is None
        if fetch:
            fetch = not await deep_service.ad_image_downloaded(conn, meta_ad_id=result.meta_ad_id)
    if fetch:  # never downloaded: fetch the thumbnail now (a few seconds at most), as the downloads would
        fetched = await fetch_ad_image(
            deps.db, brand=brand_ref, meta_ad_id=result.meta_ad_id, settings=deps.settings
        )
        if fetched is not None:
            async with deps.db.as_user(deps.caller) as conn:
                stored = await deep_service.stored_ad_image(conn, meta_ad_id=result.meta_ad_id)
    storage = storage_for(deps.settings)
    result.storyboard_frames = [  # the storyboard as a strip of frames, each with its times
        (f"{deep_service.scene_label(beat)}", storage.locate(beat["frame"]))
        for beat in result.storyboard
        if beat.get("frame")
    ]
    if stored is None:
        return WithImages(result)
    path, media_type = stored
    result.image_file = storage_for(deps.settings).locate(path)  # the chat shows the creative beside the card
    if not show_image:
        return WithImages(result)
    try:
        data = await storage_for(deps.settings).read(path)
    except OSError:  # gone from storage: the model reads the facts alone
        return WithImages(result)
    from pydantic_ai import BinaryContent  # only for a model that reads images: /top_hooks needs none of it

    return WithImages(result, (BinaryContent(data=data, media_type=media_type),))
