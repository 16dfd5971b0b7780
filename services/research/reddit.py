"""Reddit research: what people say about a theme, in their words, as evidence for a brand.

Reads Reddit's public JSON (no account needed): `/search.json` (or `/r/<subreddit>/search.json` with
`restrict_sr=1`) for the posts, then each post's `/comments/<id>.json` for its top comments. Posts
and comments are stored verbatim in `reddit_posts` (one row per Reddit id and brand: a re-run updates
scores, never duplicates), and the evidence reader hears them as the "reddit" source.

Politeness: one request at a time, a descriptive user agent, 15 s timeouts; a 429 waits its
Retry-After (or Reddit's `x-ratelimit-reset`) up to `MAX_WAIT` seconds and tries again, at most
`MAX_ATTEMPTS` times per request; when the remaining quota Reddit reports runs out, the next request
waits for the reset first.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import BaseModel, Field

from core.errors import ExternalServiceError, InvalidArgument
from db.pool import Caller, Database
from services import brands as brand_service
from services.presentable import Presentable, Table, with_rows
from services.retry_after import retry_after_seconds
from services.retrying import Backoff, GaveUp, RetryPolicy
from settings import Settings

USER_AGENT = "python:viraltracker-agent:1.0 (brand research: reads public discussions, one request at a time)"
TIMEOUT = 15.0
MAX_ATTEMPTS = 4
MAX_WAIT = 60.0  # seconds one 429 may make us wait; a longer ask fails the run with a message
POLICY = RetryPolicy(attempts=MAX_ATTEMPTS, longest_wait=MAX_WAIT, backoff=Backoff.doubling(1.0))
COMMENTS_PER_POST = 5
MOST_POSTS = 100
RUN_SECONDS = 300.0  # then the comments of the remaining posts are left for another run
_SUBREDDIT = re.compile(r"^(?:/?r/)?([A-Za-z0-9][A-Za-z0-9_]{1,20})/?$")
_SKIPPED_BODIES = {"[deleted]", "[removed]"}
_BOTS = {"AutoModerator"}


class RedditRow(BaseModel):
    reddit_id: str
    kind: str
    subreddit: str | None
    title: str | None
    body: str
    score: int | None
    permalink: str | None
    created: datetime | None
    post_reddit_id: str | None = None


REDDIT = "https://www.reddit.com"
"""Where a row's permalink is opened."""


class RedditResearch(BaseModel, Presentable):
    summary: str
    brand: str
    query: str
    subreddit: str | None = None
    posts: int
    comments: int
    stored_new: int
    already_had: int
    note: str | None = None
    rows: list[RedditRow] = Field(default_factory=list)

    def as_tables(self) -> list[Table]:
        rows: list[list[object]] = [
            [r.kind, r.subreddit, r.score, r.title or "", r.body[:300], f"{REDDIT}{r.permalink}" if r.permalink else ""]
            for r in self.rows
        ]  # fmt: skip
        columns = ["kind", "subreddit", "score", "title", "text", "link"]
        return with_rows(Table(f"Reddit — {self.query}", columns, rows))


Sleep = Callable[[float], Awaitable[None]]


