"""Meta as a live source, end to end: the real facebook-business SDK against the local fake Graph API
(fakes/meta_graph.py), into the test database. Every total is checked against the fake's own
rows, summed here independently."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr

from agent.render import actions_of
from agent.runner import run_turn
from core.errors import Ambiguous, ConfigurationError, InvalidArgument, NeedsReconnect, NotFound
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from jobs import api as jobs_api
from jobs.runs import RunFailed, execute_run
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.sync import MetaSync
from services.platform.accounts import add_user, create_organization
from settings import Settings, get_settings
from tests.cli_helpers import run_cli

TOKEN = "EAAB-system-user-token-" + uuid.uuid4().hex
TODAY = date.today()
DAYS = 21


@dataclass
class World:
    fake: FakeGraph
    db: Database
    caller: Caller
    brand: str
    account: str
    settings: Settings
    waits: list[tuple[str, float]] = field(default_factory=list)
    async_after_days: int = 31
    report_days: int = 31

    def client(self, token: SecretStr) -> MetaClient:
        return MetaClient(
            token=token,
            graph_url=self.fake.url,
            limits=Limits(
                backoff_base=0.001,
                backoff_cap=0.002,
                throttle_wait=0.5,
                breaker_after=5,
                async_after_days=self.async_after_days,
                report_days=self.report_days,
            ),
            sleep=lambda _seconds: None,  # waits are recorded, not slept
            on_wait=lambda why, seconds: self.waits.append((why, seconds)),
            page_size=40,
        )

    def sync(self) -> MetaSync:
        return MetaSync(self.db, self.caller, settings=self.settings, client_factory=self.client)

    async def link(self) -> None:
        await link_account(
            self.db,
            self.caller,
            brand_name=self.brand,
            account=self.account,
            settings=self.settings,
            client_factory=self.client,
        )


@pytest.fixture
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        yield graph


@pytest.fixture
async def world(db: Database, fake: FakeGraph, tmp_path: Path) -> AsyncIterator[World]:
    """A fresh organization, user and brand whose only source is one Meta ad account."""
    tag = uuid.uuid4().hex[:8]
    account = f"act_{int(tag, 16) % 10**9 + 10**9}"
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Meta Source {tag}")
        user_id = await add_user(conn, email=f"ops-{tag}@metasource.example", organization_id=org)
        await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s)", (org, f"Sync Pets {tag}")
        )
    fake.add_account(account, name=f"Sync Pets {tag} US", tokens={TOKEN})
    fake.generate(
        account, n_ads=12, since=TODAY - timedelta(days=DAYS - 1), days=DAYS, seed=int(tag, 16) % 1000
    )
    settings = Settings(  # type: ignore[call-arg]
        META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url, VIRALTRACKER_HOME=tmp_path
    )
    yield World(
        fake, db, Caller(user_id, f"ops-{tag}@metasource.example"), f"Sync Pets {tag}", account, settings
    )
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))
        await conn.execute("delete from auth.users where id = %s", (user_id,))


def expected(fake: FakeGraph, account: str, since: date, until: date) -> dict[str, Any]:
    """Totals straight from the fake's rows, read the way Meta documents them."""

    def action(row: dict[str, Any], key: str, kind: str) -> int:
        return sum(int(a["value"]) for a in row.get(key) or [] if a["action_type"] == kind)

    rows = list(fake.rows_between(account, since, until))
    return {
        "rows": len(rows),
        "spend": sum((Decimal(r["spend"]) for r in rows), Decimal("0")),
        "impressions": sum(int(r["impressions"]) for r in rows),
        "link_clicks": sum(int(r["inline_link_clicks"]) for r in rows),
        "purchases": sum(action(r, "actions", "omni_purchase") for r in rows),
        "video_3s_views": sum(action(r, "actions", "video_view") for r in rows),
        "video_thruplays": sum(action(r, "video_thruplay_watched_actions", "video_view") for r in rows),
    }


