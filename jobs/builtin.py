"""The built-in job types. Each wraps a plain service function (also what "run now" runs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import UserFacingError
from jobs.registry import (
    JobType,
    Notice,
    PermanentJobError,
    RetryableJobError,
    RunContext,
    register,
)
from services.pipeline import (
    ASSET_DOWNLOAD_JOB,
    CLASSIFICATION_JOB,
    CREATIVES_LOCK,
    AssetDownloadParams,
    BrandJobParams,
    ClassificationParams,
)
from services.platform.notifications import SLACK_JOB, SlackNotificationParams
from services.templates.auto import JOB_TYPE as TEMPLATE_SCORING_JOB
from services.templates.auto import TemplateScoringParams

# -- meta_sync -----------------------------------------------------------------------------------


class MetaSyncParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    brand_id: UUID
    days: int | None = Field(default=None, ge=1, le=730)
    """Fetch this many days back instead of resuming from the last sync."""
    ads_only: bool = False


class MetaSyncJobResult(BaseModel):
    brand: str
    accounts: int
    ads: int
    ads_written: int
    rows: int
    rows_written: int
    summary: str
    queued_runs: list[UUID] = Field(default_factory=list)
    """The download and classification runs the sync queued (services.pipeline)."""


async def run_meta_sync(context: RunContext, params: MetaSyncParams) -> MetaSyncJobResult:
    """`services.meta.sync.MetaSync(...).run(...)` as the service role (it queues what follows)."""
    from services.meta.sync import MetaSync

    sync = MetaSync(context.db, None, settings=context.settings, client_factory=context.meta_client_factory)
    result = await sync.run(params.brand_id, days=params.days, ads_only=params.ads_only)
    if not result.ok:
        async with context.db.as_service() as conn:
            cur = await conn.execute(
                "select count(*) as n from brand_ad_accounts where brand_id = %s and status = 'expired'",
                (params.brand_id,),
            )
            row = await cur.fetchone()
        if row is not None and row["n"]:
            raise PermanentJobError(result.summary)  # a refused token: only reconnecting helps
        raise RetryableJobError(result.summary)
    return MetaSyncJobResult(
        brand=result.brand,
        accounts=len(result.accounts),
        ads=sum(a.ads for a in result.accounts),
        ads_written=sum(a.ads_written for a in result.accounts),
        rows=sum(a.rows for a in result.accounts),
        rows_written=sum(a.rows_written for a in result.accounts),
        summary=result.summary,
        queued_runs=result.queued.runs,
    )


def _meta_sync_notice(context: RunContext, params: Any, outcome: BaseModel) -> Notice:
    assert isinstance(outcome, MetaSyncJobResult)
    return Notice(
        type="sync_finished",
        category="meta",
        title=f"Meta sync finished for {outcome.brand}",
        message=outcome.summary,
    )


META_SYNC = register(
    JobType(
        name="meta_sync",
        label="Meta sync",
        params=MetaSyncParams,
        run=run_meta_sync,
        description="Sync a brand's Meta ads and daily insights; new creatives are then downloaded and classified.",
        needs_brand=True,
        max_attempts=4,
        backoff_base=60.0,
        serialize_per_brand=True,
        on_success=_meta_sync_notice,
    )
)


# -- token_expiry_check --------------------------------------------------------------------------


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


async def run_token_expiry_check(context: RunContext, params: NoParams) -> BaseModel:
    from services.meta.tokens import check_tokens

    return await check_tokens(
        context.db, settings=context.settings, client_factory=context.meta_client_factory
    )


TOKEN_EXPIRY_CHECK = register(
    JobType(
        name="token_expiry_check",
        label="Meta token check",
        params=NoParams,
        run=run_token_expiry_check,
        description="Renew Meta user tokens expiring within 14 days for people who use the app; warn about those expiring within 7; mark refused ones expired (daily, platform-wide).",
        platform_only=True,
        max_attempts=3,
        backoff_base=300.0,
    )
)


# -- services written elsewhere: classification and assets ---------------------------------------


async def _brand_service(
    service: Callable[..., Awaitable[BaseModel]], context: RunContext, params: BrandJobParams
) -> BaseModel:
    """`service(db, brand_id=..., settings=..., **the rest of the parameters)`."""
    extra = params.model_dump(exclude={"brand_id"}, exclude_none=True)
    return await service(context.db, brand_id=params.brand_id, settings=context.settings, **extra)


async def run_classification(context: RunContext, params: ClassificationParams) -> BaseModel:
    """`services.creative.brand_classification.classify_brand_ads` for the brand."""
    from services.creative.brand_classification import classify_brand_ads  # the model stack loads when used

    return await _brand_service(classify_brand_ads, context, params)


async def run_asset_download(context: RunContext, params: AssetDownloadParams) -> BaseModel:
    """`services.creative.assets.download_brand_assets` for the brand."""
    from services.creative.assets import download_brand_assets  # the Meta SDK loads when used

    return await _brand_service(download_brand_assets, context, params)


def _counted(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def _classification_notice(context: RunContext, params: Any, outcome: BaseModel) -> Notice | None:
    """What the run newly classified. None when it classified nothing new and something is already
    classified: the run queued after every sync mostly finds unchanged ads (and the same skips), and a
    daily "0 new" would bury real news; a run where everything failed still speaks."""
    from services.creative.brand_classification import NO_COPY, ClassificationResult

    assert isinstance(outcome, ClassificationResult)
    if not (outcome.new or outcome.over_cap or (outcome.errors and not outcome.cached)):
        return None
    parts = [f"{outcome.with_hook:,} with a hook"]
    if outcome.new > outcome.with_hook:
        parts.append(f"{outcome.new - outcome.with_hook:,} with none found")
    if outcome.no_copy:
        parts.append(f"{outcome.no_copy:,} with no copy to read ({outcome.no_copy_listed()})")
    others = {why: n for why, n in sorted(outcome.skip_reasons.items()) if why != NO_COPY}
    if others:
        parts.append(
            f"{sum(others.values()):,} skipped (" + ", ".join(f"{n:,} {w}" for w, n in others.items()) + ")"
        )
    if outcome.errors:
        parts.append(f"{outcome.errors:,} failed ({'; '.join(outcome.error_samples)})")
    if outcome.over_cap:  # said every run while it lasts: those ads wait for the cap
        parts.append(f"{_counted(outcome.over_cap, 'video ad')} not analysed: {outcome.cap_message}")
    return Notice(
        type="classification_finished",
        category="jobs",
        title=f"Ad classification finished for {outcome.brand}",
        message=f"Classified {_counted(outcome.new, 'new ad')} for {outcome.brand}: {', '.join(parts)}.",
    )


def _asset_notice(context: RunContext, params: Any, outcome: BaseModel) -> Notice | None:
    """What the run newly stored. None when it stored nothing new and some files are stored (as above:
    the same dead link failing each day is in /jobs, not a new notification every day)."""
    from services.creative.assets import AssetResult

    assert isinstance(outcome, AssetResult)
    if not (outcome.downloaded or (outcome.failed and not outcome.already_had)):
        return None
    message = (
        f"Downloaded {_counted(outcome.downloaded, 'new creative')} for {outcome.brand}:"
        f" {_counted(outcome.images, 'image')}, {_counted(outcome.videos, 'video')}"
    )
    if outcome.failed:
        message += f"; {outcome.failed:,} failed ({'; '.join(outcome.error_samples)})"
    return Notice(
        type="assets_downloaded",
        category="jobs",
        title=f"Creative download finished for {outcome.brand}",
        message=message + ".",
    )


AD_CLASSIFICATION = register(
    JobType(
        name=CLASSIFICATION_JOB,
        label="Ad classification",
        params=ClassificationParams,
        run=run_classification,
        description="Classify a brand's new or changed ads (cached results reused).",
        needs_brand=True,
        max_attempts=3,
        backoff_base=60.0,
        serialize_per_brand=True,
        lock_group=CREATIVES_LOCK,
        on_success=_classification_notice,
    )
)

ASSET_DOWNLOAD = register(
    JobType(
        name=ASSET_DOWNLOAD_JOB,
        params=AssetDownloadParams,
        run=run_asset_download,
        description="Download a brand's ad thumbnails and videos into storage.",
        label="Creative download",
        needs_brand=True,
        max_attempts=3,
        backoff_base=60.0,
        serialize_per_brand=True,
        lock_group=CREATIVES_LOCK,
        on_success=_asset_notice,
    )
)


# -- template_scoring (platform) and ad_creation (per brand) -------------------------------------


class TemplateScoringJobResult(BaseModel):
    """Counts only: a platform run is readable by everyone signed in, so it names no product or brand
    (each organization hears about its own products in its notifications)."""

    products: int
    scored: int
    recommended: int
    notified: int
    failed_products: int
    summary: str


async def run_template_scoring(
    context: RunContext, params: TemplateScoringParams
) -> TemplateScoringJobResult:
    """`services.templates.auto.auto_recommend`: score, recommend above each product's threshold, notify."""
    from services.templates.auto import auto_recommend

    outcome = await auto_recommend(
        context.db,
        template_ids=params.template_ids,
        product_ids=params.product_ids,
        settings=context.settings,
        run_id=context.run_id,
    )
    counts = TemplateScoringJobResult(
        products=outcome.products,
        scored=outcome.scored,
        recommended=outcome.recommended,
        notified=outcome.notified,
        failed_products=outcome.failed_products,
        summary=(
            f"Scored {outcome.scored} template(s) for {outcome.products} opted-in product(s):"
            f" {outcome.recommended} newly recommended, {outcome.notified} notification(s);"
            f" {outcome.failed_products} product(s) with failures."
        ),
    )
    if outcome.products and outcome.failed_products == outcome.products and not outcome.scored:
        raise RetryableJobError(counts.summary)  # nothing got through: worth another attempt
    return counts


