"""Chainlit entry: sign-in, chat start, messages → the agent. A thin adapter over `agent/`.

web.py serves it: our own web app, with Chainlit mounted in it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import chainlit as cl
import chainlit.server as chainlit_server
from chainlit.config import config as chainlit_config
from chainlit.data import get_data_layer
from chainlit.data.storage_clients.base import BaseStorageClient
from chainlit.emitter import ChainlitEmitter
from chainlit.input_widget import InputWidget, Select
from chainlit.session import WebsocketSession
from chainlit.types import ThreadDict
from chainlit.user_session import user_sessions
from fastapi import HTTPException
from pydantic import ValidationError
from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from agent import chainlit_tuning
from agent.build import configured_model
from agent.chat_storage import DatabaseChatStorage, LocalChatStorage
from agent.chat_ui import ACTION, ChainlitListener, forget_once
from agent.history import HistoryDataLayer, make_data_layer
from agent.live import NotificationFeed, toast_text
from agent.offline import CANNOT_UNDERSTAND
from agent.runner import run_turn, storable_history
from agent.slash import ordered_specs
from agent.stopping import NOT_RUN, hand_back, running_turns
from agent.web_security import (
    DATABASE_DOWN,
    SessionVersions,
    client_address,
    close_sockets,
    request_token,
    token_claims,
    token_session,
)
from core.errors import DatabaseUnavailable, ExternalServiceError, NotFound
from db.pool import Caller, Conn, Database, resolve_database_url
from jobs import worker as jobs_worker
from services.brands import visible_brands
from services.platform import notifications
from services.platform.accounts import (
    find_caller,
    password_hash_of,
    password_matches,
    password_needs_rehash,
    upgrade_password_hash,
)
from services.platform.login_throttle import SignInAttempt, TooManyAttempts, check_not_blocked, record_attempt
from services.platform.notifications import Notification
from services.platform.observability import configure_tracing
from services.platform.session_versions import end_sessions, session_version
from services.platform.supabase_auth import verify_supabase_password
from services.process import calm_garbage_collector
from services.readiness import first_brand_checklist
from settings import get_settings
from tools.actions import ActionButton

chainlit_tuning.install()  # no sleeping on the event loop in Chainlit's Step/Message constructors

log = logging.getLogger(__name__)

HISTORY_KEY = "vt_history"
NAMED_KEY = "vt_thread_named"
_db: Database | None = None
_db_lock = asyncio.Lock()
_feed: NotificationFeed | None = None


async def database() -> Database:
    """The app's one pool, opened on first use (never at import)."""
    global _db
    async with _db_lock:
        if _db is None:
            pool = Database.from_settings()
            await pool.open()
            _db = pool
    return _db


async def notification_feed() -> NotificationFeed:
    """The process's one listener for new notifications (started with the first chat)."""
    global _feed
    if _feed is None:
        # LISTEN needs a direct or session-mode connection: the jobs' URL where one is set.
        _feed = NotificationFeed(
            await database(),
            deliver=toast_to_session,
            url=get_settings().jobs_database_url,
            sessions_ended=sessions_ended,
        )
    return _feed


async def toast_to_session(session_id: str, notification: Notification) -> bool:
    """A new notification as a toast in one open chat (False when that chat has gone)."""
    session = WebsocketSession.get_by_id(session_id)
    if session is None:
        return False
    emitter = ChainlitEmitter(session)
    await emitter.send_toast(toast_text(notification), "info")
    if session.user is not None:
        # The status beside the composer counts it too, and keeps counting after the toast has gone.
        caller = Caller(user_id=UUID(session.user.metadata["user_id"]), email=session.user.identifier)
        brand = user_sessions.get(session_id, {}).get(BRAND_KEY)
        status = status_mode(offline=is_offline(), unread=await unread_of(caller), brand=brand)
        await emitter.set_modes([status])
    return True


def is_offline() -> bool:
    return configured_model(get_settings()) is None


async def unread_of(caller: Caller) -> int:
    db = await database()
    async with db.as_user(caller) as conn:
        return await notifications.unread_count(conn, user_id=caller.user_id)


async def startup() -> None:
    """The web server starting (web.py's lifespan)."""
    # Before the pool opens, so its connections are traced too.
    configure_tracing(get_settings())
    calm_garbage_collector()
    settings = get_settings()
    if jobs_worker.wanted_in_app(settings):
        # The embedded default runs a light job worker in this event loop; production runs
        # `viraltracker worker` processes instead (DATABASE_URL set, or VIRALTRACKER_EMBEDDED_WORKER=0).
        jobs_worker.start_embedded(await database(), settings)


