"""Acting on ads from chat: pause, resume and re-budget through the Meta Graph fake that records
writes. A preview writes nothing; a confirmation writes exactly the listed objects; members (unless
allowed), other organizations and read-only tokens change nothing; faults say which objects changed;
every write is audited with the person's email and can be undone."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from pydantic import SecretStr

from agent.render import actions_of
from agent.runner import TurnResult, run_turn
from db.pool import Caller, Database
from fakes.meta_graph import FakeGraph
from services.meta.action_log import set_writes_allowed
from services.meta.api import MetaClient, MetaRefused
from services.meta.connections import link_account
from services.meta.oauth import start_connect
from services.meta.sync import MetaSync
from services.platform.accounts import add_user, create_organization
from settings import Settings, get_settings

TOKEN = "EAAB-writer-" + uuid.uuid4().hex
READ_ONLY = "EAAB-reader-" + uuid.uuid4().hex
TODAY = date.today()


@dataclass
class Shop:
    fake: FakeGraph
    db: Database
    organization: str
    organization_id: UUID
    brand: str
    account: str
    admin: Caller
    member: Caller
    outsider: Caller
    """Admin of another organization (writes on) with a brand of its own and no ads."""
    outsider_brand: str

    async def ask(self, caller: Caller, message: str) -> TurnResult:
        return await run_turn(db=self.db, caller=caller, message=message)

    def active_ads(self) -> list[str]:
        return [a for a in self.fake.ad_ids(self.account) if self.fake.ad(a)["status"] == "ACTIVE"]

    def posts(self) -> list[tuple[str, dict[str, str]]]:
        return [
            (r.path.strip("/"), {k: v for k, v in r.params.items() if k != "access_token"})
            for r in self.fake.requests
            if r.method == "POST"
        ]

    async def recent(self, ad_id: str) -> tuple[float, int]:
        """The ad's last-7-day spend and purchases, summed from the stored daily rows."""
        async with self.db.as_owner() as conn:
            cur = await conn.execute(
                "select coalesce(sum(spend), 0)::float8 as spend, coalesce(sum(purchases), 0)::int as n"
                " from meta_ads_performance where meta_ad_id = %s and date between %s and %s",
                (ad_id, TODAY - timedelta(days=7), TODAY - timedelta(days=1)),
            )
            row = await cur.fetchone()
        assert row is not None
        return row["spend"], row["n"]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGraph]:
    with FakeGraph() as graph:
        yield graph


@pytest.fixture(scope="module")
async def shop(
    db: Database, fake: FakeGraph, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Shop]:
    tag = uuid.uuid4().hex[:8]
    account = f"act_{int(tag, 16) % 10**9 + 10**9}"
    names = (f"Act Co {tag}", f"Rival Co {tag}")
    emails = (f"boss-{tag}@act.example", f"staff-{tag}@act.example", f"rival-{tag}@rival.example")
    async with db.as_owner() as conn:
        org = await create_organization(conn, name=names[0])
        rival_org = await create_organization(conn, name=names[1])
        admin = await add_user(conn, email=emails[0], organization_id=org, role="admin")
        member = await add_user(conn, email=emails[1], organization_id=org)
        rival = await add_user(conn, email=emails[2], organization_id=rival_org, role="admin")
        await conn.execute(
            "insert into brands (organization_id, name) values (%s, %s), (%s, %s)",
            (org, f"Act Pets {tag}", rival_org, f"Rival Pets {tag}"),
        )
    fake.add_account(account, name=f"Act Pets {tag} US", tokens={TOKEN, READ_ONLY})
    fake.generate(account, n_ads=16, since=TODAY - timedelta(days=8), days=8, seed=3)  # 14 ads active
    fake.book.scopes[READ_ONLY] = ("ads_read",)
    home = tmp_path_factory.mktemp("ad-actions")
    settings = Settings(META_SYSTEM_USER_TOKEN=TOKEN, META_GRAPH_URL=fake.url, VIRALTRACKER_HOME=home)  # type: ignore[call-arg]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("META_SYSTEM_USER_TOKEN", TOKEN)
        env.setenv("META_GRAPH_URL", fake.url)
        get_settings.cache_clear()
        boss = Caller(admin, emails[0])
        await link_account(db, boss, brand_name=f"Act Pets {tag}", account=account, settings=settings)
        await MetaSync(db, boss, settings=settings).run(f"Act Pets {tag}", today=TODAY, days=8)
        outsider = Caller(rival, emails[2])
        async with db.as_user(boss) as conn:
            await set_writes_allowed(conn, organization_id=org, caller=boss, allowed="admins")
        async with db.as_user(outsider) as conn:
            await set_writes_allowed(conn, organization_id=rival_org, caller=outsider, allowed="admins")
        fake.requests.clear()
        yield Shop(fake, db, names[0], org, f"Act Pets {tag}", account, boss, Caller(member, emails[1]),
                   outsider, f"Rival Pets {tag}")  # fmt: skip
    get_settings.cache_clear()
    async with db.as_owner() as conn:
        await conn.execute("delete from organizations where id = any(%s)", ([org, rival_org],))
        await conn.execute("delete from auth.users where id = any(%s)", ([admin, member, rival],))