TEMPLATE_SCORING = register(
    JobType(
        name=TEMPLATE_SCORING_JOB,
        label="Template scoring",
        params=TemplateScoringParams,
        run=run_template_scoring,
        description="Score approved templates for the products with auto-recommendations on; recommend"
        " those above each product's threshold and notify its organization.",
        platform_only=True,
        max_attempts=3,
        backoff_base=120.0,
    )
)


class AdCreationParams(BrandJobParams):
    product: str = Field(min_length=1, max_length=200)
    """The product's name within the brand (or its id)."""
    count: int = Field(default=3, ge=1, le=20)
    template_source: Literal["library", "uploaded"] = "library"
    """library: templates of the scraped library; uploaded: the brand's own stored ad images."""
    filter: Literal["recommended", "unused_recommended", "all"] = "recommended"


async def run_ad_creation(context: RunContext, params: AdCreationParams) -> BaseModel:
    """`services.creative.ad_creation.create_ads` for the run (a re-run fills only the slots still missing)."""
    from services.creative.ad_creation import create_ads, product_in_brand

    async with context.db.as_service() as conn:
        product = await product_in_brand(conn, brand_id=params.brand_id, product=params.product)
    outcome = await create_ads(
        context.db,
        product_id=product.id,
        count=params.count,
        template_source=params.template_source,
        filter=params.filter,
        settings=context.settings,
        run_id=context.run_id,
    )
    if outcome.failed and not outcome.ads:
        raise PermanentJobError(outcome.summary)  # every reference failed: trying again won't help
    return outcome


