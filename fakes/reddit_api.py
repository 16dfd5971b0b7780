"""A fake of Reddit's public JSON on 127.0.0.1: `/search.json`, `/r/<sub>/search.json` and
`/comments/<id>.json`, in Reddit's wire shape (`{"kind": "Listing", "data": {"children": [{"kind":
"t3"|"t1", "data": {...}}], "after": ...}}`; a post's comments page is a list of two Listings).

Tests plant posts (`add_post`) with their comments, and faults: `throttle(n, retry_after=…)` answers
the next n requests with 429 and a Retry-After header; `missing_subreddits` answer 404.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakes.http_fake import FakeHandler, HttpFake


@dataclass
class RedditRequest:
    index: int
    path: str
    params: dict[str, str]
    user_agent: str


@dataclass
class RedditReply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    latency: float | None = None


@dataclass
class FakePost:
    id: str
    subreddit: str
    title: str
    selftext: str = ""
    score: int = 1
    comments: list[dict[str, Any]] = field(default_factory=list)
    created_utc: float = 1_700_000_000.0

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": f"t3_{self.id}", "subreddit": self.subreddit, "title": self.title,
            "selftext": self.selftext, "score": self.score, "num_comments": len(self.comments),
            "permalink": f"/r/{self.subreddit}/comments/{self.id}/{self.title.lower().replace(' ', '_')[:40]}/",
            "created_utc": self.created_utc, "author": "someone", "over_18": False,
        }  # fmt: skip


class _Handler(FakeHandler):
    def do_GET(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        request = self.owner.record(
            lambda index: RedditRequest(index, url.path, params, self.headers.get("User-Agent", ""))
        )
        self.owner.answer(request, self._send)

    def _send(self, reply: RedditReply) -> None:
        data = json.dumps(reply.payload).encode()
        self.send_response(reply.status)
        self.send_header("content-type", "application/json; charset=UTF-8")
        self.send_header("content-length", str(len(data)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


class FakeReddit(HttpFake[RedditRequest, RedditReply]):
    handler = _Handler
    thread_name = "fake-reddit"

    def __init__(self) -> None:
        super().__init__(self._respond)
        self.posts: list[FakePost] = []
        self.missing_subreddits: set[str] = set()
        self._throttles: list[str] = []
        self._serve_first = 0

    def add_post(
        self, id: str, subreddit: str, title: str, *, selftext: str = "", score: int = 1,
        comments: list[tuple[str, int]] | None = None,
    ) -> FakePost:  # fmt: skip
        """A post with its comments as (body, score); an author 'AutoModerator' comment is added too."""
        post = FakePost(id=id, subreddit=subreddit, title=title, selftext=selftext, score=score)
        post.comments = [
            {"id": f"{id}c{n}", "body": body, "score": s, "author": f"user{n}"}
            for n, (body, s) in enumerate(comments or [])
        ]
        post.comments.insert(0, {"id": f"{id}mod", "body": "Please read the rules.", "score": 1,
                                 "author": "AutoModerator", "stickied": True})  # fmt: skip
        self.posts.append(post)
        return post

    def throttle(self, times: int, *, retry_after: str = "1", after: int = 0) -> None:
        """Answer `times` requests with 429 + Retry-After, once `after` more requests have been served."""
        self._throttles += [retry_after] * times
        self._serve_first = after

    # -- answering (handler threads) -----------------------------------------------------------

    def _respond(self, request: RedditRequest) -> RedditReply:
        quota = {"x-ratelimit-used": "1", "x-ratelimit-remaining": "99", "x-ratelimit-reset": "300"}
        if self._throttles and self._serve_first > 0:
            self._serve_first -= 1
        elif self._throttles:
            retry_after = self._throttles.pop(0)
            return RedditReply(429, {"message": "Too Many Requests", "error": 429},
                               {"retry-after": retry_after, "x-ratelimit-remaining": "0",
                                "x-ratelimit-reset": retry_after})  # fmt: skip
        parts = request.path.strip("/").split("/")
        if parts[-1] == "search.json":
            subreddit = parts[1] if len(parts) == 3 and parts[0] == "r" else None
            if subreddit is not None and subreddit.lower() in self.missing_subreddits:
                return RedditReply(404, {"message": "Not Found", "error": 404}, quota)
            return RedditReply(200, self._search(request.params, subreddit), quota)
        if len(parts) == 2 and parts[0] == "comments" and parts[1].endswith(".json"):
            post = next((p for p in self.posts if p.id == parts[1].removesuffix(".json")), None)
            if post is None:
                return RedditReply(404, {"message": "Not Found", "error": 404}, quota)
            return RedditReply(200, self._comments(post, request.params), quota)
        return RedditReply(404, {"message": "Not Found", "error": 404}, quota)

    def _search(self, params: dict[str, str], subreddit: str | None) -> dict[str, Any]:
        words = [w for w in params.get("q", "").lower().split() if len(w) > 2]
        restrict = subreddit is not None and params.get("restrict_sr") in ("1", "true", "on")
        limit = min(int(params.get("limit", "25")), 100)
        found = [
            p for p in self.posts
            if (not restrict or p.subreddit.lower() == str(subreddit).lower())
            and any(w in f"{p.title} {p.selftext}".lower() for w in words)
        ][:limit]  # fmt: skip
        return _listing([{"kind": "t3", "data": p.data()} for p in found])

    def _comments(self, post: FakePost, params: dict[str, str]) -> list[dict[str, Any]]:
        limit = int(params.get("limit", "200"))
        ranked = sorted(post.comments, key=lambda c: -c["score"])
        ranked.sort(key=lambda c: not c.get("stickied"))  # Reddit puts a stickied comment first
        children = [
            {"kind": "t1", "data": {
                "id": c["id"], "name": f"t1_{c['id']}", "body": c["body"], "score": c["score"],
                "author": c["author"], "stickied": bool(c.get("stickied")), "parent_id": f"t3_{post.id}",
                "permalink": f"/r/{post.subreddit}/comments/{post.id}/x/{c['id']}/", "created_utc": time.time(),
                "replies": "",
            }}
            for c in ranked[:limit]
        ]  # fmt: skip
        if len(post.comments) > limit:
            children.append({"kind": "more", "data": {"count": len(post.comments) - limit, "children": []}})
        return [_listing([{"kind": "t3", "data": post.data()}]), _listing(children)]


def _listing(children: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {"after": None, "before": None, "dist": len(children), "children": children},
    }
