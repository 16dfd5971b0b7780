"""Which model provider answers: one rule for the chat agent and the analysis jobs (classification)."""

from __future__ import annotations

from settings import Settings

DEFAULT_ANTHROPIC_MODEL = "anthropic:claude-sonnet-4-5"
DEFAULT_GEMINI_MODEL = "google-gla:gemini-2.5-flash"


def configured_model(settings: Settings) -> str | None:
    """`VIRALTRACKER_MODEL`, else Anthropic if its key is set, else Gemini, else None (offline)."""
    name = (settings.viraltracker_model or "").strip()
    if name:
        return None if name == "offline" else name
    if settings.anthropic_api_key:
        return DEFAULT_ANTHROPIC_MODEL
    if settings.gemini_api_key or settings.google_api_key:
        return DEFAULT_GEMINI_MODEL
    return None