def _ad_creation_notice(context: RunContext, params: Any, outcome: BaseModel) -> Notice:
    summary = str(getattr(outcome, "summary", "")) or "Ad creation finished."
    return Notice(
        type="ads_created", category="ads", title=summary.split(". ")[0].rstrip("."), message=summary
    )


AD_CREATION = register(
    JobType(
        name="ad_creation",
        label="Ad creation",
        params=AdCreationParams,
        run=run_ad_creation,
        description="Make ads for a product from library templates (recommended first) or the brand's"
        " own ads; Gemini's image model with a key, else labelled offline previews.",
        needs_brand=True,
        max_attempts=3,
        backoff_base=60.0,
        serialize_per_brand=True,
        on_success=_ad_creation_notice,
    )
)


# -- Slack: briefings pushed to a channel, notifications posted to the organization's channel ------


class BriefingParams(BrandJobParams):
    period: Literal["day", "week"] = "day"
    channel: str = Field(min_length=2, max_length=81)
    """A Slack channel name ("#growth") or ID."""

    @field_validator("channel")
    @classmethod
    def _slack_channel(cls, value: str) -> str:
        from services.platform.slack_channels import check_channel

        try:
            return check_channel(value)
        except UserFacingError as error:
            raise ValueError(error.message.rstrip(".")) from None


async def run_briefing(context: RunContext, params: BriefingParams) -> BaseModel:
    """`services.analytics.briefings.post_briefing`: what changed for the brand (its days), posted to the channel."""
    from services.analytics.briefings import post_briefing

    return await post_briefing(
        context.db, context.settings, brand_id=params.brand_id, period=params.period, channel=params.channel
    )


BRIEFING = register(
    JobType(
        name="briefing",
        label="Briefing",
        params=BriefingParams,
        run=run_briefing,
        description="Post a brand's briefing (what changed yesterday or in the last 7 days) to a Slack channel.",
        needs_brand=True,
        max_attempts=4,
        backoff_base=60.0,
    )
)


async def run_slack_notification(context: RunContext, params: SlackNotificationParams) -> BaseModel:
    """`services.platform.slack_channels.post_notification` (queued with the notification itself)."""
    from services.platform.slack_channels import post_notification

    return await post_notification(context.db, context.settings, notification_id=params.notification_id)


SLACK_NOTIFICATION = register(
    JobType(
        name=SLACK_JOB,
        label="Slack post",
        params=SlackNotificationParams,
        run=run_slack_notification,
        description="Post an organization's new notification to its Slack channel.",
        max_attempts=6,
        backoff_base=30.0,
    )
)
