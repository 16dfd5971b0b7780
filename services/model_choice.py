"""Which model provider answers: one rule for the chat agent and the analysis jobs (classification)."""

from __future__ import annotations

from pydantic_ai.models import Model

from settings import Settings

DEFAULT_ANTHROPIC_MODEL = "anthropic:claude-sonnet-4-6"
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


def analysis_model(settings: Settings) -> Model | str | None:
    """The configured model for analysis runs (scoring, classification), built with the settings' own
    Anthropic key and base URL (`ANTHROPIC_BASE_URL`) when it is Anthropic's; None offline."""
    name = configured_model(settings)
    if name is None or not name.startswith("anthropic:") or settings.anthropic_api_key is None:
        return name
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    provider = AnthropicProvider(
        api_key=settings.anthropic_api_key.get_secret_value(), base_url=settings.anthropic_base_url
    )
    return AnthropicModel(name.removeprefix("anthropic:"), provider=provider)


def model_name(model: Model | str) -> str:
    """How a run names its model in results: `anthropic:claude-sonnet-4-6`."""
    return model if isinstance(model, str) else f"{model.system}:{model.model_name}"
