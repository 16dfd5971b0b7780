"""Which model provider answers: one rule for the chat agent and the analysis jobs (classification).

The chat's model (`chat_model`) is built from `Settings` for Anthropic (`ANTHROPIC_API_KEY`,
`ANTHROPIC_BASE_URL`) and Gemini (`GEMINI_API_KEY`/`GOOGLE_API_KEY`, `GEMINI_BASE_URL`) on the real
`anthropic` / `google-genai` clients. Retries are ours, not the SDKs' (Anthropic's `max_retries=0`,
no google-genai `retry_options`): one transport below the SDK retries a 429 / 529 / 5xx answer the
same way for both providers, after its Retry-After, and only while a person would still wait.
"""

from __future__ import annotations

import httpx2
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelAuthenticationError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelUnavailableError,
)
from pydantic_ai.models import AbstractModel, Model
from pydantic_ai.settings import ModelSettings

from services.retry_after import retry_after_seconds
from services.retrying import Backoff, GaveUp, RetryPolicy
from settings import Settings

DEFAULT_ANTHROPIC_MODEL = "anthropic:claude-sonnet-4-6"
DEFAULT_GEMINI_MODEL = "google:gemini-2.5-flash"

RETRYABLE = frozenset({429, 500, 502, 503, 504, 529})
CHAT_ATTEMPTS = 3
"""Calls per model request in a chat turn: the first and up to two retries."""
CHAT_MAX_WAIT = 20.0
"""Seconds: a Retry-After longer than this is not waited for (a person is watching); the turn says so."""
BACKOFF_SECONDS = 1.0
"""First wait when a retryable answer names no Retry-After; doubles per attempt (with jitter)."""
CHAT_TIMEOUT = httpx2.Timeout(120.0, connect=5.0)

ANSWER_TOKENS = {"claude": 4096, "gemini-2.5-flash": 8192, "gemini-2.5-pro": 16384}
"""`max_tokens` per model family (the first key the model's name starts with): a chat answer is a few
paragraphs and its tool calls (~1,000 tokens); Gemini 2.5 counts its thinking in the same budget."""
DEFAULT_ANSWER_TOKENS = 4096


def configured_model(settings: Settings) -> str | None:
    """`VIRALTRACKER_MODEL`, else Anthropic if its key is set, else Gemini, else None (offline)."""
    name = (settings.viraltracker_model or "").strip()
    if name == "offline":
        return None
    if name:
        # `google-gla:` is the older spelling of Pydantic-AI's `google:` (the Gemini API with a key).
        return "google:" + name.removeprefix("google-gla:") if name.startswith("google-gla:") else name
    if settings.anthropic_api_key:
        return DEFAULT_ANTHROPIC_MODEL
    if settings.gemini_api_key or settings.google_api_key:
        return DEFAULT_GEMINI_MODEL
    return None


class _Retryable(Exception):
    def __init__(self, response: httpx2.Response) -> None:
        self.response = response


# Not pydantic_ai.retries' transport: it closes the last answer (the SDK must read its error) and
# waits a capped time for a long Retry-After where a person is better told at once.
class RetryingTransport(httpx2.AsyncBaseTransport):
    """Retries a 429 / overloaded / 5xx answer before the SDK sees it: after its Retry-After (else 1 s
    doubling, jittered), at most `attempts` calls, never waiting longer than `max_wait` at once. The
    last answer (or one asking for a longer wait) goes to the SDK, which raises its usual error."""

    def __init__(
        self,
        wrapped: httpx2.AsyncBaseTransport | None = None,
        *,
        attempts: int = CHAT_ATTEMPTS,
        max_wait: float = CHAT_MAX_WAIT,
    ) -> None:
        self.wrapped = wrapped or httpx2.AsyncHTTPTransport()
        self.attempts = attempts
        self.max_wait = max_wait

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        policy = RetryPolicy(
            attempts=self.attempts, longest_wait=self.max_wait, backoff=Backoff(first=BACKOFF_SECONDS)
        )
        answers: list[httpx2.Response] = []

        async def once() -> httpx2.Response:
            if answers:
                await answers[-1].aclose()  # the answer retried is dropped; only the last reaches the SDK
            response = await self.wrapped.handle_async_request(request)
            if response.status_code in RETRYABLE:
                answers.append(response)
                raise _Retryable(response)
            return response

        try:
            return await policy.run(
                once,
                retry_on=lambda error: isinstance(error, _Retryable),
                asked_wait=lambda error: (
                    retry_after_seconds(error.response.headers) if isinstance(error, _Retryable) else None
                ),
            )
        except GaveUp:
            return answers[-1]

    async def aclose(self) -> None:
        await self.wrapped.aclose()


_chat_models: dict[tuple[str, str | None, str | None], Model] = {}


