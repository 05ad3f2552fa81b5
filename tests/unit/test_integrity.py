"""The canonical digest and the chain, as pure functions."""

import dataclasses
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from ipaddress import IPv4Address
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from src.audits.integrity import ChainVerifier
from src.events.stored import GENESIS_HASH, StoredEvent, chain_hash, format_timestamp
from src.verifier.content import CONTENT_VERSION, canonical_json, erasable_hashes


def _flat_canonical_json(content: dict[str, Any]) -> bytes:
    """Sorted keys, no white space, raw UTF-8: RFC 8785 for flat ASCII-named objects."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_rfc8785(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(
    st.dictionaries(
        # The fast path serves the digest, whose member names are fixed ASCII field names
        # (code-point and UTF-16 order agree there); values are anything the client sent.
        st.text(alphabet=st.characters(max_codepoint=127)),
        st.one_of(st.none(), st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1), st.text()),
    )
)
def test_fast_flat_encoding_is_rfc8785(content: dict[str, Any]) -> None:
    assert _flat_canonical_json(content) == canonical_json(content) == rfc8785.dumps(content)


@given(st.integers())
def test_big_integers_keep_their_exact_digits(number: int) -> None:
    assert canonical_json({"n": number}) == f'{{"n":{number}}}'.encode()


@given(json_values)
def test_canonical_json_is_stable_when_read_back(value: Any) -> None:
    # What is stored and read back canonicalizes to the same bytes, so it verifies.
    assert canonical_json(json.loads(canonical_json(value))) == canonical_json(value)


def test_key_order_and_whitespace_do_not_matter() -> None:
    assert (
        canonical_json(json.loads('{"b": 1, "a": [1, 2]}'))
        == canonical_json({"a": [1, 2], "b": 1})
        == b'{"a":[1,2],"b":1}'
    )


def _content(seq: int = 1, **overrides: Any) -> StoredEvent:
    return _stored(seq, GENESIS_HASH, **({"id": str(uuid.UUID(int=1))} | overrides))


@pytest.mark.parametrize(
    "change",
    [
        {"tenant": "globex"},
        {"seq": 2},
        {"id": str(uuid.UUID(int=2))},
        {"received_at": datetime(2026, 11, 21, 9, 30, 0, 1, tzinfo=UTC)},
        {"action": "repository.deleted"},
        {"action_type": "delete"},
        {"entity_type": "repository"},
        {"entity_id": "repo_43"},
        {"actor_id": "user_7"},
        {"actor_type": "user"},
        {"occurred_at": datetime(2026, 11, 21, 9, 30, tzinfo=UTC)},
        {"status": "pending"},
        {"request_id": "r"},
        {"actor_name": "Eve"},
        {"ip_address": IPv4Address("203.0.113.9")},
        {"user_agent": "UA"},
        {"details": {"n": 2}},
        {"field_salt": b"t" * 16},
    ],
)
def test_every_committed_field_changes_the_digest(change: dict[str, Any]) -> None:
    assert _content(**change).digest() != _content().digest()


def test_the_same_instant_in_any_offset_has_one_digest() -> None:
    utc = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
    plus_two = utc.astimezone(timezone(timedelta(hours=2)))
    shifted = _content(occurred_at=plus_two, received_at=plus_two)
    assert shifted.digest() == _content(occurred_at=utc, received_at=utc).digest()
    assert format_timestamp(plus_two) == "2026-11-21T09:30:00.000000Z"


def test_field_hashes_are_salted() -> None:
    values: dict[str, Any] = {
        "actor_name": "Ada",
        "ip_address": "203.0.113.9",
        "user_agent": "UA",
        "details": {"k": "v"},
    }
    one = erasable_hashes(b"a" * 16, **values)
    two = erasable_hashes(b"b" * 16, **values)
    assert all(one[field] is not None and one[field] != two[field] for field in values)
    assert erasable_hashes(b"a" * 16, actor_name=None)["actor_name"] is None


def _stored(seq: int, prev: bytes, **overrides: Any) -> StoredEvent:
    salt = b"s" * 16
    fields: dict[str, Any] = {
        "tenant": "acme",
        "seq": seq,
        "id": str(uuid.UUID(int=seq)),
        "received_at": datetime(2026, 11, 21, tzinfo=UTC),
        "action_type": "other",
        "action": None,
        "entity_type": "t",
        "entity_id": f"e{seq}",
        "actor_id": None,
        "actor_type": None,
        "actor_name": None,
        "status": "success",
        "status_changed_at": None,
        "occurred_at": datetime(2026, 11, 21, tzinfo=UTC),
        "ip_address": None,
        "user_agent": None,
        "request_id": None,
        "details": {"n": seq},
        "field_salt": salt,
        "erased_at": None,
        "erased_hashes": None,
        "hash": b"",
        "prev_hash": prev,
    }
    fields.update(overrides)
    digest = StoredEvent(**fields).digest()
    assert digest is not None
    fields["hash"] = chain_hash(prev, digest)
    return StoredEvent(**fields)


def _chain(length: int) -> list[StoredEvent]:
    events, prev = [], bytes(32)
    for seq in range(1, length + 1):
        events.append(_stored(seq, prev))
        prev = events[-1].hash
    return events


def test_verifier_accepts_a_good_chain() -> None:
    verifier = ChainVerifier(expected_seq=1)
    assert all(verifier.feed(event) for event in _chain(5))
    verifier.finish(head_seq=5, head_hash=_chain(5)[-1].hash, last_seq=5)
    assert verifier.first_invalid_seq is None
    assert verifier.checked == 5


def test_verifier_names_a_gap_and_a_bad_head() -> None:
    events = _chain(5)
    verifier = ChainVerifier(expected_seq=1)
    for event in events[:2] + events[3:]:
        verifier.feed(event)
    assert verifier.first_invalid_seq == 3
    tail = ChainVerifier(expected_seq=1)
    for event in events:
        tail.feed(event)
    tail.finish(head_seq=5, head_hash=bytes(32), last_seq=5)
    assert tail.first_invalid_seq == 5


flat_ascii_objects = st.dictionaries(
    st.text(alphabet=st.characters(max_codepoint=127), max_size=8),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
        st.text(),
    ),
    max_size=6,
)


@given(flat_ascii_objects)
def test_the_flat_fast_path_is_rfc8785(value: dict[str, Any]) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.datetimes(timezones=st.just(UTC)))
def test_timestamps_keep_the_form_digests_were_made_with(moment: datetime) -> None:
    assert format_timestamp(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_digest_of_a_known_event_never_changes() -> None:
    """A golden vector: chains already stored must verify with every later version."""
    content = _stored(
        42,
        GENESIS_HASH,
        id="0193a1c2-7b3e-7c1d-9a2b-3c4d5e6f7a8b",
        received_at=datetime(2026, 11, 21, 9, 30, 0, 123456, tzinfo=UTC),
        action_type="delete",
        action="repository.deleted",
        entity_type="repository",
        entity_id='repo "42"\n\u00e9',
        actor_id="user_7",
        actor_type="user",
        actor_name="Ada Lovelace",
        # Settled since: committed as first recorded, pending.
        status="failure",
        status_changed_at=datetime(2026, 11, 21, 9, 31, tzinfo=UTC),
        occurred_at=datetime(2026, 11, 21, 11, 29, 59, tzinfo=timezone(timedelta(hours=2))),
        ip_address=IPv4Address("203.0.113.9"),
        user_agent="Mozilla/5.0",
        request_id=None,
        details={"reason": "cleanup", "nested": {"\u00e9": [1, 2.5, None, True]}},
        field_salt=bytes(range(16)),
    )
    hashes = content.field_hashes()
    assert hashes is not None
    assert hashes["details"] == "a143e2685a1b3061a5717c967c39e03c7a9c16a59acc18e7ea8d7abe1b87f39b"
    assert content.digest() == bytes.fromhex(
        "7d87bee9ac5ddf499e7beeafc045063c64249cb05b7981563129a86b41499437"
    )
    assert content.hash.hex() == (
        "531f9d9ab511adcc54bdfa30b72c9ec70b545bb6983c7c1081deacad7feba6eb"
    )


optional_text = st.none() | st.text()
hex_hashes = st.none() | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
moments = st.datetimes(
    min_value=datetime(1, 1, 1), timezones=st.just(UTC) | st.just(timezone(timedelta(hours=-7)))
)


@given(
    tenant=st.text(),
    seq=st.integers(min_value=1, max_value=2**63 - 1),
    event_id=st.uuids(),
    received_at=moments,
    occurred_at=moments,
    texts=st.fixed_dictionaries(
        {
            "action_type": st.text(),
            "action": optional_text,
            "entity_type": st.text(),
            "entity_id": st.text(),
            "actor_id": optional_text,
            "actor_type": optional_text,
            "status": st.text(),
            "request_id": optional_text,
        }
    ),
    hashes=st.fixed_dictionaries(
        dict.fromkeys(("actor_name", "ip_address", "user_agent", "details"), hex_hashes)
    ),
)
def test_the_digest_is_sha256_of_the_rfc8785_content(
    tenant: str,
    seq: int,
    event_id: uuid.UUID,
    received_at: datetime,
    occurred_at: datetime,
    texts: dict[str, str | None],
    hashes: dict[str, str | None],
) -> None:
    """The written-out encoding is RFC 8785 of the content object, whatever the text holds.

    The event is an erased one, so the arbitrary hashes drawn are the ones it keeps."""
    content = _stored(
        seq,
        GENESIS_HASH,
        tenant=tenant,
        id=str(event_id),
        received_at=received_at,
        occurred_at=occurred_at,
        field_salt=None,
        details=None,
        erased_at=received_at,
        erased_hashes=hashes,
        **texts,
    )
    as_object: dict[str, Any] = {
        "v": CONTENT_VERSION,
        "tenant": tenant,
        "seq": seq,
        "id": str(event_id),
        "received_at": format_timestamp(received_at),
        "occurred_at": format_timestamp(occurred_at),
        **texts,
        **{f"{name}_sha256": value for name, value in hashes.items()},
    }
    assert content.digest() == hashlib.sha256(_flat_canonical_json(as_object)).digest()
    if seq < 2**53:  # rfc8785 stops at the doubles' exact integers; the dict form goes on
        assert content.digest() == hashlib.sha256(rfc8785.dumps(as_object)).digest()


@given(status=st.sampled_from(["success", "failure", "pending"]), settled=st.booleans())
def test_a_settled_event_is_verified_as_first_recorded(status: str, settled: bool) -> None:
    """Only a pending event can change status: once changed, it was committed as pending."""
    changed_at = datetime(2026, 11, 22, tzinfo=UTC) if settled else None
    event = _stored(1, bytes(32), status=status, status_changed_at=changed_at)
    leaf = event.leaf_data()
    assert leaf is not None
    assert json.loads(leaf)["status"] == ("pending" if settled else status)


@pytest.mark.parametrize(
    ("erased_hashes", "reason"),
    [
        (["not", "an", "object"], "the stored event lacks what its digest needs"),
        ({"details": 42, "actor_name": {"x": [1.5]}}, "the stored content does not match its hash"),
    ],
)
def test_erased_hashes_edited_in_the_database_fail_verification(
    erased_hashes: Any, reason: str
) -> None:
    """Whatever JSON the column is given, the verifier names the event instead of crashing."""
    good = _chain(1)[0]
    edited = dataclasses.replace(
        good, erased_at=datetime(2026, 11, 22, tzinfo=UTC), erased_hashes=erased_hashes
    )
    verifier = ChainVerifier(expected_seq=1)
    assert not verifier.feed(edited)
    assert (verifier.first_invalid_seq, verifier.reason) == (1, reason)
