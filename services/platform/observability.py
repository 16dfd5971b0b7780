"""Traces of agent runs, SQL and HTTP (Logfire), on when LOGFIRE_TOKEN is set; secrets scrubbed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from settings import Settings

# Attribute names whose values never leave the process (Logfire adds its own defaults to these).
SECRET_PATTERNS = (
    "access_token",
    "refresh_token",
    "token",
    "secret",
    "password",
    "api[-_]?key",
    "authorization",
    "request\\.jwt\\.claims",
)

_configured = False


def configure_tracing(settings: Settings, *, span_processors: Sequence[Any] = ()) -> bool:
    """Turn on tracing if a token is set (or processors are given, as tests do). Returns whether it is on."""
    global _configured
    token = settings.logfire_token.get_secret_value() if settings.logfire_token else None
    if _configured or (token is None and not span_processors):
        return _configured
    import logfire

    logfire.configure(
        token=token,
        send_to_logfire=token is not None,
        service_name="viraltracker",
        console=False,
        scrubbing=logfire.ScrubbingOptions(extra_patterns=list(SECRET_PATTERNS)),
        additional_span_processors=list(span_processors),
    )
    logfire.instrument_pydantic_ai()
    logfire.instrument_psycopg()
    logfire.instrument_httpx()
    _configured = True
    return True


def is_configured() -> bool:
    """Whether tracing is on in this process (background jobs open a span per attempt only then)."""
    return _configured