async def shutdown() -> None:
    """The web server stopping (web.py's lifespan)."""
    await jobs_worker.stop_embedded()


@cl.data_layer
def data_layer() -> HistoryDataLayer:
    settings = get_settings()
    url = resolve_database_url(settings)
    # Several app processes share one DATABASE_URL: what one stores, the others must read.
    storage: BaseStorageClient = (
        DatabaseChatStorage(url)
        if settings.database_url
        else LocalChatStorage(settings.viraltracker_home / "storage" / "chat")
    )
    return make_data_layer(url, storage_provider=storage)


DATABASE_UNAVAILABLE = DatabaseUnavailable.MESSAGE
# Someone at the login page hears "unavailable" after this long, not after the pool's 30 s wait.
SIGN_IN_DB_SECONDS = 5.0


@asynccontextmanager
async def sign_in_transaction() -> AsyncIterator[Conn]:
    """A transaction for sign-in and logout; one of DATABASE_DOWN when the
    database is down or does not answer in time."""
    # Opening the pool stays outside the timeout: cut short, it would leave a half-open pool behind.
    db = await database()
    async with asyncio.timeout(SIGN_IN_DB_SECONDS), db.as_owner() as conn:
        yield conn


def chat_user(caller: Caller, provider: str, version: int) -> cl.User:
    """The signed-in person as Chainlit keeps them (in the token): `session_version` ends it at logout."""
    return cl.User(
        identifier=caller.email,
        metadata={"user_id": str(caller.user_id), "provider": provider, "session_version": version},
    )


async def known_user(email: str | None, provider: str) -> cl.User | None:
    """Our user with this email, or None: signing in elsewhere never creates an account here."""
    if not email:
        return None
    async with sign_in_transaction() as conn:
        try:
            caller = await find_caller(conn, email=email)
        except NotFound:
            log.info("sign-in refused for an unknown %s user", provider)
            return None
        version = await session_version(conn, user_id=caller.user_id)
    return chat_user(caller, provider, version)


async def password_auth(username: str, password: str) -> cl.User | None:
    """The person when the password is right, None when not (401); 429 while too many attempts
    failed for this email or from this address, 503 while the database is down."""
    attempt = SignInAttempt(email=username, client=client_address.get())
    try:
        async with sign_in_transaction() as conn:
            await check_not_blocked(conn, attempt=attempt)
        user = await check_password(username, password)
        async with sign_in_transaction() as conn:
            await record_attempt(conn, attempt=attempt, succeeded=user is not None)
        return user
    except TooManyAttempts as refused:
        raise HTTPException(429, refused.message, headers={"Retry-After": str(refused.retry_after)}) from None
    except DATABASE_DOWN as error:
        log.error("sign-in refused: the database is unavailable (%s)", type(error).__name__)
        raise HTTPException(503, DATABASE_UNAVAILABLE) from None


async def check_password(username: str, password: str) -> cl.User | None:
    settings = get_settings()
    if settings.supabase_url and settings.supabase_key:
        # Supabase Auth checks the password; our users table still decides who may sign in.
        try:
            email = await verify_supabase_password(
                url=settings.supabase_url,
                key=settings.supabase_key.get_secret_value(),
                email=username,
                password=password,
            )
        except ExternalServiceError as error:
            log.error("sign-in refused: %s", error)
            return None
        return await known_user(email, "supabase")
    async with sign_in_transaction() as conn:
        found = await password_hash_of(conn, email=username)
    # The connection goes back to the pool before the (slow, threaded) hash check, which an unknown
    # email also pays (against a dummy hash): the time taken does not tell who has an account.
    if not await password_matches(found[1] if found else None, password) or found is None:
        return None
    caller, password_hash = found
    async with sign_in_transaction() as conn:
        if password_needs_rehash(password_hash):
            await upgrade_password_hash(conn, caller=caller, password_hash=password_hash, password=password)
        version = await session_version(conn, user_id=caller.user_id)
    return chat_user(caller, "credentials", version)


async def header_auth(headers: Headers) -> cl.User | None:
    """Behind a trusted proxy that authenticates people and forwards their email in a header."""
    try:
        return await known_user(headers.get(get_settings().auth_header), "header")
    except DATABASE_DOWN:
        raise HTTPException(503, DATABASE_UNAVAILABLE) from None


async def oauth_auth(
    provider_id: str,
    token: str,
    raw_user_data: dict[str, str],
    default_user: cl.User,
    id_token: str | None = None,
) -> cl.User | None:
    return await known_user(raw_user_data.get("email") or default_user.identifier, provider_id)


