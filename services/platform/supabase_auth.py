"""Sign-in against Supabase Auth (GoTrue) by email and password, through the official async client."""

from __future__ import annotations

import logging

import httpx
from pydantic import ValidationError
from supabase import AsyncClientOptions, AsyncSupabaseException, acreate_client
from supabase_auth import AsyncMemoryStorage
from supabase_auth.errors import AuthApiError, AuthError, AuthRetryableError

from core.errors import ExternalServiceError

log = logging.getLogger(__name__)

# Someone is waiting at the login form: fail in seconds, not minutes.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def verify_supabase_password(*, url: str, key: str, email: str, password: str) -> str | None:
    """The signed-in user's email, or None when Supabase Auth refuses these credentials.

    Raises ExternalServiceError when Supabase Auth cannot be reached, fails (5xx), rejects the API key
    or limits sign-ins. No session is kept: nothing is written to disk and nothing is refreshed later.
    """
    if not email.strip() or not password:
        return None  # the client would refuse to send these, with an error that is not the person's fault
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        options = AsyncClientOptions(
            auto_refresh_token=False, persist_session=False, storage=AsyncMemoryStorage(), httpx_client=http
        )
        try:
            client = await acreate_client(url, key, options)
            response = await client.auth.sign_in_with_password({"email": email, "password": password})
        except AuthRetryableError as e:  # connection failures, timeouts, 502/503/504 and 52x
            reason = e.message or type(e.__cause__).__name__
            raise ExternalServiceError(
                _scrub(f"Supabase Auth is unreachable: {reason}", key, password)
            ) from e
        except AuthApiError as e:
            if e.status >= 500:
                message = f"Supabase Auth is unreachable: HTTP {e.status} {e.message}"
                raise ExternalServiceError(_scrub(message, key, password)) from e
            if e.status == 401:
                raise ExternalServiceError(
                    "Supabase Auth refused the API key (HTTP 401). Check SUPABASE_KEY."
                ) from e
            if e.status == 429:
                raise ExternalServiceError(
                    "Supabase Auth is limiting sign-in attempts (HTTP 429). Try again in a minute."
                ) from e
            # invalid_credentials, email_not_confirmed, user_banned, validation_failed, …
            log.info("Supabase Auth refused a sign-in (HTTP %s, %s)", e.status, e.code)
            return None
        except AsyncSupabaseException as e:  # a malformed URL or an empty key, before any request
            raise ExternalServiceError(
                f"Supabase is misconfigured: {e.message}. Check SUPABASE_URL and SUPABASE_KEY."
            ) from e
        except (AuthError, ValidationError) as e:  # a body that is not GoTrue's (a proxy page, say)
            message = f"Supabase Auth gave an unexpected answer ({type(e).__name__}). Check SUPABASE_URL."
            raise ExternalServiceError(message) from e
    return response.user.email if response.user else None


def _scrub(message: str, *secrets: str) -> str:
    """The message with any secret blanked out (a server may echo what it was sent)."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
