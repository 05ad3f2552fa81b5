"""Verifying a tenant's hash chain: each stored event's recomputed hash, each link, no gaps.

The chain's rules (digest, link, genesis) are the stored event's: src/events/stored.py.
"""

import hashlib
from dataclasses import dataclass

from src.events.stored import GENESIS_HASH, StoredEvent, chain_hash


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
        self.leaf_data = event.leaf_data()
        if self.leaf_data is None:
            return self._fail(event.seq, "the stored event lacks what its digest needs")
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
