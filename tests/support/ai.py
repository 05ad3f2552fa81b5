"""Helpers of the AI tests: scripted model replies and apps with other settings."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from src.config import Settings
from src.main import create_app
from tests.support.clients import app_client

# The model's filter with nothing asked, as the model writes it: every field present.
EMPTY_FILTER: dict[str, Any] = {
    "action_types": [],
    "action": None,
    "entity_type": None,
    "entity_id": None,
    "actor_id": None,
    "status": None,
    "occurred_after": None,
    "occurred_before": None,
    "ip": None,
    "details": [],
    "text": [],
}


def scripted_filter(**fields: Any) -> dict[str, Any]:
    """A translation reply of the model: a mappable filter with these fields set."""
    return {"mappable": True, "filter": {**EMPTY_FILTER, **fields}}


@asynccontextmanager
async def variant_client(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another app on the same database, with some settings changed."""
    changed = Settings(_env_file=None, **{**settings.model_dump(), **changes})  # type: ignore[call-arg]  # validated again
    async with app_client(create_app(changed)) as http:
        yield http
