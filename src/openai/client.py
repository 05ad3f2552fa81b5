"""The app's one `AsyncOpenAI` client: made in the lifespan, injected, closed on shutdown."""

from openai import AsyncOpenAI

from src.config import Settings


def create_client(settings: Settings) -> AsyncOpenAI | None:
    """A client for the configured server, or `None` when no API key is set.

    The SDK's own retries are off: `service.complete` retries itself, so that it can honour
    `Retry-After` within a time budget, count attempts and record one ledger row per call.
    """
    if settings.openai_api_key is None:
        return None
    return AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout_seconds,
        max_retries=0,
    )
