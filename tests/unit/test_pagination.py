"""Cursors: opaque, tamper-proof, and bound to the list they came from."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.pagination import CursorCodec, InvalidCursor

codec = CursorCodec(b"server-secret")

positions = st.dictionaries(
    st.text(min_size=1, max_size=20),
    st.one_of(st.none(), st.integers(), st.text(max_size=50)),
    max_size=4,
)


@given(positions)
def test_round_trip(position: dict[str, str | int | None]) -> None:
    assert codec.decode("events", codec.encode("events", position)) == position


@given(positions, st.integers(min_value=0, max_value=200), st.characters())
def test_any_edit_is_refused(
    position: dict[str, str | int | None], index: int, replacement: str
) -> None:
    cursor = codec.encode("events", position)
    index %= len(cursor)
    edited = cursor[:index] + replacement + cursor[index + 1 :]
    if edited != cursor:
        with pytest.raises(InvalidCursor):
            codec.decode("events", edited)


@given(st.text(max_size=300))
def test_garbage_is_refused_not_crashed(garbage: str) -> None:
    with pytest.raises(InvalidCursor):
        codec.decode("events", garbage)


def test_cursor_of_another_list_is_refused() -> None:
    with pytest.raises(InvalidCursor):
        codec.decode("keys", codec.encode("events", {"id": "x"}))


def test_cursor_of_another_server_is_refused() -> None:
    other = CursorCodec(b"another-secret")
    with pytest.raises(InvalidCursor):
        codec.decode("events", other.encode("events", {"id": "x"}))


def test_non_canonical_spelling_is_refused() -> None:
    cursor = codec.encode("events", {"id": "x"})
    body, signature = cursor.split(".")
    # The last base64 character carries unused bits: flipping them decodes to the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = signature[:-1] + alphabet[last ^ 1]
    with pytest.raises(InvalidCursor):
        codec.decode("events", f"{body}.{twin}")
