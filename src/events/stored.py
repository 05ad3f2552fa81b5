"""The stored event: the one declaration of an event's fields, and its committed content.

`StoredEvent` is an event row in column order. Each field says, besides its Python type, how
it is stored (`stored(...)`): its PostgreSQL type, whether a new event's insert sets it (the
rest change later: a status settling, an erasure) and whether the committed content holds it.
The table (models.py), the insert (audits/ingest.py), the committed content (below) and the
API's rendering (audits/rendering.py) are all derived from it: a new field is one line here.

    digest(event) = SHA-256(leaf data),  leaf data = the committed content (src/verifier/content.py)
    hash          = SHA-256(prev_hash || digest),  prev_hash of seq 1 = 32 zero bytes

Erasable fields (actor name, IP address, user agent, details) are committed as SHA-256(salt ||
value) with a random per-event salt; erasure keeps those hashes and destroys the salt and the
values, so an erased event still verifies and its hashes cannot be brute-forced back.
"""

import dataclasses
import hashlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from operator import attrgetter
from typing import Any, Literal

from src.verifier.bundle import GENESIS_HASH as GENESIS_HASH  # the chain's, as the verifier has it
from src.verifier.content import committed_content, erasable_hashes

SqlType = Literal["text", "bigint", "uuid", "timestamptz", "inet", "jsonb", "bytea"]


@dataclass(frozen=True, slots=True)
class Storage:
    """How one field of an event is stored and committed."""

    sql_type: SqlType
    size: int | None = None  # a bytea's fixed length
    written: bool = True  # set by a new event's insert (else only later: settling, erasure)
    committed: bool = False  # a member of the committed content, as it is
    erasable: bool = False  # committed as its salted hash; erasure destroys the value


def stored(
    sql_type: SqlType,
    *,
    size: int | None = None,
    written: bool = True,
    committed: bool = False,
    erasable: bool = False,
) -> dict[str, Storage]:
    """A field's metadata: how it is stored (see `Storage`)."""
    return {"storage": Storage(sql_type, size, written, committed, erasable)}


def format_timestamp(value: datetime) -> str:
    """The one textual form of a timestamp: UTC, microseconds, `Z` (as the API shows it)."""
    if value.tzinfo is UTC and value.year >= 1000:  # as read back from PostgreSQL: no convert
        return value.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
    utc = value.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad the year: keep the form digests were made with
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as the strftime above, several times faster (a verification hot path).
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def chain_hash(prev_hash: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev_hash + digest).digest()


@dataclass(slots=True)  # not frozen: built per row verified, and frozen costs ten times more
class StoredEvent:
    """An event row, in column order (its id as text, as PostgreSQL writes a UUID)."""

    tenant: str = field(metadata=stored("text", committed=True))
    seq: int = field(metadata=stored("bigint", committed=True))
    id: str = field(metadata=stored("uuid", committed=True))
    received_at: datetime = field(metadata=stored("timestamptz", committed=True))
    action_type: str = field(metadata=stored("text", committed=True))
    action: str | None = field(metadata=stored("text", committed=True))
    entity_type: str = field(metadata=stored("text", committed=True))
    entity_id: str = field(metadata=stored("text", committed=True))
    actor_id: str | None = field(metadata=stored("text", committed=True))
    actor_type: str | None = field(metadata=stored("text", committed=True))
    actor_name: str | None = field(metadata=stored("text", erasable=True))
    status: str = field(metadata=stored("text", committed=True))  # committed as first recorded
    status_changed_at: datetime | None = field(metadata=stored("timestamptz", written=False))
    occurred_at: datetime = field(metadata=stored("timestamptz", committed=True))
    ip_address: IPv4Address | IPv6Address | None = field(metadata=stored("inet", erasable=True))
    user_agent: str | None = field(metadata=stored("text", erasable=True))
    request_id: str | None = field(metadata=stored("text", committed=True))
    details: Mapping[str, Any] | None = field(metadata=stored("jsonb", erasable=True))  # any JSON
    # The salt of the erasable fields' hashes; destroyed on erasure, so the hashes left behind
    # cannot be brute-forced back into an IP address or a name.
    field_salt: bytes | None = field(metadata=stored("bytea", size=16))
    erased_at: datetime | None = field(metadata=stored("timestamptz", written=False))
    erased_hashes: Mapping[str, str | None] | None = field(metadata=stored("jsonb", written=False))
    hash: bytes = field(metadata=stored("bytea", size=32))
    prev_hash: bytes = field(metadata=stored("bytea", size=32))

    def field_hashes(self) -> Mapping[str, str | None] | None:
        """The erasable fields' hashes: kept ones once erased, else recomputed; None if neither."""
        if self.erased_at is not None:  # kept as a JSON object, unless edited in the database
            return self.erased_hashes if isinstance(self.erased_hashes, dict) else None
        if self.field_salt is None:
            return None
        try:
            return erasable_hashes(self.field_salt, **_erasable_values(self))
        except ValueError:  # an address column edited into a network: not what was hashed
            return None

    def leaf_data(self) -> bytes | None:
        """The committed content's bytes (the Merkle leaf), recomputed from the stored row;
        None if the row has lost what they need (it was edited in the database)."""
        hashes = self.field_hashes()
        if hashes is None:
            return None
        members = _committed_values(self)
        # Only a pending event can change status, once; it was recorded as pending.
        if self.status_changed_at is not None:
            members["status"] = "pending"
        return committed_content(**members, hashes=hashes)

    def digest(self) -> bytes | None:
        """`digest(event)`: SHA-256 of the leaf data."""
        leaf = self.leaf_data()
        return None if leaf is None else hashlib.sha256(leaf).digest()


@dataclass(frozen=True, slots=True)
class StoredField:
    """A field of `StoredEvent`, as the declaration gives it."""

    name: str
    storage: Storage
    nullable: bool


def _nullable(annotation: object) -> bool:
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    return union and type(None) in typing.get_args(annotation)


FIELDS: tuple[StoredField, ...] = tuple(
    StoredField(declared.name, declared.metadata["storage"], _nullable(declared.type))
    for declared in dataclasses.fields(StoredEvent)
)
FIELD_BY_NAME: dict[str, StoredField] = {each.name: each for each in FIELDS}
WRITTEN_FIELDS = tuple(each for each in FIELDS if each.storage.written)


_TO_TEXT: dict[SqlType, Callable[[Any], str]] = {"timestamptz": format_timestamp, "inet": str}


def _values(fields: tuple[StoredField, ...]) -> Callable[[StoredEvent], dict[str, Any]]:
    """A function giving these fields' values by name, as the committed content holds them:
    timestamps and addresses as text, the rest as stored. Every event written or verified
    goes through it: one C attribute getter, then only the values that need it converted."""
    names = tuple(declared.name for declared in fields)
    get = attrgetter(*names)
    converted = [
        (declared.name, _TO_TEXT[declared.storage.sql_type])
        for declared in fields
        if declared.storage.sql_type in _TO_TEXT
    ]

    def values(event: StoredEvent) -> dict[str, Any]:  # Any: each field's own type
        found = dict(zip(names, get(event), strict=True))
        for name, to_text in converted:
            if found[name] is not None:
                found[name] = to_text(found[name])
        return found

    return values


_committed_values = _values(tuple(each for each in FIELDS if each.storage.committed))
_erasable_values = _values(tuple(each for each in FIELDS if each.storage.erasable))