async def stored(db: Database, account: str, since: date, until: date) -> dict[str, Any]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as rows, coalesce(sum(p.spend), 0) as spend,"
            " coalesce(sum(p.impressions), 0) as impressions, coalesce(sum(p.link_clicks), 0) as link_clicks,"
            " coalesce(sum(p.purchases), 0) as purchases, coalesce(sum(p.video_3s_views), 0) as video_3s_views,"
            " coalesce(sum(p.video_thruplays), 0) as video_thruplays"
            " from meta_ads_performance p join meta_ads a using (meta_ad_id)"
            " where a.meta_ad_account_id = %s and p.date between %s and %s",
            (account, since, until),
        )
        row = await cur.fetchone()
    assert row is not None
    return {k: (Decimal(v) if k == "spend" else int(v)) for k, v in row.items()}


async def test_linking_checks_the_account_with_meta(world: World) -> None:
    with pytest.raises(InvalidArgument, match="not a Meta ad account ID"):
        await link_account(
            world.db, world.caller, brand_name=world.brand, account="acme-pets", settings=world.settings
        )
    with pytest.raises(NotFound, match="Meta has no ad account act_999000111 that this token can read"):
        await link_account(
            world.db,
            world.caller,
            brand_name=world.brand,
            account="999000111",
            settings=world.settings,
            client_factory=world.client,
        )
    no_token = world.settings.model_copy(update={"meta_system_user_token": None})
    with pytest.raises(ConfigurationError, match="META_SYSTEM_USER_TOKEN"):
        await link_account(
            world.db, world.caller, brand_name=world.brand, account=world.account, settings=no_token
        )
    linked = await link_account(
        world.db,
        world.caller,
        brand_name=world.brand.lower(),
        account=world.account.removeprefix("act_"),
        settings=world.settings,
        client_factory=world.client,
    )
    assert linked.account_id == world.account and linked.brand == world.brand
    assert linked.summary.startswith(f"Linked {world.account} ({world.brand} US, USD) to {world.brand}.")
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select meta_ad_account_id, auth_method, status from brand_ad_accounts")
        assert await cur.fetchall() == [
            {"meta_ad_account_id": world.account, "auth_method": "system_user", "status": "active"}
        ]


async def test_an_account_read_by_one_organization_cannot_be_linked_by_another(world: World) -> None:
    await world.link()
    other = f"Rival Pets {uuid.uuid4().hex[:8]}"
    async with world.db.as_owner() as conn:
        org = await create_organization(conn, name=f"Rival {other}")
        await conn.execute("insert into brands (organization_id, name) values (%s, %s)", (org, other))
    try:
        with pytest.raises(
            InvalidArgument, match=f"{world.account} is already linked by another organization"
        ):
            await link_account(
                world.db,
                None,
                brand_name=other,
                account=world.account,
                settings=world.settings,
                client_factory=world.client,
            )
        async with world.db.as_owner() as conn:
            cur = await conn.execute(
                "select count(*) as n from brand_ad_accounts where meta_ad_account_id = %s", (world.account,)
            )
            assert await cur.fetchone() == {"n": 1}
    finally:
        async with world.db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (org,))


async def test_sync_is_exact_incremental_and_writes_nothing_when_nothing_changed(world: World) -> None:
    await world.link()
    since = TODAY - timedelta(days=DAYS - 1)
    first = await world.sync().run(world.brand, days=DAYS, today=TODAY)
    assert first.ok, first.summary
    [run] = first.accounts
    want = expected(world.fake, world.account, since, TODAY)
    assert await stored(world.db, world.account, since, TODAY) == want
    assert run.rows == want["rows"] == run.rows_written and run.ads == 12
    assert world.fake.calls("/insights") > 1  # pages of 40 rows

    # The ads, with their landing pages canonicalised (no tracking parameters).
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute(
            "select count(*) as ads, count(*) filter (where format = 'video') as videos from meta_ads"
            " where meta_ad_account_id = %s",
            (world.account,),
        )
        assert (await cur.fetchone()) == {
            "ads": 12,
            "videos": sum(
                1
                for ad_id in world.fake.ad_ids(world.account)
                if world.fake.ad(ad_id)["creative"].get("video_id")
            ),
        }
        cur = await conn.execute("select url, canonical_url from meta_ad_destinations")
        destinations = await cur.fetchall()
    assert destinations and all("utm_" not in d["canonical_url"] for d in destinations)
    assert any("utm_" in d["url"] for d in destinations)

    # Again: only the attribution window (7 days) is fetched, and nothing is written.
    again = await world.sync().run(world.brand, today=TODAY)
    [rerun] = again.accounts
    assert rerun.since == TODAY - timedelta(days=6) and rerun.rows_written == 0
    assert rerun.rows == expected(world.fake, world.account, rerun.since, TODAY)["rows"]

    # Meta revises the last 3 days: exactly those rows are rewritten and the totals follow.
    world.fake.bump(world.account, TODAY - timedelta(days=2), TODAY, 1.5)
    revised = await world.sync().run(world.brand, today=TODAY)
    [third] = revised.accounts
    assert third.rows_written == expected(world.fake, world.account, TODAY - timedelta(days=2), TODAY)["rows"]
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )
    assert "new or changed" in revised.summary


