"""The same agent in Slack: mention the bot in a channel, or DM it.

Chainlit's Slack integration (chainlit/slack/app.py) is a slack_bolt `AsyncApp` behind POST
/slack/events. We serve that same endpoint on our web app (web.py) with our own bolt app, built from
Settings (Chainlit's reads the environment once at import, talks to slack.com only, and creates a
chat user for any Slack account); Chainlit's session machinery (`HTTPSession`, client type "slack",
its data layer) records each turn, so a Slack conversation opens in the web app too.

* Bolt checks every request's signature (HMAC v0 with SLACK_SIGNING_SECRET, timestamps older than
  5 minutes refused), answers url_verification, and drops the bot's own events. An event Slack
  sends again (X-Slack-Retry-Num, same event_id) is acknowledged and not run twice.
* Identity: the Slack user who wrote (or clicked) → users.info → their email → our users table
  (case-insensitive). An unknown person gets a "not linked" answer and no data.
* A Slack thread is one conversation per person: its model history lives in the chat-history
  thread's metadata (the key app.py's on_chat_resume reads), keyed by workspace, channel, thread
  and our user, so one person's context never feeds another's turn.
* An answer is posted once ("Working on it…") and updated once with the result; charts follow as
  images in the thread. A write's Confirm/Cancel are Block Kit buttons: a click runs the command as
  the clicking person (never anyone the button names), once: clicks, like events, are kept in the
  database, so a double click reaching two app processes still runs once.
* A SIGTERM (agent/stopping.py) lets running Slack turns finish like web ones; a message arriving then
  is answered NOT_RUN, and a turn cancelled after the grace says INTERRUPTED in place of "Working on it…".
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

import chainlit as cl
from chainlit.context import ChainlitContext, context_var
from chainlit.data import get_data_layer
from chainlit.emitter import BaseChainlitEmitter
from chainlit.session import HTTPSession
from chainlit.user import PersistedUser, User
from pydantic import ValidationError
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent.build import configured_model
from agent.chat_ui import elements_for
from agent.history import HistoryDataLayer
from agent.runner import TurnResult, run_turn, storable_history
from agent.slack_render import ACTION_PREFIX, SlackAnswer, escape, render_turn
from agent.stopping import INTERRUPTED, NOT_RUN, running_turns
from agent.web_security import DATABASE_DOWN
from core.errors import NotFound, UserFacingError
from db.pool import Caller, Database
from services.platform import slack_events, slack_out
from services.platform.accounts import find_caller
from services.platform.server_files import private_dir
from settings import Settings, get_settings
from tools.actions import ActionButton

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HISTORY_KEY = "vt_history"
"""The thread metadata key app.py keeps the model history under (app.HISTORY_KEY)."""
WORKING = ":hourglass_flowing_sand: Working on it…"
NOT_LINKED = (
    "Your Slack account ({email}) isn't linked to a ViralTracker user; ask an admin to add you with "
    "`viraltracker user add {email} --org NAME`."
)
NO_EMAIL = (
    "I couldn't read the email of your Slack account, so I can't tell who you are in ViralTracker. "
    "The Slack app needs the users:read.email scope: ask whoever installed it to add it and reinstall."
)
EMPTY = (
    "Ask me about your Meta ads, e.g. `top hooks for Acme Pets last 30 days`, or a command like "
    '`/top_hooks brand:"Acme Pets"`; `/help` lists them all.'
)
FAILED = "Something went wrong on our side and has been logged. Nothing was changed; please try again."
NOT_CONFIGURED = (
    "Slack is not connected: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET and restart ViralTracker."
)
SEEN_EVENTS = 5000
"""Event ids this process remembers before asking the database (slack_events_seen), which every
process shares, whether another took the event already."""

DatabaseProvider = Callable[[], Awaitable[Database]]


# -- Slack text → what the person typed ----------------------------------------------------------

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_LABELLED = re.compile(r"<(?:mailto:|https?://|#C[A-Z0-9]+\|)[^|>]*\|([^>]*)>|<#C[A-Z0-9]+\|([^>]*)>")
_BARE_LINK = re.compile(r"<((?:https?://|mailto:)[^>|]+)>")
_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})


def typed_text(text: str) -> str:
    """A Slack message as the person typed it: mentions removed, links and channels as their text,
    entities decoded, smart quotes straight (so `brand:"Acme Pets"` parses)."""
    text = _MENTION.sub("", text)
    text = _LABELLED.sub(lambda m: m[1] if m[1] is not None else f"#{m[2]}", text)
    text = _BARE_LINK.sub(lambda m: m[1].removeprefix("mailto:"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.translate(_QUOTES).split())


def conversation_id(team: str, channel: str, thread_ts: str, user_id: UUID) -> str:
    """The chat-history thread of one person's conversation in one Slack thread (stable across events)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"slack:{team}:{channel}:{thread_ts}:{user_id}"))


