"""Readiness at a glance: `/brands` shows each brand's data, accounts, syncs and the next step (figures
checked against the fake's own rows and independent counts), and a person with no brand yet gets the
setup checklist and a starter at chat start."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import chainlit as cl
import pytest
from pydantic import SecretStr

import app
from agent.runner import run_turn
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from jobs.schedules import create_schedule
from services.meta.api import Limits, MetaClient
from services.meta.connections import link_account
from services.meta.sync import MetaSync
from services.readiness import BrandsResult
from settings import Settings
from tests.chat_helpers import OpenChat, Team, app_on_test_database, make_team

TOKEN = "EAAB-readiness-token-" + uuid.uuid4().hex
TODAY = date.today()


async def _brands(db: Database, caller: Caller) -> tuple[str, dict[str, dict[str, Any]]]:
    turn = await run_turn(db=db, caller=caller, message="/brands", today=TODAY)
    [call] = turn.tool_calls
    return turn.text, {b["name"]: b for b in call.result["brands"]}


async def _one(db: Database, owner_sql: str, *args: Any) -> Any:
    async with db.as_owner() as conn:
        cur = await conn.execute(owner_sql, args)
        row = await cur.fetchone()
    assert row is not None
    return next(iter(row.values()))


async def test_brands_shows_each_figure_and_the_next_step_from_nothing_to_ready(
    db: Database, tmp_path: Path
) -> None:
    team = await make_team(db, "Ready Co")
    brand = f"Ready Tea {team.name[-8:]}"
    quoted = f'brand:"{brand}"'
    made = await run_turn(db=db, caller=team.admin, message=f'/brand name:"{brand}" confirm:true')
    assert made.text.startswith(f"Created the brand '{brand}'"), made.text
    _, shown = await _brands(db, team.admin)
    assert shown[brand]["next_step"] == f'add a product: /products add {quoted} name:"…" urls:https://…'
    assert (shown[brand]["linked_accounts"], shown[brand]["account_health"]) == (0, "no account linked")
    assert (shown[brand]["last_sync"], shown[brand]["next_sync"]) == (None, "not scheduled")

    added = await run_turn(
        db=db, caller=team.admin, message=f'/products add {quoted} name:"Hero" confirm:true'
    )
    assert added.text.startswith(f"Added 'Hero' to {brand}"), added.text
    _, shown = await _brands(db, team.admin)
    assert shown[brand]["products"] == 1
    assert shown[brand]["next_step"] == (
        f"link an ad account: /meta_account {quoted} account:act_… (or /connect_meta {quoted})"
    )

    account = f"act_{uuid.uuid4().int % 10**9 + 10**9}"
    with FakeGraph() as fake:
        fake.add_account(account, name=f"{brand} US", tokens={TOKEN})
        fake.generate(account, n_ads=10, since=TODAY - timedelta(days=34), days=34, seed=7)
        idle = fake.ad_ids(account)[0]  # no spend in the last 30 days: not among the ads with spend
        for back in range(1, 31):
            fake.set_insight(idle, TODAY - timedelta(days=back), spend=0)
        settings = Settings(  # type: ignore[call-arg]
            META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url, VIRALTRACKER_HOME=tmp_path
        )

        def client(token: SecretStr) -> MetaClient:
            quick = Limits(backoff_base=0.001, backoff_cap=0.002, throttle_wait=0.5, breaker_after=5)
            return MetaClient(token=token, graph_url=fake.url, limits=quick, sleep=lambda _s: None)

        await link_account(
            db, team.admin, brand_name=brand, account=account, settings=settings, client_factory=client
        )
        _, shown = await _brands(db, team.admin)
        assert shown[brand]["next_step"] == f"sync it: /sync_meta {quoted}"
        assert shown[brand]["linked_accounts"] == 1
        assert shown[brand]["account_health"] == f"{account}: Never synced. Run /sync_meta {quoted}."

        brand_id = await _one(db, "select id from brands where name = %s", brand)
        now = datetime.now(UTC)
        await create_schedule(db, job_type="meta_sync", cron="0 6 * * *", organization_id=team.org,
                              brand_id=brand_id, now=now - timedelta(days=3))  # fmt: skip
        six = now.replace(hour=6, minute=0, second=0, microsecond=0)
        expected_next = six if six > now else six + timedelta(days=1)  # its stored time is long past

        await MetaSync(db, team.admin, settings=settings, client_factory=client).run(
            brand, today=TODAY, days=40
        )
        window = (TODAY - timedelta(days=30), TODAY - timedelta(days=1))
        spenders = {r["ad_id"] for r in fake.rows_between(account, *window) if float(r["spend"]) > 0}
        spend = sum(float(r["spend"]) for r in fake.rows_between(account, *window))
    text, shown = await _brands(db, team.admin)
    got = shown[brand]
    assert idle not in spenders and len(spenders) == 9
    assert (got["ads"], got["ads_with_spend"]) == (10, len(spenders))
    assert got["spend_last_30_days"] == pytest.approx(spend, abs=0.01)
    assert (got["creatives_downloaded"], got["classified_ads"]) == (0, 0)
    assert got["account_health"] == "Healthy."
    last_run = await _one(db, "select last_run_at from sync_state where meta_ad_account_id = %s", account)
    assert datetime.fromisoformat(got["last_sync"]) == last_run
    assert got["next_sync"] == f"{expected_next:%Y-%m-%d %H:%M} UTC"
    assert got["next_step"] == f"classify its ads: /classify {quoted}"
    # In the answer the command is a code span (Chainlit's Markdown would drop `:word` otherwise).
    assert text == (
        f"You have 1 brand. Next steps:\n- {brand} (10 ads, 0 classified): classify its ads: `/classify {quoted}`"
    )

    # Creatives stored for two ads (one with its image and its video) count as two ads downloaded.
    ads = fake.ad_ids(account)
    async with db.as_owner() as conn:
        for ad_id, kind in ((ads[1], "image"), (ads[1], "video"), (ads[2], "image")):
            await conn.execute(
                "insert into ad_assets (meta_ad_id, brand_id, organization_id, kind, media_key, source_url,"
                " path, bytes, sha256) values (%s, %s, %s, %s, 'k', 'https://cdn.example/x', 'p', 1, 's')",
                (ad_id, brand_id, team.org, kind),
            )
    classified = await run_turn(db=db, caller=team.admin, message=f"/classify {quoted}")
    assert classified.text.startswith("Classified "), classified.text
    _, shown = await _brands(db, team.admin)
    got = shown[brand]
    assert got["creatives_downloaded"] == 2
    assert got["classified_ads"] == await _one(
        db, "select count(*) from meta_ads a where a.brand_id = %s and exists"
        " (select 1 from ad_creative_classifications c where c.meta_ad_id = a.meta_ad_id)", brand_id,
    )  # fmt: skip
    assert got["classified_ads"] > 0
    assert got["next_step"] == f"ready: try /top_hooks {quoted}"

    # A revoked token and a sync waiting in the queue show in the setup columns.
    async with db.as_owner() as conn:
        await conn.execute("update brand_ad_accounts set status = 'expired' where brand_id = %s", (brand_id,))
        await conn.execute(
            "insert into job_runs (organization_id, brand_id, job_type, status) values (%s, %s, 'meta_sync', 'queued')",
            (team.org, brand_id),
        )
        # A sync job that failed before reaching the account (no sync_state row) still counts as the last sync.
        cur = await conn.execute(
            "insert into job_runs (organization_id, brand_id, job_type, status, finished_at)"
            " values (%s, %s, 'meta_sync', 'failed', now() + interval '1 minute') returning finished_at",
            (team.org, brand_id),
        )
        failed = await cur.fetchone()
    _, shown = await _brands(db, team.admin)
    assert shown[brand]["account_health"] == (
        f"{account}: Token expired or revoked. Reconnect with /connect_meta {quoted}."
    )
    assert shown[brand]["next_sync"] == "queued now"
    assert failed is not None and datetime.fromisoformat(shown[brand]["last_sync"]) == failed["finished_at"]
    assert shown[brand]["next_step"] == f"reconnect Meta (syncs are paused): /connect_meta {quoted}"
    tables = BrandsResult.model_validate({"brands": [shown[brand]], "summary": ""}).as_tables()
    assert [(t.title, t.columns) for t in tables] == [
        ("Brands", ["Name", "Ads", "Ads with spend", "Creatives downloaded", "Classified ads", "Products",
                    "Landing pages", "Reviews", "First day", "Last day", "Spend, last 30 days", "Currency"]),
        ("Setup", ["Name", "Linked accounts", "Account health", "Last sync", "Next sync", "Next step"]),
    ]  # fmt: skip


async def test_brands_figures_match_independent_counts_on_the_demo(db: Database, maya: Caller) -> None:
    _, shown = await _brands(db, maya)
    since, until = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select b.name, a.meta_ad_id, a.meta_ad_id in (select c.meta_ad_id from ad_creative_classifications c)"
            " as classified, a.meta_ad_id in (select s.meta_ad_id from ad_assets s) as stored,"
            " a.meta_ad_id in (select p.meta_ad_id from meta_ads_performance p where p.date >= %s"
            " and p.date <= %s and p.spend > 0) as spent"
            " from brands b left join meta_ads a on a.brand_id = b.id where b.name = any(%s)",
            (since, until, list(shown)),
        )
        ads: dict[str, list[dict[str, Any]]] = {}
        for row in await cur.fetchall():
            ads.setdefault(row["name"], []).extend([row] if row["meta_ad_id"] else [])
        cur = await conn.execute(
            "select b.name, count(p.id) filter (where p.archived_at is null) as products from brands b"
            " left join products p on p.brand_id = b.id where b.name = any(%s) group by b.name",
            (list(shown),),
        )
        products = {row["name"]: row["products"] for row in await cur.fetchall()}
    assert shown and set(ads) == set(shown)
    for name, got in shown.items():
        rows = ads[name]
        expected = {
            "ads": len(rows),
            "ads_with_spend": sum(r["spent"] for r in rows),
            "creatives_downloaded": sum(r["stored"] for r in rows),
            "classified_ads": sum(r["classified"] for r in rows),
            "products": products[name],
        }
        assert {k: got[k] for k in expected} == expected, name
        assert expected["ads_with_spend"] > 0
    ready = [n for n, b in shown.items() if b["classified_ads"] and b["products"]]
    assert ready and all(shown[n]["next_step"] == f'ready: try /top_hooks brand:"{n}"' for n in ready)


# -- chat start ----------------------------------------------------------------------------------


@pytest.fixture
async def chat_app(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AsyncIterator[None]:
    async with app_on_test_database(db, monkeypatch, tmp_path):
        yield


async def _start(caller: Caller) -> tuple[list[str], list[cl.Starter]]:
    chat = OpenChat(caller)
    with chat.active():
        await app.on_chat_start()
    await chat.close()
    user = cl.User(identifier=caller.email, metadata={"user_id": str(caller.user_id)})
    return chat.toasts(), await app.starters(user)


CHECKLIST = "Your organization has no brand yet: choose “Set up your first brand” below for the steps."


async def test_chat_start_gives_a_person_with_no_brand_the_checklist_and_a_starter(
    db: Database, chat_app: None, maya: Caller
) -> None:
    team: Team = await make_team(db, "Empty Co")
    toasts, starters = await _start(team.admin)
    assert CHECKLIST in toasts
    assert [(s.label, s.message) for s in starters] == [
        ("Set up your first brand", "/brands"),
        ("What can you do?", "/help"),
    ]
    # The starter's /brands answers with the same checklist, its commands in code spans.
    assert (await _brands(db, team.admin))[0] == (
        "Your organization has no brand yet.\n\nTo get started:\n"
        '1. Create a brand: `/brand name:"Your brand" website:https://…`\n'
        '2. Add its products: `/products add brand:"Your brand" name:"…" urls:https://…`\n'
        '3. Link its ad account: `/meta_account brand:"Your brand" account:act_…` (or `/connect_meta`)\n'
        '4. Sync it: `/sync_meta brand:"Your brand"`\n'
        '5. Classify its ads: `/classify brand:"Your brand"`\n\n'
        "Or import an Ads Manager export: `viraltracker import meta-csv FILE --brand NAME`."
    )

    # With no brand there is nothing to tabulate: no empty "No results" tables under the steps.
    assert BrandsResult(brands=[], summary="").as_tables() == []

    member_says = (
        f"Your organization has no brand yet, and only its admins can create one ({team.name}:"
        f" {team.admin.email}): ask one to create it with /brand. Then /brands shows each step to take."
    )
    toasts, starters = await _start(team.member)
    assert member_says in toasts and CHECKLIST not in toasts
    assert starters[0].label == "Set up your first brand"
    assert (await _brands(db, team.member))[0] == member_says.replace("/brand.", "`/brand`.").replace(
        "/brands ", "`/brands` "
    )

    # Someone with brands keeps today's starters and gets no checklist.
    toasts, starters = await _start(maya)
    assert not any("no brand yet" in t for t in toasts)
    assert starters[0].label.startswith("Best hooks for ")
