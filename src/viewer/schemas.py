"""Minting a viewer token."""

from pydantic import BaseModel, Field

from src.audits.filters import FilterBody
from src.auth.schemas import TenantSlug
from src.schemas import UtcDatetime, with_examples
from src.viewer.constants import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, MIN_TTL_SECONDS


class ViewerFilter(FilterBody):
    """The token's fixed filter: the list filters (and `q`) of `GET /audits`, all must hold."""


class ViewerTokenCreate(BaseModel):
    model_config = with_examples(
        {
            "tenant": "acme",
            "ttl_seconds": 3600,
            "filter": {"actor_id": "user_7"},
            "can_export": False,
        },
        extra="forbid",
    )

    tenant: TenantSlug | None = Field(
        default=None, description="The tenant: required for admin keys; a tenant key's own."
    )
    ttl_seconds: int = Field(
        default=DEFAULT_TTL_SECONDS,
        ge=MIN_TTL_SECONDS,
        le=MAX_TTL_SECONDS,
        description="How long the token works, in seconds.",
    )
    filter: ViewerFilter = Field(
        default_factory=ViewerFilter,
        description="Every read the token makes sees only events matching this; the viewer "
        "can narrow it, never widen it.",
    )
    can_export: bool = Field(
        default=False,
        strict=True,  # `"can_export": 0` is a 422, not a guess
        description="Whether the viewer may export.",
    )


class ViewerTokenCreated(BaseModel):
    model_config = with_examples(
        {
            "token": "tmv_9f2c4e1a0b3d5c7e_q0ZK3mJc1bXy8Rr2wT4vU6nP5sA7dF9gH1jK3lM5nB0",
            "expires_at": "2026-12-01T13:00:00Z",
            "url": "http://127.0.0.1:8000/viewer#token=tmv_9f2c4e1a0b3d5c7e_q0ZK3mJc1bXy8Rr2wT4v",
        }
    )

    token: str = Field(description="The token, shown this once; stored only as a keyed hash.")
    expires_at: UtcDatetime
    url: str = Field(description="The viewer page with the token in its fragment.")
