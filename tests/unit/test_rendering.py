"""The one event shape: `render` writes exactly what `EventOut` declares, compactly."""

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv4Address, IPv6Interface

import pytest

from src.audits.rendering import (
    CSV_COLUMNS,
    EVENT_COLUMN_NAMES,
    _dumps,
    as_dict,
    csv_rows,
    render,
)
from src.audits.schemas import EventOut

OCCURRED = datetime(2026, 11, 21, 9, 30, tzinfo=timezone(timedelta(hours=2)))
RECEIVED = datetime(2026, 11, 21, 7, 30, 0, 153042, tzinfo=UTC)


def columns(**overrides: object) -> list[object]:
    values: dict[str, object] = {
        "id": uuid.UUID("019aa7c3-1c2e-7d3f-9a4b-5c6d7e8f9a0b"),
        "tenant": "acme",
        "seq": 42,
        "action_type": "delete",
        "action": "repository.deleted",
        "entity_type": "repository",
        "entity_id": "repo_42",
        "actor_id": "user_7",
        "actor_type": "user",
        "actor_name": "Ada “Countess” Lovelace",
        "status": "success",
        "occurred_at": OCCURRED,
        "received_at": RECEIVED,
        "status_changed_at": None,
        "ip_address": IPv4Address("203.0.113.9"),
        "user_agent": "Mozilla/5.0",
        "request_id": "req-123",
        "details": {"reason": "cleanup", "n": [1, 2.5, None, True]},
        "hash": bytes(range(32)),
        "prev_hash": bytes(32),
        "erased_at": None,
        **overrides,
    }
    return [values[name] for name in EVENT_COLUMN_NAMES]


def test_render_is_eventout_json_compact_and_in_field_order() -> None:
    text = render(columns())
    EventOut.model_validate_json(text)  # every field of the declaration, of its type
    assert list(json.loads(text)) == list(EventOut.model_fields)  # and nothing else
    assert text == json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    body = json.loads(text)
    assert body["occurred_at"] == "2026-11-21T07:30:00.000000Z"  # UTC, microseconds, Z
    assert body["received_at"] == "2026-11-21T07:30:00.153042Z"
    assert body["hash"] == bytes(range(32)).hex()
    assert body["actor"] == {"id": "user_7", "type": "user", "name": "Ada “Countess” Lovelace"}


def test_render_handles_the_system_actor_erasure_and_an_ipv6_interface() -> None:
    erased = datetime(2026, 11, 22, tzinfo=UTC)
    body = json.loads(
        render(
            columns(
                actor_id=None,
                actor_type=None,
                actor_name=None,
                details=None,
                ip_address=IPv6Interface("2001:db8::1/128"),
                erased_at=erased,
            )
        )
    )
    assert body["actor"] is None
    assert body["details"] is None
    assert body["ip_address"] == "2001:db8::1"
    assert body["erased_at"] == "2026-11-22T00:00:00.000000Z"
    EventOut.model_validate(body)


def test_csv_has_a_column_per_field_with_the_actor_flattened() -> None:
    assert CSV_COLUMNS[:7] == (
        "id", "tenant", "seq", "action_type", "action", "entity_type", "entity_id"
    )  # fmt: skip
    assert CSV_COLUMNS[7:10] == ("actor.id", "actor.type", "actor.name")
    [line] = csv_rows([columns()]).splitlines()
    assert line.startswith("019aa7c3-1c2e-7d3f-9a4b-5c6d7e8f9a0b,acme,42,delete,")
    assert '"{""reason"":""cleanup"",""n"":[1,2.5,null,true]}"' in line


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"actor_id": None, "actor_type": None, "actor_name": None, "details": None},
        {"action": None, "actor_name": None, "user_agent": None, "request_id": None},
        {"entity_id": 'quote " backslash \\ tab \t nl \n bell \x07 é 漢 \u2028 \U0001f600'},
        {"details": {"deep": [{"x": "\u0000-free but \x1f"}], "big": 2**70, "f": 1e-7}},
    ],
)
def test_render_writes_what_the_json_encoder_would(overrides: dict[str, object]) -> None:
    values = columns(**overrides)
    assert render(values) == _dumps(as_dict(values))
    as_text = [
        str(value) if isinstance(value, uuid.UUID) else value for value in values
    ]  # an id as PostgreSQL hands it over
    assert render(as_text) == render(values)
