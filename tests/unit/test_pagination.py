"""Cursors: opaque, tamper-proof, and bound to the list they came from; keyset read-ahead."""

import asyncio
from contextlib import aclosing
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from src.pagination import CursorCodec, InvalidCursor, read_ahead

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


class TestReadAhead:
    """Keyset batches with the next one fetched while the caller handles the current one."""

    @staticmethod
    def source(total: int, batch: int) -> tuple[list[int | None], Any]:
        """Rows 1..total in batches; records every `after` asked for, and when."""
        asked: list[int | None] = []

        async def fetch(after: int | None) -> list[int]:
            asked.append(after)
            await asyncio.sleep(0)
            first = (after or 0) + 1
            return list(range(first, min(first + batch, total + 1)))

        return asked, fetch

    @pytest.mark.parametrize(("total", "batch"), [(0, 3), (2, 3), (3, 3), (7, 3), (9, 3)])
    async def test_every_row_once_in_order(self, total: int, batch: int) -> None:
        asked, fetch = self.source(total, batch)
        rows = [row async for rows in read_ahead(fetch, lambda row: row, batch) for row in rows]
        assert rows == list(range(1, total + 1))
        # A short batch is the last: only a full one (or a first, empty one) asks again.
        assert asked == [None, *range(batch, total + 1, batch)]

    async def test_the_next_batch_is_fetched_while_the_caller_works(self) -> None:
        asked, fetch = self.source(9, 3)
        batches = read_ahead(fetch, lambda row: row, 3)
        async with aclosing(batches):
            first = await anext(batches)
            await asyncio.sleep(0.01)  # the caller busy with the first batch
            assert first == [1, 2, 3]
            assert asked == [None, 3]  # the second batch is already asked for

    async def test_closing_early_cancels_the_fetch_ahead(self) -> None:
        started, cancelled = asyncio.Event(), asyncio.Event()

        async def fetch(after: int | None) -> list[int]:
            if after is None:
                return [1, 2]
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.set()
                raise
            raise AssertionError("not cancelled")

        batches = read_ahead(fetch, lambda row: row, 2)
        async with aclosing(batches):
            assert await anext(batches) == [1, 2]
            await asyncio.wait_for(started.wait(), timeout=5)
        await asyncio.wait_for(cancelled.wait(), timeout=5)