# One way to sign in, chosen by configuration (VIRALTRACKER_AUTH).
match get_settings().auth_mode:
    case "header":
        cl.header_auth_callback(header_auth)
    case "oauth":
        cl.oauth_callback(oauth_auth)
    case _:
        cl.password_auth_callback(password_auth)
# Chainlit's wrapper turns any exception into "wrong password" (401): ours must reach the browser
# as they are (429 with Retry-After, 503).
if chainlit_config.code.password_auth_callback is not None:
    chainlit_config.code.password_auth_callback = password_auth
if chainlit_config.code.header_auth_callback is not None:
    chainlit_config.code.header_auth_callback = header_auth

# Offline no model writes the answers: Chainlit's footer ("LLMs can make mistakes") would be untrue.
OFFLINE_FOOTER = (
    "Offline: answers come from your synced ad data, each naming its formula. /help lists the commands."
)
_chainlit_translation = chainlit_config.load_translation


def load_translation(language: str) -> dict[str, Any]:
    translation = _chainlit_translation(language)
    if is_offline() and isinstance(chat := translation.get("chat"), dict):
        chat["watermark"] = OFFLINE_FOOTER
    return translation


# Its config is a pydantic model without this field: set on the instance, as a method would be.
object.__setattr__(chainlit_config, "load_translation", load_translation)


async def current_session_version(user_id: UUID) -> int:
    async with sign_in_transaction() as conn:
        return await session_version(conn, user_id=user_id)


session_versions = SessionVersions(current_session_version)


@cl.on_logout
async def on_logout(request: Request, response: Response) -> Response | dict[str, bool]:
    """Logging out ends the session on the server too: every token issued to this person before
    now is refused from here on (their other browsers included)."""
    claims = token_claims(token) if (token := request_token(request.headers)) else None
    session = token_session(claims) if claims else None
    if session is not None:
        user_id, _ = session
        try:
            async with sign_in_transaction() as conn:
                await end_sessions(conn, user_id=user_id)
        except DATABASE_DOWN:
            # Not logged out on the server: say so, and keep the cookie (no half-done logout).
            return JSONResponse({"detail": DATABASE_UNAVAILABLE}, status_code=503)
        await sessions_ended(user_id)
    return {"success": True}


async def sessions_ended(user_id: UUID) -> None:
    """The person logged out (here, or on another app process: the feed hears it): their open chats
    in this process close, and their next request reads the new session version."""
    session_versions.forget(user_id)
    await close_sockets(chainlit_server.sio, user_id=user_id)


def current_caller() -> Caller:
    user = cl.user_session.get("user")
    assert user is not None, "chat without a signed-in user"
    return Caller(user_id=UUID(user.metadata["user_id"]), email=user.identifier)


# Questions a starter asks, for one brand each: the starters take the person's brands in turn.
STARTER_QUESTIONS = (
    ("Best hooks for {brand}", "which hooks worked best for {brand} in the last 30 days?"),
    ("Hook categories for {brand}", '/hook_analysis brand:"{brand}" days:90'),
    ("Worst ads by CPA for {brand}", "worst ads by cpa for {brand} last 14 days"),
    ("Landing page congruence for {brand}", '/congruence_summary brand:"{brand}"'),
)
MAX_STARTERS = 8


@cl.set_starters
async def starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    if user is None:
        return []
    db = await database()
    async with db.as_user(Caller(user_id=UUID(user.metadata["user_id"]), email=user.identifier)) as conn:
        names = [b.name for b in await visible_brands(conn)]
    if not names:
        # /brands with no brand answers with the setup checklist (who can create one, for a member).
        return [
            cl.Starter(label="Set up your first brand", message="/brands"),
            cl.Starter(label="What can you do?", message="/help"),
        ]
    count = min(max(len(STARTER_QUESTIONS), len(names)), MAX_STARTERS)
    picked = [(STARTER_QUESTIONS[i % len(STARTER_QUESTIONS)], names[i % len(names)]) for i in range(count)]
    return [
        cl.Starter(label=label.format(brand=brand), message=message.format(brand=brand))
        for (label, message), brand in picked
    ]


BRAND_SETTING = "brand"
BRAND_KEY = "vt_brand"
STATUS_MODE = "status"


def brand_picker(names: list[str], chosen: str | None) -> cl.ChatSettings:
    """The chat's brand picker (Chainlit's chat settings): what questions naming no brand are about."""
    inputs: list[InputWidget] = [
        Select(
            id=BRAND_SETTING,
            label="Brand",
            values=names,
            initial_index=names.index(chosen) if chosen in names else 0,
            description="Questions and commands that name no brand are about this one.",
        )
    ]
    return cl.ChatSettings(inputs)


