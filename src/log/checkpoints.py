"""Signing checkpoints: outside the write path, stored only by compare-and-set on the head.

A signer reads each tenant's integrated tree (size and right edge, committed together by the
writers), proves from the stored tiles that it extends the last signed tree, signs, then moves
`log_head` from the size it read to the new one; one round does every tenant in three
statements. A signer that lost a race moves nothing and
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

from src.log.models import LogCheckpoint, LogHead
from src.log.proofs import NodeReader, TileMissing, load_many
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


# Every tenant whose integrated tree outgrew its last checkpoint (or that has none yet), with
# its signing lock (one signer per tenant at a time; another process skips the tenant this
# round: the compare-and-set below is what makes racing safe, the lock only spares the losers
# their work), its integrated tree and its last checkpoint. One round trip for all tenants.
_TO_SIGN = text(
    "SELECT h.tenant, pg_try_advisory_xact_lock(hashtext('trailmark.log.sign'), "
    "hashtext(h.tenant)), h.tree_size, h.frontier, l.size, l.root_hash "
    "FROM chain_head h LEFT JOIN log_head l ON l.tenant = h.tenant "
    "WHERE l.size IS NULL OR h.tree_size > l.size"
)

# For every tenant signed: compare-and-set its head from the size read to the new one, and
# store the checkpoint only if that moved it. One statement, so for each tenant either both
# happen or neither does; it answers the (tenant, size) of the checkpoints stored.
_MOVE_AND_STORE = text(
    "WITH signed AS (SELECT * FROM unnest(CAST(:tenants AS text[]), CAST(:sizes AS bigint[]), "
    "CAST(:roots AS bytea[]), CAST(:last_sizes AS bigint[]), CAST(:notes AS text[])) "
    "AS s(tenant, size, root_hash, last_size, note)), "
    "moved AS (UPDATE log_head h SET size = s.size, root_hash = s.root_hash FROM signed s "
    "WHERE h.tenant = s.tenant AND h.size = s.last_size RETURNING h.tenant) "
    "INSERT INTO log_checkpoint (tenant, size, root_hash, signed_at, note) "
    "SELECT s.tenant, s.size, s.root_hash, :signed_at, s.note FROM signed s "
    "JOIN moved ON moved.tenant = s.tenant RETURNING tenant, size"
)


@dataclass(slots=True)
class _Growth:
    """A tenant's tree to sign: its new size and root, and the last signed ones."""

    tenant: str
    size: int
    root: bytes
    last_size: int
    last_root: bytes
    reader: NodeReader

    def ranges(self) -> list[tuple[int, int]]:
        return merkle.consistency_ranges(self.last_size, self.size)

    def nodes(self) -> list[tuple[int, int]]:
        """The perfect nodes the consistency proof is made of."""
        return [node for lo, hi in self.ranges() for node in merkle.perfect_nodes(lo, hi)]

    def extends_last(self) -> bool:
        """The stored tiles prove this tree extends the last signed one."""
        if self.last_size == 0:
            return True  # every tree extends the empty one
        try:
            proof = [self.reader.range_hash(lo, hi) for lo, hi in self.ranges()]
        except TileMissing:
            return False
        return merkle.verify_consistency(
            old_size=self.last_size,
            new_size=self.size,
            proof=proof,
            old_root=self.last_root,
            new_root=self.root,
        )


async def sign_round(session: AsyncSession, identity: LogIdentity) -> list[tuple[str, int]]:
    """Sign every tenant's tree that grew since its last checkpoint; the (tenant, size) of each
    checkpoint stored. Three statements whatever the number of tenants (plus two for a tenant's
    very first checkpoint, the empty tree)."""
    async with session.begin():
        grown: list[_Growth] = []
        for tenant, locked, size, frontier, last_size, last_root in await session.execute(_TO_SIGN):
            if not locked:
                continue
            if last_size is None:
                await start_log(session, identity, tenant)
                last_size, last_root = 0, merkle.EMPTY_ROOT
            if size > last_size:
                try:
                    root = merkle.Frontier.from_bytes(size, bytes(frontier)).root()
                except ValueError:  # a right edge edited in the database
                    logger.error(
                        "refusing to sign: the tree's right edge is damaged",
                        extra={"tenant": tenant, "size": size},
                    )
                    continue
                grown.append(
                    _Growth(tenant, size, root, last_size, bytes(last_root), NodeReader(tenant))
                )
        await load_many(
            session,
            [
                (
                    growth.reader,
                    [n for lo, hi in growth.ranges() for n in merkle.perfect_nodes(lo, hi)],
                )
                for growth in grown
                if growth.last_size > 0
            ],
        )
        signing = []
        for growth in grown:
            if growth.extends_last():
                signing.append(growth)
            else:
                logger.error(
                    "refusing to sign: the tree does not extend the last checkpoint",
                    extra={
                        "tenant": growth.tenant,
                        "size": growth.size,
                        "last_size": growth.last_size,
                    },
                )
        if not signing:
            return []
        stored = await session.execute(
            _MOVE_AND_STORE,
            {
                "tenants": [g.tenant for g in signing],
                "sizes": [g.size for g in signing],
                "roots": [g.root for g in signing],
                "last_sizes": [g.last_size for g in signing],
                "notes": [checkpoint_note(identity, g.tenant, g.size, g.root) for g in signing],
                "signed_at": datetime.now(UTC),
            },
        )
        return [(tenant, int(size)) for tenant, size in stored]


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
