"""One way to call the Gemini API (`google-genai`): a client on httpx pointed at `GEMINI_BASE_URL` when
set, and calls retried on rate limits and overloads (429, 5xx) with Retry-After (or the error's
RetryInfo) honoured, bounded in attempts and in wait. A refused key is a `ConfigurationError` naming
the variable; other refusals and unreachable servers are `ExternalServiceError`s that say which."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx
from google import genai
from google.genai import errors, types

from core.errors import ConfigurationError, ExternalServiceError
from services.retry_after import retry_after_seconds
from services.retrying import Backoff, GaveUp, RetryPolicy

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_ATTEMPTS = 3
"""Calls per request: the first and up to two retries after a 429 / 5xx answer."""
MAX_RETRY_AFTER = 60.0
"""Seconds: a longer Retry-After fails the request instead of stalling the run."""
BACKOFF_SECONDS = 2.0
"""First wait when a retryable answer names no delay; doubles per attempt (with jitter)."""
RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def client(*, api_key: str, base_url: str | None, timeout_seconds: float) -> genai.Client:
    # An httpx transport makes the SDK use httpx, not its aiohttp session (a ClientSession subclass,
    # deprecated by aiohttp); no transport-level retries: `with_retries` decides.
    options = types.HttpOptions(
        base_url=base_url,
        timeout=int(timeout_seconds * 1000),
        async_client_args={"transport": httpx.AsyncHTTPTransport(retries=0)},
    )
    return genai.Client(api_key=api_key, vertexai=False, http_options=options)


async def with_retries(call: Callable[[], Awaitable[T]], *, name: str, key_variable: str, key_hint: str) -> T:
    """`call()`'s answer, retried as the module says. `name` is what the messages call the model;
    `key_hint` ends the refused-key message ("unset it to make offline previews")."""
    policy = RetryPolicy(
        attempts=MAX_ATTEMPTS, longest_wait=MAX_RETRY_AFTER, backoff=Backoff(first=BACKOFF_SECONDS)
    )
    try:
        return await policy.run(
            call,
            retry_on=lambda error: isinstance(error, errors.APIError) and error.code in RETRYABLE,
            asked_wait=lambda error: retry_after(error) if isinstance(error, errors.APIError) else None,
            on_retry=lambda error, wait: log.info(
                "%s answered %s; retrying in %.1f s", name, getattr(error, "code", "?"), wait
            ),
        )
    except GaveUp as gave_up:
        assert isinstance(gave_up.error, errors.APIError)
        if gave_up.wait is not None:
            raise ExternalServiceError(
                f"{name} is rate limited ({error_text(gave_up.error)}) and asked to wait {gave_up.wait:.0f} s;"
                " try again later."
            ) from None
        raise ExternalServiceError(
            f"{name} is unavailable ({error_text(gave_up.error)}); gave up after {gave_up.attempts} attempts."
        ) from None
    except errors.APIError as error:
        if refused_key(error):
            raise ConfigurationError(
                f"Gemini refused the API key in {key_variable} ({error_text(error)}): set a valid key,"
                f" or {key_hint}."
            ) from None
        raise ExternalServiceError(f"{name} refused the request ({error_text(error)}).") from None
    except (httpx.TransportError, TimeoutError) as error:
        raise ExternalServiceError(f"{name} could not be reached ({type(error).__name__}).") from None


def retry_after(error: errors.APIError) -> float | None:
    """Seconds the API asked to wait: the Retry-After header, else the error's RetryInfo detail."""
    wait = retry_after_seconds(getattr(error.response, "headers", None))
    if wait is not None:
        return wait
    details = error.details.get("error", {}).get("details") if isinstance(error.details, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def refused_key(error: errors.APIError) -> bool:
    # An invalid key is a 400 INVALID_ARGUMENT "API key not valid"; a key without access, 401/403.
    return error.code in (401, 403) or (error.code == 400 and "api key" in (error.message or "").lower())


def error_text(error: errors.APIError) -> str:
    return f"HTTP {error.code} {error.status or ''}: {error.message or ''}".replace(" :", ":").strip()
