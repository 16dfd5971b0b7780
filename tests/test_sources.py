"""The remaining evidence sources of pattern discovery, each against real rows and a local fake of the
outside service: Amazon review import (CSV and JSON, from a shell too), Reddit research (Reddit's JSON,
429s waited out), competitors' ads (the Meta Ad Library through the SDK, paged) and competitors'
landing pages; each is read back as evidence, kept per organization, and named in the next steps of a
pattern that lacks it."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from agent.render import tables_for
from agent.runner import run_turn
from core.errors import ConfigurationError, InvalidArgument, NotFound
from db.jsonb import jsonb
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from fakes.reddit_api import FakeReddit
from services.meta.api import Limits, MetaClient
from services.meta.vault import TokenVault
from services.research import landing_pages as pages
from services.research.competitors import competitor_ads
from services.research.evidence import gather
from services.research.patterns import discover_patterns
from services.research.reddit import USER_AGENT, RedditClient, research_reddit
from services.research.reviews import import_reviews
from settings import Settings, get_settings
from tests.cli_helpers import run_cli
from tests.research_helpers import insert, new_tenant

OFFLINE = Settings(_env_file=None, VIRALTRACKER_MODEL="offline")  # type: ignore[call-arg]
RIVAL_PAGE = "111111111111111"


@dataclass
class Tenant:
    db: Database
    org: UUID
    org_name: str
    caller: Caller
    brand_id: UUID
    outsider: Caller


@pytest.fixture(scope="module")
async def pawsome(db: Database) -> AsyncIterator[Tenant]:
    """Pawsome (with the product Hip Chews) in its own organization, and a person from another one."""
    org, caller = await new_tenant(db, organization="Pawsome Co", person="pia")
    _, outsider = await new_tenant(db, organization="Elsewhere Co", person="olaf")
    async with db.as_service() as conn:
        brand = await insert(conn, "insert into brands (organization_id, name) values (%s, 'Pawsome')", org)
        await insert(
            conn,
            "insert into products (brand_id, organization_id, name) values (%s, %s, 'Hip Chews')",
            brand,
            org,
        )
        cur = await conn.execute("select name from organizations where id = %s", (org,))
        org_name = (await cur.fetchone() or {})["name"]
    yield Tenant(db, org, org_name, caller, brand, outsider)


async def _count(db: Database, table: str, brand_id: UUID) -> int:
    async with db.as_service() as conn:
        cur = await conn.execute(f"select count(*) as n from {table} where brand_id = %s", (brand_id,))  # type: ignore[arg-type]
        return int((await cur.fetchone() or {})["n"])


async def _visible_to(db: Database, caller: Caller, table: str, brand_id: UUID) -> int:
    async with db.as_user(caller) as conn:
        cur = await conn.execute(f"select count(*) as n from {table} where brand_id = %s", (brand_id,))  # type: ignore[arg-type]
        return int((await cur.fetchone() or {})["n"])


# -- Amazon review import -----------------------------------------------------------------------------

CSV_EXPORT = """Review Title,Review Text,Star Rating,Review Date,ASIN,Verified Purchase
Finally walks again,My 12 year old lab climbs the stairs again after three weeks.,5,2026-01-03,B0HIPCHEW1,Yes
Meh,Did nothing for my dog's stiff hips.,2,01/15/2026,B0HIPCHEW1,No
Too many stars,Great chews but this row's rating is wrong.,7,2026-01-04,B0HIPCHEW1,Yes
No words,,4,2026-01-05,B0HIPCHEW1,Yes
Finally walks again,My 12 year old lab climbs the stairs again after three weeks.,5,2026-01-03,B0HIPCHEW1,Yes
Picky eater,  Even my picky senior beagle eats them like treats.  ,4,"Reviewed in the United States on January 20, 2026",B0HIPCHEW1,verified purchase
"""
JSON_EXPORT = {
    "reviews": [
        {"rating": "5.0 out of 5 stars", "title": "Vet approved", "review_body": "Our vet suggested these for arthritis.",
         "review_date": "Reviewed in the United States on March 3, 2026", "asin": "B0HIPCHEW1", "verified_purchase": True},
        {"rating": 1, "title": "Arrived crushed", "review_body": "Half the chews were broken in the bag.",
         "review_date": 1767225600, "asin": "B0HIPCHEW1", "verified_purchase": False},
    ]
}  # fmt: skip


async def test_reviews_import_from_csv_and_json_once_with_refusals_described(
    pawsome: Tenant, tmp_path: Path
) -> None:
    csv_file = tmp_path / "reviews.csv"
    csv_file.write_text(CSV_EXPORT)
    steps: list[tuple[int, int]] = []
    first = await import_reviews(
        pawsome.db, pawsome.caller, path=csv_file, brand="pawsome", product="hip chews",
        progress=lambda done, total: steps.append((done, total)),
    )  # fmt: skip
    assert (first.rows_read, first.imported, first.already_had, first.refused) == (6, 3, 1, 2)
    assert first.refusals == ["Row 4: rating '7' is not 1 to 5 stars.", "Row 5: no review text."]
    assert first.summary == (
        "Imported 3 review(s) into Pawsome / Hip Chews from 6 row(s); 1 already imported; 2 refused. "
        "Row 4: rating '7' is not 1 to 5 stars. Row 5: no review text."
    )
    assert steps == [(3, 3)]
    async with pawsome.db.as_service() as conn:
        cur = await conn.execute(
            "select r.rating, r.body, r.reviewed_on::text as day, r.verified_purchase, p.name as product"
            " from amazon_reviews r join products p on p.id = r.product_id where r.brand_id = %s order by r.body",
            (pawsome.brand_id,),
        )
        rows = [dict(r) for r in await cur.fetchall()]
    assert rows == [
        {"rating": 2, "body": "Did nothing for my dog's stiff hips.", "day": "2026-01-15", "verified_purchase": False,
         "product": "Hip Chews"},
        {"rating": 4, "body": "Even my picky senior beagle eats them like treats.", "day": "2026-01-20",
         "verified_purchase": True, "product": "Hip Chews"},
        {"rating": 5, "body": "My 12 year old lab climbs the stairs again after three weeks.", "day": "2026-01-03",
         "verified_purchase": True, "product": "Hip Chews"},
    ]  # fmt: skip

    again = await import_reviews(
        pawsome.db, pawsome.caller, path=csv_file, brand="Pawsome", product="Hip Chews"
    )
    assert (again.imported, again.already_had, again.refused) == (0, 4, 2)
    assert await _count(pawsome.db, "amazon_reviews", pawsome.brand_id) == 3

    json_file = tmp_path / "reviews.json"
    json_file.write_text(json.dumps(JSON_EXPORT))
    from_json = await import_reviews(pawsome.db, pawsome.caller, path=json_file, brand="Pawsome")
    assert (from_json.imported, from_json.refused) == (2, 0)
    async with pawsome.db.as_service() as conn:
        cur = await conn.execute(
            "select rating, reviewed_on::text as day, verified_purchase from amazon_reviews"
            " where brand_id = %s and body like 'Our vet%%' or body like 'Half the chews%%' order by rating",
            (pawsome.brand_id,),
        )
        assert [dict(r) for r in await cur.fetchall()] == [
            {"rating": 1, "day": "2026-01-01", "verified_purchase": False},
            {"rating": 5, "day": "2026-03-03", "verified_purchase": True},
        ]
    # What the evidence reader (and so pattern discovery) now hears, verbatim, traced to its rows.
    async with pawsome.db.as_user(pawsome.caller) as conn:
        heard = await gather(conn, brand_id=pawsome.brand_id, product_id=None, sources=["reviews"])
    assert {e.text for e in heard if e.table == "amazon_reviews"} >= {
        "Even my picky senior beagle eats them like treats.",
        "Our vet suggested these for arthritis.",
    }


async def test_reviews_import_refuses_a_file_without_review_text_and_other_tenants_brands(
    pawsome: Tenant, tmp_path: Path
) -> None:
    before = await _count(pawsome.db, "amazon_reviews", pawsome.brand_id)
    no_text = tmp_path / "ratings.csv"
    no_text.write_text("Stars,Headline,ASIN\n5,Great,B0HIPCHEW1\n")
    with pytest.raises(InvalidArgument) as refused:
        await import_reviews(pawsome.db, pawsome.caller, path=no_text, brand="Pawsome")
    assert refused.value.message == (
        f"{no_text} has no review text column. Name it one of: body, review text, text, content"
        " (its columns: 'Stars', 'Headline', 'ASIN'). Nothing was imported."
    )
    good = tmp_path / "good.csv"
    good.write_text("body\nSomeone else's words about Pawsome.\n")
    with pytest.raises(NotFound, match=r"^No brand named 'Pawsome'\."):
        await import_reviews(pawsome.db, pawsome.outsider, path=good, brand="Pawsome")
    with pytest.raises(NotFound, match=r"^No brand named 'Pawsom'\. Did you mean 'Pawsome'\?$"):
        await import_reviews(pawsome.db, pawsome.caller, path=good, brand="Pawsom")
    assert await _count(pawsome.db, "amazon_reviews", pawsome.brand_id) == before


async def _bodies(db: Database, brand_id: UUID, tag: str) -> list[str]:
    async with db.as_service() as conn:
        cur = await conn.execute(
            "select body from amazon_reviews where brand_id = %s and body like %s order by body",
            (brand_id, f"%{tag}%"),
        )
        return [r["body"] for r in await cur.fetchall()]


async def test_reviews_import_refuses_bad_rows_one_by_one_and_imports_the_rest(
    pawsome: Tenant, tmp_path: Path
) -> None:
    """A NUL byte, half of a character, an absurd number or a line nested 100,000 deep refuses its own
    row (with its number and why); the good rows are imported (README: bad rows refused one by one)."""
    tag = uuid.uuid4().hex[:8]
    csv_file = tmp_path / "hostile.csv"
    csv_file.write_text(
        f"Review Text,Star Rating,Review Title\nGood one {tag},5,Fine\nNUL in {tag}\x00here,4,Bad\n"
        f"Good two {tag},4,Also fine\nAbsurd {tag},{'9' * 40},Huge\nTitle {tag},3,Oops\x00\n"
        f"{'x' * 200_000},5,Too long for the csv module\nGood three {tag},5,Fine\n"
    )
    from_csv = await import_reviews(pawsome.db, pawsome.caller, path=csv_file, brand="Pawsome")
    assert (from_csv.rows_read, from_csv.imported, from_csv.refused) == (7, 3, 4)
    assert from_csv.refusals == [
        "Row 3: Review Text contains a NUL byte (\\x00), which can't be stored.",
        f"Row 5: rating '{'9' * 40}' is not 1 to 5 stars.",
        "Row 6: Review Title contains a NUL byte (\\x00), which can't be stored.",
        "Row 7: can't be read (field larger than field limit (131072)).",
    ]
    good = [f"Good one {tag}", f"Good three {tag}", f"Good two {tag}"]
    assert await _bodies(pawsome.db, pawsome.brand_id, tag) == good

    lines = tmp_path / "hostile.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    lines.write_text(
        "\n".join([
            json.dumps({"body": f"Line one {tag}", "rating": 5}),
            '{"body": "nested", "extra": ' + deep + "}",
            json.dumps({"body": f"Epoch {tag}", "date": 10**40}),
            json.dumps({"body": f"Half \ud800 {tag}"}),
            '{"body": "cut off',
            json.dumps([1, 2]),
            json.dumps({"body": f"Line seven {tag}", "rating": 4}),
        ])
    )  # fmt: skip
    from_lines = await import_reviews(pawsome.db, pawsome.caller, path=lines, brand="Pawsome")
    assert (from_lines.rows_read, from_lines.imported, from_lines.refused) == (7, 2, 5)
    assert from_lines.refusals == [
        "Line 2: nested too deeply to read.",
        "Line 3: date 1e+40 is not a time in seconds or milliseconds.",
        "Line 4: body contains \\ud800 (half of a character), which can't be stored.",
        "Line 5: not valid JSON (column 10: Unterminated string starting at).",
        "Line 6: not a review object.",
    ]
    assert await _bodies(pawsome.db, pawsome.brand_id, tag) == [*good, f"Line one {tag}", f"Line seven {tag}"]

    too_deep = tmp_path / "deep.json"
    too_deep.write_text(deep)
    with pytest.raises(InvalidArgument) as refused:
        await import_reviews(pawsome.db, pawsome.caller, path=too_deep, brand="Pawsome")
    assert refused.value.message == (
        f"{too_deep} is nested too deeply to read: a review export is a list of flat objects."
        " Nothing was imported."
    )
    items = tmp_path / "items.json"
    items.write_text(json.dumps([{"body": f"Item one {tag}"}, "just text", {"body": f"Bad \x00 {tag}"}]))
    from_items = await import_reviews(pawsome.db, pawsome.caller, path=items, brand="Pawsome")
    assert (from_items.imported, from_items.refused) == (1, 2)
    assert from_items.refusals == [
        "Item 2: not a review object.",
        "Item 3: body contains a NUL byte (\\x00), which can't be stored.",
    ]
    assert f"Item one {tag}" in await _bodies(pawsome.db, pawsome.brand_id, tag)


async def test_reviews_import_from_a_shell(pawsome: Tenant, database_url: str, tmp_path: Path) -> None:
    export = tmp_path / "shell.jsonl"
    export.write_text(
        json.dumps({"text": "Bought these for my senior greyhound's hips.", "stars": 5}) + "\n"
        + json.dumps({"text": "Smells strong.", "stars": 3}) + "\n"
    )  # fmt: skip
    args = ("import", "reviews", str(export), "--brand", "Pawsome", "--org", pawsome.org_name)
    done = run_cli(database_url, tmp_path, *args)
    assert done.returncode == 0, done.stderr
    assert "Imported 2 review(s) into Pawsome from 2 row(s)." in done.stdout
    again = run_cli(database_url, tmp_path, *args)
    assert "Imported 0 review(s) into Pawsome from 2 row(s); 2 already imported." in again.stdout
    wrong = run_cli(database_url, tmp_path, "import", "reviews", str(export), "--brand", "Pawsomme",
                    "--org", pawsome.org_name)  # fmt: skip
    assert wrong.returncode == 2
    assert "No brand named 'Pawsomme'. Did you mean" in wrong.stderr and "Traceback" not in wrong.stderr


# -- Reddit ---------------------------------------------------------------------------------------------


@pytest.fixture
def reddit() -> Iterator[FakeReddit]:
    with FakeReddit() as fake:
        fake.add_post(
            "p1",
            "dogs",
            "My senior dog has joint pain on walks",
            selftext="He is 13 and limps.",
            score=120,
            comments=[
                ("Glucosamine helped my old lab's stiff joints a lot", 50),
                ("[deleted]", 40),
                ("Ask your vet about arthritis meds", 30),
            ],
        )
        fake.add_post(
            "p2",
            "DogAdvice",
            "Old dog stiff joints in the morning",
            score=80,
            comments=[("Our senior dog struggles with sore hips every morning", 12)],
        )
        fake.add_post("p3", "cats", "Cat won't eat dry food", score=5, comments=[("Try wet food", 3)])
        yield fake  # fmt: skip


class Waits:
    def __init__(self) -> None:
        self.seen: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


async def test_reddit_research_stores_posts_and_top_comments_once_and_waits_out_a_429(
    pawsome: Tenant, reddit: FakeReddit
) -> None:
    reddit.throttle(1, retry_after="3")
    waits = Waits()
    client = RedditClient(base_url=reddit.url, sleep=waits)
    found = await research_reddit(
        pawsome.db, pawsome.caller, brand="Pawsome", query="senior dog joint pain", limit=10,
        settings=OFFLINE, reddit=client,
    )  # fmt: skip
    assert waits.seen == [3.0]  # the Retry-After, once
    search = [r for r in reddit.requests if r.path == "/search.json"]
    assert len(search) == 2 and search[1].params["q"] == "senior dog joint pain"
    assert search[1].params["sort"] == "relevance" and search[1].params["limit"] == "10"
    assert {r.user_agent for r in reddit.requests} == {USER_AGENT}
    assert (found.posts, found.comments, found.stored_new) == (2, 3, 5)  # no bot, no deleted comment
    assert [r.body for r in found.rows if r.kind == "comment"] == [
        "Glucosamine helped my old lab's stiff joints a lot", "Ask your vet about arthritis meds",
        "Our senior dog struggles with sore hips every morning",
    ]  # fmt: skip
    assert found.summary.startswith(
        "Found 2 Reddit post(s) for 'senior dog joint pain' with 3 top comment(s)"
    )
    again = await research_reddit(
        pawsome.db, pawsome.caller, brand="Pawsome", query="senior dog joint pain", limit=10,
        settings=OFFLINE, reddit=RedditClient(base_url=reddit.url, sleep=waits),
    )  # fmt: skip
    assert (again.stored_new, again.already_had) == (0, 5)
    assert await _count(pawsome.db, "reddit_posts", pawsome.brand_id) == 5
    # Only in r/DogAdvice; a missing subreddit and bad arguments are refused with a clear message.
    only = await research_reddit(
        pawsome.db, pawsome.caller, brand="Pawsome", query="stiff joints", subreddit="r/DogAdvice",
        settings=OFFLINE, reddit=RedditClient(base_url=reddit.url, sleep=waits),
    )  # fmt: skip
    assert {r.subreddit for r in only.rows} == {"DogAdvice"}
    assert reddit.requests[-2].path == "/r/DogAdvice/search.json"
    assert reddit.requests[-2].params["restrict_sr"] == "1"
    reddit.missing_subreddits.add("nosuchsub")
    for kwargs, message in (
        (
            {"query": "joint pain", "subreddit": "nosuchsub"},
            "r/nosuchsub can't be read (private, banned or missing).",
        ),
        (
            {"query": "  "},
            'What should I look for on Reddit? Give a query, e.g. query:"senior dog joint pain".',
        ),
        ({"query": "joints", "subreddit": "no spaces"}, "'no spaces' is not a subreddit name"),
        ({"query": "joints", "limit": 0}, "limit must be between 1 and 100 posts (got 0)."),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await research_reddit(pawsome.db, pawsome.caller, brand="Pawsome", settings=OFFLINE,
                                  reddit=RedditClient(base_url=reddit.url, sleep=waits), **kwargs)  # fmt: skip
        assert refused.value.message.startswith(message)
    assert await _visible_to(pawsome.db, pawsome.outsider, "reddit_posts", pawsome.brand_id) == 0


async def test_reddit_that_keeps_refusing_stops_with_a_message(pawsome: Tenant, reddit: FakeReddit) -> None:
    reddit.throttle(4, retry_after="1")
    waits = Waits()
    with pytest.raises(Exception, match="Reddit kept refusing requests"):
        await research_reddit(pawsome.db, pawsome.caller, brand="Pawsome", query="joint pain", settings=OFFLINE,
                              reddit=RedditClient(base_url=reddit.url, sleep=waits))  # fmt: skip
    assert len(waits.seen) == 3 and len(reddit.requests) == 4
    reddit.throttle(1, retry_after="600")
    reddit.reset_counts()
    with pytest.raises(Exception, match=r"Reddit asks us to wait 600 s"):
        await research_reddit(pawsome.db, pawsome.caller, brand="Pawsome", query="joint pain", settings=OFFLINE,
                              reddit=RedditClient(base_url=reddit.url, sleep=waits))  # fmt: skip
    # Stopped part-way (the search read, the first post's comments refused): what was read is kept, and said.
    reddit.throttle(1, retry_after="600", after=1)
    partial = await research_reddit(pawsome.db, pawsome.caller, brand="Pawsome", query="cat dry food",
                                    settings=OFFLINE, reddit=RedditClient(base_url=reddit.url, sleep=waits))  # fmt: skip
    assert [r.reddit_id for r in partial.rows] == ["t3_p3"] and partial.stored_new == 1
    assert partial.note == (
        "Stopped reading comments after 0 of 1 posts: Reddit asks us to wait 600 s before the next request"
        " (rate limit). Try again later."
    )
    assert partial.summary.endswith(partial.note)


@pytest.fixture
def reddit_settings(reddit: FakeReddit) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REDDIT_BASE_URL", reddit.url)
        get_settings.cache_clear()
        yield
    get_settings.cache_clear()


async def test_a_reddit_theme_joins_a_pattern_and_raises_its_confidence(
    db: Database, reddit: FakeReddit, reddit_settings: None
) -> None:
    org, caller = await new_tenant(db, organization="Jointly", person="jo")
    async with db.as_service() as conn:
        brand = await insert(conn, "insert into brands (organization_id, name) values (%s, 'Jointly')", org)
        for text in ("joint pain in senior dogs", "older dogs struggling with sore joints"):
            await insert(conn, "insert into amazon_review_analysis (brand_id, organization_id, analysis)"
                         " values (%s, %s, %s)", brand, org, jsonb({"pain_points": [text]}))  # fmt: skip
    async with db.as_user(caller) as conn:
        before = await discover_patterns(conn, brand="Jointly", settings=OFFLINE)
    [joint] = before.patterns
    assert joint.source_breakdown == {"reviews": 2}
    commands = [s.command for s in joint.suggestions]
    assert f'/research_reddit brand:Jointly query:"{joint.name}"' in commands
    assert "/competitor_ads brand:Jointly page:<competitor's Facebook page id>" in commands
    assert '/analyze_landing_page url:<competitor page> brand:Jointly competitor:"<name>"' in commands
    assert not any(c and c.startswith("viraltracker import reviews") for c in commands)  # it has reviews

    turn = await run_turn(
        db=db, caller=caller, message='/research_reddit brand:Jointly query:"senior dog joint pain"'
    )
    [call] = turn.tool_calls
    assert call.error is None, call.error
    [table] = tables_for(turn.results[0])
    assert table.title == "Reddit — senior dog joint pain" and len(table.values) == 5
    assert table.values[0][-1].startswith("https://www.reddit.com/r/dogs/comments/p1/")
    async with db.as_user(caller) as conn:
        after = await discover_patterns(conn, brand="Jointly", settings=OFFLINE)
    grown = next(p for p in after.patterns if "joint pain in senior dogs" in {m.text for m in p.members})
    assert grown.source_breakdown.get("reddit", 0) >= 1 and grown.source_breakdown["reviews"] == 2
    assert grown.confidence > joint.confidence
    assert {m.table for m in grown.members if m.source == "reddit"} == {"reddit_posts"}
    assert not any(s.command and s.command.startswith("/research_reddit") for s in grown.suggestions)


# -- competitors' ads (Meta Ad Library) --------------------------------------------------------------------


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    with FakeGraph() as fake:
        fake.add_token("system-token")
        for n in range(60):
            fake.add_archive_ad(RIVAL_PAGE, "Rival Pets", body=f"Rival chews ad {n}: mobility for senior dogs.",
                                title=f"Headline {n}", stop=None if n % 2 else "2026-02-01T00:00:00+0000")  # fmt: skip
        fake.add_archive_ad("222222222222222", "Someone Else", body="Not this page.")
        fake.add_archive_ad(RIVAL_PAGE, "Rival Pets", body="Only in Germany.", countries=("DE",))
        yield fake


async def test_competitor_ads_are_read_page_by_page_and_kept_once_as_evidence(
    pawsome: Tenant, graph: FakeGraph
) -> None:
    settings = Settings(_env_file=None, VIRALTRACKER_MODEL="offline", META_SYSTEM_USER_TOKEN="system-token",
                        META_GRAPH_URL=graph.url)  # type: ignore[call-arg]  # fmt: skip
    read = await competitor_ads(
        pawsome.db, pawsome.caller, brand="Pawsome", page=RIVAL_PAGE, settings=settings
    )
    assert (read.found, read.stored_new, read.pages_read) == (60, 60, 2)  # 50 + 10, every status
    calls = [r for r in graph.requests if r.path == "/ads_archive"]
    assert len(calls) == 2 and "after" in calls[1].params
    assert json.loads(calls[0].params["search_page_ids"]) == [RIVAL_PAGE]
    assert json.loads(calls[0].params["ad_reached_countries"]) == ["US"]
    assert calls[0].params["ad_active_status"] == "ALL"
    assert all(a.snapshot_url and "access_token" not in a.snapshot_url for a in read.ads)
    assert read.summary.startswith(
        "Read 60 ad(s) of Rival Pets reaching US from Meta's Ad Library; stored 60 new"
    )
    again = await competitor_ads(
        pawsome.db, pawsome.caller, brand="Pawsome", page=RIVAL_PAGE, limit=20, settings=settings
    )
    assert (again.found, again.stored_new, again.already_had, again.pages_read) == (20, 0, 20, 1)
    assert await _count(pawsome.db, "competitor_ads", pawsome.brand_id) == 60
    async with pawsome.db.as_service() as conn:
        cur = await conn.execute(
            "select snapshot_url from competitor_ads where brand_id = %s", (pawsome.brand_id,)
        )
        assert not any("SNAPSHOT-TOKEN" in r["snapshot_url"] for r in await cur.fetchall())
    async with pawsome.db.as_user(pawsome.caller) as conn:
        heard = await gather(conn, brand_id=pawsome.brand_id, product_id=None, sources=["competitor_ads"])
    assert {(e.source, e.table, e.category) for e in heard} == {
        ("competitor_ads", "competitor_ads", "hooks"),
        ("competitor_ads", "competitor_ads", "language"),
    }
    assert "Rival chews ad 0: mobility for senior dogs." in {e.text for e in heard}
    assert await _visible_to(pawsome.db, pawsome.outsider, "competitor_ads", pawsome.brand_id) == 0
    async with pawsome.db.as_user(pawsome.outsider) as conn:
        heard_elsewhere = await gather(
            conn, brand_id=pawsome.brand_id, product_id=None, sources=["competitor_ads"]
        )
    assert heard_elsewhere == []


async def test_competitor_ads_refuse_bad_input_and_a_missing_token(pawsome: Tenant, graph: FakeGraph) -> None:
    settings = Settings(_env_file=None, META_GRAPH_URL=graph.url)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError) as no_token:
        await competitor_ads(pawsome.db, pawsome.caller, brand="Pawsome", page=RIVAL_PAGE, settings=settings)
    assert no_token.value.message == (
        "Reading Meta's Ad Library needs a Meta token: connect the brand's Facebook with"
        ' /connect_meta brand:"Pawsome", or set META_SYSTEM_USER_TOKEN.'
    )
    for kwargs, message in (
        ({"page": "rivalpets"}, "'rivalpets' is not a Facebook page id."),
        ({"page": None}, "Which competitor? Give its numeric Facebook page id"),
        ({"page": RIVAL_PAGE, "country": "USA"}, "'USA' is not a two-letter country code"),
        ({"page": RIVAL_PAGE, "limit": 501}, "limit must be between 1 and 500 ads (got 501)."),
    ):
        with pytest.raises(InvalidArgument) as refused:
            await competitor_ads(pawsome.db, pawsome.caller, brand="Pawsome", settings=settings, **kwargs)
        assert refused.value.message.startswith(message)
    assert not [r for r in graph.requests if r.path == "/ads_archive"]
    turn = await run_turn(
        db=pawsome.db, caller=pawsome.outsider, message=f"/competitor_ads brand:Pawsome page:{RIVAL_PAGE}"
    )
    assert turn.refused and turn.text.startswith("No brand named 'Pawsome'.")


# -- competitors' landing pages ---------------------------------------------------------------------------

RIVAL_HTML = """<html><head><title>Rival Mobility Chews</title></head><body>
<h1>Mobility chews for senior dogs</h1>
<h2>Why owners love it</h2>
<ul><li>Easier stairs for stiff senior dogs</li><li>Soothes sore hips and joints</li></ul>
<h2>What customers say</h2>
<blockquote>"My old boy runs in the park again." — Sam P., verified buyer</blockquote>
</body></html>"""


@pytest.fixture
def rival_site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = RIVAL_HTML.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/mobility"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_a_competitor_landing_page_is_analysed_and_heard_as_competitor_evidence(
    pawsome: Tenant, rival_site: str
) -> None:
    settings = Settings(
        _env_file=None, VIRALTRACKER_MODEL="offline", VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True
    )  # type: ignore[call-arg]
    own_pages = await _count(pawsome.db, "brand_landing_pages", pawsome.brand_id)

    async def analyze_rival() -> pages.LandingPageAnalysis:
        return await pages.analyze_landing_page(
            pawsome.db,
            pawsome.caller,
            url=rival_site,
            brand="Pawsome",
            competitor="Rival Pets",
            settings=settings,
        )

    done = await analyze_rival()
    assert done.competitor == "Rival Pets" and done.stored_new and done.analysis_id is None
    assert "for Pawsome's research (competitor: Rival Pets)" in done.summary
    assert await _count(pawsome.db, "brand_landing_pages", pawsome.brand_id) == own_pages
    again = await analyze_rival()
    assert not again.stored_new and again.landing_page_id == done.landing_page_id
    async with pawsome.db.as_service() as conn:
        cur = await conn.execute(
            "select competitor_name, analysis from competitor_landing_pages where brand_id = %s",
            (pawsome.brand_id,),
        )
        [row] = await cur.fetchall()
    assert row["competitor_name"] == "Rival Pets"
    assert "Easier stairs for stiff senior dogs" in json.dumps(row["analysis"]["sections"]["benefits"])
    async with pawsome.db.as_user(pawsome.caller) as conn:
        heard = await gather(conn, brand_id=pawsome.brand_id, product_id=None, sources=["competitor_pages"])
    assert {e.table for e in heard} == {"competitor_landing_pages"}
    assert "Easier stairs for stiff senior dogs" in {e.text for e in heard}
    assert await _visible_to(pawsome.db, pawsome.outsider, "competitor_landing_pages", pawsome.brand_id) == 0
    with pytest.raises(InvalidArgument, match="A competitor's page needs the competitor's name"):
        await pages.analyze_landing_page(pawsome.db, pawsome.caller, url=rival_site, brand="Pawsome",
                                         product="Hip Chews", competitor="Rival Pets", settings=settings)  # fmt: skip


async def test_new_tables_refuse_rows_for_another_organization(pawsome: Tenant) -> None:
    """RLS as `authenticated`: nobody writes research rows into another organization's brand."""
    statements = (
        "insert into reddit_posts (brand_id, organization_id, reddit_id, kind, query) values (%s, %s, 't3_x', 'post', 'q')",
        "insert into competitor_ads (brand_id, organization_id, ad_archive_id, page_id) values (%s, %s, '1', '2')",
    )  # fmt: skip
    for statement in statements:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with pawsome.db.as_user(pawsome.outsider) as conn:
                await conn.execute(statement, (pawsome.brand_id, pawsome.org))


