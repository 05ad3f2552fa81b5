"""The one keyset pager every list uses, its opaque cursors, and keyset batches read ahead.

A list pages by a unique sort key (`Keyset`): a page is the rows strictly after the last
one seen, by a row comparison the key's index serves, however deep the page. A cursor is
`base64url(json) "." base64url(hmac)`: the JSON holds the last row's key, what the cursor is
for and what it is bound to (a tenant, an order); the HMAC (keyed by a server secret) makes
forging one, or using one with another listing, a 400.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Row, Select, cast, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from src.exceptions import DomainError

DEFAULT_PAGE_SIZE = 20  # a list's page size unless it asks for another
MAX_PAGE_SIZE = 50

ItemT = TypeVar("ItemT")
RowT = TypeVar("RowT")
PositionT = TypeVar("PositionT")

CursorValue = str | int | list[str] | None


class InvalidCursor(
    DomainError,
    status=400,
    code="invalid_cursor",
    title="Invalid Cursor",
    detail="The cursor is malformed, forged, or belongs to another query; start over without it.",
):
    pass


class Page(BaseModel, Generic[ItemT]):
    """One page of a list, newest first unless the route says otherwise."""

    items: list[ItemT] = Field(description="The items of this page.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; `null` on the last page."
    )
    limit: int = Field(description="The page size used.")


class CursorCodec:
    """Signs and verifies cursors with a key derived from a server secret."""

    def __init__(self, secret: bytes) -> None:
        # Domain separation: the same server secret also keys API-key hashes.
        self._key = hmac.new(secret, b"trailmark cursor v1", hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:16]

    def encode(self, kind: str, position: dict[str, CursorValue]) -> str:
        payload = json.dumps({"k": kind, "p": position}, separators=(",", ":"), sort_keys=True)
        raw = payload.encode()
        return f"{_b64(raw)}.{_b64(self._sign(raw))}"

    def decode(self, kind: str, cursor: str) -> dict[str, CursorValue]:
        """The position inside a cursor made by `encode(kind, ...)`; `InvalidCursor` otherwise."""
        body, _, signature = cursor.partition(".")
        try:
            raw = _unb64(body)
            given = _unb64(signature)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor() from exc
        if not hmac.compare_digest(given, self._sign(raw)):
            raise InvalidCursor()
        try:
            decoded = json.loads(raw)
        except ValueError as exc:  # only reachable with the server's own key
            raise InvalidCursor() from exc
        if (
            not isinstance(decoded, dict)
            or decoded.get("k") != kind
            or not isinstance(decoded.get("p"), dict)
        ):
            raise InvalidCursor()
        position: dict[str, CursorValue] = decoded["p"]
        return position


@dataclass(frozen=True, slots=True)
class Keyset:
    """How a list pages: its cursor's kind and its unique sort key, in sort order."""

    kind: str
    key: tuple[ColumnElement[Any], ...]

    def after(self, values: Sequence[object], descending: bool) -> ColumnElement[bool]:
        """Rows strictly after the row whose key is `values`, in sort order: one row
        comparison, which the key's index serves however deep the position."""
        last = self._position(values)
        return tuple_(*self.key) < last if descending else tuple_(*self.key) > last

    def up_to(self, values: Sequence[object], descending: bool) -> ColumnElement[bool]:
        """Rows up to and including the row whose key is `values`, in sort order."""
        last = self._position(values)
        return tuple_(*self.key) >= last if descending else tuple_(*self.key) <= last

    def _position(self, values: Sequence[object]) -> ColumnElement[Any]:
        return tuple_(
            *(
                cast(literal(value), column.type)
                for value, column in zip(values, self.key, strict=True)
            )
        )

    def order(self, descending: bool) -> list[ColumnElement[Any]]:
        return [column.desc() if descending else column.asc() for column in self.key]


def _cursor_text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


async def keyset_page(
    session: AsyncSession,
    query: Select[Any],
    *,
    keyset: Keyset,
    codec: CursorCodec,
    limit: int,
    cursor: str | None,
    descending: bool = True,
    bound_to: Mapping[str, str | None] | None = None,
) -> tuple[Sequence[Row[*tuple[Any, ...]]], str | None]:
    """One page of `query`'s rows and the next cursor; each row ends with the key's values.

    `bound_to` is what the cursor may only be used with (a tenant, an order): a cursor made
    for anything else is an `InvalidCursor`. Runs in a transaction of its own.
    """
    bound = dict(bound_to or {})
    if cursor is not None:
        position = codec.decode(keyset.kind, cursor)
        after = position.pop("after", None)
        if position != bound or not isinstance(after, list) or len(after) != len(keyset.key):
            raise InvalidCursor("The cursor belongs to another listing or sort order.")
        query = query.where(keyset.after(after, descending))
    async with session.begin():
        paged = query.add_columns(*keyset.key).order_by(*keyset.order(descending)).limit(limit + 1)
        rows = (await session.execute(paged)).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    after = [_cursor_text(value) for value in rows[-1][-len(keyset.key) :]]
    return rows, codec.encode(keyset.kind, {**bound, "after": after})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not text or len(text) > 4096:
        raise ValueError("empty or oversized cursor part")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # one spelling per cursor: no non-canonical (malleable) variants
        raise ValueError("non-canonical base64")
    return data


async def read_ahead(
    fetch: Callable[[PositionT | None], Awaitable[Sequence[RowT]]],
    position_of: Callable[[RowT], PositionT],
    batch_size: int,
) -> AsyncGenerator[Sequence[RowT], None]:
    """Every keyset batch in order, the next one fetched while the caller handles this one.

    `fetch(after)` returns up to `batch_size` rows after `after` (`None`: from the start); a
    shorter batch is the last. While the caller hashes or writes out one batch, PostgreSQL reads
    the next on another core, instead of each waiting for the other. Close the iterator
    (`contextlib.aclosing`) when leaving early: that cancels the read ahead.
    """
    pending: asyncio.Future[Sequence[RowT]] | None = asyncio.ensure_future(fetch(None))
    try:
        while pending is not None:
            rows = await pending
            pending = None
            if len(rows) >= batch_size:
                pending = asyncio.ensure_future(fetch(position_of(rows[-1])))
            if rows:
                yield rows
    finally:
        if pending is not None:
            pending.cancel()