async def test_throttling_errors_and_dropped_connections_mid_pagination_lose_nothing(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.link()
    world.fake.fail("/insights", code=17, after_calls=1)
    world.fake.fail("/insights", code=80004, after_calls=2, regain_minutes=2)
    world.fake.fail("/insights", code=2, status=503, times=2, after_calls=3)
    world.fake.drop("/insights", after_calls=4)
    world.fake.drop("/ads")
    with caplog.at_level(logging.DEBUG):
        result = await world.sync().run(world.brand, days=DAYS, today=TODAY)
    assert result.ok, result.summary
    since = TODAY - timedelta(days=DAYS - 1)
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )
    [run] = result.accounts
    assert run.throttled == 2
    reasons = [why for why, _ in world.waits]
    assert "Meta asked us to slow down" in reasons and "the connection to Meta dropped" in reasons
    assert "Meta had a temporary error" in reasons
    assert ("Meta asked us to slow down", 120.0) in world.waits  # Meta's estimated_time_to_regain_access
    # The token is in every request the SDK makes, and in the URL a dropped connection's error
    # quotes; it must not reach a log line or a result.
    assert any(r.params.get("access_token") == TOKEN for r in world.fake.requests)
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert TOKEN not in result.model_dump_json() and TOKEN not in result.summary


async def test_an_expired_token_marks_the_connection_and_keeps_the_mark(world: World) -> None:
    await world.link()
    assert (await world.sync().run(world.brand, days=DAYS, today=TODAY)).ok
    world.fake.expire_token(TOKEN)
    result = await world.sync().run(world.brand, today=TODAY + timedelta(days=1))
    assert not result.ok
    assert "no longer accepts this brand's token" in result.summary and "/connect_meta" in result.summary
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select status from brand_ad_accounts")
        assert await cur.fetchall() == [{"status": "expired"}]
        cur = await conn.execute("select high_water_mark, last_status from sync_state")
        assert await cur.fetchall() == [{"high_water_mark": TODAY, "last_status": "failed"}]