async def test_a_theme_only_competitors_use_asks_for_reviews_reddit_and_the_brands_own_sources(
    db: Database,
) -> None:
    org, caller = await new_tenant(db, organization="Rivalwatch", person="rita")
    async with db.as_service() as conn:
        brand = await insert(
            conn, "insert into brands (organization_id, name) values (%s, 'Rival Watch')", org
        )
        for n, body in enumerate(("Glucosamine chews for stiff senior dogs", "Joint chews for stiff older dogs",
                                  "Stiff senior dog? Try our joint chews")):  # fmt: skip
            await insert(conn, "insert into competitor_ads (brand_id, organization_id, ad_archive_id, page_id, bodies)"
                         " values (%s, %s, %s, '123456', %s)", brand, org, str(n), jsonb([body]))  # fmt: skip
    async with db.as_user(caller) as conn:
        report = await discover_patterns(conn, brand="Rival Watch", settings=OFFLINE)
    [theme] = report.patterns
    assert theme.source_breakdown == {"competitors": 3}
    commands = [s.command for s in theme.suggestions if s.kind == "missing_source"]
    assert 'viraltracker import reviews FILE --brand "Rival Watch"' in commands
    assert f'/research_reddit brand:"Rival Watch" query:"{theme.name}"' in commands
    assert not any(c and c.startswith("/competitor_ads") for c in commands)
    texts = [s.text for s in theme.suggestions]
    assert "Not in Amazon reviews yet: Import more Amazon reviews (a CSV or JSON export)" in " ".join(texts)