async def audit(db: Database, ad_id: str) -> list[dict[str, Any]]:
    async with db.as_owner() as conn:
        cur = await conn.execute(
            "select email, object_id, field, before, after, outcome, meta_answer, undoes is not null as undo"
            " from ad_actions where object_id = %s order by created_at",
            (ad_id,),
        )
        return list(await cur.fetchall())


async def preview_line(shop: Shop, ad_id: str, status: str = "active") -> str:
    spend, purchases = await shop.recent(ad_id)
    name = shop.fake.ad(ad_id)["name"]
    return f"'{name}' ({ad_id}): {status}, ${spend:,.2f} spent and {purchases} purchases in the last 7 days"


async def test_preview_writes_nothing_confirm_writes_exactly_the_listed_ads_and_undo_restores(
    shop: Shop,
) -> None:
    first, second, untouched = shop.active_ads()[:3]
    preview = await shop.ask(shop.admin, f'/pause_ads brand:"{shop.brand}" ads:{first},{second}')
    assert preview.text == (
        f"Pause 2 ads of {shop.brand}? {await preview_line(shop, first)}; {await preview_line(shop, second)}."
        " Nothing has changed yet: confirm to go ahead."
    )
    assert shop.posts() == []  # the preview read Meta and wrote nothing
    confirm, cancel = actions_of(preview.results[0])
    assert confirm.command == f'/pause_ads brand:"{shop.brand}" ads:{first},{second} confirm:true'
    assert cancel.command is None

    async with shop.db.as_owner() as conn:  # the organization's Slack channel hears of it too
        await conn.execute(
            "insert into organization_slack_channels (organization_id, channel) values (%s, '#ads')",
            (shop.organization_id,),
        )
    done = await shop.ask(shop.admin, confirm.command)
    names = {ad: shop.fake.ad(ad)["name"] for ad in (first, second)}
    assert done.text == (
        f"Paused 2 ads of {shop.brand}: '{names[first]}' ({first}), '{names[second]}' ({second})."
        f' Each change is in `/actions brand:"{shop.brand}"`; undo one with `/undo action:ID`.'
    )
    assert shop.posts() == [(first, {"status": "PAUSED"}), (second, {"status": "PAUSED"})]
    assert shop.fake.ad(untouched)["status"] == "ACTIVE"
    assert await audit(shop.db, first) == [
        {"email": shop.admin.email, "object_id": first, "field": "status", "before": "ACTIVE", "after": "PAUSED",
         "outcome": "changed", "meta_answer": "success", "undo": False}
    ]  # fmt: skip

    # At once, without a sync: the ranking marks them paused, and the organization is told who did it.
    ranking = await shop.ask(
        shop.admin, f'/ad_performance brand:"{shop.brand}" days:7 sort:spend min_spend:0 limit:20'
    )
    statuses = {row["meta_ad_id"]: row["status"] for row in ranking.tool_calls[0].result["rows"]}
    assert statuses[first] == statuses[second] == "paused" and statuses[untouched] == "active"
    async with shop.db.as_owner() as conn:
        cur = await conn.execute(
            "select title from notifications where organization_id = %s and type = 'ad_action'",
            (shop.organization_id,),
        )
        assert [r["title"] for r in await cur.fetchall()] == [
            f"{shop.admin.email} paused 2 ads of {shop.brand} in Meta"
        ]
        cur = await conn.execute(
            "select count(*) as n from job_runs where organization_id = %s and job_type = 'slack_notification'",
            (shop.organization_id,),
        )
        row = await cur.fetchone()
        assert row is not None and row["n"] == 1

    listed = await shop.ask(shop.member, f'/actions brand:"{shop.brand}"')
    rows = listed.tool_calls[0].result["actions"]
    assert [(r["email"], r["object_id"], r["before"], r["after"]) for r in rows] == [
        (shop.admin.email, second, "ACTIVE", "PAUSED"), (shop.admin.email, first, "ACTIVE", "PAUSED")
    ]  # fmt: skip
    action = next(r["action"] for r in rows if r["object_id"] == first)

    undo = await shop.ask(shop.admin, f"/undo action:{action}")
    assert undo.text == (
        f"Undo 1 ad of {shop.brand}? '{names[first]}' ({first}): paused, ${(await shop.recent(first))[0]:,.2f} spent"
        f" and {(await shop.recent(first))[1]} purchases in the last 7 days. Nothing has changed yet: confirm to go ahead."
    )
    assert len(shop.posts()) == 2
    restored = await shop.ask(shop.admin, actions_of(undo.results[0])[0].command or "")
    assert restored.text.startswith(f"Undid 1 ad of {shop.brand}: '{names[first]}' ({first}).")
    assert shop.posts()[2:] == [(first, {"status": "ACTIVE"})]
    assert shop.fake.ad(first)["status"] == "ACTIVE"
    again = await shop.ask(shop.admin, f"/undo action:{action}")
    assert again.refused and again.text == f"Action {action} was already undone."


