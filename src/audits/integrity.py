"""The hash chain: canonical digests, salted commitments to erasable fields, verification.

    digest(event) = SHA-256(canonical JSON of the event's committed content)
    hash          = SHA-256(prev_hash || digest),  prev_hash of seq 1 = 32 zero bytes

The committed content is every field the client sent plus tenant, seq, id and received_at.
Erasable fields (actor name, IP address, user agent, details) enter as SHA-256(salt || value)
with a random per-event salt; erasure keeps those hashes and destroys the salt and the values,
so an erased event still verifies and its hashes cannot be brute-forced back into the values.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from json.encoder import encode_basestring  # the C encoder json.dumps uses
from typing import Any

import rfc8785

from src.audits.constants import GENESIS_HASH

DIGEST_VERSION = 1


def format_timestamp(value: datetime) -> str:
    """The one textual form of a timestamp: UTC, microseconds, `Z` (as the API shows it)."""
    if value.tzinfo is UTC and value.year >= 1000:  # as read back from PostgreSQL: no convert
        return value.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
    utc = value.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad the year: keep the form digests were made with
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as the strftime above, several times faster (a verification hot path).
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


_FLAT_VALUE_TYPES = frozenset({str, int, bool, type(None)})


def canonical_json(value: Any) -> bytes:  # any JSON value
    """RFC 8785 (JSON Canonicalization Scheme) bytes of `value`.

    One extension: integers beyond +-2**53 are written as their exact digits (RFC 8785 covers
    only numbers an IEEE double holds exactly; PostgreSQL's jsonb keeps larger ones exactly).
    """
    if type(value) is dict and all(
        type(name) is str and name.isascii() and type(item) in _FLAT_VALUE_TYPES
        for name, item in value.items()
    ):
        # The common `details`: a flat object with ASCII names and no floats, for which the
        # C encoder with sorted keys writes exactly RFC 8785 (property-tested like the rest).
        return _flat_canonical_json(value)
    return _jcs(value).encode()


def _jcs(value: Any) -> str:  # any JSON value
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return rfc8785.dumps(value).decode()  # ECMAScript number formatting
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_jcs(item) for item in value) + "]"
    if isinstance(value, Mapping):
        # Members sorted by the UTF-16 code units of their names, as RFC 8785 says.
        members = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be"))
        return "{" + ",".join(f"{_jcs(name)}:{_jcs(item)}" for name, item in members) + "}"
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _flat_canonical_json(content: Mapping[str, str | int | None]) -> bytes:
    # For a flat object with ASCII member names and string, integer or null values, sorted
    # keys with no white space and raw UTF-8 is exactly RFC 8785 (a property test holds the two
    # equal; non-ASCII names would sort differently, by UTF-16 units). It is many times faster
    # than the general encoder, which matters on ingest and verification hot paths.
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _salted_sha256(salt: bytes, value: bytes) -> str:
    return hashlib.sha256(salt + value).hexdigest()


def erasable_hashes(
    salt: bytes,
    *,
    actor_name: str | None = None,
    ip_address: IPv4Address | IPv6Address | None = None,
    user_agent: str | None = None,
    details: Mapping[str, Any] | None = None,  # client JSON
) -> dict[str, str | None]:
    """SHA-256(salt || value) per erasable field, lower-case hex; None where there is no value.

    Text as UTF-8, the IP address as `str()` writes it, `details` as canonical JSON.
    """
    return {
        "actor_name": None if actor_name is None else _salted_sha256(salt, actor_name.encode()),
        "ip_address": None
        if ip_address is None
        else _salted_sha256(salt, str(ip_address).encode()),
        "user_agent": None if user_agent is None else _salted_sha256(salt, user_agent.encode()),
        "details": None if details is None else _salted_sha256(salt, canonical_json(details)),
    }


# The committed content's members in RFC 8785 order (their names are ASCII, so sorted by code
# unit is sorted by character), each `%s` a JSON value. Writing the object out this way gives the
# same bytes as encoding a dict of it with sorted keys, several times faster: verification and
# ingest hash every event through here. A property test holds it to `rfc8785` and the dict form.
_CONTENT_TEMPLATE = (
    '{"action":%s,"action_type":%s,"actor_id":%s,"actor_name_sha256":%s,"actor_type":%s,'
    '"details_sha256":%s,"entity_id":%s,"entity_type":%s,"id":%s,"ip_address_sha256":%s,'
    '"occurred_at":"%s","received_at":"%s","request_id":%s,"seq":%d,"status":%s,"tenant":%s,'
    '"user_agent_sha256":%s,"v":' + str(DIGEST_VERSION) + "}"
)


def _json_value(value: Any) -> str:  # str or None as stored; anything once tampered with
    if value is None:
        return "null"
    if type(value) is str:
        return encode_basestring(value)
    # Only a row edited in the database gets here (say, a number among `erased_hashes`): it is
    # encoded as the dict form would have, and cannot match the digest made of the original.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(slots=True)  # not frozen: built per event written and verified (see StoredEvent)
class CommittedContent:
    """Everything an event's digest covers, in the form it is hashed."""

    tenant: str
    seq: int
    id: str
    received_at: datetime
    action_type: str
    action: str | None
    entity_type: str
    entity_id: str
    actor_id: str | None
    actor_type: str | None
    status: str  # as first recorded (a pending event's later outcome is a separate event)
    occurred_at: datetime
    request_id: str | None
    hashes: Mapping[str, str | None]  # of the erasable fields

    def digest(self) -> bytes:
        """`digest(event)`: SHA-256 of the canonical JSON of the committed content."""
        hashes = self.hashes
        text = _CONTENT_TEMPLATE % (
            _json_value(self.action),
            _json_value(self.action_type),
            _json_value(self.actor_id),
            _json_value(hashes.get("actor_name")),
            _json_value(self.actor_type),
            _json_value(hashes.get("details")),
            _json_value(self.entity_id),
            _json_value(self.entity_type),
            _json_value(self.id),
            _json_value(hashes.get("ip_address")),
            format_timestamp(self.occurred_at),
            format_timestamp(self.received_at),
            _json_value(self.request_id),
            self.seq,
            _json_value(self.status),
            _json_value(self.tenant),
            _json_value(hashes.get("user_agent")),
        )
        return hashlib.sha256(text.encode()).digest()


def chain_hash(prev_hash: bytes, digest: bytes) -> bytes:
    return hashlib.sha256(prev_hash + digest).digest()


@dataclass(slots=True)  # not frozen: built per row verified, and frozen costs ten times more
class StoredEvent:
    """An event row as verification reads it back from the database, in column order."""

    tenant: str
    seq: int
    id: str
    received_at: datetime
    action_type: str
    action: str | None
    entity_type: str
    entity_id: str
    actor_id: str | None
    actor_type: str | None
    actor_name: str | None
    status: str
    status_changed_at: datetime | None
    occurred_at: datetime
    ip_address: IPv4Address | IPv6Address | None
    user_agent: str | None
    request_id: str | None
    details: Mapping[str, Any] | None  # client JSON
    field_salt: bytes | None
    erased_at: datetime | None
    erased_hashes: Mapping[str, str | None] | None
    hash: bytes
    prev_hash: bytes

    def field_hashes(self) -> Mapping[str, str | None] | None:
        """The erasable fields' hashes: kept ones once erased, else recomputed; None if neither."""
        if self.erased_at is not None:  # kept as a JSON object, unless edited in the database
            return self.erased_hashes if isinstance(self.erased_hashes, dict) else None
        if self.field_salt is None:
            return None
        return erasable_hashes(
            self.field_salt,
            actor_name=self.actor_name,
            ip_address=self.ip_address,
            user_agent=self.user_agent,
            details=self.details,
        )

    def committed(self) -> CommittedContent | None:
        """What the digest covered, recomputed from the stored row; None if it cannot be."""
        hashes = self.field_hashes()
        if hashes is None:
            return None
        # Only a pending event can change status, once; it was recorded as pending.
        recorded_status = "pending" if self.status_changed_at is not None else self.status
        return CommittedContent(
            tenant=self.tenant,
            seq=self.seq,
            id=self.id,
            received_at=self.received_at,
            action_type=self.action_type,
            action=self.action,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            actor_id=self.actor_id,
            actor_type=self.actor_type,
            status=recorded_status,
            occurred_at=self.occurred_at,
            request_id=self.request_id,
            hashes=hashes,
        )


@dataclass
class ChainVerifier:
    """Checks events fed in `seq` order: each recomputed hash, each link, no gaps."""

    expected_seq: int
    expected_prev_hash: bytes = GENESIS_HASH
    checked: int = 0
    first_invalid_seq: int | None = None
    reason: str | None = None

    def feed(self, event: StoredEvent) -> bool:
        """Check the next event; False (setting `first_invalid_seq`, `reason`) at a fault."""
        if self.first_invalid_seq is not None:
            return False
        if event.seq != self.expected_seq:
            return self._fail(
                self.expected_seq,
                f"seq {self.expected_seq} is missing (next stored is {event.seq})",
            )
        self.checked += 1
        if event.prev_hash != self.expected_prev_hash:
            return self._fail(event.seq, "prev_hash does not match the previous event's hash")
        committed = event.committed()
        if committed is None:
            return self._fail(event.seq, "the stored event lacks what its digest needs")
        if chain_hash(event.prev_hash, committed.digest()) != event.hash:
            return self._fail(event.seq, "the stored content does not match its hash")
        self.expected_seq += 1
        self.expected_prev_hash = event.hash
        return True

    def finish(self, head_seq: int, head_hash: bytes, last_seq: int) -> None:
        """After the last event of the range: the chain must reach as far as the head says."""
        if self.first_invalid_seq is not None:
            return
        if (
            last_seq == head_seq
            and self.expected_seq - 1 == head_seq
            and self.expected_prev_hash != head_hash
        ):
            self._fail(head_seq, "the newest event does not match the chain head")
        elif self.expected_seq <= last_seq:
            self._fail(self.expected_seq, f"seq {self.expected_seq} is missing")

    def _fail(self, seq: int, reason: str) -> bool:
        self.first_invalid_seq = seq
        self.reason = reason
        return False
