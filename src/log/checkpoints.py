"""Signing checkpoints: outside the write path, stored only by compare-and-set on the head.

A signer reads a tenant's integrated tree (size and right edge, committed together by the
writers), proves from the stored tiles that it extends the last signed tree, signs, then moves
`log_head` from the size it read to the new one. A signer that lost a race moves nothing and
stores nothing, and the primary key (tenant, size) would refuse a second checkpoint of one
size anyway: no process, race or restart can sign two different trees of one size.
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Row, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.audits.models import ChainHead
from src.log.models import LogCheckpoint, LogHead
from src.log.proofs import NodeReader, consistency_proof
from src.log.signing import LogIdentity
from src.verifier import merkle, note

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    size: int
    root_hash: bytes
    signed_at: datetime
    note: str


def checkpoint_note(identity: LogIdentity, tenant: str, size: int, root_hash: bytes) -> str:
    """The signed note of a checkpoint (Ed25519 is deterministic: one text per tree)."""
    body = note.format_checkpoint(
        note.Checkpoint(origin=identity.origin(tenant), size=size, root_hash=root_hash)
    )
    return identity.signer(tenant).sign(body)


async def start_log(session: AsyncSession, identity: LogIdentity, tenant: str) -> None:
    """Sign the empty tree as the tenant's first checkpoint, unless it has one."""
    await session.execute(
        pg_insert(LogCheckpoint)
        .values(
            tenant=tenant,
            size=0,
            root_hash=merkle.EMPTY_ROOT,
            signed_at=datetime.now(UTC),
            note=checkpoint_note(identity, tenant, 0, merkle.EMPTY_ROOT),
        )
        .on_conflict_do_nothing()
    )
    await session.execute(
        pg_insert(LogHead)
        .values(tenant=tenant, size=0, root_hash=merkle.EMPTY_ROOT)
        .on_conflict_do_nothing()
    )


async def tenants_to_sign(session: AsyncSession) -> list[str]:
    """Tenants whose integrated tree is bigger than their last checkpoint (or who have none)."""
    async with session.begin():
        rows = await session.execute(
            select(col(ChainHead.tenant))
            .outerjoin(LogHead, col(LogHead.tenant) == col(ChainHead.tenant))
            .where(col(LogHead.size).is_(None) | (col(ChainHead.tree_size) > col(LogHead.size)))
        )
        return [row[0] for row in rows]


# What a signer needs, in one round trip: the tenant's signing lock (one signer per tenant at
# a time; others skip it this round: the compare-and-set below is what makes racing safe,
# the lock only spares the losers their work), its integrated tree, its last checkpoint.
_READ_FOR_SIGNING = text(
    "SELECT pg_try_advisory_xact_lock(hashtext('trailmark.log.sign'), hashtext(:tenant)), "
    "h.tree_size, h.frontier, l.size, l.root_hash "
    "FROM chain_head h LEFT JOIN log_head l ON l.tenant = h.tenant WHERE h.tenant = :tenant"
)

# Compare-and-set the head from the size read to the new one, and store the checkpoint only
# if that moved it: one statement, so either both happen or neither does.
_MOVE_AND_STORE = text(
    "WITH moved AS (UPDATE log_head SET size = :size, root_hash = :root "
    "WHERE tenant = :tenant AND size = :last_size RETURNING tenant) "
    "INSERT INTO log_checkpoint (tenant, size, root_hash, signed_at, note) "
    "SELECT tenant, :size, :root, :signed_at, :note FROM moved RETURNING size"
)


async def sign(session: AsyncSession, identity: LogIdentity, tenant: str) -> int | None:
    """Sign the tenant's integrated tree if it grew; the new size, or None if nothing was."""
    async with session.begin():
        row = (await session.execute(_READ_FOR_SIGNING, {"tenant": tenant})).first()
        if row is None or not row[0]:
            return None  # no such tenant, or another process is signing it
        size, frontier = int(row[1]), bytes(row[2])
        if row[3] is None:  # the first checkpoint: the empty tree
            await start_log(session, identity, tenant)
            last_size, last_root = 0, merkle.EMPTY_ROOT
        else:
            last_size, last_root = int(row[3]), bytes(row[4])
        if size <= last_size:
            return None
        root = merkle.Frontier.from_bytes(size, frontier).root()
        if last_size > 0:
            proof = await consistency_proof(
                session, NodeReader(tenant), old_size=last_size, new_size=size
            )
            if not merkle.verify_consistency(
                old_size=last_size, new_size=size, proof=proof, old_root=last_root, new_root=root
            ):
                logger.error(
                    "refusing to sign: the tree does not extend the last checkpoint",
                    extra={"tenant": tenant, "size": size, "last_size": last_size},
                )
                return None
        stored = await session.scalar(
            _MOVE_AND_STORE,
            {
                "tenant": tenant,
                "size": size,
                "root": root,
                "last_size": last_size,
                "signed_at": datetime.now(UTC),
                "note": checkpoint_note(identity, tenant, size, root),
            },
        )
    return None if stored is None else size  # None: another signer moved the head first


_CHECKPOINT_COLUMNS = (
    col(LogCheckpoint.size),
    col(LogCheckpoint.root_hash),
    col(LogCheckpoint.signed_at),
    col(LogCheckpoint.note),
)


def _checkpoint(row: Row[int, bytes, datetime, str]) -> SignedCheckpoint:
    size, root_hash, signed_at, text_ = row
    return SignedCheckpoint(int(size), bytes(root_hash), signed_at, text_)


async def latest(session: AsyncSession, tenant: str) -> SignedCheckpoint | None:
    """The tenant's newest checkpoint (in the caller's transaction)."""
    row = (
        await session.execute(
            select(*_CHECKPOINT_COLUMNS)
            .where(col(LogCheckpoint.tenant) == tenant)
            .order_by(col(LogCheckpoint.size).desc())
            .limit(1)
        )
    ).first()
    return None if row is None else _checkpoint(row)


async def of_size(session: AsyncSession, tenant: str, size: int) -> SignedCheckpoint | None:
    """The tenant's checkpoint of exactly `size` leaves, if one was signed."""
    row = (
        await session.execute(
            select(*_CHECKPOINT_COLUMNS).where(
                col(LogCheckpoint.tenant) == tenant, col(LogCheckpoint.size) == size
            )
        )
    ).first()
    return None if row is None else _checkpoint(row)
