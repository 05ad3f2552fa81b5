"""Audit event payloads for tests."""

from datetime import UTC, datetime, timedelta
from typing import Any

BASE_TIME = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def event(**overrides: Any) -> dict[str, Any]:  # a JSON request body
    body: dict[str, Any] = {
        "action_type": "delete",
        "action": "repository.deleted",
        "entity_type": "repository",
        "entity_id": "repo_42",
        "actor": {"id": "user_7", "type": "user", "name": "Ada Lovelace"},
        "status": "success",
        "occurred_at": "2026-11-21T09:30:00Z",
        "ip_address": "203.0.113.9",
        "user_agent": "Mozilla/5.0",
        "request_id": "req-123",
        "details": {"reason": "cleanup"},
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not ...}


def at(minutes: int) -> str:
    """BASE_TIME plus some minutes, as RFC 3339."""
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