async def test_a_member_another_organization_and_a_read_only_token_change_nothing(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    ad = shop.active_ads()[-1]
    member = await shop.ask(shop.member, f'/pause_ads brand:"{shop.brand}" ads:{ad} confirm:true')
    assert member.refused and member.text == (
        f"Only admins of {shop.organization} can change ads in Meta; you are a member. Ask an admin to do it,"
        f' or to allow members with `/ad_writes brand:"{shop.brand}" allow:members`.'
    )
    theirs = await shop.ask(shop.outsider, f'/pause_ads brand:"{shop.outsider_brand}" ads:{ad} confirm:true')
    assert theirs.refused and theirs.text == f"No ad {ad} in {shop.outsider_brand}."
    many = ",".join(str(120210000000001 + n) for n in range(21))
    capped = await shop.ask(shop.admin, f'/pause_ads brand:"{shop.brand}" ads:{many} confirm:true')
    assert capped.refused and capped.text == "At most 20 ads per action (got 21): split them."
    ours = await shop.ask(shop.outsider, f'/pause_ads brand:"{shop.brand}" ads:{ad} confirm:true')
    assert ours.refused and ours.text.startswith(f"No brand named '{shop.brand}'.")

    monkeypatch.setenv("META_SYSTEM_USER_TOKEN", READ_ONLY)
    get_settings.cache_clear()
    try:
        read_only = await shop.ask(shop.admin, f'/pause_ads brand:"{shop.brand}" ads:{ad} confirm:true')
    finally:
        monkeypatch.setenv("META_SYSTEM_USER_TOKEN", TOKEN)
        get_settings.cache_clear()
    assert read_only.refused and read_only.text == (
        f"{shop.brand}'s Meta connection for {shop.account} can only read ads (its token lacks ads_management):"
        f' nothing was changed. Reconnect with `/connect_meta brand:"{shop.brand}"` to grant it, or give the'
        " system user ads_management in Business Settings."
    )
    assert shop.posts() == [] or all(path != ad for path, _ in shop.posts())
    assert await audit(shop.db, ad) == []

    # The organization may let members act (its admins decide): then the member's preview is offered.
    itself = await shop.ask(shop.member, f'/ad_writes brand:"{shop.brand}" allow:members confirm:true')
    assert itself.refused and itself.text == (
        f"Only admins of {shop.organization} can change who may write to Meta; you are a member. Ask an admin to do it."
    )
    allow = await shop.ask(shop.admin, f'/ad_writes brand:"{shop.brand}" allow:members confirm:true')
    assert allow.text == f"Changing ads in Meta is now on for everyone in {shop.organization}."
    try:
        offered = await shop.ask(shop.member, f'/pause_ads brand:"{shop.brand}" ads:{ad}')
        assert offered.text.startswith(f"Pause 1 ad of {shop.brand}? ") and not offered.refused
    finally:
        await shop.ask(shop.admin, f'/ad_writes brand:"{shop.brand}" allow:admins confirm:true')
    assert all(path != ad for path, _ in shop.posts())


async def test_throttling_mid_batch_says_which_changed_and_which_did_not(shop: Shop) -> None:
    first, second, third = shop.active_ads()[3:6]
    before = len(shop.posts())
    # The second ad's first request (the fresh read) passes; its write gets Meta's 80004.
    shop.fake.fail(second, code=80004, after_calls=1)
    done = await shop.ask(
        shop.admin, f'/pause_ads brand:"{shop.brand}" ads:{first},{second},{third} confirm:true'
    )
    name = {ad: shop.fake.ad(ad)["name"] for ad in (first, second, third)}
    assert done.text == (
        f"Paused 1 of 3 ads of {shop.brand}: '{name[first]}' ({first})."
        f" Not changed: '{name[second]}' ({second}): Meta is limiting calls to {shop.account} (code 80004): try"
        f" again in a few minutes. Not tried: '{name[third]}' ({third})."
        f' Each change is in `/actions brand:"{shop.brand}"`; undo one with `/undo action:ID`.'
    )
    assert shop.posts()[before:] == [(first, {"status": "PAUSED"}), (second, {"status": "PAUSED"})]
    assert shop.fake.ad(second)["status"] == shop.fake.ad(third)["status"] == "ACTIVE"
    [refused] = await audit(shop.db, second)
    assert refused["outcome"] == "refused" and refused["meta_answer"].startswith(
        "code 80004: (#80004) There have"
    )
    assert await audit(shop.db, third) == []


async def test_a_write_whose_answer_is_lost_is_read_back_not_sent_twice(shop: Shop) -> None:
    ad = shop.active_ads()[6]
    shop.fake.drop(ad, after_calls=2, when="before_status")  # after two reads: the write lands, unanswered
    done = await shop.ask(shop.admin, f'/resume_ads brand:"{shop.brand}" ads:{ad}')
    assert done.text.startswith("Nothing to change: Left as they are: ")
    done = await shop.ask(shop.admin, f'/pause_ads brand:"{shop.brand}" ads:{ad} confirm:true')
    assert done.text.startswith(f"Paused 1 ad of {shop.brand}: "), done.text
    assert shop.fake.book.writes_to(ad) == [{"status": "PAUSED"}]
    [row] = await audit(shop.db, ad)
    assert (row["outcome"], row["meta_answer"]) == ("changed", "no answer; read back: already applied")


async def test_budgets_in_the_account_currency_within_the_caps(shop: Shop) -> None:
    adset = shop.fake.ad(shop.fake.ad_ids(shop.account)[8])["adset_id"]
    ask = lambda extra: shop.ask(shop.admin, f'/set_budget brand:"{shop.brand}" adset:{adset} {extra}')  # noqa: E731
    name = f"ad set '{shop.fake.ad(shop.fake.ad_ids(shop.account)[8])['adset']['name']}' ({adset})"
    big = await ask("change:+80%")
    assert big.refused and big.text == (
        f"That changes the {name}'s budget by +80% ($50.00 → $90.00 a day); more than ±50% needs force:true."
    )
    low = await ask("daily:0.5")
    assert low.refused and low.text == f"{shop.account}'s minimum daily budget is $1.00; $0.50 is below it."
    preview = await ask("change:+20%")
    assert preview.text.startswith(f"Change the budget of 1 ad set of {shop.brand}? ")
    assert "$50.00 a day → $60.00 a day" in preview.text
    assert not any(path == adset for path, _ in shop.posts())
    confirm = actions_of(preview.results[0])[0].command or ""
    assert "daily:60.00" in confirm and "change:" not in confirm  # the amount the person saw, not +20% again
    done = await shop.ask(shop.admin, confirm)
    assert done.text.startswith(f"Changed the budget of 1 ad set of {shop.brand}: ")
    assert shop.fake.book.writes_to(adset) == [{"daily_budget": "6000"}]
    again = await shop.ask(shop.admin, confirm)  # a second click, or the command run again
    assert "already $60.00 a day" in again.text
    assert shop.fake.book.writes_to(adset) == [{"daily_budget": "6000"}]
    forced = await ask("daily:200 force:true confirm:true")
    assert forced.text.startswith(f"Changed the budget of 1 ad set of {shop.brand}: ")
    assert shop.fake.book.writes_to(adset)[-1] == {"daily_budget": "20000"}
    listed = await shop.ask(shop.admin, f'/actions brand:"{shop.brand}" limit:1')
    [latest] = listed.tool_calls[0].result["actions"]
    assert (latest["object_id"], latest["before"], latest["after"]) == (adset, "6000", "20000")
    undo = await shop.ask(shop.admin, f"/undo action:{latest['action']}")
    assert f"({adset}): $200.00 a day → $60.00 a day, $" in undo.text
    await shop.ask(shop.admin, actions_of(undo.results[0])[0].command or "")
    assert shop.fake.book.writes_to(adset)[-1] == {"daily_budget": "6000"}


def test_the_fake_answers_writes_and_refusals_in_metas_wire_format(shop: Shop) -> None:
    client = MetaClient(token=SecretStr(TOKEN), graph_url=shop.fake.url)
    reader = MetaClient(token=SecretStr(READ_ONLY), graph_url=shop.fake.url)
    adset = shop.fake.ad(shop.fake.ad_ids(shop.account)[0])["adset_id"]
    assert client.send_once("POST", (adset,), {"status": "PAUSED"}) == {"success": True}
    assert client.get((adset,), {"fields": "status,daily_budget"})["status"] == "PAUSED"
    with pytest.raises(MetaRefused) as low:
        client.send_once("POST", (adset,), {"daily_budget": "50"})
    assert (low.value.code, low.value.subcode) == (100, 1885272)
    assert low.value.user_message == (
        "The budget for this ad set must be at least $1.00. Please edit your budget to enable delivery of your ads."
    )
    with pytest.raises(MetaRefused) as denied:
        reader.send_once("POST", (adset,), {"status": "ACTIVE"})
    assert (denied.value.code, denied.value.message) == (
        200, "(#200) Requires ads_management permission to manage the object"
    )  # fmt: skip
    shop.fake.fail(adset, code=17)
    with pytest.raises(MetaRefused) as throttled:
        client.send_once("POST", (adset,), {"status": "ACTIVE"})
    assert (throttled.value.code, throttled.value.message) == (17, "(#17) User request limit reached")
    assert shop.fake.book.writes_to(adset) == [{"status": "PAUSED"}]
    client.send_once("POST", (adset,), {"status": "ACTIVE"})  # as the other tests found it


async def test_connect_facebook_asks_for_ads_management_only_when_writes_are_on(
    shop: Shop, tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        META_APP_ID="1234", META_APP_SECRET="app-secret", META_GRAPH_URL=shop.fake.url, VIRALTRACKER_HOME=tmp_path,
        VIRALTRACKER_PUBLIC_URL="https://app.viraltracker.example", CHAINLIT_AUTH_SECRET="s-" + uuid.uuid4().hex,
    )  # fmt: skip
    on = await start_connect(shop.db, shop.admin, brand_name=shop.brand, settings=settings)
    assert "scope=ads_read%2Cads_management%2Cbusiness_management" in on.url
    async with shop.db.as_user(shop.admin) as conn:
        await set_writes_allowed(conn, organization_id=shop.organization_id, caller=shop.admin, allowed="off")
    try:
        off = await start_connect(shop.db, shop.admin, brand_name=shop.brand, settings=settings)
        assert "scope=ads_read%2Cbusiness_management&" in off.url
        refused = await shop.ask(shop.admin, f'/pause_ads brand:"{shop.brand}" ads:{shop.active_ads()[0]}')
        assert refused.refused and refused.text == (
            f"Changing ads in Meta is off for {shop.organization}. An admin can turn it on with"
            f' `/ad_writes brand:"{shop.brand}" allow:admins`, then reconnect Facebook to grant ads_management.'
        )
    finally:
        async with shop.db.as_user(shop.admin) as conn:
            await set_writes_allowed(
                conn, organization_id=shop.organization_id, caller=shop.admin, allowed="admins"
            )


async def test_plain_english_reaches_the_previews_and_the_bottom_3_are_the_rankings_ids(shop: Shop) -> None:
    before = len(shop.posts())
    ranking = await shop.ask(shop.admin, f"worst ads for {shop.brand} last 7 days")
    assert ranking.tool_calls[0].tool == "ad_performance"
    bottom = [row["meta_ad_id"] for row in ranking.tool_calls[0].result["rows"]][:3]
    assert len(bottom) == 3
    follow_up = await run_turn(
        db=shop.db, caller=shop.admin, message="pause the bottom 3", history=ranking.messages
    )
    [call] = follow_up.tool_calls
    assert (call.tool, call.args) == ("pause_ads", {"brand": shop.brand, "ads": ",".join(bottom)})
    assert all(f"({ad})" in follow_up.text for ad in bottom) and "Nothing has changed yet" in follow_up.text

    ad = shop.active_ads()[-2]
    said = await shop.ask(shop.admin, f"pause ad {ad} for {shop.brand}")
    assert (said.tool_calls[0].tool, said.tool_calls[0].args) == (
        "pause_ads",
        {"brand": shop.brand, "ads": ad},
    )
    adset = shop.fake.ad(ad)["adset_id"]
    budget = await shop.ask(shop.admin, f"raise the budget of ad set {adset} for {shop.brand} by 20%")
    assert (budget.tool_calls[0].tool, budget.tool_calls[0].args) == (
        "set_budget", {"brand": shop.brand, "adset": adset, "change": "+20%"}
    )  # fmt: skip
    lost = await shop.ask(shop.admin, f"pause the bottom 3 for {shop.brand}")
    assert lost.text == (
        f"Which ads? Rank them first (e.g. 'worst ads for {shop.brand} this week'), then say 'pause the bottom 3';"
        " or give their ids: pause ads 1202…, 1202…."
    )
    schedule = await shop.ask(shop.admin, f"pause the classification schedule for {shop.brand}")
    assert schedule.tool_calls[0].tool == "schedules"
    assert len(shop.posts()) == before  # previews only: nothing was written
