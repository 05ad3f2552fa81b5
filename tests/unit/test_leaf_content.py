"""The leaf the server writes is the leaf the offline verifier rebuilds from the event as
the API shows it: one encoding (src/verifier/content.py), two sides."""

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from src.audits.ingest import _NEW_EVENT_COLUMNS, chain_rows
from src.audits.rendering import render_stored
from src.audits.schemas import EventIn
from src.events.models import events
from src.events.stored import chain_hash
from src.verifier.content import (
    EventMismatch,
    committed_hashes,
    es_number,
    leaf_of_event,
)
from tests.support.events import event

RECEIVED = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)


def written(**overrides: Any) -> tuple[dict[str, Any], bytes, bytes]:
    """(the event as the API shows it, its salt, its leaf data) for one event written now."""
    chained = chain_rows(
        "acme", 41, bytes(32), [EventIn.model_validate(event(**overrides))], RECEIVED
    )
    [row] = chained.rows
    shown = json.loads(render_stored(row))
    committed = json.loads(json.dumps(shown))  # as a client reads it
    leaf = row.leaf_data()  # the leaf as the server makes it, from the stored row
    assert leaf is not None
    assert row.hash == chain_hash(bytes(32), hashlib.sha256(leaf).digest())
    assert row.field_salt is not None
    return committed, row.field_salt, leaf


def test_the_shown_event_rebuilds_its_leaf() -> None:
    shown, salt, leaf = written()
    assert leaf_of_event(shown, salt, leaf) == leaf
    assert json.loads(leaf)["seq"] == 42
    assert json.loads(leaf)["tenant"] == "acme"


# Text an event can hold: no NUL (PostgreSQL refuses it), no lone surrogate (not UTF-8)
storable_text = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=5
)


@given(
    details=st.dictionaries(
        storable_text,
        st.one_of(
            storable_text,
            st.integers(-(2**60), 2**60),
            st.floats(allow_nan=False, allow_infinity=False),
            st.none(),
        ),
        max_size=4,
    ),
    name=st.none() | storable_text,
    # Scoped IPv6 addresses (`%zone`) are refused at ingest, so never stored.
    ip=st.none() | st.ip_addresses().map(str).filter(lambda text: "%" not in text),
)
def test_any_event_rebuilds_its_leaf(
    details: dict[str, Any], name: str | None, ip: str | None
) -> None:
    actor = None if name is None else {"id": "u", "type": "user", "name": name or None}
    shown, salt, leaf = written(details=details or None, actor=actor, ip_address=ip)
    assert leaf_of_event(shown, salt, leaf) == leaf


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("entity_id",), "repo_43"),
        (("action",), None),
        (("actor", "name"), "Mallory"),
        (("actor", "id"), "user_8"),
        (("ip_address",), "203.0.113.10"),
        (("user_agent",), "curl"),
        (("details", "reason"), "other"),
        (("received_at",), "2026-12-01T09:30:00.123457Z"),
        (("status",), "failure"),
        (("seq",), 43),
    ],
)
def test_any_changed_field_no_longer_matches(path: tuple[str, ...], value: object) -> None:
    shown, salt, leaf = written()
    target = shown
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert leaf_of_event(shown, salt, leaf) != leaf


def test_an_erased_event_is_checked_by_its_remaining_fields() -> None:
    shown, _salt, leaf = written()
    erased = {**shown, "actor": {**shown["actor"], "name": None}, "ip_address": None}
    erased.update(user_agent=None, details=None, erased_at="2026-12-02T00:00:00.000000Z")
    assert leaf_of_event(erased, None, leaf) == leaf
    assert committed_hashes(leaf)["details"] is not None
    with pytest.raises(EventMismatch, match="not erased"):
        leaf_of_event(shown, None, leaf)
    assert leaf_of_event({**erased, "entity_id": "other"}, None, leaf) != leaf


def test_a_settled_event_was_committed_as_pending() -> None:
    shown, salt, leaf = written(status="pending")
    settled = {**shown, "status": "success", "status_changed_at": "2026-12-02T00:00:00.000000Z"}
    assert leaf_of_event(settled, salt, leaf) == leaf


@pytest.mark.parametrize(
    "broken",
    [{"seq": "42"}, {"tenant": None}, {"actor": "u"}, {"details": [1]}, {"ip_address": "x"}],
)
def test_malformed_events_are_mismatches_not_crashes(broken: dict[str, Any]) -> None:
    shown, salt, leaf = written()
    with pytest.raises(EventMismatch):
        leaf_of_event({**shown, **broken}, salt, leaf)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_written_as_ecmascript_does(number: float) -> None:
    assert es_number(number) == rfc8785.dumps(number).decode()


def test_non_finite_numbers_are_not_json() -> None:
    with pytest.raises(ValueError, match="NaN"):
        es_number(math.inf)


def test_the_write_statement_sets_every_column_a_chained_row_has() -> None:
    """The one statement that inserts events sets every column of the table but those that
    PostgreSQL computes or later changes set (a new field cannot be left out)."""
    assert set(_NEW_EVENT_COLUMNS) <= set(events.c.keys())
    unset = set(events.c.keys()) - set(_NEW_EVENT_COLUMNS)  # PostgreSQL's, or set later
    assert unset == {"status_changed_at", "erased_at", "erased_hashes", "search_vector"}
