"""The web server: our own ASGI app, with Chainlit mounted in it at the root (`mount_chainlit`).

Our routes come first, Chainlit answers every other path (its pages, API and socket.io):
* Connect Facebook: Meta's OAuth dialog sends the browser back to /meta/oauth/callback;
* Slack events (mention or DM the bot) at /slack/events (agent/slack.py);
* health for load balancers and supervisors: /healthz (the database answers) and /readyz (also the
  migrations and the embedded job worker), JSON, 503 when a check fails (services/platform/health.py);
and our doors sit in front of all of it (agent/web_security.py): CORS for our origins only, the
origin check of writes and of the chat's socket, sign-in tokens dropped after their logout.

`viraltracker chat` serves `web_app()` with uvicorn; app.py holds Chainlit's callbacks.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from uuid import UUID

import jwt as pyjwt
from chainlit.auth import decode_jwt, get_jwt_secret, get_token_from_cookies
from chainlit.config import config as chainlit_config
from chainlit.data import get_data_layer
from chainlit.utils import mount_chainlit
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse

import app
from agent import chainlit_tuning, stopping
from agent import slack as slack_bot
from agent.web_security import AllowedOrigins, WebSecurityMiddleware
from core.errors import UserFacingError
from db.pool import Caller
from jobs import worker as jobs_worker
from services.meta import oauth as meta_oauth
from services.meta.oauth import OAuthOutcome
from services.platform import health
from settings import get_settings

# Chainlit runs the file it mounts to register its callbacks: this one, which imports app.py once
# (as the tests do), so its callbacks and their state are the ones the tests and the server share.
CHAINLIT_TARGET = str(Path(__file__).resolve())


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """What Chainlit's own server does around its life (a mounted app's lifespan does not run)."""
    await app.startup()
    # SIGTERM lets the running turns finish (or hand back) while their sockets are still open.
    undo = stopping.drain_on_sigterm(stopping.running_turns, grace=get_settings().chat_stop_grace_seconds)
    try:
        yield
    finally:
        undo()
        await app.shutdown()
        if layer := get_data_layer():
            await layer.close()
        # As Chainlit does, the sessions' files go with the server: only this server's own.
        chainlit_tuning.remove_own_files_folder()


@cache
def web_app() -> FastAPI:
    """The app, built once per process (Chainlit's own app, mounted inside, is a module global)."""
    settings = get_settings()
    origins = AllowedOrigins(settings.web_origins())
    if chainlit_config.project.allow_origins:
        # Chainlit's CORS sits inside ours and would answer for origins ours refuses.
        raise RuntimeError(
            "Set allow_origins = [] in .chainlit/config.toml: VIRALTRACKER_ALLOWED_ORIGINS lists other origins"
        )
    # No docs pages of our own: those paths stay Chainlit's, as before it was mounted.
    web = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    web.add_api_route("/healthz", healthz, methods=["GET"])
    web.add_api_route("/readyz", readyz, methods=["GET"])
    web.add_api_route(meta_oauth.CALLBACK_PATH, meta_oauth_callback, methods=["GET"])
    # GET too, so a plain visit gets our 405 page rather than the chat page.
    web.add_api_route(meta_oauth.CHOOSE_PATH, meta_oauth_choose, methods=["GET", "POST"])
    slack_bot.mount(web.router, app.database)
    web.add_middleware(
        CORSMiddleware,
        allow_origins=origins.origins,
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )
    # Added last, so outermost: it sees every request first.
    web.add_middleware(
        WebSecurityMiddleware,
        origins=origins,
        sessions=app.session_versions,
        trust_proxy=settings.trust_proxy,
    )
    mount_chainlit(web, target=CHAINLIT_TARGET, path="/")
    return web


# -- health: for load balancers and supervisors -----------------------------------------------------


def _health_response(report: health.Health) -> JSONResponse:
    return JSONResponse(
        report.model_dump(mode="json"),
        status_code=200 if report.ok else 503,
        headers={"Cache-Control": "no-store"},
    )


async def healthz() -> JSONResponse:
    return _health_response(await health.liveness(open_db=app.database))


async def readyz() -> JSONResponse:
    report = await health.readiness(
        open_db=app.database,
        embedded_worker=jobs_worker.embedded_status(),
        stopping=len(stopping.running_turns) if stopping.running_turns.stopping else None,
        stalled_after=get_settings().jobs_stalled_seconds,
    )
    return _health_response(report)


# -- Connect Facebook: Meta's OAuth dialog sends the browser back here ---------------------------


def _page(title: str, body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:40rem;"
        "margin:4rem auto;padding:0 1rem;line-height:1.5}label{display:block;margin:.5rem 0}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>",
        status_code=status,
        # The callback's URL carries Meta's code: no caching, and no Referer to the chat link.
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", **(headers or {})},
    )


def _account_label(account: meta_oauth.AdAccountChoice) -> str:
    currency = f", {account.currency}" if account.currency else ""
    return html.escape(f"{account.name} ({account.id}{currency})")


def _confirm_page(outcome: OAuthOutcome) -> HTMLResponse:
    hidden = "".join(
        f"<input type='hidden' name='{name}' value='{html.escape(value)}'>"
        for name, value in (("state", outcome.state or ""), ("confirmation", outcome.confirmation or ""))
    )
    if len(outcome.accounts) == 1:
        [account] = outcome.accounts
        choice = (
            f"<p>Ad account: {_account_label(account)}</p>"
            f"<input type='hidden' name='account' value='{html.escape(account.id)}'>"
        )
    else:
        choice = "".join(
            f"<label><input type='radio' name='account' value='{html.escape(a.id)}' required> "
            f"{_account_label(a)}</label>"
            for a in outcome.accounts
        )
    brand = html.escape(outcome.brand or "")
    return _page(
        "Connect Facebook",
        f"<p>{html.escape(outcome.message)}</p>"
        f"<p>Brand: {brand}<br>Organization: {html.escape(outcome.organization or '')}</p>"
        f"<form method='post' action='{meta_oauth.CHOOSE_PATH}'>{hidden}{choice}"
        f"<button type='submit'>Link to {brand}</button></form>",
    )


def _outcome_page(outcome: OAuthOutcome) -> HTMLResponse:
    match outcome.status:
        case "confirm":
            return _confirm_page(outcome)
        case "linked":
            return _page("Facebook connected", f"<p>{html.escape(outcome.message)}</p>")
        case "not_yours":
            return _page("Facebook not connected", f"<p>{html.escape(outcome.message)}</p>", status=403)
        case _:
            return _page("Facebook not connected", f"<p>{html.escape(outcome.message)}</p>", status=400)


def _signed_in(request: Request) -> Caller | None:
    """The chat's signed-in person, from Chainlit's own session cookie; None without a valid one."""
    token = get_token_from_cookies(dict(request.cookies))
    if not token or not get_jwt_secret():
        return None
    try:
        user = decode_jwt(token)
        return Caller(user_id=UUID(str(user.metadata["user_id"])), email=user.identifier)
    except (pyjwt.InvalidTokenError, KeyError, TypeError, ValueError):
        return None


def _sign_in_first(again: str) -> HTMLResponse:
    chat = html.escape(get_settings().public_url.rstrip("/") + "/")
    return _page(
        "Sign in to the chat first",
        "<p>Only the person who asked for this link with /connect_meta can connect Facebook with it, signed"
        " in to the chat in this browser. Nothing was linked, and the link still works.</p>"
        f"<p><a href='{chat}'>Sign in to the chat</a>, then {again}</p>",
        status=401,
    )


async def meta_oauth_callback(request: Request) -> HTMLResponse:
    params = request.query_params
    if params.get("error"):
        reason = params.get("error_description") or params.get("error_reason") or params["error"]
        return _page("Facebook not connected", f"<p>{html.escape(reason)}. {meta_oauth.AGAIN}</p>", 400)
    caller = _signed_in(request)
    if caller is None:
        here = html.escape(request.url.path + ("?" + request.url.query if request.url.query else ""))
        return _sign_in_first(f"<a href='{here}'>open this link again</a>.")
    try:
        outcome = await meta_oauth.complete_connect(
            await app.database(), caller, state=params.get("state", ""), code=params.get("code", "")
        )
    except UserFacingError as error:
        outcome = OAuthOutcome(status="refused", message=error.message)
    return _outcome_page(outcome)


async def meta_oauth_choose(request: Request) -> HTMLResponse:
    if request.method != "POST":
        # Linking changes things: only the confirmation page's form may ask for it.
        return _page(
            "Facebook not connected",
            f"<p>Confirm the ad account with the button on the confirmation page. {meta_oauth.AGAIN}</p>",
            status=405,
            headers={"Allow": "POST"},
        )
    caller = _signed_in(request)
    if caller is None:
        return _sign_in_first("open the link /connect_meta gave you again.")
    form = await request.form()
    fields = {name: value if isinstance(value, str) else "" for name, value in form.items()}
    try:
        outcome = await meta_oauth.confirm_account(
            await app.database(),
            caller,
            state=fields.get("state", ""),
            account=fields.get("account", ""),
            confirmation=fields.get("confirmation", ""),
        )
    except UserFacingError as error:
        outcome = OAuthOutcome(status="refused", message=error.message)
    return _outcome_page(outcome)