def thread_brand() -> str | None:
    """The brand picked for this chat, or None. Kept in the session, which Chainlit keeps with the
    thread (a resumed chat has it again); the picker's own value may be one that was refused."""
    chosen = cl.user_session.get(BRAND_KEY)
    return chosen if isinstance(chosen, str) and chosen else None


async def offer_brands(caller: Caller) -> None:
    """The brand picker, on the brand this chat had (a resumed one) or the person's first brand."""
    db = await database()
    async with db.as_user(caller) as conn:
        names = [b.name for b in await visible_brands(conn)]
    # Chainlit restores both the session and the picker's last value with a resumed thread.
    kept = thread_brand() or cl.context.session.chat_settings.get(BRAND_SETTING)
    if names:
        await pick_brand(names, kept if isinstance(kept, str) else None)


async def pick_brand(names: list[str], chosen: str | None) -> None:
    """The picker shown on `chosen` (the first brand when it is not one of `names`), the thread's brand."""
    settings = await brand_picker(names, chosen).send()
    cl.user_session.set(BRAND_KEY, settings[BRAND_SETTING])


@cl.on_settings_update
async def on_settings_update(settings: dict[str, Any]) -> None:
    """A brand picked: checked against the person's brands (a socket can send anything)."""
    chosen = settings.get(BRAND_SETTING)
    caller = current_caller()
    db = await database()
    async with db.as_user(caller) as conn:
        names = [b.name for b in await visible_brands(conn)]
    if not isinstance(chosen, str) or chosen not in names:
        # Nothing changes: the picker goes back to the brand the chat had.
        if names:
            await pick_brand(names, thread_brand())
        await cl.context.emitter.send_toast(
            f"{chosen!s:.80} is not one of your brands: {', '.join(names) or 'none yet'}.", "error"
        )
        return
    cl.user_session.set(BRAND_KEY, chosen)
    await cl.context.emitter.send_toast(f"Questions that name no brand are now about {chosen}.", "success")
    await show_status(offline=is_offline(), unread=await unread_of(caller))


async def show_status(*, offline: bool, unread: int) -> None:
    """The chat's status, always in view beside the composer (a picker of one): offline, and unread
    notifications; refreshed when they change (its description names the chat's brand)."""
    await cl.context.emitter.set_modes([status_mode(offline=offline, unread=unread, brand=thread_brand())])


def status_mode(*, offline: bool, unread: int, brand: str | None) -> cl.Mode:
    # Short: Chainlit cuts a longer label off (the brand is in the description, and the ⚙ picker).
    parts = (["Offline"] if offline else []) + ([f"{unread} unread"] if unread else [])
    label = " · ".join(parts) or "Up to date"
    about = f"Questions that name no brand are about {brand} (change it with ⚙). " if brand else ""
    about += (
        "Running offline: slash commands and simple questions (type /help)."
        if offline
        else "Connected to the model."
    )
    if unread:
        about += f" {unread_notice(unread)}."
    return cl.Mode(
        id=STATUS_MODE,
        name="Status",
        options=[
            cl.ModeOption(
                id="status",
                name=label,
                description=about,
                icon="wifi-off" if offline else "bell",
                default=True,
            )
        ],
    )


@cl.on_chat_start
async def on_chat_start() -> None:
    cl.user_session.set(HISTORY_KEY, "")
    await send_commands()
    caller = current_caller()
    offline = is_offline()
    db = await database()
    # One transaction: the unread count (one indexed query), the brands (picker and offline example).
    async with db.as_user(caller) as conn:
        unread = await notifications.unread_count(conn, user_id=caller.user_id)
        names = [b.name for b in await visible_brands(conn)]
        checklist = await first_brand_checklist(conn, caller=caller, brief=True)
    if names:
        await pick_brand(names, None)
    await show_status(offline=offline, unread=unread)
    # Toasts, not messages: a message would hide the welcome screen and its starters.
    if offline:
        first = names[0] if names else "Acme Pets"
        await cl.context.emitter.send_toast(
            "Running offline. " + CANNOT_UNDERSTAND.format(brand=first), "info"
        )
    if checklist:
        await cl.context.emitter.send_toast(checklist, "info")
    if unread:
        await cl.context.emitter.send_toast(unread_notice(unread), "info")
    await listen_for_notifications(caller)


def unread_notice(unread: int) -> str:
    return f"You have {unread} unread notification{'' if unread == 1 else 's'} — /notifications"


