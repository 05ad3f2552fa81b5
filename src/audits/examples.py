"""The documented examples: an event as a producer sends it and as the API returns it.

The OpenAPI document shows them, and the tests send `EXAMPLE_EVENT_IN` as their default
event, so the published example is always one the API accepts.
"""

from typing import Any

EXAMPLE_EVENT_IN: dict[str, Any] = {
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

EXAMPLE_EVENT_OUT: dict[str, Any] = {
    "id": "019aa7c3-1c2e-7d3f-9a4b-5c6d7e8f9a0b",
    "tenant": "acme",
    "seq": 42,
    **EXAMPLE_EVENT_IN,
    "occurred_at": "2026-11-21T09:30:00.000000Z",
    "received_at": "2026-11-21T09:30:00.153042Z",
    "status_changed_at": None,
    "hash": "9f2c" + "0" * 60,
    "prev_hash": "51ab" + "0" * 60,
    "erased_at": None,
}
