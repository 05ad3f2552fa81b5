"""The hash chain: each event's committed content, its digest and its link.

    digest(event) = SHA-256(leaf data),  leaf data = the committed content (src/verifier/content.py)
    hash          = SHA-256(prev_hash || digest),  prev_hash of seq 1 = 32 zero bytes

Erasable fields (actor name, IP address, user agent, details) are committed as SHA-256(salt ||
value) with a random per-event salt; erasure keeps those hashes and destroys the salt and the
values, so an erased event still verifies and its hashes cannot be brute-forced back.
"""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from src.audits.constants import GENESIS_HASH
from src.verifier.content import committed_content, erasable_hashes


def format_timestamp(value: datetime) -> str:
    """The one textual form of a timestamp: UTC, microseconds, `Z` (as the API shows it)."""
    if value.tzinfo is UTC and value.year >= 1000:  # as read back from PostgreSQL: no convert
        return value.isoformat(timespec="microseconds")[:-6] + "Z"  # drop "+00:00"
    utc = value.astimezone(UTC)
    if utc.year < 1000:  # strftime does not pad the year: keep the form digests were made with
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as the strftime above, several times faster (a verification hot path).
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


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

    def leaf_data(self) -> bytes:
        """The canonical JSON bytes of the committed content: the event's Merkle leaf."""
        return committed_content(
            tenant=self.tenant,
            seq=self.seq,
            id=self.id,
            received_at=format_timestamp(self.received_at),
            action_type=self.action_type,
            action=self.action,
            entity_type=self.entity_type,
            entity_id=self.entity_id,
            actor_id=self.actor_id,
            actor_type=self.actor_type,
            status=self.status,
            occurred_at=format_timestamp(self.occurred_at),
            request_id=self.request_id,
            hashes=self.hashes,
        )

    def digest(self) -> bytes:
        """`digest(event)`: SHA-256 of the leaf data."""
        return hashlib.sha256(self.leaf_data()).digest()


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
        try:
            return erasable_hashes(
                self.field_salt,
                actor_name=self.actor_name,
                ip_address=None if self.ip_address is None else str(self.ip_address),
                user_agent=self.user_agent,
                details=self.details,
            )
        except ValueError:  # an address column edited into a network: not what was hashed
            return None

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
    leaf_data: bytes | None = None  # the committed content of the event fed last

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
        self.leaf_data = committed.leaf_data()
        if chain_hash(event.prev_hash, hashlib.sha256(self.leaf_data).digest()) != event.hash:
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
