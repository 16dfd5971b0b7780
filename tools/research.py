"""More evidence for a brand's research: Reddit discussions on a theme, and competitors' ads from
Meta's Ad Library. Both are kept as the brand's evidence for /discover_patterns (Amazon reviews come in
from a shell: `viraltracker import reviews FILE --brand NAME`; competitors' landing pages through
/analyze_landing_page with competitor:)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from services.research import competitors as ads_service
from services.research import reddit as reddit_service
from services.research.competitors import MOST_ADS
from services.research.reddit import MOST_POSTS
from tools.deps import Deps
from tools.registry import tool


@tool(
    example='/research_reddit brand:"Acme Pets" query:"senior dog joint pain" subreddit:dogs limit:25',
    step="Reading Reddit discussions for {brand}",
    help="""Each post is kept with its top 5 comments; pattern discovery then counts Reddit as a source. Re-
    running a search stores nothing twice.""",
)
async def research_reddit(
    deps: Deps,
    brand: str,
    query: str | None = None,
    subreddit: str | None = None,
    limit: Annotated[int, Field(ge=1, le=MOST_POSTS)] = 25,
) -> reddit_service.RedditResearch:
    """Search Reddit for a theme and keep posts and their top comments, verbatim, as the brand's research.

    Args:
        query: In people's words, e.g. "senior dog joint pain".
        subreddit: Only this subreddit (default all).
    """
    return await reddit_service.research_reddit(
        deps.db, deps.caller, brand=brand, query=query, subreddit=subreddit, limit=limit,
        settings=deps.settings, progress=lambda message: deps.report(message),
    )  # fmt: skip


@tool(
    example='/competitor_ads brand:"Acme Pets" page:123456789012345 country:DE limit:100',
    step="Reading competitor ads from the Ad Library for {brand}",
    help="""Active and past ads are read; pattern discovery then counts competitors as a source. Re-running
    refreshes the stored ads, never duplicates them. Meta lists non-political ads only where they
    reached the EU, e.g. country:DE or FR.""",
)
async def competitor_ads(
    deps: Deps,
    brand: str,
    page: str | None = None,
    country: str = "US",
    limit: Annotated[int, Field(ge=1, le=MOST_ADS)] = 100,
) -> ads_service.CompetitorAdsResult:
    """Read a competitor's ads from Meta's Ad Library and keep their copy as the brand's research.

    Args:
        page: Numeric Facebook page ids, comma-separated (at most 10).
        country: Two-letter code (default US); non-political ads are listed only for EU countries.
    """
    return await ads_service.competitor_ads(
        deps.db, deps.caller, brand=brand, page=page, country=country, limit=limit,
        settings=deps.settings, progress=lambda message: deps.report(message),
    )  # fmt: skip
