"""Slack: signed events to the real app's /slack/events, answers seen in a fake Slack Web API.

The app (Chainlit's server with app.py's routes) runs in-process through httpx's ASGI transport;
bolt answers each event at once and runs the turn in the background, so tests wait (bounded) for
what the fake receives. The agent runs offline (slash commands and the offline router), on the
shared test database; chat history goes through the real history data layer.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import chainlit.data
import httpx
import pytest

import app
from agent import slack, stopping
from agent.history import make_data_layer
from agent.render import Table
from agent.slack_render import chart_png, compact_table
from core.errors import ExternalServiceError
from db.pool import Caller, Database
from fakes.slack_api import (
    BOT_ID,
    BOT_TOKEN,
    BOT_USER_ID,
    SIGNING_SECRET,
    TEAM_ID,
    FakeSlack,
    Posted,
    sign,
)
from services.platform import slack_out
from settings import Settings, get_settings
from tests.ad_helpers import drop_shop, new_shop
from web import web_app

MAYA, STRANGER, ADMIN, MEMBER = "UMAYA001", "USTRANGE1", "UADMIN01", "UMEMBER1"
CHANNEL = "C0GENERAL"
WAIT = 20.0

_ts = iter(range(1, 1_000_000))


def next_ts() -> str:
    return f"{1_764_100_000 + next(_ts)}.000100"


@dataclass
class SlackWorld:
    fake: FakeSlack
    client: httpx.AsyncClient
    db: Database

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.client.post(slack.EVENTS_PATH, content=body, headers=headers)

    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        body = json.dumps(
            {
                "token": "legacy-unused",
                "team_id": TEAM_ID,
                "api_app_id": "A0APP",
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "event": event,
            }
        ).encode()
        return await self.post(body, {**signed(body), **(headers or {})})

    async def mention(self, user: str, text: str, *, thread_ts: str | None = None) -> str:
        """A mention in CHANNEL; the ts of the thread the answer goes to."""
        ts = next_ts()
        event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER_ID}> {text}", "ts": ts,
                 "channel": CHANNEL, "event_ts": ts}  # fmt: skip
        if thread_ts:
            event["thread_ts"] = thread_ts
        response = await self.event(event)
        assert response.status_code == 200, response.text
        return thread_ts or ts

    async def answer_in(self, thread_ts: str, *, nth: int = 1, channel: str = CHANNEL) -> Posted:
        """The nth bot message in the thread, once it has been updated with the answer."""

        def done() -> Posted | None:
            answered = [m for m in self.fake.in_thread(channel, thread_ts) if m.updates]
            return answered[nth - 1] if len(answered) >= nth else None

        return await until(done, f"answer {nth} in thread {thread_ts}")


def signed(body: bytes, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "x-slack-request-timestamp": str(ts),
        "x-slack-signature": sign(secret, body, ts),
    }


async def until(check: Callable[[], Any], what: str, seconds: float = WAIT) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def all_text(message: Posted) -> str:
    parts = [message.text]
    for block in message.blocks:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(str(text.get("text", "")))
        for element in block.get("elements", []):
            parts.append(
                str(element.get("text", ""))
                if not isinstance(element.get("text"), dict)
                else element["text"]["text"]
            )
    return "\n".join(parts)


@pytest.fixture
async def world(
    db: Database, database_url: str, maya: Caller, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> AsyncIterator[SlackWorld]:
    fake = FakeSlack().start()
    fake.add_user(MAYA, "Maya@Northwind.example", "Maya")  # Slack's case differs from ours
    fake.add_user(STRANGER, "someone@elsewhere.example", "Someone")
    layer = make_data_layer(database_url, max_size=2)
    monkeypatch.setattr(chainlit.data, "_data_layer", layer)
    monkeypatch.setattr(chainlit.data, "_data_layer_initialized", True)
    monkeypatch.setattr(app, "_db", db)
    monkeypatch.setattr(slack, "_bot", None)
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "slack-test-secret-" + "x" * 40)  # the web app signs sessions
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake.api_url)
    monkeypatch.setenv("VIRALTRACKER_MODEL", "offline")
    monkeypatch.setenv("VIRALTRACKER_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.setenv("VIRALTRACKER_HOME", str(tmp_path))
    get_settings.cache_clear()
    transport = httpx.ASGITransport(app=web_app())
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield SlackWorld(fake, client, db)
    finally:
        await asyncio.sleep(0.2)  # a turn still writing finishes before its data layer closes
        fake.close()
        await layer.close()
        monkeypatch.undo()
        get_settings.cache_clear()


# -- the endpoint: Slack's signature, handshake and retries ------------------------------------------


async def test_url_verification_answers_the_challenge(world: SlackWorld) -> None:
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV", "type": "url_verification"}
    ).encode()
    response = await world.post(body, signed(body))
    assert response.status_code == 200 and response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}


async def test_bad_signature_and_old_timestamp_are_refused_and_nothing_is_posted(world: SlackWorld) -> None:
    ts = next_ts()
    event = {
        "type": "app_mention",
        "user": MAYA,
        "text": f"<@{BOT_USER_ID}> /brands",
        "ts": ts,
        "channel": CHANNEL,
    }
    body = json.dumps(
        {"team_id": TEAM_ID, "type": "event_callback", "event_id": "EvForged", "event": event}
    ).encode()
    forged = await world.post(body, signed(body, secret="not-the-signing-secret"))
    assert forged.status_code == 401
    replayed = await world.post(body, signed(body, timestamp=int(time.time()) - 6 * 60))
    assert replayed.status_code == 401
    tampered = signed(body)
    later = await world.post(body.replace(b"/brands", b"/jobs"), tampered)  # signed body ≠ sent body
    assert later.status_code == 401
    # The same event, properly signed and fresh, is answered: the refusal was the signature's.
    fresh = await world.post(body, signed(body))
    assert fresh.status_code == 200
    assert "Acme Pets" in all_text(await world.answer_in(ts))
    # Answered after the three refused ones were sent: they made no turn of their own.
    assert len(world.fake.calls_to("chat.postMessage")) == 1 and len(world.fake.calls_to("users.info")) == 1


async def test_a_timestamp_that_is_not_a_number_is_refused_as_unsigned(world: SlackWorld) -> None:
    body = json.dumps(
        {"team_id": TEAM_ID, "type": "event_callback", "event_id": "EvNaN", "event": {}}
    ).encode()
    for stamp in ("soon", "1.5e9", "", "-1"):
        headers = {
            **signed(body),
            "x-slack-request-timestamp": stamp,
            "x-slack-signature": sign(SIGNING_SECRET, body, stamp),
        }
        response = await world.post(body, headers)
        assert (response.status_code, response.text) == (401, '{"error":"invalid request"}'), stamp
    assert world.fake.calls_to("users.info") == [] and world.fake.calls_to("chat.postMessage") == []


async def test_slack_not_configured_says_which_variables(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAINLIT_AUTH_SECRET", "slack-test-secret-" + "x" * 40)  # the web app signs sessions
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    get_settings.cache_clear()
    try:
        transport = httpx.ASGITransport(app=web_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            response = await client.post(slack.EVENTS_PATH, content=b"{}")
        assert response.status_code == 404
        assert (
            "SLACK_BOT_TOKEN" in response.json()["error"]
            and "SLACK_SIGNING_SECRET" in response.json()["error"]
        )
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


async def test_a_retried_event_runs_once_and_the_bots_own_messages_are_ignored(world: SlackWorld) -> None:
    ts = next_ts()
    event = {
        "type": "app_mention",
        "user": MAYA,
        "text": f"<@{BOT_USER_ID}> /brands",
        "ts": ts,
        "channel": CHANNEL,
    }
    first = await world.event(event, event_id="EvOnce01")
    assert first.status_code == 200
    await world.answer_in(ts)
    retry = await world.event(
        event, event_id="EvOnce01", headers={"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
    )
    assert retry.status_code == 200
    # The bot's own post (echoed as a message event) and another bot's message: not answered.
    own = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "text": "Working on it…", "ts": next_ts(),
           "channel": "D0DM", "channel_type": "im"}  # fmt: skip
    assert (await world.event(own)).status_code == 200
    other_bot = {"type": "message", "subtype": "bot_message", "bot_id": "B0OTHER", "text": "/brands",
                 "ts": next_ts(), "channel": "D0DM", "channel_type": "im"}  # fmt: skip
    assert (await world.event(other_bot)).status_code == 200
    # A person's DM sent after them is answered: by then any turn those three had started has posted.
    marker = {"type": "message", "user": MAYA, "text": "/brands", "ts": next_ts(), "channel": "D0MARK",
              "channel_type": "im"}  # fmt: skip
    assert (await world.event(marker)).status_code == 200
    await world.answer_in(marker["ts"], channel="D0MARK")
    assert len(world.fake.in_thread(CHANNEL, ts)) == 1  # one "Working on it…", updated once
    assert world.fake.in_thread(CHANNEL, ts)[0].updates == 1
    assert world.fake.posted("D0DM") == []
    assert len(world.fake.calls_to("chat.postMessage")) == 2  # the mention's and the marker's


# -- conversations -------------------------------------------------------------------------------------


async def test_a_mention_with_a_slash_command_answers_in_the_thread_with_a_table_and_a_chart(
    world: SlackWorld, db: Database
) -> None:
    thread = await world.mention(MAYA, "/top_hooks brand:“Acme Pets” days:30")  # Slack's smart quotes
    answer = await world.answer_in(thread)
    assert answer.thread_ts == thread and answer.text != slack.WORKING
    text = all_text(answer)
    assert "Top hooks by hook rate — Acme Pets" in text
    table = next(b["text"]["text"] for b in answer.blocks if "```" in b.get("text", {}).get("text", ""))
    rows = table.split("```")[1].strip().splitlines()
    assert rows[0].split()[:3] == ["Hook", "Hook", "category"] and 3 <= len(rows) <= 2 + 10
    assert "See the full table in the web app: <http://127.0.0.1:8000/thread/" in table
    # The chart: a real PNG in the same thread.
    upload = await until(lambda: world.fake.files, "the chart upload")
    assert upload[0].thread_ts == thread and upload[0].channel == CHANNEL
    assert upload[0].content.startswith(b"\x89PNG\r\n\x1a\n") and upload[0].title.startswith("Top hooks")
    # The conversation is kept in our database, as Maya's thread (it opens in the web app).
    thread_id = table.split("/thread/")[1].split("|")[0]

    async def stored() -> dict[str, Any] | None:
        async with db.as_owner() as conn:
            cur = await conn.execute(
                'select "userIdentifier", "metadata", (select count(*) from steps where "threadId" = threads."id")'
                ' as steps from threads where "id" = %s',
                (thread_id,),
            )
            return await cur.fetchone()

    row = None
    for _ in range(int(WAIT / 0.05)):  # Chainlit writes the steps in the background
        row = await stored()
        if row is not None and row["steps"] >= 2:
            break
        await asyncio.sleep(0.05)
    assert row is not None and row["userIdentifier"] == "maya@northwind.example"
    assert row["metadata"]["slack"] == {"team": TEAM_ID, "channel": CHANNEL, "thread_ts": thread}
    assert "top_hooks" in row["metadata"][slack.HISTORY_KEY] and row["steps"] == 2


async def test_the_second_message_in_a_thread_uses_the_firsts_context(world: SlackWorld) -> None:
    thread = await world.mention(MAYA, "which hooks worked best for Acme Pets in the last 30 days?")
    first = all_text(await world.answer_in(thread))
    assert "Top hooks by hook rate — Acme Pets, last 30 days" in first
    await world.mention(MAYA, "and for the last 90 days?", thread_ts=thread)
    second = all_text(await world.answer_in(thread, nth=2))
    assert "Top hooks by hook rate — Acme Pets, last 90 days" in second
    # The same words in a new thread have no context to go on.
    fresh = await world.mention(MAYA, "and for the last 90 days?")
    alone = all_text(await world.answer_in(fresh))
    assert "Top hooks" not in alone and "Acme Pets" in alone  # the "I can't tell" answer with an example


async def test_an_unknown_slack_user_gets_the_not_linked_answer_and_no_data(
    world: SlackWorld, db: Database
) -> None:
    thread = await world.mention(STRANGER, '/top_hooks brand:"Acme Pets"')
    answer = await world.answer_in(thread)
    assert answer.text == (
        "Your Slack account (someone@elsewhere.example) isn't linked to a ViralTracker user; ask an admin"
        " to add you with `viraltracker user add someone@elsewhere.example --org NAME`."
    )
    assert answer.blocks == [] and world.fake.files == []
    async with db.as_owner() as conn:
        cur = await conn.execute(
            """select count(*) as n from threads where "metadata"->'slack'->>'thread_ts' = %s""", (thread,)
        )
        row = await cur.fetchone()
    assert row is not None and row["n"] == 0


async def test_a_dm_with_a_plain_slash_command_is_answered(world: SlackWorld) -> None:
    ts = next_ts()
    dm = {
        "type": "message",
        "channel": "D0MAYA",
        "channel_type": "im",
        "user": MAYA,
        "text": "/brands",
        "ts": ts,
    }
    assert (await world.event(dm)).status_code == 200
    answer = await world.answer_in(ts, channel="D0MAYA")
    text = all_text(answer)
    assert "Acme Pets" in text and "Bloom Botanicals" in text
    assert "Peak Fuel" not in text  # Leo's organization's brand


# -- a write asks first: Block Kit buttons, run as whoever clicks ----------------------------------------


def click_payload(user: str, message: Posted, label: str) -> dict[str, Any]:
    """What Slack sends when `user` clicks the button `label` under `message`."""
    button = next(e for b in message.blocks if b.get("type") == "actions" for e in b["elements"]
                  if e["text"]["text"] == label)  # fmt: skip
    return {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM_ID},
        "api_app_id": "A0APP",
        "token": "legacy-unused",
        "team": {"id": TEAM_ID, "domain": "fake"},
        "container": {"type": "message", "message_ts": message.ts, "channel_id": message.channel},
        "channel": {"id": message.channel, "name": "general"},
        "message": {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "text": message.text,
            "ts": message.ts,
            "thread_ts": message.thread_ts,
            "blocks": message.blocks,
        },
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:9/unused",
        "actions": [{**button, "block_id": "vt_actions", "action_ts": str(time.time())}],
    }


async def click(world: SlackWorld, user: str, message: Posted, label: str) -> httpx.Response:
    body = urlencode({"payload": json.dumps(click_payload(user, message, label))}).encode()
    headers = {**signed(body), "content-type": "application/x-www-form-urlencoded"}
    return await world.post(body, headers)


async def test_a_write_asks_for_confirmation_and_runs_as_whoever_clicks(
    world: SlackWorld, db: Database
) -> None:
    shop = await new_shop(db, "slack", ["Joint Chews"])
    product = f"Joint Chews {shop.tag}"
    world.fake.add_user(ADMIN, shop.admin.email, "Admin")
    world.fake.add_user(MEMBER, shop.member.email, "Member")

    async def threshold() -> float:
        async with db.as_owner() as conn:
            cur = await conn.execute(
                "select auto_template_threshold as threshold from products where id = %s",
                (shop.products["Joint Chews"],),
            )
            row = await cur.fetchone()
        return float(row["threshold"]) if row else 70.0

    try:
        thread = await world.mention(ADMIN, f'/template_auto product:"{product}" threshold:60')
        preview = copy.deepcopy(await world.answer_in(thread))  # as the Slack client shows it (a stale copy)
        assert "Nothing has changed yet" in all_text(preview)
        labels = [
            e["text"]["text"] for b in preview.blocks if b.get("type") == "actions" for e in b["elements"]
        ]
        assert labels == ["Save", "Cancel"]
        # The member clicks the admin's Save: it runs as the member, who may not change it.
        assert (await click(world, MEMBER, preview, "Save")).status_code == 200
        refused = await world.answer_in(thread, nth=2)
        assert "Only admins" in all_text(refused) and await threshold() == 70.0
        # The buttons went with that click (and a second click on them does nothing).
        updated = world.fake.in_thread(CHANNEL, thread)[0]
        assert not any(b.get("type") == "actions" for b in updated.blocks)
        assert f"<@{MEMBER}> chose *Save*" in all_text(updated)
        assert (await click(world, ADMIN, preview, "Save")).status_code == 200
        # A new preview, asked for after that click: the third answer, nothing came in between.
        await world.mention(ADMIN, f'/template_auto product:"{product}" threshold:60', thread_ts=thread)
        second_preview = await world.answer_in(thread, nth=3)
        assert "Nothing has changed yet" in all_text(second_preview) and await threshold() == 70.0
        assert (
            len([m for m in world.fake.in_thread(CHANNEL, thread) if m.text == slack.WORKING or m.updates])
            == 3
        )
        # That preview, confirmed by the admin: saved.
        assert (await click(world, ADMIN, second_preview, "Save")).status_code == 200
        saved = await world.answer_in(thread, nth=4)
        assert all_text(saved).startswith("Saved.") and await threshold() == 60.0
        # Cancel runs nothing.
        await world.mention(ADMIN, f'/template_auto product:"{product}" threshold:80', thread_ts=thread)
        third_preview = await world.answer_in(thread, nth=5)
        assert (await click(world, ADMIN, third_preview, "Cancel")).status_code == 200
        await until(
            lambda: any(
                m.text == "Cancelled: nothing was changed." for m in world.fake.in_thread(CHANNEL, thread)
            ),
            "the cancel note",
        )
        assert await threshold() == 60.0
    finally:
        await drop_shop(db, shop)


async def test_a_click_while_stopping_keeps_its_buttons_and_a_double_click_on_two_processes_runs_once(
    world: SlackWorld, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    shop = await new_shop(db, "slack2", ["Joint Chews"])
    product = f"Joint Chews {shop.tag}"
    world.fake.add_user(ADMIN, shop.admin.email, "Admin")
    try:
        thread = await world.mention(ADMIN, f'/template_auto product:"{product}" threshold:65')
        preview = copy.deepcopy(await world.answer_in(thread))
        assert "Nothing has changed yet" in all_text(preview)
        # Behind the proxy each process has its own bot; the click and its double land on both.
        processes = [slack.SlackBot(get_settings(), app.database) for _ in range(2)]
        payload = click_payload(ADMIN, preview, "Save")
        # The first lands on a process that is stopping: not run, and the buttons stay to click again.
        monkeypatch.setattr(stopping.running_turns, "stopping", True)
        await processes[0].clicked(payload, payload["actions"][0])
        monkeypatch.setattr(stopping.running_turns, "stopping", False)
        assert [m.text for m in world.fake.in_thread(CHANNEL, thread)][1:] == [stopping.NOT_RUN]
        assert len(world.fake.calls_to("chat.update")) == 1  # only the preview's own
        await asyncio.gather(*(bot.clicked(payload, payload["actions"][0]) for bot in processes))
        answers = [m for m in world.fake.in_thread(CHANNEL, thread)[1:] if m.text != stopping.NOT_RUN]
        assert [all_text(m).split("\n")[0] for m in answers] == [
            f"Saved. Auto-recommendations are off for {product} (threshold 65)."
        ]
        assert len(world.fake.calls_to("chat.update")) == 3  # the preview, its buttons gone, the one answer
    finally:
        await drop_shop(db, shop)


# -- rendering and the outbound client ---------------------------------------------------------------------


def test_a_long_table_shows_its_top_rows_and_links_to_the_rest() -> None:
    table = Table("Ads", ["ad_name", "spend", "roas"], [[f"Ad {i}", 100.0 * i, 1.5] for i in range(37)])
    text = compact_table(table, web_url="http://vt.example/thread/abc")
    lines = text.split("```")[1].strip().splitlines()
    assert len(lines) == 12 and lines[2].startswith("Ad 0") and lines[-1].startswith("Ad 9")
    assert (
        "_top 10 of 37 rows._ See the full table in the web app: <http://vt.example/thread/abc|open>" in text
    )
    wide = Table("Wide", [f"column_{i}" for i in range(20)], [[f"value {i}" for i in range(20)]])
    assert "more columns" in compact_table(wide, web_url=None)


def test_charts_render_as_png_without_a_browser() -> None:
    figure = {"data": [{"type": "bar", "x": ["a", "b"], "y": [1.5, 3.0], "name": "Hook rate (%)"},
                       {"type": "scatter", "x": ["a", "b"], "y": [100, 50], "yaxis": "y2", "mode": "markers"}],
              "layout": {"title": {"text": "Hooks"}, "yaxis2": {"title": {"text": "Spend ($)"}}}}  # fmt: skip
    png = chart_png(figure)
    assert png.startswith(b"\x89PNG") and len(png) > 2000


async def test_post_message_errors_name_the_channel_and_ratelimits_are_waited_out() -> None:
    with FakeSlack() as fake:
        settings = Settings(SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=fake.api_url)  # type: ignore[call-arg]
        fake.fail("chat.postMessage", "channel_not_found")
        with pytest.raises(ExternalServiceError, match="could not find the Slack channel C0NOPE"):
            await slack_out.post_message(settings, channel="C0NOPE", text="hi")
        fake.fail("chat.postMessage", "not_in_channel")
        with pytest.raises(ExternalServiceError, match="not a member of the Slack channel C0PRIV"):
            await slack_out.post_message(settings, channel="C0PRIV", text="hi")
        fake.rate_limit("chat.postMessage", retry_after=1, times=2)
        started = time.monotonic()
        ts = await slack_out.post_message(settings, channel=CHANNEL, text="after the wait")
        assert time.monotonic() - started >= 2.0 and fake.posted(CHANNEL)[-1].ts == ts
        fake.rate_limit("chat.postMessage", retry_after=0, times=3)
        with pytest.raises(ExternalServiceError, match="kept rate-limiting"):
            await slack_out.post_message(settings, channel=CHANNEL, text="never")
        wrong = Settings(SLACK_BOT_TOKEN="xoxb-wrong", SLACK_API_URL=fake.api_url)  # type: ignore[call-arg]
        with pytest.raises(ExternalServiceError, match="refused the bot token") as refused:
            await slack_out.post_message(wrong, channel=CHANNEL, text="hi")
        assert "xoxb-wrong" not in str(refused.value)
    with pytest.raises(slack_out.SlackNotConfigured, match="SLACK_BOT_TOKEN"):
        await slack_out.post_message(Settings(), channel=CHANNEL, text="hi")  # type: ignore[call-arg]


def test_slack_text_reads_as_typed() -> None:
    assert slack.typed_text(f"<@{BOT_USER_ID}> /top_hooks brand:“Acme Pets” days:30") == (
        '/top_hooks brand:"Acme Pets" days:30'
    )
    assert slack.typed_text(
        "<@U1|maya> ask <mailto:a@b.example|a@b.example> about <https://x.example/p|this> &amp; <#C1|ads>"
    ) == ("ask a@b.example about this & #ads")
    assert slack.typed_text("<@UBOT0001>") == ""


async def test_an_answer_slack_refuses_as_blocks_still_arrives_as_text(world: SlackWorld) -> None:
    world.fake.fail("chat.update", "invalid_blocks")
    thread = await world.mention(MAYA, "/brands")
    answer = await world.answer_in(thread)
    assert answer.blocks == [] and "Acme Pets" in answer.text
