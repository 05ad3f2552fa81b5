"""The one event shape: `render` writes exactly what `EventOut` declares, compactly."""

import json
import typing
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
    details_json,
    render,
    render_stored,
)
from src.audits.schemas import EventOut
from src.events.stored import FIELDS, StoredEvent

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
    assert '"{""n"":[1,2.5,null,true],""reason"":""cleanup""}"' in line  # as in the JSON


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
    details = as_dict(values)["details"]
    # Byte for byte but `details`, whose keys and numbers are as PostgreSQL writes them.
    assert render(values) == _dumps(as_dict(values) | {"details": None}).replace(
        '"details":null', f'"details":{details_json(details)}'
    )
    assert json.loads(render(values)) == json.loads(_dumps(as_dict(values)))
    as_text = [
        str(value) if isinstance(value, uuid.UUID) else value for value in values
    ]  # an id as PostgreSQL hands it over
    assert render(as_text) == render(values)


@pytest.mark.parametrize(
    ("details", "stored"),
    [
        (
            {"zeta": 1, "a": {"yy": None, "x": True}, "mid": "m"},
            '{"a":{"x":true,"yy":null},"mid":"m","zeta":1}',
        ),
        ({"é": 1, "z": 2, "ab": 3}, '{"z":2,"ab":3,"é":1}'),  # by length in bytes, then bytes
        ([1e-7, -1.5e-5, 1e16, 1.5e300, 100.0, 0.1, -0.0, 0.0, 2**70, -3], None),
        ('quote " backslash \\ nl \n bell \x07 \x7f 漢 \u2028', None),
    ],
)
def test_details_are_written_as_postgresql_writes_jsonb(
    details: object, stored: str | None
) -> None:
    """Keys in jsonb's order, numbers as `numeric` prints them (never an exponent, no -0)."""
    text = details_json(details)
    assert json.loads(text, parse_int=float) == details  # the same numbers
    if stored is not None:
        assert text == stored
    if isinstance(details, list):
        assert text == (
            "[0.0000001,-0.000015,10000000000000000,15" + "0" * 299
            + ",100.0,0.1,0.0,0.0,1180591620717411303424,-3]"
        )  # fmt: skip
    if isinstance(details, str):
        assert text == _dumps(details)


@pytest.mark.parametrize("number", [float("nan"), float("inf"), -float("inf")])
def test_details_refuse_what_json_cannot_hold(number: float) -> None:
    with pytest.raises(ValueError, match="is not a JSON number"):
        details_json({"x": number})


def test_the_api_shows_the_stored_fields_but_the_salt_and_the_kept_hashes() -> None:
    """`EventOut` shows stored columns only (the actor's three as one object), every one of
    them but the two that exist for the chain's sake, with the same nullability: a stored
    field added without a place in the API, or the other way round, fails here."""
    stored = {field.name: field for field in FIELDS}
    assert set(EVENT_COLUMN_NAMES) <= stored.keys()
    assert stored.keys() - set(EVENT_COLUMN_NAMES) == {"field_salt", "erased_hashes"}
    for name, shown in EventOut.model_fields.items():
        if name != "actor":
            assert (not shown.is_required() or None in _arms(shown.annotation)) == stored[
                name
            ].nullable, name
    assert stored["actor_id"].nullable  # no actor: `actor` is null


def _arms(annotation: object) -> tuple[object, ...]:
    arms = typing.get_args(annotation) or (annotation,)
    return tuple(None if arm is type(None) else arm for arm in arms)


def test_a_row_just_written_renders_as_its_columns_do() -> None:
    """`render_stored` takes a `StoredEvent` (ingest's rows) to the same text as its columns."""
    values = dict(
        zip(EVENT_COLUMN_NAMES, columns(id="019aa7c3-1c2e-7d3f-9a4b-5c6d7e8f9a0b"), strict=True)
    )
    event = StoredEvent(
        **{field.name: values.get(field.name) for field in FIELDS},
    )
    assert render_stored(event) == render(columns())
