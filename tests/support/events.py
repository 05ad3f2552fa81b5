"""Audit event payloads for tests."""

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from src.audits.examples import EXAMPLE_EVENT_IN

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def event(**overrides: Any) -> dict[str, Any]:  # a JSON request body
    # The documented example, so every test also proves the published example is accepted.
    body: dict[str, Any] = copy.deepcopy(EXAMPLE_EVENT_IN)
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def at(minutes: int) -> str:
    """BASE_TIME plus some minutes, as RFC 3339."""
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