async def test_competitor_ads_use_the_brands_own_facebook_connection_first(
    db: Database, graph: FakeGraph
) -> None:
    org, caller = await new_tenant(db, organization="Own Token Co", person="otto")
    key = Fernet.generate_key().decode()
    settings = Settings(_env_file=None, VIRALTRACKER_SECRET_KEY=key, META_SYSTEM_USER_TOKEN="not-accepted",
                        META_GRAPH_URL=graph.url)  # type: ignore[call-arg]  # fmt: skip
    graph.add_token("brand-oauth-token")
    async with db.as_service() as conn:
        brand = await insert(conn, "insert into brands (organization_id, name) values (%s, 'Own Token')", org)
        await conn.execute(
            "insert into brand_ad_accounts (brand_id, organization_id, meta_ad_account_id, auth_method,"
            " access_token_encrypted) values (%s, %s, %s, 'oauth', %s)",
            (brand, org, f"act_{uuid.uuid4().int % 10**12}", TokenVault.from_settings(settings).encrypt("brand-oauth-token")),
        )  # fmt: skip
    graph.fail("ads_archive", code=17, after_calls=1)  # the second page is throttled once
    said: list[str] = []

    def quick(token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token, graph_url=graph.url, limits=Limits(throttle_wait=0.01), sleep=lambda _: None
        )

    read = await competitor_ads(db, caller, brand="Own Token", page=RIVAL_PAGE, limit=60, settings=settings,
                                client_factory=quick, progress=said.append)  # fmt: skip
    assert (read.found, read.stored_new, read.pages_read) == (60, 60, 2)
    tokens = [r.params["access_token"] for r in graph.requests if r.path == "/ads_archive"]
    assert tokens == ["brand-oauth-token"] * 3
    assert said == ["Read 50 ads from the Ad Library (1 page(s))", "Waiting 0 s: Meta asked us to slow down",
                    "Read 60 ads from the Ad Library (2 page(s))"]  # fmt: skip
