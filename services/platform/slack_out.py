"""Posting to Slack: messages, updates and files through the Web API (slack_sdk's `AsyncWebClient`).

The Slack conversation (agent/slack.py) and pushed briefings both post through here, so every Slack
failure reads the same: what Slack said, in words, naming the channel. `SLACK_API_URL` points the
client elsewhere (tests: a local fake). The bot token is sent to Slack only: never logged or shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from core.errors import ExternalServiceError, UserFacingError
from settings import Settings

if TYPE_CHECKING:
    from slack_sdk.web.async_client import AsyncWebClient
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

T = TypeVar("T")


class SlackNotConfigured(UserFacingError):
    """No bot token: nothing can be posted to Slack."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Slack is not connected: set SLACK_BOT_TOKEN (the bot's xoxb- token from your Slack app's "
            "OAuth & Permissions page) and restart ViralTracker."
        )


class SlackError(ExternalServiceError):
    """Slack refused a call; `code` is Slack's own error code (e.g. `channel_not_found`)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code


def slack_configured(settings: Settings) -> bool:
    """A bot token is set (posting works); the events endpoint also needs SLACK_SIGNING_SECRET."""
    return settings.slack_bot_token is not None and bool(settings.slack_bot_token.get_secret_value())


def web_client(settings: Settings) -> AsyncWebClient:
    """The Web API client with the bot token, at `SLACK_API_URL`."""
    if not slack_configured(settings):
        raise SlackNotConfigured()
    assert settings.slack_bot_token is not None
    # slack_sdk's async client (and aiohttp) take ~0.2 s to import: only what posts to Slack pays it.
    from slack_sdk.http_retry.builtin_async_handlers import async_default_handlers
    from slack_sdk.web.async_client import AsyncWebClient

    from services.platform.slack_retries import RateLimits

    return AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[*async_default_handlers(), RateLimits()],
    )


def _where(channel: str) -> str:
    return f"the Slack channel {channel}"


def explain(code: str, channel: str | None = None) -> str:
    """Slack's error code as a sentence that says what to do."""
    where = _where(channel) if channel else "Slack"
    match code:
        case "channel_not_found":
            return (
                f"Slack could not find {where}: check the channel ID (or name) and that the bot can see "
                "it (private channels: invite the bot first)."
            )
        case "not_in_channel":
            return f"The ViralTracker bot is not a member of {where}: invite it there with /invite @bot."
        case "is_archived":
            return f"{where[0].upper()}{where[1:]} is archived: choose another channel."
        case "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" | "token_expired":
            return f"Slack refused the bot token ({code}): set a valid SLACK_BOT_TOKEN (xoxb-…) and restart."
        case "missing_scope":
            return (
                f"The Slack app lacks a permission it needs ({code}) for {where}: add the scopes listed in "
                "the README to the app and reinstall it."
            )
        case "ratelimited":
            return f"Slack kept rate-limiting posts to {where}; try again in a minute."
        case "msg_too_long":
            return f"The message was too long for {where}."
        case _:
            return f"Slack refused the call for {where}: {code}."


async def call(make: Callable[[], Awaitable[T]], *, channel: str | None = None, what: str = "call") -> T:
    """Runs one Web API call (429s are waited out by the client's `RateLimits`); Slack's errors become
    `SlackError` with a clear message naming the channel; transport failures too."""
    from slack_sdk.errors import SlackApiError, SlackClientError

    try:
        return await make()
    except SlackApiError as error:
        status = error.response.status_code
        code = str(error.response.get("error") or f"HTTP {status}")
        if status == 429 or code == "ratelimited":
            raise SlackError(explain("ratelimited", channel), code="ratelimited") from None
        raise SlackError(explain(code, channel), code=code) from None
    except SlackClientError as error:
        raise SlackError(f"Could not reach Slack for {what}: {error}", code="request_failed") from None
    except (OSError, TimeoutError) as error:
        raise SlackError(
            f"Could not reach Slack for {what} ({type(error).__name__}).", code="request_failed"
        ) from None


def _ts_of(response: AsyncSlackResponse) -> str:
    ts = response.get("ts")
    return str(ts) if ts else ""


async def post_message(
    settings: Settings,
    *,
    channel: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    thread_ts: str | None = None,
) -> str:
    """Posts `text` (the notification/fallback text) with optional Block Kit `blocks`; the message ts."""
    client = web_client(settings)
    response = await call(
        lambda: client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread_ts, unfurl_links=False
        ),
        channel=channel,
        what="message",
    )
    return _ts_of(response)


async def update_message(
    settings: Settings,
    *,
    channel: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
) -> None:
    """Replaces a message the bot posted (its text and blocks)."""
    client = web_client(settings)
    await call(
        lambda: client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks or []),
        channel=channel,
        what="message update",
    )


async def upload_file(
    settings: Settings,
    *,
    channel: str,
    filename: str,
    content: bytes,
    title: str,
    thread_ts: str | None = None,
) -> None:
    """Uploads a file (e.g. a chart's PNG) into the channel, in the thread when `thread_ts` is given."""
    client = web_client(settings)
    await call(
        lambda: client.files_upload_v2(
            channel=channel, filename=filename, content=content, title=title, thread_ts=thread_ts
        ),
        channel=channel,
        what="file upload",
    )