class SlackBot:
    """The bolt app and what it needs: settings, the database, turn locks, the events seen."""

    def __init__(self, settings: Settings, database: DatabaseProvider) -> None:
        assert settings.slack_bot_token is not None and settings.slack_signing_secret is not None
        self.settings = settings
        self.database = database
        self.app = AsyncApp(
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            client=slack_out.web_client(settings),
            name="viraltracker",
        )
        self.handler = AsyncSlackRequestHandler(self.app)
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._clicked: OrderedDict[str, float] = OrderedDict()
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._register()

    # -- bolt wiring -------------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.app

        @app.middleware
        async def once_per_event(
            body: dict[str, Any], next: Callable[[], Awaitable[None]]
        ) -> BoltResponse | None:
            event_id = body.get("event_id") if isinstance(body, dict) else None
            if isinstance(event_id, str) and not await self._first_time(event_id, self._seen):
                log.info("Slack sent event %s again; already handled", event_id)
                return BoltResponse(status=200, body="")
            await next()
            return None

        @app.event("app_mention")
        async def on_mention(event: dict[str, Any], body: dict[str, Any]) -> None:
            await self.converse(event, team=str(body.get("team_id") or ""))

        @app.event("message")
        async def on_message(event: dict[str, Any], body: dict[str, Any]) -> None:
            # DMs only: in channels the bot answers mentions (app_mention), not every message.
            if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
                return
            await self.converse(event, team=str(body.get("team_id") or ""))

        @app.action(re.compile(f"^{ACTION_PREFIX}"))
        async def on_button(
            ack: Callable[[], Awaitable[None]], body: dict[str, Any], action: dict[str, Any]
        ) -> None:
            await ack()
            await self.clicked(body, action)

    async def _first_time(self, key: str, memory: OrderedDict[str, float]) -> bool:
        """True the first time any app process takes this event or click (kept in the database); with
        the database unreachable, this process's memory alone decides (the turn then says it is down)."""
        if not self._remember(memory, key):
            return False
        try:
            db = await self.database()
            async with db.as_owner() as conn:
                return await slack_events.first_delivery(conn, event_id=key)
        except DATABASE_DOWN as error:
            log.warning("Slack %s: not checked against other processes (%s)", key, type(error).__name__)
            return True

    @staticmethod
    def _remember(seen: OrderedDict[str, float], key: str) -> bool:
        """True the first time `key` is seen (a bounded memory of the latest ones)."""
        if key in seen:
            return False
        seen[key] = time.monotonic()
        while len(seen) > SEEN_EVENTS:
            seen.popitem(last=False)
        return True

    # -- a message ---------------------------------------------------------------------------------

    async def converse(self, event: dict[str, Any], *, team: str) -> None:
        slack_user = event.get("user")
        if not slack_user or event.get("bot_id"):
            return
        channel = str(event["channel"])
        thread_ts = str(event.get("thread_ts") or event["ts"])
        await self.answer(
            slack_user,
            channel=channel,
            thread_ts=thread_ts,
            team=team,
            text=typed_text(event.get("text") or ""),
        )

    async def answer(self, slack_user: str, *, channel: str, thread_ts: str, team: str, text: str) -> None:
        """Posts "Working on it…" in the thread, runs the turn as the Slack user's ViralTracker user,
        and updates that message once with the answer (then uploads its charts). A running turn, as
        the stop counts it: while stopping none starts; one cancelled says so and keeps nothing."""
        settings = self.settings
        if running_turns.stopping:
            await slack_out.post_message(settings, channel=channel, text=NOT_RUN, thread_ts=thread_ts)
            return
        with running_turns.track():
            working = await slack_out.post_message(
                settings, channel=channel, text=WORKING, thread_ts=thread_ts
            )
            reply: SlackAnswer | None = None
            try:
                reply = await self.reply(
                    slack_user, channel=channel, thread_ts=thread_ts, team=team, text=text
                )
                await self.show(reply, channel=channel, working=working)
            except asyncio.CancelledError:
                if running_turns.stopping:
                    # Not left "Working on it…": the answer if it was done (and kept), else why not.
                    finished = reply.text if reply is not None else INTERRUPTED
                    await slack_out.update_message(settings, channel=channel, ts=working, text=finished)
                raise
            for chart in reply.charts:
                await slack_out.upload_file(
                    settings, channel=channel, filename=chart.filename, content=chart.png, title=chart.title,
                    thread_ts=thread_ts,
                )  # fmt: skip

    async def reply(
        self, slack_user: str, *, channel: str, thread_ts: str, team: str, text: str
    ) -> SlackAnswer:
        """What to answer: the turn's result, or why there is none."""
        try:
            caller = await self.identify(slack_user)
            if isinstance(caller, str):
                return SlackAnswer(text=caller, blocks=[])
            if not text:
                return SlackAnswer(text=EMPTY, blocks=[])
            return await self.turn(caller, text=text, channel=channel, thread_ts=thread_ts, team=team)
        except UserFacingError as error:
            return SlackAnswer(text=error.message, blocks=[])
        except Exception:
            log.exception("Slack turn failed in %s", channel)
            return SlackAnswer(text=FAILED, blocks=[])

    async def show(self, reply: SlackAnswer, *, channel: str, working: str) -> None:
        """The answer in place of "Working on it…"."""
        settings = self.settings
        try:
            await slack_out.update_message(
                settings, channel=channel, ts=working, text=reply.text, blocks=reply.blocks
            )
        except slack_out.SlackError as error:
            if not reply.blocks or error.code not in (
                "invalid_blocks",
                "invalid_blocks_format",
                "msg_too_long",
            ):
                raise
            # Slack refused the layout: the answer still arrives, as plain text.
            log.warning("Slack refused an answer's blocks (%s); sent as text", error.code)
            await slack_out.update_message(settings, channel=channel, ts=working, text=reply.text)

    async def identify(self, slack_user: str) -> Caller | str:
        """Our user for this Slack user (by their Slack email), or the answer that says why not."""
        client = slack_out.web_client(self.settings)
        info = await slack_out.call(lambda: client.users_info(user=slack_user), what="user lookup")
        profile = (info.get("user") or {}).get("profile") or {}
        email = profile.get("email")
        if not isinstance(email, str) or not email:
            return NO_EMAIL
        db = await self.database()
        async with db.as_owner() as conn:
            try:
                return await find_caller(conn, email=email)
            except NotFound:
                log.info("Slack user %s is not linked to a ViralTracker user", slack_user)
                return NOT_LINKED.format(email=escape(email))

    async def turn(
        self, caller: Caller, *, text: str, channel: str, thread_ts: str, team: str
    ) -> SlackAnswer:
        """One turn of this person's conversation in this Slack thread, history from our database."""
        thread_id = conversation_id(team, channel, thread_ts, caller.user_id)
        lock = self._locks.get(thread_id)
        if lock is None:
            lock = self._locks[thread_id] = asyncio.Lock()
        async with lock:  # two quick messages in one thread: the second sees the first's answer
            history = await load_history(thread_id)
            result = await run_turn(
                db=await self.database(),
                caller=caller,
                message=text,
                history=history,
                model=configured_model(get_settings()),
                thread_id=thread_id,
            )
            recorded = await record_turn(
                thread_id, caller=caller, text=text, turn=result, first=not history,
                slack={"team": team, "channel": channel, "thread_ts": thread_ts},
            )  # fmt: skip
        web_url = f"{self.settings.public_url.rstrip('/')}/thread/{thread_id}" if recorded else None
        return render_turn(result, web_url=web_url)

    # -- a button ----------------------------------------------------------------------------------

    async def clicked(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """A button under an answer: the command it names runs as the Slack user who clicked."""
        slack_user = str((body.get("user") or {}).get("id") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        message = body.get("message") or {}
        message_ts = str((body.get("container") or {}).get("message_ts") or message.get("ts") or "")
        thread_ts = str(message.get("thread_ts") or message_ts)
        team = str((body.get("team") or {}).get("id") or "")
        if not (slack_user and channel and message_ts):
            return
        try:
            button = ActionButton.model_validate_json(str(action.get("value") or ""))
        except ValidationError:
            await slack_out.post_message(
                self.settings, channel=channel, text="That button is out of date; nothing was changed.",
                thread_ts=thread_ts,
            )  # fmt: skip
            return
        if button.command is not None and running_turns.stopping:
            # Before the buttons go: clicked again in a moment, on another process, it runs.
            await slack_out.post_message(self.settings, channel=channel, text=NOT_RUN, thread_ts=thread_ts)
            return
        if button.once:
            if not await self._first_time(f"click:{channel}:{message_ts}", self._clicked):
                return  # a second click on a pair already used, here or on another process: runs once
            kept = [b for b in message.get("blocks") or [] if b.get("type") != "actions"]
            chose = {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<@{slack_user}> chose *{escape(button.label)}*."}],
            }
            await slack_out.update_message(
                self.settings, channel=channel, ts=message_ts, text=str(message.get("text") or button.label),
                blocks=[*kept, chose],
            )  # fmt: skip
        if button.command is None:
            await slack_out.post_message(
                self.settings, channel=channel, text="Cancelled: nothing was changed.", thread_ts=thread_ts
            )
            return
        await self.answer(slack_user, channel=channel, thread_ts=thread_ts, team=team, text=button.command)


# -- history: the chat-history thread's metadata, as the web chat keeps it ---------------------------


async def load_history(thread_id: str) -> list[ModelMessage]:
    layer = get_data_layer()
    metadata = await layer.thread_metadata(thread_id) if isinstance(layer, HistoryDataLayer) else None
    stored = metadata.get(HISTORY_KEY) if isinstance(metadata, dict) else None
    if not isinstance(stored, str) or not stored:
        return []
    try:
        return ModelMessagesTypeAdapter.validate_json(stored)
    except ValidationError:
        log.warning("stored Slack history of thread %s is unreadable; starting afresh", thread_id)
        return []


async def record_turn(
    thread_id: str, *, caller: Caller, text: str, turn: TurnResult, first: bool, slack: dict[str, str]
) -> bool:
    """Saves the model history with the thread and records the turn's messages (with their full
    tables and charts) through Chainlit, as a web chat would: the thread opens in the web app,
    and resumes there. False without a chat-history data layer."""
    layer = get_data_layer()
    if layer is None:
        return False
    user = await layer.get_user(caller.email)
    if user is None:
        user = await layer.create_user(
            User(identifier=caller.email, metadata={"user_id": str(caller.user_id), "provider": "slack"})
        )
    session = HTTPSession(id=str(uuid.uuid4()), client_type="slack", thread_id=thread_id, user=user)
    # Chainlit keeps an element's bytes in this server's session files folder (agent/chainlit_tuning)
    # while it persists them; the folder is made at server start and removed at shutdown, so make sure.
    private_dir(session.files_dir.parent)
    context_var.set(ChainlitContext(session=session, emitter=BaseChainlitEmitter(session)))
    try:
        await layer.update_thread(
            thread_id,
            name=f"Slack: {text[:72]}" if first else None,
            user_id=user.id if isinstance(user, PersistedUser) else None,
            metadata={HISTORY_KEY: storable_history(turn.messages), "slack": slack},
        )
        await cl.Message(content=text, type="user_message", author=caller.email).send()
        elements, suffix = elements_for(turn.results)
        await cl.Message(content=(turn.text or "Done.") + suffix, elements=elements).send()
    finally:
        await session.delete()
    return True


# -- the endpoint on our web app ------------------------------------------------------------------

_bot: tuple[tuple[str, ...], SlackBot] | None = None


def slack_bot(settings: Settings, database: DatabaseProvider) -> SlackBot | None:
    """The bot for these settings (built once; again when they change), None when Slack is not set up."""
    global _bot
    if not slack_out.slack_configured(settings) or settings.slack_signing_secret is None:
        return None
    assert settings.slack_bot_token is not None
    key = (
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
        settings.slack_api_url,
        settings.public_url,
    )
    if _bot is None or _bot[0] != key:
        _bot = (key, SlackBot(settings, database))
    return _bot[1]


def mount(router: Any, database: DatabaseProvider) -> None:
    """POST /slack/events on our web app (web.py), where it comes before Chainlit's own Slack route."""

    async def slack_events(request: Request) -> Response:
        bot = slack_bot(get_settings(), database)
        if bot is None:
            return JSONResponse({"error": NOT_CONFIGURED}, status_code=404)
        # Bolt's verifier does int(timestamp) unguarded: anything but digits is a bad signature, not a 500.
        timestamp = request.headers.get("x-slack-request-timestamp", "0")
        if not (timestamp.isascii() and timestamp.isdigit()):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        response: Response = await bot.handler.handle(request)
        return response

    router.add_api_route(EVENTS_PATH, slack_events, methods=["POST"])