def chat_model(settings: Settings) -> Model | str | None:
    """The chat agent's model: Anthropic or Gemini built on their SDKs with the settings' key and base URL
    and our retries; another `VIRALTRACKER_MODEL` name as is (Pydantic-AI builds it); None offline.
    Built once per configuration, so its HTTP connections are reused turn after turn."""
    name = configured_model(settings)
    if name is None:
        return None
    if name.startswith("anthropic:") and settings.anthropic_api_key is not None:
        key, base_url = settings.anthropic_api_key.get_secret_value(), settings.anthropic_base_url
    elif name.startswith("google:") and (secret := settings.gemini_api_key or settings.google_api_key):
        key, base_url = secret.get_secret_value(), settings.gemini_base_url
    else:
        return name
    cache_key = (name, key, base_url)
    if cache_key not in _chat_models:
        _chat_models[cache_key] = _build(name, key=key, base_url=base_url, transport=RetryingTransport())
    return _chat_models[cache_key]


def answer_settings(name: str) -> ModelSettings:
    """The chat model's settings: `max_tokens` for an answer, and prompt caching of the stable prefix
    (tool definitions, static instructions) and the conversation where the provider takes it (Anthropic;
    Gemini 2.5 caches a repeated prefix by itself)."""
    bare = name.split(":", 1)[-1]
    budget = next(
        (n for family, n in ANSWER_TOKENS.items() if bare.startswith(family)), DEFAULT_ANSWER_TOKENS
    )
    return ModelSettings(max_tokens=budget, cache=True)


def _build(
    name: str, *, key: str, base_url: str | None, transport: httpx2.AsyncBaseTransport | None
) -> Model:
    from pydantic_ai.models import create_async_httpx2_client

    http = create_async_httpx2_client(timeout=CHAT_TIMEOUT, transport=transport)
    if name.startswith("google:"):
        from pydantic_ai.models.google import GoogleModel
        from pydantic_ai.providers.google import GoogleProvider

        # No `retry_options`: google-genai then never retries; the transport does.
        google = GoogleProvider(api_key=key, base_url=base_url, http_client=http)
        return GoogleModel(name.removeprefix("google:"), provider=google, settings=answer_settings(name))
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AsyncAnthropic(api_key=key, base_url=base_url, http_client=http, max_retries=0)
    return AnthropicModel(
        name.removeprefix("anthropic:"),
        provider=AnthropicProvider(anthropic_client=client),
        settings=answer_settings(name),
    )


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


def reads_images(model: AbstractModel) -> bool:
    """Whether a tool should show this model images: a real provider's model that takes image input,
    not a scripted stand-in (the offline router, tests' `FunctionModel`, the MCP server's placeholder)."""
    from pydantic_ai.models.function import FunctionModel
    from pydantic_ai.models.test import TestModel
    from pydantic_ai.models.wrapper import WrapperModel

    while isinstance(model, WrapperModel):  # instrumentation wraps the model in use
        model = model.wrapped
    if not isinstance(model, Model) or isinstance(model, FunctionModel | TestModel):
        return False
    return bool(model.profile.get("supports_image_input", True))


def key_variable(model: Model | str | None) -> str:
    """The setting that holds the key of this model's provider."""
    system = model if isinstance(model, str) else getattr(model, "system", "")
    return "GEMINI_API_KEY (or GOOGLE_API_KEY)" if "google" in str(system) else "ANTHROPIC_API_KEY"


def provider_trouble(error: ModelAPIError, model: Model | str | None) -> str:
    """What a person reads when the model provider fails a turn (no status bodies, no stack traces)."""
    status = error.status_code if isinstance(error, ModelHTTPError) else None
    code = f"HTTP {status}" if status else (error.provider_error_type or "no status")
    provider = "Gemini" if "GEMINI" in key_variable(model) else "Claude"
    nothing = "Nothing was changed."
    if error.in_stream:  # the answer had started: not retried (its first words may be on screen)
        what = "it is overloaded" if isinstance(error, ModelUnavailableError) else f"an error ({code})"
        return f"{provider} stopped mid-answer: {what}. {nothing} Please ask again in a minute."
    if (
        isinstance(error, ModelAuthenticationError)
        or status in (401, 403)
        or "API key not valid" in str(error.body)
    ):
        return (
            f"The model provider refused our API key ({code}). Check {key_variable(model)} "
            f"and restart the app. {nothing}"
        )
    if isinstance(error, ModelRateLimitError) or status == 429:
        wait = f" It asked us to wait {error.retry_after:.0f} s." if error.retry_after else ""
        return f"{provider} is rate limiting us right now ({code}).{wait} {nothing} Try again in a minute."
    if isinstance(error, ModelUnavailableError) or status in RETRYABLE:
        return f"{provider} is overloaded right now ({code}, {CHAT_ATTEMPTS} tries). {nothing} Try again in a minute."
    if isinstance(error, ModelConnectionError):
        return f"We couldn't reach {provider} (a network problem or timeout). {nothing} Please try again."
    return f"{provider} refused the request ({code}). {nothing} The details are in the server log."