async def test_an_expired_connection_is_refused_everywhere_until_someone_reconnects(
    world: World, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await world.link()
    assert (await world.sync().run(world.brand, days=3, today=TODAY)).ok
    world.fake.expire_token(TOKEN)
    assert not (await world.sync().run(world.brand, today=TODAY)).ok  # Meta's 190 marks it expired
    world.fake.add_token(TOKEN)  # Meta would take the token again: still, nothing syncs on it
    refusal = (
        f"The Meta token for {world.account} expired or was revoked. Syncs of {world.account} are paused"
        f' until someone reconnects: /connect_meta brand:"{world.brand}".'
    )
    calls = world.fake.calls()

    async def still_expired() -> None:
        async with world.db.as_user(world.caller) as conn:
            cur = await conn.execute("select status from brand_ad_accounts")
            assert await cur.fetchall() == [{"status": "expired"}]
        assert world.fake.calls() == calls  # Meta was not asked

    with pytest.raises(NeedsReconnect) as refused:
        await world.sync().run(world.brand, today=TODAY)
    assert refused.value.message == refusal
    await still_expired()
    # In the chat.
    monkeypatch.setenv("META_SYSTEM_USER_TOKEN", TOKEN)
    monkeypatch.setenv("META_GRAPH_URL", world.fake.url)
    get_settings.cache_clear()
    try:
        turn = await run_turn(db=world.db, caller=world.caller, message=f'/sync_meta brand:"{world.brand}"')
    finally:
        get_settings.cache_clear()
    assert turn.refused and turn.text == refusal
    await still_expired()
    # A scheduled (or queued) job fails at once, saying the same.
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select id, organization_id from brands where name = %s", (world.brand,))
        brand = await cur.fetchone()
    assert brand is not None
    run_id = await jobs_api.run_now(
        world.db, job_type="meta_sync", organization_id=brand["organization_id"], brand_id=brand["id"]
    )
    with pytest.raises(RunFailed):
        await execute_run(world.db, world.settings, run_id, attempt=1, meta_client_factory=world.client)
    async with world.db.as_owner() as conn:
        cur = await conn.execute("select status, error from job_runs where id = %s", (run_id,))
        assert await cur.fetchone() == {"status": "failed", "error": refusal}
    await still_expired()
    # From the command line.
    env = {"META_SYSTEM_USER_TOKEN": TOKEN, "META_GRAPH_URL": world.fake.url, "COLUMNS": "400"}
    synced = run_cli(database_url, tmp_path, "sync", "meta", "--brand", world.brand, env=env)
    assert synced.returncode == 2 and " ".join(synced.stderr.split()) == refusal, synced.stderr
    await still_expired()
    # Reconnecting (here `meta link`) makes it active, and syncs run again.
    await world.link()
    assert (await world.sync().run(world.brand, today=TODAY)).ok
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select status from brand_ad_accounts")
        assert await cur.fetchall() == [{"status": "active"}]


async def test_a_brands_other_accounts_still_sync_beside_an_expired_one(world: World) -> None:
    await world.link()
    other = f"act_{int(world.account[4:]) + 1}"
    world.fake.add_account(other, name=f"{world.brand} UK", tokens={TOKEN})
    world.fake.generate(other, n_ads=3, since=TODAY - timedelta(days=2), days=3, seed=5)
    await link_account(
        world.db, world.caller, brand_name=world.brand, account=other, settings=world.settings,
        client_factory=world.client,
    )  # fmt: skip
    async with world.db.as_owner() as conn:  # as the daily expiry check leaves it
        await conn.execute(
            "update brand_ad_accounts set status = 'expired' where meta_ad_account_id = %s", (other,)
        )
    result = await world.sync().run(world.brand, days=3, today=TODAY)
    assert [a.account_id for a in result.accounts] == [world.account] and result.accounts[0].error is None
    assert not result.ok and result.summary.endswith(
        f" The Meta token for {other} expired or was revoked. Syncs of {other} are paused until someone"
        f' reconnects: /connect_meta brand:"{world.brand}".'
    )
    assert world.fake.calls(other[4:]) == 1  # the one call linking it made
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select meta_ad_account_id, status from brand_ad_accounts order by 1")
        assert await cur.fetchall() == sorted(
            [{"meta_ad_account_id": world.account, "status": "active"},
             {"meta_ad_account_id": other, "status": "expired"}],
            key=lambda r: r["meta_ad_account_id"],
        )  # fmt: skip


async def test_a_connection_marked_expired_during_a_sync_stays_expired(
    world: World, database_url: str
) -> None:
    await world.link()

    def client_marked_meanwhile(token: SecretStr) -> MetaClient:
        # The daily expiry check marks the connection while this sync is under way.
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "update brand_ad_accounts set status = 'expired', last_error = 'The token expired on Dec 1.'"
                " where meta_ad_account_id = %s",
                (world.account,),
            )
        return world.client(token)

    sync = MetaSync(world.db, world.caller, settings=world.settings, client_factory=client_marked_meanwhile)
    assert (await sync.run(world.brand, days=3, today=TODAY)).ok
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute(
            "select status, last_error, last_synced_at is not null as synced from brand_ad_accounts"
        )
        assert await cur.fetchall() == [
            {"status": "expired", "last_error": "The token expired on Dec 1.", "synced": True}
        ]


async def test_repeated_throttling_stops_the_run_and_the_next_one_resumes(world: World) -> None:
    await world.link()
    world.fake.fail("/insights", code=613, times=5, after_calls=2)
    stopped = await world.sync().run(world.brand, days=DAYS, today=TODAY)
    assert not stopped.ok
    assert "kept throttling" in stopped.summary and "the next sync resumes from here" in stopped.summary
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select high_water_mark, last_status from sync_state")
        assert await cur.fetchall() == [{"high_water_mark": None, "last_status": "failed"}]
    resumed = await world.sync().run(world.brand, days=DAYS, today=TODAY)
    assert resumed.ok
    since = TODAY - timedelta(days=DAYS - 1)
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )


async def test_a_brand_with_no_account_is_told_how_to_link_one(world: World) -> None:
    with pytest.raises(NotFound, match=f"{world.brand} has no Meta ad account linked"):
        await world.sync().run(world.brand, today=TODAY)


async def test_the_cli_syncs_with_a_progress_bar_and_says_what_it_did(
    world: World, database_url: str, tmp_path: Path
) -> None:
    env = {"META_SYSTEM_USER_TOKEN": TOKEN, "META_GRAPH_URL": world.fake.url}
    linked = run_cli(
        database_url, tmp_path, "meta", "link", "--brand", world.brand, "--account", world.account, env=env
    )
    assert linked.returncode == 0, linked.stderr
    assert f"Linked {world.account}" in linked.stdout
    synced = run_cli(database_url, tmp_path, "sync", "meta", "--brand", world.brand, "--days", "5", env=env)
    assert synced.returncode == 0, synced.stderr
    want = expected(world.fake, world.account, TODAY - timedelta(days=4), TODAY)
    assert f"12 ads, {want['rows']:,} daily rows fetched, {want['rows']:,} new or changed" in synced.stdout
    assert TOKEN not in synced.stdout + synced.stderr + linked.stdout + linked.stderr
    bad_days = run_cli(database_url, tmp_path, "sync", "meta", "--brand", world.brand, "--days", "0", env=env)
    assert bad_days.returncode == 2 and "days must be between 1 and 730 (got 0)" in bad_days.stderr
    refused = run_cli(
        database_url, tmp_path, "meta", "link", "--brand", world.brand, "--account", "nope", env=env
    )
    assert refused.returncode == 2 and "not a Meta ad account ID" in refused.stderr


async def test_chat_commands_link_sync_and_report_each_connections_health(
    world: World, leo: Caller, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("META_SYSTEM_USER_TOKEN", TOKEN)
    monkeypatch.setenv("META_GRAPH_URL", world.fake.url)
    get_settings.cache_clear()
    try:
        ask = lambda message: run_turn(db=world.db, caller=world.caller, message=message)  # noqa: E731
        status = await ask(f'/meta_status brand:"{world.brand}"')
        assert status.text.startswith(f"No Meta ad account is linked to {world.brand}.")
        linked = await ask(f'/meta_account brand:"{world.brand}" account:{world.account}')
        assert linked.text.startswith(f"Linked {world.account}"), linked.text
        status = await ask("/meta_status")
        [connection] = status.tool_calls[0].result["connections"]
        assert connection["health"] == f'Never synced. Run /sync_meta brand:"{world.brand}".'
        synced = await ask(f'/sync_meta brand:"{world.brand}" days:3')
        want = expected(world.fake, world.account, TODAY - timedelta(days=2), TODAY)
        assert f"{want['rows']:,} daily rows fetched" in synced.text, synced.text
        status = await ask("/meta_status")
        [connection] = status.tool_calls[0].result["connections"]
        assert connection["health"] == "Healthy." and connection["last_synced_at"]
        assert status.text.endswith("all healthy.")
        assert actions_of(status.results[0]) == []
        refused = await ask(f'/sync_meta brand:"{world.brand}" days:0')
        assert refused.refused and "days must be between 1 and 730" in refused.text
        # Another organization sees none of it.
        theirs = await run_turn(db=world.db, caller=leo, message="/meta_status")
        assert theirs.text.startswith("No Meta ad account is linked to your brands.")
        world.fake.expire_token(TOKEN)
        await ask(f'/sync_meta brand:"{world.brand}"')
        status = await ask("/meta_status")
        [connection] = status.tool_calls[0].result["connections"]
        assert (
            connection["health"]
            == f'Token expired or revoked. Reconnect with /connect_meta brand:"{world.brand}".'
        )
        # A Reconnect button under the answer (a hint in a shell): it asks for a new Facebook sign-in.
        [button] = actions_of(status.results[0])
        assert button.label == f"Reconnect {world.brand}"
        assert button.command == f'/connect_meta brand:"{world.brand}"'
    finally:
        get_settings.cache_clear()


async def test_long_ranges_use_async_report_runs_split_when_one_fails(world: World) -> None:
    await world.link()
    world.async_after_days = 7
    world.fake.async_polls_needed = 4  # "Job Running" (and 100% once) before "Job Completed"
    world.fake.fail_async_reports = 1  # the first run fails: its range is split in two
    result = await world.sync().run(world.brand, days=DAYS, today=TODAY)
    assert result.ok, result.summary
    since = TODAY - timedelta(days=DAYS - 1)
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )
    posts = [r for r in world.fake.requests if r.method == "POST" and r.path.endswith("/insights")]
    assert len(posts) == 3  # the failed run, then its two halves
    assert sum(1 for why, _ in world.waits if why == "Meta is preparing the report") >= 6


