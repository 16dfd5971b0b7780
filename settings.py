"""The one place configuration is read from the environment."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything the app reads from the environment (or a `.env` file)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    viraltracker_home: Path = Field(
        default=Path.home() / ".viraltracker", validation_alias="VIRALTRACKER_HOME"
    )
    viraltracker_model: str | None = Field(default=None, validation_alias="VIRALTRACKER_MODEL")
    anthropic_api_key: SecretStr | None = Field(default=None, validation_alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str | None = Field(default=None, validation_alias="ANTHROPIC_BASE_URL")
    """Where the Anthropic Messages API is (default: Anthropic's own); tests point it at a local fake."""
    gemini_api_key: SecretStr | None = Field(default=None, validation_alias="GEMINI_API_KEY")
    google_api_key: SecretStr | None = Field(default=None, validation_alias="GOOGLE_API_KEY")
    gemini_base_url: str | None = Field(default=None, validation_alias="GEMINI_BASE_URL")
    """Where the Gemini API is (default: Google's own); tests point it at a local fake."""
    embeddings: Literal["auto", "local", "gemini"] = Field(
        default="auto", validation_alias="VIRALTRACKER_EMBEDDINGS"
    )
    """Pattern discovery's embeddings: auto = Gemini's when a Gemini/Google key is set, else the local
    MiniLM; local or gemini to choose."""
    gemini_embedding_model: str = Field(
        default="gemini-embedding-001", validation_alias="VIRALTRACKER_GEMINI_EMBEDDING_MODEL"
    )
    image_model: str = Field(default="gemini-2.5-flash-image", validation_alias="VIRALTRACKER_IMAGE_MODEL")
    """The Gemini image model ad runs generate with when a Gemini/Google key is set."""
    video_minutes_per_month: float = Field(
        default=600.0, ge=0, validation_alias="VIRALTRACKER_VIDEO_MINUTES_PER_MONTH"
    )
    """Minutes of video an organization's ads may have analysed by a model per calendar month (UTC),
    unless the organization has its own allowance (`organizations.video_minutes_per_month`)."""
    gemini_inline_video_max_bytes: int = Field(
        default=15 * 1024 * 1024, ge=0, validation_alias="VIRALTRACKER_GEMINI_INLINE_VIDEO_MAX_BYTES"
    )
    """Videos up to this size go to Gemini inline; larger ones through its Files API (requests max 20 MB)."""
    secret_key: SecretStr | None = Field(default=None, validation_alias="VIRALTRACKER_SECRET_KEY")
    pool_max_size: int = Field(default=10, validation_alias="VIRALTRACKER_POOL_MAX_SIZE")
    db_connect_timeout: int = Field(
        default=5, ge=2, le=60, validation_alias="VIRALTRACKER_DB_CONNECT_TIMEOUT"
    )
    """Seconds to wait for a new database connection before saying the database is unavailable."""
    logfire_token: SecretStr | None = Field(default=None, validation_alias="LOGFIRE_TOKEN")
    default_user: str | None = Field(default=None, validation_alias="VIRALTRACKER_USER")
    """Who `ask`, `shell` and `mcp` (stdio) run as without --user (their email); unset: the only user."""
    api_token: SecretStr | None = Field(default=None, validation_alias="VIRALTRACKER_TOKEN")
    """`viraltracker mcp` (stdio) runs as this token's person when no --user is given."""
    auth_mode: Literal["password", "header", "oauth"] = Field(
        default="password", validation_alias="VIRALTRACKER_AUTH"
    )
    """password: our users table (argon2); header: a trusted proxy's header; oauth: Chainlit's OAuth providers."""
    auth_header: str = Field(default="X-Forwarded-Email", validation_alias="VIRALTRACKER_AUTH_HEADER")
    chainlit_auth_secret: SecretStr | None = Field(default=None, validation_alias="CHAINLIT_AUTH_SECRET")
    supabase_url: str | None = Field(default=None, validation_alias="SUPABASE_URL")
    supabase_key: SecretStr | None = Field(default=None, validation_alias="SUPABASE_KEY")
    supabase_service_role_key: SecretStr | None = Field(
        default=None, validation_alias="SUPABASE_SERVICE_ROLE_KEY"
    )
    """For Supabase Storage: the app and its jobs write files with it (never sent to browsers)."""
    storage_bucket: str | None = Field(default=None, validation_alias="VIRALTRACKER_STORAGE_BUCKET")
    """A Supabase Storage bucket (public-read) for images and files; unset: `$VIRALTRACKER_HOME/assets`."""
    meta_system_user_token: SecretStr | None = Field(default=None, validation_alias="META_SYSTEM_USER_TOKEN")
    meta_app_id: str | None = Field(default=None, validation_alias="META_APP_ID")
    meta_app_secret: SecretStr | None = Field(default=None, validation_alias="META_APP_SECRET")
    meta_graph_url: str = Field(default="https://graph.facebook.com", validation_alias="META_GRAPH_URL")
    """Where the Graph API is; tests point it at a local fake."""
    meta_dialog_url: str = Field(default="https://www.facebook.com", validation_alias="META_DIALOG_URL")
    """Where people are sent to grant access (the OAuth dialog)."""
    public_url: str = Field(default="http://127.0.0.1:8000", validation_alias="VIRALTRACKER_PUBLIC_URL")
    """The app's address as people's browsers reach it: Meta redirects back to it after the dialog."""
    allowed_origins: str = Field(default="", validation_alias="VIRALTRACKER_ALLOWED_ORIGINS")
    """Other sites (comma-separated origins, e.g. `https://app.example.com`) whose pages may call this
    server with a person's cookie; the app's own origin (VIRALTRACKER_PUBLIC_URL) always may."""
    trust_proxy: bool = Field(default=False, validation_alias="VIRALTRACKER_TRUST_PROXY")
    """Behind a reverse proxy: the client's address is the last one it adds to X-Forwarded-For
    (sign-in throttling). Off: the connection's own address (X-Forwarded-For is anyone's to forge)."""
    meta_attribution_days: int = Field(default=7, validation_alias="META_ATTRIBUTION_DAYS")
    """Every sync fetches these last days again: Meta keeps revising them as conversions attribute."""
    jobs_database_url: str | None = Field(default=None, validation_alias="JOBS_DATABASE_URL")
    """Where job workers connect (they LISTEN: a direct or session-mode URL, not a transaction pooler);
    default: the app's database."""
    embedded_worker: bool = Field(default=True, validation_alias="VIRALTRACKER_EMBEDDED_WORKER")
    """With no DATABASE_URL, the chat app runs a light job worker itself (0 turns it off)."""
    chat_stop_grace_seconds: float = Field(
        default=25.0, ge=0, validation_alias="VIRALTRACKER_CHAT_STOP_GRACE_SECONDS"
    )
    """On SIGTERM the chat server lets running turns finish this long, then cancels them (and says so)."""
    jobs_stop_grace_seconds: float = Field(
        default=10.0, ge=0, validation_alias="VIRALTRACKER_JOBS_STOP_GRACE_SECONDS"
    )
    """On SIGTERM a worker lets running jobs finish this long, then interrupts them: they are queued again."""
    jobs_heartbeat_seconds: float = Field(
        default=10.0, validation_alias="VIRALTRACKER_JOBS_HEARTBEAT_SECONDS"
    )
    jobs_stalled_seconds: float = Field(default=60.0, validation_alias="VIRALTRACKER_JOBS_STALLED_SECONDS")
    """A worker silent this long is dead: its running jobs are queued again."""
    jobs_tick_seconds: float = Field(default=20.0, validation_alias="VIRALTRACKER_JOBS_TICK_SECONDS")
    """How often each worker enqueues due schedules and looks for stalled jobs."""
    jobs_poll_seconds: float = Field(default=1.0, validation_alias="VIRALTRACKER_JOBS_POLL_SECONDS")
    """Longest wait before a worker looks for work without a notification (retries after backoff)."""
    fetch_private_addresses: bool = Field(
        default=False, validation_alias="VIRALTRACKER_FETCH_PRIVATE_ADDRESSES"
    )
    """Fetches made on someone's behalf (landing pages, template import, ad media) may reach loopback and
    private addresses (local testing only: otherwise a person could make the server read its own network)."""
    reddit_base_url: str = Field(default="https://www.reddit.com", validation_alias="REDDIT_BASE_URL")
    """Where Reddit's public JSON is read from (/research_reddit); tests point it at a local fake."""
    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    """The Slack app's bot token (xoxb-…): posting answers and briefings to Slack."""
    slack_signing_secret: SecretStr | None = Field(default=None, validation_alias="SLACK_SIGNING_SECRET")
    """Checks that requests to /slack/events really come from Slack (with SLACK_BOT_TOKEN: the Slack bot)."""
    slack_api_url: str = Field(default="https://slack.com/api/", validation_alias="SLACK_API_URL")
    """Where the Slack Web API is; tests point it at a local fake."""

    @field_validator("allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for origin in (o.strip() for o in value.split(",") if o.strip()):
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise ValueError(f"'{origin}' is not an origin: write it as https://host or http://host:port")
        return value

    def web_origins(self) -> list[str]:
        """The origins allowed to call the server with a person's cookie: the app's own, then the others."""
        return [self.public_url, *(o.strip() for o in self.allowed_origins.split(",") if o.strip())]

    def auth_secret(self) -> str:
        """`CHAINLIT_AUTH_SECRET`, else one generated once and kept (owner-only) in `$VIRALTRACKER_HOME`."""
        if self.chainlit_auth_secret:
            return self.chainlit_auth_secret.get_secret_value()
        path = self.viraltracker_home / "chainlit_auth_secret"
        if not path.exists():
            self.viraltracker_home.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip()

    @property
    def pgdata(self) -> Path:
        return self.viraltracker_home / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.viraltracker_home / "viraltracker.log"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
