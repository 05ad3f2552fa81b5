"""Chain verification: recompute every hash in a `seq` range from the stored content."""

from collections.abc import Sequence
from contextlib import aclosing
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.audits.integrity import ChainVerifier
from src.audits.schemas import Verification
from src.auth.schemas import TenantAccess
from src.events.models import STORED_COLUMNS, ChainHead, events
from src.events.stored import GENESIS_HASH, StoredEvent
from src.log import verification as log_verification
from src.log.signing import LogIdentity
from src.log.verification import LeafCheck
from src.pagination import read_ahead

VERIFY_BATCH = 5000


async def verify(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    access: TenantAccess,
    from_seq: int | None,
    to_seq: int | None,
) -> Verification:
    """Recompute every hash in the range from stored content and check every link; check
    each event is its leaf in the log's tiles, and the latest checkpoint is their root."""
    head_seq, head_hash = 0, GENESIS_HASH
    if access.visible:
        async with session.begin():
            head = (
                await session.execute(
                    select(col(ChainHead.head_seq), col(ChainHead.head_hash)).where(
                        col(ChainHead.tenant) == access.tenant
                    )
                )
            ).first()
        if head is not None:
            head_seq, head_hash = int(head[0]), bytes(head[1])
    # A pruned chain starts at its signed anchor: nothing before it is left to check.
    origin = (
        await log_verification.chain_start(session, identity, access.tenant)
        if access.visible
        else log_verification.ChainStart(0, GENESIS_HASH)
    )
    start = max(from_seq or 1, origin.first_seq)
    end = min(to_seq if to_seq is not None else head_seq, head_seq)
    verifier = ChainVerifier(expected_seq=start)
    if origin.reason is not None:
        verifier.first_invalid_seq, verifier.reason = origin.first_seq, origin.reason
    # Another tenant's log is not this key's to see, not even its size: nothing is read.
    integrated = (
        await log_verification.integrated_size(session, access.tenant) if access.visible else 0
    )
    leaf_check = LeafCheck(access.tenant, integrated)
    bad_leaf: int | None = None
    if start <= end:
        async with session.begin():
            if start == origin.first_seq:
                verifier.expected_prev_hash = origin.prev_hash
            else:
                previous = await session.scalar(
                    select(events.c.hash).where(
                        events.c.tenant == access.tenant, events.c.seq == start - 1
                    )
                )
                verifier.expected_prev_hash = bytes(previous) if previous is not None else b""

        async def fetch(after: int | None) -> Sequence[Row[*tuple[Any, ...]]]:  # STORED_COLUMNS
            query = (
                select(*STORED_COLUMNS)
                .where(
                    events.c.tenant == access.tenant,
                    events.c.seq >= (start if after is None else after + 1),
                    events.c.seq <= end,
                )
                .order_by(events.c.seq)
                .limit(VERIFY_BATCH)
            )
            async with session.begin():
                rows = (await session.execute(query)).all()
                # The tiles to compare them with, in the same short transaction.
                await leaf_check.load(session, [int(row.seq) for row in rows])
            return rows

        batches = read_ahead(fetch, lambda row: int(row.seq), VERIFY_BATCH)
        async with aclosing(batches):
            async for rows in batches:
                leaves: list[tuple[int, bytes]] = []
                for row in rows:
                    if not verifier.feed(StoredEvent(*row)):
                        break
                    assert verifier.leaf_data is not None  # set by every successful feed
                    leaves.append((int(row.seq), verifier.leaf_data))
                bad_leaf = leaf_check.first_mismatch(leaves)
                if bad_leaf is not None or verifier.first_invalid_seq is not None:
                    break
        verifier.finish(head_seq=head_seq, head_hash=head_hash, last_seq=end)
    first_invalid, reason = verifier.first_invalid_seq, verifier.reason
    if bad_leaf is not None and (first_invalid is None or bad_leaf < first_invalid):
        first_invalid, reason = bad_leaf, "the event's committed content is not its leaf in the log"
    checkpoint = (
        await log_verification.check_latest_checkpoint(session, identity, access.tenant)
        if access.visible
        else log_verification.CheckpointCheck(size=0, root_hash=None, reason=None)
    )
    if first_invalid is None and reason is None and checkpoint.reason is not None:
        reason = checkpoint.reason
    return Verification(
        valid=first_invalid is None and reason is None,
        min_index=origin.min_index,
        checked=verifier.checked,
        first_invalid_seq=first_invalid,
        reason=reason,
        head_seq=head_seq,
        head_hash=head_hash.hex(),
        checkpoint_size=checkpoint.size,
        root_hash=checkpoint.root_hash,
    )


# What verification reads, in `StoredEvent`'s field order: the stored event without the search
# vector and other extras, its id as text (PostgreSQL writes a UUID as `str(uuid)` does).