async def test_a_sync_that_stops_midway_goes_on_from_its_last_whole_report(world: World) -> None:
    await world.link()
    world.async_after_days, world.report_days = 7, 7  # 21 days: three report runs of 7 days, in order
    since = TODAY - timedelta(days=DAYS - 1)
    # Meta refuses the third report run (a non-retryable error): two weeks are in.
    world.fake.fail(f"{world.account}/insights", code=100, after_calls=2, message="(#100) Report refused")
    first = await world.sync().run(world.brand, days=DAYS, today=TODAY)
    assert not first.ok
    two_weeks = since + timedelta(days=13)
    assert (
        f"every day through {two_weeks:%b %-d} is in, and the next sync goes on from there" in first.summary
    )
    assert await stored(world.db, world.account, since, two_weeks) == expected(
        world.fake, world.account, since, two_weeks
    )
    # The next run starts with the third week (not the default first sync's 90 days), then the
    # account is whole; the one after that is an ordinary incremental sync.
    before = len(world.fake.requests)
    second = await world.sync().run(world.brand, today=TODAY)
    assert second.ok and "(resumed where the last sync stopped)" in second.summary, second.summary
    [account] = second.accounts
    assert account.since == two_weeks + timedelta(days=1)
    asked = {
        r.params["time_range"]
        for r in world.fake.requests[before:]
        if r.path.endswith(f"{world.account}/insights")
    }
    assert [json.loads(t) for t in asked] == [
        {"since": (two_weeks + timedelta(days=1)).isoformat(), "until": TODAY.isoformat()}
    ]
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )
    third = await world.sync().run(world.brand, today=TODAY)
    assert third.ok and "resumed" not in third.summary
    assert third.accounts[0].since == TODAY - timedelta(days=world.settings.meta_attribution_days - 1)


async def test_jobs_sync_a_brand_by_id_when_another_organization_uses_its_name(world: World) -> None:
    await world.link()
    async with world.db.as_owner() as conn:
        other = await create_organization(conn, name=f"Namesake {uuid.uuid4().hex[:8]}")
        await conn.execute("insert into brands (organization_id, name) values (%s, %s)", (other, world.brand))
        cur = await conn.execute(
            "select id from brands where name = %s and organization_id <> %s", (world.brand, other)
        )
        row = await cur.fetchone()
    try:
        as_service = MetaSync(world.db, None, settings=world.settings, client_factory=world.client)
        with pytest.raises(Ambiguous, match="several of your organizations"):
            await as_service.run(world.brand, days=3, today=TODAY)
        assert row is not None
        result = await as_service.run(row["id"], days=3, today=TODAY)
        assert result.ok, result.summary
        since = TODAY - timedelta(days=2)
        assert await stored(world.db, world.account, since, TODAY) == expected(
            world.fake, world.account, since, TODAY
        )
    finally:
        async with world.db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (other,))


