"""Application settings, read once from the environment (and `.env`)."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024
DEVELOPMENT_PEPPER = "trailmark-development-pepper-change-me"


class Settings(BaseSettings):
    """Every setting Trailmark reads. The README's configuration table is checked against it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Literal["development", "test", "production"] = Field(
        default="development",
        description=(
            "Deployment environment. `production` refuses to start with the development "
            "`API_KEY_PEPPER`."
        ),
    )
    database_url: SecretStr | None = Field(
        default=None,
        description=(
            "PostgreSQL URL (`postgresql://user:pass@host:5432/db`). Unset: the start command "
            "runs an embedded PostgreSQL under `.data/` and sets it."
        ),
    )
    database_pool_size: int = Field(default=20, ge=1, description="Connections kept in the pool.")
    database_max_overflow: int = Field(
        default=0,
        ge=0,
        description="Extra connections allowed above the pool size, opened and closed per use "
        "(each costs a connect and type setup: under steady load, a bigger pool is cheaper).",
    )
    database_pool_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a free pooled connection."
    )
    database_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Seconds to wait when opening a database connection."
    )
    database_statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Server-side statement timeout (0 disables it)."
    )
    database_retry_after_seconds: int = Field(
        default=5, ge=1, description="`Retry-After` sent with 503 when the database is down."
    )

    workers: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes started by `python -m src.cli serve`. Unset: one per CPU.",
    )
    shutdown_drain_seconds: float = Field(
        default=5.0,
        ge=0,
        description="After SIGTERM, seconds a process keeps serving while `/readyz` answers 503, "
        "so load balancers stop sending it requests before it stops listening (0: none).",
    )
    shutdown_timeout_seconds: int = Field(
        default=30,
        gt=0,
        description="After draining, seconds in-flight requests may take to finish before they "
        "are cancelled.",
    )

    http_keep_alive_seconds: int = Field(
        default=5,
        ge=1,
        description="Seconds an idle HTTP/1.1 keep-alive connection stays open. Set it above the "
        "idle timeout of the load balancer or client pool in front, so the server never closes "
        "a connection at the moment a client reuses it (that request would get no answer).",
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Minimum level of JSON log lines written to stdout."
    )
    access_log: bool = Field(default=True, description="Write one JSON line per request.")

    docs_enabled: bool = Field(
        default=True, description="Serve `/docs`, `/redoc` and `/openapi.json`."
    )
    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed by CORS, as a JSON list. Empty: CORS is off.",
    )
    viewer_frame_ancestors: str = Field(
        default="'none'",
        min_length=1,
        max_length=2000,
        pattern=r"^[^;\r\n,]+$",
        description="Who may embed the viewer page in a frame: the CSP `frame-ancestors` "
        "sources, space-separated (e.g. `https://admin.example.com`); `'none'`: nobody.",
    )
    max_body_bytes: int = Field(
        default=1 * MIB, ge=1, description="Largest accepted request body, in bytes."
    )
    max_batch_body_bytes: int = Field(
        default=16 * MIB, ge=1, description="Largest accepted body for batch ingest, in bytes."
    )
    gzip_minimum_bytes: int = Field(
        default=1024, ge=0, description="Responses at least this large are gzip-compressed."
    )
    gzip_level: int = Field(
        default=3,
        ge=1,
        le=9,
        description="gzip compression level (1 fastest, 9 smallest). Audit JSON compresses "
        "well even at low levels, and a compressed export streams at the speed of this.",
    )

    api_key_pepper: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_PEPPER),
        description=(
            "Server-side secret mixed into API key hashes (HMAC-SHA-256). Set a long random "
            "value in production; changing it invalidates every key."
        ),
    )

    openai_api_key: SecretStr | None = Field(
        default=None,
        description=(
            "API key for OpenAI or a compatible server. Unset: the AI endpoints answer 503 "
            "`ai_not_configured` and everything else works."
        ),
    )
    openai_base_url: str | None = Field(
        default=None,
        description=(
            "Base URL of an OpenAI-compatible API (`http://127.0.0.1:8765/v1`). Unset: OpenAI."
        ),
    )
    openai_model: str = Field(
        default="gpt-4o-mini",
        min_length=1,
        description="Chat model used for questions and summaries (needs structured outputs).",
    )
    openai_timeout_seconds: float = Field(
        default=20.0, gt=0, description="Seconds one upstream call may take before it is retried."
    )
    openai_max_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="Retries after an upstream 429, 5xx, timeout or connection error.",
    )
    openai_retry_backoff_seconds: float = Field(
        default=0.5,
        gt=0,
        description="First retry delay; it doubles per retry (with jitter) unless the upstream "
        "sends `Retry-After`.",
    )
    openai_retry_budget_seconds: float = Field(
        default=10.0,
        ge=0,
        description=(
            "Most seconds one call may spend waiting between retries. A `Retry-After` longer "
            "than what is left is passed on to the client as a 503 at once."
        ),
    )
    openai_store_content: bool = Field(
        default=False,
        description="Keep prompts and model answers in the call ledger (they may hold "
        "personal data from events).",
    )
    openai_prices_per_million_tokens: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"gpt-4o-mini": (0.15, 0.6), "gpt-4o": (2.5, 10.0)},
        description=(
            "USD per million prompt and completion tokens by model, as JSON "
            '(`{"gpt-4o-mini": [0.15, 0.6]}`), for the usage report\'s cost estimate.'
        ),
    )
    log_origin: str = Field(
        default="trailmark.localhost",
        min_length=1,
        pattern=r"^[^\s+]+$",
        description="Prefix of every tenant's transparency-log origin (`<LOG_ORIGIN>/<tenant>`), "
        "which is also the name of its checkpoint signing key. No spaces or `+`.",
    )
    log_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 seed (base64 of 32 bytes) signing every checkpoint; make one with "
        "`python -m src.cli log keygen`. Unset in development: a key kept in "
        "`.data/log-signing-key` (made once). Production refuses to start without a key.",
    )
    log_signing_key_file: Path | None = Field(
        default=None,
        description="A file holding the `LOG_SIGNING_KEY` text, instead of the variable.",
    )
    log_checkpoint_interval: float = Field(
        default=1.0,
        gt=0,
        le=60,
        description="Seconds between checkpoint signings while the log grows (and between "
        "looks for events still to integrate).",
    )
    retention_interval_seconds: float = Field(
        default=60.0,
        ge=0,
        le=86400,
        description="Seconds between retention runs of each tenant in the background (each "
        "API process runs the job; one process works on a tenant at a time); 0 turns the "
        "background job off (`python -m src.cli retention run` still works).",
    )
    ai_summary_max_events: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="Most events one summary sends to the model (newest first).",
    )

    @field_validator("cors_allow_origins")
    @classmethod
    def _no_wildcard_with_credentials(cls, origins: list[str]) -> list[str]:
        # A wildcard would let any web page read audit data with a user's browser.
        if "*" in origins:
            raise ValueError("cors_allow_origins must list explicit origins, not '*'")
        return origins

    @model_validator(mode="after")
    def _production_needs_a_real_pepper(self) -> "Settings":
        if (
            self.environment == "production"
            and self.api_key_pepper.get_secret_value() == DEVELOPMENT_PEPPER
        ):
            raise ValueError("set API_KEY_PEPPER to a long random value in production")
        if self.log_signing_key is not None and self.log_signing_key_file is not None:
            raise ValueError("set LOG_SIGNING_KEY or LOG_SIGNING_KEY_FILE, not both")
        if (
            self.environment == "production"
            and self.log_signing_key is None
            and self.log_signing_key_file is None
        ):
            raise ValueError(
                "set LOG_SIGNING_KEY or LOG_SIGNING_KEY_FILE in production "
                "(`python -m src.cli log keygen` makes one)"
            )
        return self

    @property
    def async_database_url(self) -> str:
        """The database URL with the asyncpg driver SQLAlchemy needs."""
        if self.database_url is None:
            raise RuntimeError(
                "DATABASE_URL is not set: start Trailmark with `python3 tasks.py start`, "
                "which runs an embedded PostgreSQL, or point DATABASE_URL at a server."
            )
        return to_async_url(self.database_url.get_secret_value())


def to_async_url(url: str) -> str:
    """Rewrite `postgresql://` or `postgres://` URLs to the asyncpg dialect."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    raise ValueError("DATABASE_URL must be a postgresql:// URL")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def settings_reference() -> str:
    """The Markdown table of every setting (the README embeds it; a test keeps them equal)."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        if field.default_factory is not None:
            default: object = field.default_factory()  # type: ignore[call-arg]
        else:
            default = field.default
        if isinstance(default, SecretStr):
            shown = "(development value)"
        elif default is None:
            shown = "(unset)"
        else:
            shown = (
                f"`{json.dumps(default) if isinstance(default, list | dict | bool) else default}`"
            )
        rows.append(f"| `{name.upper()}` | {shown} | {field.description} |")
    return "\n".join(rows)
