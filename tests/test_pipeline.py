"""The pipeline after every sync: linking an ad account (chat, CLI, Connect Facebook) gives the brand a
daily sync; a sync queues the download of its new creatives and the classification of its new ads in the
transaction that stores them, without piling runs up; a worker then stores the creatives (thumbnails from
a media server on 127.0.0.1, videos through the fake Graph API's `/{video_id}?fields=source`) and
classifies the ads, and `/top_hooks` answers from them."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import psycopg
import pytest
from pydantic import SecretStr
from pydantic_ai import models

from agent.runner import run_turn
from db.pool import Caller, Database
from fakes import gemini_api
from fakes.gemini_api import FakeGemini
from fakes.meta_graph import FakeGraph
from fakes.videos import make_video
from jobs import api as jobs_api
from jobs.registry import job_type_named
from jobs.runs import validated_params
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.oauth import complete_connect, confirm_account, start_connect
from services.meta.sync import MetaSync
from services.models import BrandRef
from services.pipeline import queue_after_sync
from services.platform.accounts import add_user, create_organization
from settings import Settings, get_settings
from tests.cli_helpers import run_cli
from tests.test_assets import MediaServer, _bytes
from tests.test_jobs import fast_settings, wait_for, worker
from tests.test_video_analysis import answer, gemini_says

TOKEN = "EAAB-pipeline-token-" + uuid.uuid4().hex
APP_ID, APP_SECRET = "4455667788", "app-secret-" + uuid.uuid4().hex
TODAY = date.today()
DAYS = 14
N_ADS = 8
SCHEDULED = "A daily sync is scheduled: every day at 06:00 UTC; change it with /schedules."
KEPT = "Its Meta sync schedule stays as it was: every day at 06:00 UTC; change it with /schedules."


@dataclass
class Shop:
    db: Database
    caller: Caller
    org: UUID
    brands: dict[str, UUID]
    accounts: dict[str, str]
    """Brand name → its ad account on the fake."""
    fake: FakeGraph
    media: MediaServer
    settings: Settings
    files: dict[str, bytes]
    """Media server path → the bytes it serves (each ad's thumbnail, each video ad's video)."""

    def client(self, token: SecretStr | None) -> MetaClient:
        return MetaClient(
            token=token, graph_url=self.fake.url, limits=Limits(backoff_base=0.001), sleep=lambda _: None
        )

    def sync(self) -> MetaSync:
        return MetaSync(self.db, self.caller, settings=self.settings, client_factory=self.client)

    async def link(self, brand: str) -> Any:
        return await link_account(
            self.db,
            self.caller,
            brand_name=brand,
            account=self.accounts[brand],
            settings=self.settings,
            client_factory=self.client,
        )

    async def schedules(self, brand: str) -> list[dict[str, Any]]:
        async with self.db.as_owner() as conn:
            cur = await conn.execute(
                "select job_type, cron, enabled, next_run_at, organization_id, params from scheduled_jobs"
                " where brand_id = %s",
                (self.brands[brand],),
            )
            return await cur.fetchall()

    async def runs(self, brand: str) -> list[dict[str, Any]]:
        async with self.db.as_owner() as conn:
            cur = await conn.execute(
                "select r.id, r.job_type, r.status, r.params, r.started_at, r.finished_at, j.lock"
                " from job_runs r join procrastinate_jobs j on j.id = r.procrastinate_job_id"
                " where r.brand_id = %s order by r.created_at, r.job_type desc",
                (self.brands[brand],),
            )
            return await cur.fetchall()


def _serve_creatives(fake: FakeGraph, media: MediaServer, account: str, files: dict[str, bytes]) -> None:
    """Point the account's ads at the media server: each thumbnail, and each video's source."""
    for ad_id in fake.ad_ids(account):
        creative = fake.ad(ad_id)["creative"]  # the fake's own creative: changed here, served so
        path = urlsplit(creative["thumbnail_url"]).path
        files[path] = _bytes(path, 2_000)
        media.files[path] = (files[path], "image/jpeg")
        creative["thumbnail_url"] = f"{media.url}{path}?stp=dst-jpg&oh=signed"
        if creative.get("video_id"):
            video = f"/videos/{creative['video_id']}.mp4"
            files[video] = _bytes(video, 300_000)
            media.files[video] = (files[video], "video/mp4")
            fake.video_sources[creative["video_id"]] = f"{media.url}{video}?oe=signed"


@pytest.fixture
def media() -> Iterator[MediaServer]:
    server = MediaServer().start()
    yield server
    server.close()


@pytest.fixture
async def shop(db: Database, media: MediaServer, tmp_path: Path) -> AsyncIterator[Shop]:
    """A fresh organization, its member and three brands, each with its own ad account on the fake."""
    tag = uuid.uuid4().hex[:8]
    brands: dict[str, UUID] = {}
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=f"Pipeline Co {tag}")
        user_id = await add_user(conn, email=f"ops-{tag}@pipeline.example", organization_id=org)
        for label in ("Fern", "Moss", "Reed"):
            cur = await conn.execute(
                "insert into brands (organization_id, name) values (%s, %s) returning id",
                (org, f"{label} Goods {tag}"),
            )
            row = await cur.fetchone()
            assert row is not None
            brands[f"{label} Goods {tag}"] = row["id"]
    files: dict[str, bytes] = {}
    with FakeGraph() as fake:
        fake.app_id, fake.app_secret = APP_ID, APP_SECRET
        accounts = {}
        for n, name in enumerate(brands):
            accounts[name] = f"act_{int(tag, 16) % 10**9 + 10**9 + n}"
            fake.add_account(accounts[name], name=f"{name} US", tokens={TOKEN})
            fake.generate(
                accounts[name], n_ads=N_ADS, since=TODAY - timedelta(days=DAYS - 1), days=DAYS, seed=n + 3
            )
            _serve_creatives(fake, media, accounts[name], files)
        settings = fast_settings(
            tmp_path,
            META_SYSTEM_USER_TOKEN=TOKEN,
            META_GRAPH_URL=fake.url,
            META_APP_ID=APP_ID,
            META_APP_SECRET=APP_SECRET,
            VIRALTRACKER_PUBLIC_URL="https://app.viraltracker.example",
            CHAINLIT_AUTH_SECRET="pipeline-auth-secret-" + uuid.uuid4().hex,
            VIRALTRACKER_FETCH_PRIVATE_ADDRESSES=True,  # the media server is on 127.0.0.1
            VIRALTRACKER_MODEL="offline",
        )
        caller = Caller(user_id, f"ops-{tag}@pipeline.example")
        yield Shop(db, caller, org, brands, accounts, fake, media, settings, files)
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = %s", (org,))
        await conn.execute("delete from auth.users where id = %s", (user_id,))


def _six_tomorrow_or_today(now: datetime) -> datetime:
    six = now.replace(hour=6, minute=0, second=0, microsecond=0)
    return six if six > now else six + timedelta(days=1)


# -- linking: the daily sync ---------------------------------------------------------------------


async def test_linking_in_chat_schedules_one_daily_sync_and_says_so(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fern = next(iter(shop.brands))
    monkeypatch.setenv("META_SYSTEM_USER_TOKEN", TOKEN)
    monkeypatch.setenv("META_GRAPH_URL", shop.fake.url)
    get_settings.cache_clear()
    try:
        before = datetime.now(UTC)
        first = await run_turn(
            db=shop.db,
            caller=shop.caller,
            message=f'/meta_account brand:"{fern}" account:{shop.accounts[fern]}',
        )
        again = await run_turn(
            db=shop.db,
            caller=shop.caller,
            message=f'/meta_account brand:"{fern}" account:{shop.accounts[fern]}',
        )
        listed = await run_turn(db=shop.db, caller=shop.caller, message=f'/schedules brand:"{fern}"')
    finally:
        get_settings.cache_clear()
    account = shop.accounts[fern]
    assert first.text == (
        f"Linked {account} ({fern} US, USD) to {fern}. {SCHEDULED}"
        f' Sync it now with /sync_meta brand:"{fern}".'
    )
    assert again.text == (
        f'Linked {account} ({fern} US, USD) to {fern}. {KEPT} Sync it now with /sync_meta brand:"{fern}".'
    )
    [schedule] = await shop.schedules(fern)
    assert (schedule["job_type"], schedule["cron"], schedule["enabled"]) == ("meta_sync", "0 6 * * *", True)
    assert schedule["organization_id"] == shop.org
    assert schedule["next_run_at"] == _six_tomorrow_or_today(before)
    assert listed.text == f"1 schedule(s) for {fern}: meta_sync every day at 06:00 UTC."


async def test_connect_facebook_schedules_the_daily_sync_unless_the_brand_has_one(shop: Shop) -> None:
    moss, reed = list(shop.brands)[1:]

    async def connect(brand: str, code: str) -> str:
        shop.fake.add_oauth_code(code, f"SHORT-{code}", accounts=[shop.accounts[brand]], redirect_uri=None)
        link = await start_connect(shop.db, shop.caller, brand_name=brand, settings=shop.settings)
        state = parse_qs(urlsplit(link.url).query)["state"][0]
        asked = await complete_connect(
            shop.db, shop.caller, state=state, code=code, settings=shop.settings, client_factory=shop.client
        )
        assert asked.status == "confirm" and asked.confirmation is not None, asked.message
        linked = await confirm_account(
            shop.db,
            shop.caller,
            state=state,
            account=shop.accounts[brand],
            confirmation=asked.confirmation,
            settings=shop.settings,
            client_factory=shop.client,
        )
        assert linked.status == "linked", linked.message
        return linked.message

    said = await connect(moss, "CODE-MOSS")
    assert f' {SCHEDULED} Back in the chat, sync it now with /sync_meta brand:"{moss}".' in said
    assert [(s["job_type"], s["cron"]) for s in await shop.schedules(moss)] == [("meta_sync", "0 6 * * *")]
    # A brand that already syncs on its own schedule keeps it (paused or not), and hears which it is.
    mine = await jobs_api.create_schedule(
        shop.db,
        job_type="meta_sync",
        cron="30 9 * * 1",
        organization_id=shop.org,
        brand_id=shop.brands[reed],
    )
    await jobs_api.set_enabled(shop.db, mine, False, organization_id=shop.org)
    said = await connect(reed, "CODE-REED")
    assert (
        " Its Meta sync schedule stays as it was: every Monday at 09:30 UTC (paused); change it with /schedules."
        in said
    )
    assert [(s["job_type"], s["cron"]) for s in await shop.schedules(reed)] == [("meta_sync", "30 9 * * 1")]


# -- each sync queues what follows ---------------------------------------------------------------


async def test_a_sync_queues_one_download_and_one_classification_without_piling_up(shop: Shop) -> None:
    fern = next(iter(shop.brands))
    await shop.link(fern)
    first = await shop.sync().run(fern, today=TODAY, ads_only=True)
    assert first.ok and first.summary.endswith(
        f"Queued: downloading {N_ADS} new creatives, classifying {N_ADS} new ads; you'll get a notification."
    )
    runs = await shop.runs(fern)
    lock = f"creatives:{shop.brands[fern]}"  # one lock: the classification waits for the download
    assert [(r["job_type"], r["status"], r["lock"]) for r in runs] == [
        ("asset_download", "queued", lock),
        ("ad_classification", "queued", lock),
    ]
    assert [r["id"] for r in runs] == first.queued.runs
    # Meta changes one ad's copy and another's image while those runs still wait: nothing more is queued
    # (the waiting runs read what is stored when they start), but the answer says what came in.
    copy_changed, image_changed = shop.fake.ad_ids(shop.accounts[fern])[:2]
    shop.fake.ad(copy_changed)["creative"]["body"] = "New: the refill pack is here. Half the plastic."
    creative = shop.fake.ad(image_changed)["creative"]
    creative["thumbnail_url"] = creative["thumbnail_url"].replace("_thumb.jpg", "_thumb_v2.jpg")
    second = await shop.sync().run(fern, today=TODAY, days=3)
    assert second.ok and second.summary.endswith(
        "Queued: downloading 1 new creative, classifying 2 new ads; you'll get a notification."
    )
    assert second.queued.runs == [] and [r["id"] for r in await shop.runs(fern)] == first.queued.runs
    # Nothing new: nothing queued, nothing said.
    third = await shop.sync().run(fern, today=TODAY, days=3)
    assert third.ok and "Queued" not in third.summary and third.queued.runs == []
    assert len(await shop.runs(fern)) == 2


async def test_a_page_of_ads_that_is_not_stored_queues_nothing(shop: Shop) -> None:
    """The runs are queued in the transaction that stores the ads: when storing fails, neither is left."""
    moss = list(shop.brands)[1]
    await shop.link(moss)
    # Another organization already holds one of these ad IDs (say, from an Ads Manager export): storing
    # the page is refused by row-level security, after its runs were queued in the same transaction.
    taken = shop.fake.ad_ids(shop.accounts[moss])[-1]
    async with shop.db.as_owner() as conn:
        other = await create_organization(conn, name=f"Other Co {uuid.uuid4().hex[:8]}")
        cur = await conn.execute(
            "insert into brands (organization_id, name) values (%s, 'Elsewhere') returning id", (other,)
        )
        row = await cur.fetchone()
        assert row is not None
        await conn.execute(
            "insert into meta_ads (meta_ad_id, brand_id, organization_id, name) values (%s, %s, %s, 'Theirs')",
            (taken, row["id"], other),
        )
    try:
        failed = await shop.sync().run(moss, today=TODAY, ads_only=True)
    finally:
        async with shop.db.as_owner() as conn:
            await conn.execute("delete from organizations where id = %s", (other,))
    assert not failed.ok and "Queued" not in failed.summary
    assert await shop.runs(moss) == []

    async def stored_ads() -> int:
        async with shop.db.as_owner() as conn:
            cur = await conn.execute(
                "select count(*) as n from meta_ads where brand_id = %s", (shop.brands[moss],)
            )
            row = await cur.fetchone()
        assert row is not None
        return int(row["n"])

    assert await stored_ads() == 0
    # Once the page can be stored, it is, with its runs.
    again = await shop.sync().run(moss, today=TODAY, ads_only=True)
    assert again.ok and again.summary.endswith(
        f"Queued: downloading {N_ADS} new creatives, classifying {N_ADS} new ads; you'll get a notification."
    )
    assert await stored_ads() == N_ADS
    assert [r["job_type"] for r in await shop.runs(moss)] == ["asset_download", "ad_classification"]


async def test_a_persons_sync_queues_as_the_service_role_for_those_statements_only(
    shop: Shop, leo: Caller
) -> None:
    """The queue belongs to no tenant (a signed-in role can't write it); the person's role and claims
    come back right after, in the same transaction."""
    moss = list(shop.brands)[1]
    brand = BrandRef(id=shop.brands[moss], name=moss, organization_id=shop.org)
    async with shop.db.as_user(shop.caller) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            async with conn.transaction():
                await conn.execute("select count(*) from procrastinate_jobs")
        queued = await queue_after_sync(conn, brand=brand, creatives=1, ads=0)
        cur = await conn.execute(
            "select current_user as role, (select count(*) from brands where organization_id <> %s) as others",
            (shop.org,),
        )
        assert await cur.fetchone() == {"role": "authenticated", "others": 0}
    assert [r["job_type"] for r in await shop.runs(moss)] == ["asset_download"] and len(queued.runs) == 1
    # Another organization's person sees none of it.
    async with shop.db.as_user(leo) as conn:
        cur = await conn.execute("select count(*) as n from job_runs where brand_id = %s", (brand.id,))
        assert await cur.fetchone() == {"n": 0}


# -- the worker takes it from there ----------------------------------------------------------------


async def test_after_a_chat_sync_the_worker_stores_creatives_and_classifies_so_top_hooks_answers(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    reed = list(shop.brands)[2]
    account = shop.accounts[reed]
    await shop.link(reed)
    monkeypatch.setenv("META_SYSTEM_USER_TOKEN", TOKEN)
    monkeypatch.setenv("META_GRAPH_URL", shop.fake.url)
    monkeypatch.setenv("VIRALTRACKER_HOME", str(shop.settings.viraltracker_home))
    monkeypatch.setenv("VIRALTRACKER_MODEL", "offline")
    get_settings.cache_clear()
    try:
        synced = await run_turn(
            db=shop.db, caller=shop.caller, message=f'/sync_meta brand:"{reed}" days:{DAYS}'
        )
        unclassified = await run_turn(
            db=shop.db, caller=shop.caller, message=f'/top_hooks brand:"{reed}" days:30'
        )
    finally:
        get_settings.cache_clear()
    assert synced.text.endswith(
        f"Queued: downloading {N_ADS} new creatives, classifying {N_ADS} new ads; you'll get a notification."
    )
    assert "not yet classified" in unclassified.text
    download, classification = await shop.runs(reed)
    async with worker(shop.db, shop.settings, meta_client_factory=shop.client):
        downloaded = await wait_for(shop.db, download["id"], {"succeeded", "failed"}, within=30)
        classified = await wait_for(shop.db, classification["id"], {"succeeded", "failed"}, within=30)
    assert downloaded["status"] == "succeeded", downloaded["error"]
    assert classified["status"] == "succeeded", classified["error"]
    assert classified["started_at"] >= downloaded["finished_at"]  # one after the other, download first
    # Every creative is stored, byte for byte: each ad's thumbnail, each video ad's video.
    ads = {ad_id: shop.fake.ad(ad_id)["creative"] for ad_id in shop.fake.ad_ids(account)}
    expected = {(ad_id, "image"): shop.files[urlsplit(c["thumbnail_url"]).path] for ad_id, c in ads.items()}
    expected |= {
        (ad_id, "video"): shop.files[f"/videos/{c['video_id']}.mp4"]
        for ad_id, c in ads.items()
        if c.get("video_id")
    }
    async with shop.db.as_owner() as conn:
        cur = await conn.execute(
            "select meta_ad_id, kind, path, sha256 from ad_assets where brand_id = %s", (shop.brands[reed],)
        )
        stored = {(r["meta_ad_id"], r["kind"]): r for r in await cur.fetchall()}
    assert set(stored) == set(expected) and any(kind == "video" for _, kind in expected)
    for key, body in expected.items():
        assert stored[key]["sha256"] == hashlib.sha256(body).hexdigest()
        assert (shop.settings.viraltracker_home / "assets" / stored[key]["path"]).read_bytes() == body
    assert downloaded["result"]["downloaded"] == len(expected)
    assert classified["result"]["new"] == N_ADS
    # The hooks are the ads' own opening lines, as Meta serves them.
    get_settings.cache_clear()
    try:
        answered = await run_turn(
            db=shop.db, caller=shop.caller, message=f'/top_hooks brand:"{reed}" days:30'
        )
    finally:
        get_settings.cache_clear()
    result = answered.tool_calls[0].result
    assert result is not None and result["gate"]["unclassified"] == 0 and result["rows"]
    assert "not yet classified" not in answered.text
    for row in result["rows"]:
        assert ads[row["meta_ad_id"]]["body"].startswith(row["hook_text"])
    async with shop.db.as_owner() as conn:
        cur = await conn.execute(
            "select type from notifications where organization_id = %s and metadata->>'run_id' = %s",
            (shop.org, str(classification["id"])),
        )
        assert await cur.fetchall() == [{"type": "classification_finished"}]


async def test_the_cli_links_and_syncs_saying_what_it_scheduled_and_queued(
    shop: Shop, database_url: str, tmp_path: Path
) -> None:
    fern = next(iter(shop.brands))
    env = {"META_SYSTEM_USER_TOKEN": TOKEN, "META_GRAPH_URL": shop.fake.url, "COLUMNS": "400"}
    linked = run_cli(
        database_url, tmp_path, "meta", "link", "--brand", fern, "--account", shop.accounts[fern], env=env
    )
    assert linked.returncode == 0, linked.stderr
    assert f"{fern}. {SCHEDULED} Sync it now" in " ".join(linked.stdout.split())
    synced = run_cli(database_url, tmp_path, "sync", "meta", "--brand", fern, "--ads-only", env=env)
    assert synced.returncode == 0, synced.stderr
    assert " ".join(synced.stdout.split()).endswith(
        f"Queued: downloading {N_ADS} new creatives, classifying {N_ADS} new ads; you'll get a notification."
    )
    assert [r["job_type"] for r in await shop.runs(fern)] == ["asset_download", "ad_classification"]
    assert [s["cron"] for s in await shop.schedules(fern)] == ["0 6 * * *"]


async def test_a_schedule_saved_with_auto_classify_still_runs_after_the_upgrade(shop: Shop) -> None:
    fern = next(iter(shop.brands))
    async with shop.db.as_owner() as conn:
        await conn.execute(
            "insert into scheduled_jobs (organization_id, brand_id, job_type, cron, params)"
            """ values (%s, %s, 'meta_sync', '0 6 * * *', '{"days": 3, "auto_classify": true}')""",
            (shop.org, shop.brands[fern]),
        )
        upgrade = Path(__file__).parent.parent / "supabase/migrations/20261205000500_pipeline_after_sync.sql"
        await conn.execute(upgrade.read_text())
    [schedule] = await shop.schedules(fern)
    params = validated_params(
        job_type_named("meta_sync"), schedule["params"], organization_id=shop.org, brand_id=shop.brands[fern]
    )
    assert params.model_dump() == {"brand_id": shop.brands[fern], "days": 3, "ads_only": False}


async def test_with_a_gemini_key_the_worker_analyses_each_synced_video_ad_from_its_video(
    shop: Shop, tmp_path: Path
) -> None:
    reed = list(shop.brands)[2]
    account = shop.accounts[reed]
    videos = {}  # real MP4s on the media server, where Meta's `source` points
    for ad_id in shop.fake.ad_ids(account):
        video_id = shop.fake.ad(ad_id)["creative"].get("video_id")
        if video_id:
            data = make_video(tmp_path / f"{video_id}.mp4").read_bytes()
            shop.media.files[f"/videos/{video_id}.mp4"] = (data, "video/mp4")
            videos[ad_id] = data
    assert videos
    await shop.link(reed)
    synced = await shop.sync().run(reed, today=TODAY, ads_only=True)
    assert synced.ok
    download, classification = await shop.runs(reed)
    with models.override_allow_model_requests(True), FakeGemini(responder=gemini_says(answer())) as gemini:
        settings = shop.settings.model_copy(
            update={"viraltracker_model": "google:gemini-2.5-flash", "gemini_base_url": gemini.url,
                    "gemini_api_key": SecretStr(gemini_api.API_KEY)}
        )  # fmt: skip
        async with worker(shop.db, settings, meta_client_factory=shop.client):
            await wait_for(shop.db, download["id"], {"succeeded", "failed"}, within=30)
            classified = await wait_for(shop.db, classification["id"], {"succeeded", "failed"}, within=30)
    assert classified["status"] == "succeeded", classified["error"]
    sent = sorted(data for request in gemini.requests for mime, data in request.images if mime == "video/mp4")
    assert sent == sorted(videos.values())  # each video ad its own video, inline
    async with shop.db.as_owner() as conn:
        cur = await conn.execute(
            "select meta_ad_id, media_analysis, media_seconds from ad_creative_classifications where brand_id = %s",
            (shop.brands[reed],),
        )
        rows = {r["meta_ad_id"]: r for r in await cur.fetchall()}
    assert {ad_id for ad_id, r in rows.items() if r["media_analysis"] == "video"} == set(videos)
    assert {rows[ad_id]["media_seconds"] for ad_id in videos} == {4.0}