async def listen_for_notifications(caller: Caller) -> None:
    """New notifications for this person show up in this chat while it is open."""
    (await notification_feed()).register(caller.user_id, cl.context.session.id)


@cl.on_chat_end
async def on_chat_end() -> None:
    if _feed is not None:
        _feed.unregister(cl.context.session.id)


async def send_commands() -> None:
    commands: list[Any] = [
        {"id": spec.name, "icon": "chart-bar", "description": spec.menu_description, "button": False}
        for spec in ordered_specs()
    ]
    commands.append(
        {"id": "help", "icon": "circle-help", "description": "List the commands, or one command's arguments"}
    )
    await cl.context.emitter.set_commands(commands)


@cl.on_chat_resume
async def on_chat_resume(thread: ThreadDict) -> None:
    """Restore the conversation context, so a follow-up in a resumed thread knows what came before."""
    stored = (thread.get("metadata") or {}).get(HISTORY_KEY)
    cl.user_session.set(HISTORY_KEY, stored if isinstance(stored, str) else "")
    cl.user_session.set(NAMED_KEY, True)
    await send_commands()
    caller = current_caller()
    await offer_brands(caller)
    await show_status(offline=is_offline(), unread=await unread_of(caller))
    await listen_for_notifications(caller)


def session_history() -> list[ModelMessage]:
    # The session holds the stored JSON, never live objects: Chainlit persists the session into the
    # thread's metadata on disconnect, and objects that are not JSON would overwrite it with nulls.
    stored = cl.user_session.get(HISTORY_KEY)
    return ModelMessagesTypeAdapter.validate_json(stored) if isinstance(stored, str) and stored else []


@cl.on_message
async def on_message(message: cl.Message) -> None:
    text = f"/{message.command} {message.content}".strip() if message.command else message.content
    # The thread is named after its first message as typed, command included ("/top_hooks brand:…").
    first = not cl.user_session.get(NAMED_KEY)
    cl.user_session.set(NAMED_KEY, True)
    await chat_turn(text, name=text[:80] if first else None)
    if first and message.command and not message.content.strip():
        # Chainlit began the thread with the chip's empty text, which the browser ignores (the thread
        # is neither listed nor opened): tell it again, now that the thread is named after the command.
        thread_id = cl.context.session.thread_id
        await cl.context.emitter.emit("first_interaction", {"interaction": text, "thread_id": thread_id})


@cl.action_callback(ACTION)
async def on_action(action: cl.Action) -> None:
    """A button under an answer: the command it names runs as the person signed in to this chat
    (never as anyone the payload names); the tool checks what they may do. A write's button runs
    its preview, whose Confirm runs it."""
    try:
        button = ActionButton.model_validate(action.payload)
    except ValidationError:
        await cl.Message(content="That button is out of date; nothing was changed.").send()
        return
    if button.once:
        await forget_once(action.forId)
    if button.command is None:
        await cl.Message(content="Cancelled: nothing was changed.").send()
        return
    await chat_turn(button.command)


async def chat_turn(text: str, *, name: str | None = None) -> None:
    """One turn of the conversation, typed or clicked; `name` names the thread. While the server is
    stopping, a new turn is not run, and one cancelled by the stop takes its partial answer back."""
    if running_turns.stopping:
        await cl.Message(content=NOT_RUN).send()
        return
    listener = ChainlitListener()
    with running_turns.track():
        try:
            db = await database()
            turn = await run_turn(
                db=db,
                caller=current_caller(),
                message=text,
                history=session_history(),
                model=configured_model(get_settings()),
                listener=listener,
                brand=thread_brand(),
                thread_id=cl.context.session.thread_id,
            )
            if any(call.tool == "notifications" for call in turn.tool_calls):  # it marks them read: recount
                await show_status(offline=is_offline(), unread=await unread_of(current_caller()))
            await listener.finish(turn)
            await save_history(storable_history(turn.messages), name=name)
        except asyncio.CancelledError:
            if running_turns.stopping:
                await hand_back(listener.answer, list(listener.steps.values()))
            raise


async def save_history(stored: str, *, name: str | None = None) -> None:
    """Keep the model's view of the conversation in the session and with the thread (for on_chat_resume)."""
    cl.user_session.set(HISTORY_KEY, stored)
    layer = get_data_layer()
    if layer is not None:
        await layer.update_thread(
            thread_id=cl.context.session.thread_id, name=name, metadata={HISTORY_KEY: stored}
        )


@cl.on_stop
async def on_stop() -> None:
    log.info("run stopped by %s", current_caller().email)