async def test_a_first_sync_by_the_service_role_keeps_unlisted_ads_under_their_own_names(
    world: World,
) -> None:
    """Jobs and the CLI write days the brand has no rows for straight into the table (COPY): the same
    rows, and an ad Meta no longer lists still has its days under its name, whatever it contains."""
    await world.link()
    gone = f"{world.fake.accounts[world.account].ad_prefix()}000003"
    odd_name = 'Tab\tthere \\ back\nslash, "quoted"'
    world.fake.unlist(gone, name=odd_name)
    as_service = MetaSync(world.db, None, settings=world.settings, client_factory=world.client)
    since = TODAY - timedelta(days=DAYS - 1)
    first = await as_service.run(world.brand, days=DAYS, today=TODAY)
    assert first.ok, first.summary
    assert first.accounts[0].rows_written == first.accounts[0].rows > 0
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )
    async with world.db.as_owner() as conn:
        cur = await conn.execute(
            "select a.name, count(p.date) as days from meta_ads a left join meta_ads_performance p using (meta_ad_id)"
            " where a.meta_ad_id = %s group by a.name",
            (gone,),
        )
        row = await cur.fetchone()
    assert row is not None and row["name"] == odd_name and row["days"] > 0
    assert row["days"] == sum(
        1 for r in world.fake.rows_between(world.account, since, TODAY) if r["ad_id"] == gone
    )
    again = await as_service.run(world.brand, days=DAYS, today=TODAY)  # rows exist now: the upsert
    assert again.ok and again.accounts[0].rows_written == 0, again.summary


async def test_a_request_meta_finds_too_large_is_retried_as_a_report(world: World) -> None:
    await world.link()
    world.fake.max_sync_rows = 30  # ads × days above this: error 100 / 1487534
    result = await world.sync().run(world.brand, days=5, today=TODAY)
    assert result.ok, result.summary
    since = TODAY - timedelta(days=4)
    assert await stored(world.db, world.account, since, TODAY) == expected(
        world.fake, world.account, since, TODAY
    )
    assert any(r.method == "POST" for r in world.fake.requests)


async def test_landing_pages_alone_and_their_match_to_product_pages(world: World) -> None:
    """A brand never synced can get just its ads' landing pages; ads whose page is one of the
    brand's product pages (tracking parameters aside) are matched to that product."""
    await world.link()
    first = await world.sync().run(world.brand, today=TODAY, ads_only=True)
    assert first.ok and first.summary.endswith(
        "ads with a landing page link to a known product page. Queued: downloading 12 new creatives,"
        " classifying 12 new ads; you'll get a notification."
    )
    [run] = first.accounts
    assert run.ads == 12 and run.rows == 0 and run.ads_matched_to_products == 0
    assert "(no daily results fetched)" in first.summary
    async with world.db.as_owner() as conn:
        cur = await conn.execute(
            "select count(*) as n from meta_ads_performance p join meta_ads a using (meta_ad_id)"
            " where a.meta_ad_account_id = %s",
            (world.account,),
        )
        assert await cur.fetchone() == {"n": 0}
        cur = await conn.execute(
            "select high_water_mark from sync_state where meta_ad_account_id = %s", (world.account,)
        )
        assert await cur.fetchone() == {"high_water_mark": None}  # the daily results still start from scratch
        # The most used landing page becomes a product (written as a marketer would paste it).
        cur = await conn.execute(
            "select d.canonical_url, count(distinct d.meta_ad_id) as ads from meta_ad_destinations d"
            " join meta_ads a using (meta_ad_id) where a.meta_ad_account_id = %s"
            " group by 1 order by 2 desc, 1 limit 1",
            (world.account,),
        )
        top = await cur.fetchone()
        assert top is not None
        assert top["canonical_url"] in run.top_unmatched_pages
        cur = await conn.execute("select id, organization_id from brands where name = %s", (world.brand,))
        brand = await cur.fetchone()
        assert brand is not None
        pasted = top["canonical_url"].replace("https://", "https://www.") + "/?utm_source=newsletter"
        await conn.execute(
            "insert into products (brand_id, organization_id, name, product_url) values (%s, %s, 'Hero', %s)",
            (brand["id"], brand["organization_id"], pasted),
        )
    again = await world.sync().run(world.brand, today=TODAY, ads_only=True)
    [rerun] = again.accounts
    assert (
        rerun.ads_matched_to_products == top["ads"] and top["canonical_url"] not in rerun.top_unmatched_pages
    )
    async with world.db.as_user(world.caller) as conn:
        cur = await conn.execute("select count(*) as n from meta_ad_product_matches")
        assert await cur.fetchone() == {"n": top["ads"]}
