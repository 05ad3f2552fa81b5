"""Calling the API the way most tests need: record events, read them back."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.events import event
from tests.support.paths import api_path


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    """Record one event (the documented example with `overrides`); the stored event."""
    response = await client.post(api_path("list_events"), headers=headers, json=event(**overrides))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def record(client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any) -> str:
    """Record one event; its id."""
    event_id: str = (await post(client, headers, **overrides))["id"]
    return event_id


async def post_many(
    client: httpx.AsyncClient, headers: dict[str, str], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Record any number of events through the batch route, in order; the stored events."""
    items: list[dict[str, Any]] = []
    for start in range(0, len(events), 1000):
        response = await client.post(
            api_path("record_batch"), headers=headers, json={"events": events[start : start + 1000]}
        )
        assert response.status_code == 201, response.text
        items.extend(response.json()["items"])
    return items


def ago(**delta: float) -> str:
    """Now minus `delta` (timedelta's arguments), as RFC 3339."""
    return (datetime.now(UTC) - timedelta(**delta)).isoformat().replace("+00:00", "Z")


async def all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    """Every event the list gives for `params`, following `next_cursor` to the end."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(api_path("list_events"), headers=headers, params=query)).json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