@dataclass
class RedditClient:
    """Reddit's public JSON, politely. `sleep` is the seam tests use to see the waits."""

    base_url: str
    sleep: Sleep = asyncio.sleep
    transport: httpx.AsyncBaseTransport | None = None
    waits: list[float] = field(default_factory=list)
    calls: int = 0
    _reset_at: float | None = None

    async def get(self, client: httpx.AsyncClient, path: str, params: dict[str, Any]) -> Any:
        """One JSON document, with 429s waited out (bounded) and other failures as a clear message."""
        attempt = 0

        async def once() -> httpx.Response:
            nonlocal attempt
            attempt += 1
            if self._reset_at is not None:
                await self._wait(self._reset_at)
                self._reset_at = None
            self.calls += 1
            response = await client.get(path, params=params)
            self._note_quota(response.headers)
            if response.status_code == 429 or response.status_code >= 500:
                self._reset_at = None  # the wait before the next try is the one Reddit asked for
                raise _Refused(response.headers, attempt)
            return response

        try:
            response = await POLICY.run(
                once,
                retry_on=lambda error: isinstance(error, httpx.HTTPError | _Refused),
                asked_wait=_asked_wait,
                sleep=self._pause,
            )
        except GaveUp as gave_up:
            if gave_up.wait is not None:
                raise _too_long(gave_up.wait) from None
            if isinstance(gave_up.error, httpx.HTTPError):
                name = type(gave_up.error).__name__
                raise ExternalServiceError(f"Reddit could not be reached ({name}).") from None
            raise ExternalServiceError(
                f"Reddit kept refusing requests (rate limited) after {MAX_ATTEMPTS} attempts."
                " Try again in a few minutes."
            ) from None
        if response.status_code in (403, 404):
            return None  # a private, banned or missing subreddit or post
        if response.status_code != 200:
            raise ExternalServiceError(f"Reddit answered {response.status_code} to {path}.")
        try:
            return response.json()
        except ValueError:
            raise ExternalServiceError(f"Reddit's answer to {path} was not JSON.") from None

    def _note_quota(self, headers: httpx.Headers) -> None:
        try:
            remaining = float(headers["x-ratelimit-remaining"])
            reset = float(headers["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        if remaining < 1:
            self._reset_at = reset

    async def _wait(self, seconds: float) -> None:
        if seconds > MAX_WAIT:
            raise _too_long(seconds)
        await self._pause(seconds)

    async def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.waits.append(seconds)
            await self.sleep(seconds)


class _Refused(Exception):
    """A 429 or 5xx answer: worth another try after the wait it names."""

    def __init__(self, headers: httpx.Headers, attempt: int) -> None:
        self.headers = headers
        self.attempt = attempt


def _asked_wait(error: BaseException) -> float | None:
    """A refusal's Retry-After (or `x-ratelimit-reset`), else twice the backoff; a dropped
    connection names none (the policy's backoff: 1 s, doubling)."""
    if not isinstance(error, _Refused):
        return None
    wait = retry_after_seconds(error.headers, extra=("x-ratelimit-reset",))
    return POLICY.backoff.seconds(error.attempt + 1) if wait is None else wait


def _too_long(seconds: float) -> ExternalServiceError:
    return ExternalServiceError(
        f"Reddit asks us to wait {seconds:.0f} s before the next request (rate limit). Try again later."
    )


def _created(data: dict[str, Any]) -> datetime | None:
    stamp = data.get("created_utc")
    return datetime.fromtimestamp(float(stamp), tz=UTC) if isinstance(stamp, int | float) else None


def _listing_children(listing: Any, kind: str) -> list[dict[str, Any]]:
    if not isinstance(listing, dict) or listing.get("kind") != "Listing":
        return []
    children = (listing.get("data") or {}).get("children") or []
    return [c["data"] for c in children if isinstance(c, dict) and c.get("kind") == kind and c.get("data")]


def _score(data: dict[str, Any]) -> int | None:
    return int(data["score"]) if isinstance(data.get("score"), int | float) else None


def post_row(data: dict[str, Any]) -> RedditRow:
    return RedditRow(
        reddit_id=str(data.get("name") or f"t3_{data['id']}"), kind="post", subreddit=data.get("subreddit"),
        title=str(data.get("title") or "").strip() or None, body=str(data.get("selftext") or "").strip(),
        score=_score(data), permalink=data.get("permalink"), created=_created(data),
    )  # fmt: skip


def comment_rows(document: Any, post: RedditRow, most: int) -> list[RedditRow]:
    """The post's top-level comments as Reddit ranked them (top first), without bots and removed ones."""
    if not isinstance(document, list) or len(document) < 2:
        return []
    out = []
    for data in _listing_children(document[1], "t1"):
        body = str(data.get("body") or "").strip()
        if not body or body in _SKIPPED_BODIES or data.get("author") in _BOTS or data.get("stickied"):
            continue
        out.append(RedditRow(
            reddit_id=str(data.get("name") or f"t1_{data['id']}"), kind="comment", subreddit=post.subreddit,
            title=None, body=body, score=_score(data), permalink=data.get("permalink"), created=_created(data),
            post_reddit_id=post.reddit_id,
        ))  # fmt: skip
        if len(out) >= most:
            break
    return out


def check_arguments(query: str | None, subreddit: str | None, limit: int) -> tuple[str, str | None]:
    query = " ".join((query or "").split())
    if not query:
        raise InvalidArgument(
            'What should I look for on Reddit? Give a query, e.g. query:"senior dog joint pain".'
        )
    if len(query) > 300:
        raise InvalidArgument(f"The query is {len(query)} characters long: keep it under 300.")
    if not 1 <= limit <= MOST_POSTS:
        raise InvalidArgument(f"limit must be between 1 and {MOST_POSTS} posts (got {limit}).")
    name = None
    if subreddit is not None and subreddit.strip():
        found = _SUBREDDIT.match(subreddit.strip())
        if not found:
            raise InvalidArgument(
                f"'{subreddit}' is not a subreddit name (letters, digits and _, e.g. subreddit:dogs)."
            )
        name = found[1]
    return query, name


async def fetch(
    reddit: RedditClient, *, query: str, subreddit: str | None, limit: int,
    progress: Callable[[str], None] = lambda _: None,
) -> tuple[list[RedditRow], str | None]:  # fmt: skip
    """The posts matching `query` (most relevant first) and each one's top comments, and a note when
    Reddit's rate limit or the run's time budget stopped it early (what was read is kept)."""
    path = f"/r/{subreddit}/search.json" if subreddit else "/search.json"
    params: dict[str, Any] = {"q": query, "limit": limit, "sort": "relevance", "type": "link", "raw_json": 1}
    if subreddit:
        params["restrict_sr"] = 1
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    async with httpx.AsyncClient(
        base_url=reddit.base_url.rstrip("/"), headers=headers, timeout=TIMEOUT, transport=reddit.transport,
        follow_redirects=False,
    ) as client:  # fmt: skip
        progress(f"Searching Reddit for '{query}'" + (f" in r/{subreddit}" if subreddit else ""))
        listing = await reddit.get(client, path, params)
        if listing is None and subreddit:
            raise InvalidArgument(f"r/{subreddit} can't be read (private, banned or missing).")
        posts = [post_row(d) for d in _listing_children(listing, "t3")][:limit]
        rows: list[RedditRow] = []
        started = time.monotonic()
        for n, post in enumerate(posts, start=1):
            rows.append(post)
            if time.monotonic() - started > RUN_SECONDS:
                return rows, f"Stopped reading comments after {n - 1} of {len(posts)} posts (time limit)."
            post_id = post.reddit_id.removeprefix("t3_")
            try:
                document = await reddit.get(
                    client, f"/comments/{post_id}.json", {"limit": COMMENTS_PER_POST * 2, "sort": "top",
                                                           "depth": 1, "raw_json": 1},
                )  # fmt: skip
            except ExternalServiceError as error:
                return rows, f"Stopped reading comments after {n - 1} of {len(posts)} posts: {error.message}"
            rows += comment_rows(document, post, COMMENTS_PER_POST)
            progress(f"Read {n} of {len(posts)} posts and their top comments")
    return rows, None


_UPSERT = """
insert into reddit_posts (brand_id, organization_id, reddit_id, kind, post_reddit_id, query, subreddit, title,
                          body, score, permalink, created)
values (%(brand)s, %(org)s, %(reddit_id)s, %(kind)s, %(post_reddit_id)s, %(query)s, %(subreddit)s, %(title)s,
        %(body)s, %(score)s, %(permalink)s, %(created)s)
on conflict (brand_id, reddit_id) do update set score = excluded.score, body = excluded.body,
  title = excluded.title, fetched_at = now()
returning (xmax = 0) as inserted
"""


async def research_reddit(
    db: Database, caller: Caller, *, brand: str, query: str | None, subreddit: str | None = None, limit: int = 25,
    settings: Settings, reddit: RedditClient | None = None, progress: Callable[[str], None] = lambda _: None,
) -> RedditResearch:  # fmt: skip
    """Find Reddit discussions of `query` and keep them (posts and top comments) as the brand's evidence."""
    async with db.as_user(caller) as conn:
        brand_ref = await brand_service.resolve_brand(conn, name=brand)
    query, subreddit = check_arguments(query, subreddit, limit)
    client = reddit or RedditClient(base_url=settings.reddit_base_url)
    rows, note = await fetch(client, query=query, subreddit=subreddit, limit=limit, progress=progress)
    new = 0
    async with db.as_user(caller) as conn:
        for row in rows:
            cur = await conn.execute(_UPSERT, {
                **row.model_dump(), "brand": brand_ref.id, "org": brand_ref.organization_id, "query": query,
            })  # fmt: skip
            found = await cur.fetchone()
            new += bool(found and found["inserted"])
    posts = sum(1 for r in rows if r.kind == "post")
    comments = len(rows) - posts
    where = f" in r/{subreddit}" if subreddit else ""
    if not rows:
        text = f"Reddit has no posts for '{query}'{where}. Try broader words or another subreddit."
    else:
        text = (
            f"Found {posts} Reddit post(s) for '{query}'{where} with {comments} top comment(s); stored {new} new"
            f" for {brand_ref.name}" + (f", {len(rows) - new} already kept (scores refreshed)" if new < len(rows) else "")
            + ". They now count as evidence: run /discover_patterns to see the themes."
        )  # fmt: skip
    if note:
        text += f" {note}"
    return RedditResearch(
        summary=text, brand=brand_ref.name, query=query, subreddit=subreddit, posts=posts, comments=comments,
        stored_new=new, already_had=len(rows) - new, rows=rows, note=note,
    )  # fmt: skip
