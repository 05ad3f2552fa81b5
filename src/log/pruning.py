"""The log's minimum index (C2SP tlog-tiles, "Pruning") and the signed anchors that move it.

Pruning changes no tile, root or proof: the hash tiles stay stored, so every inclusion proof
of a kept leaf and every consistency proof still verify against checkpoints signed before.
What changes is what the log publishes: tiles and entry bundles wholly below the minimum
index are a 404 `pruned`, and the hash chain restarts from the newest anchor.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.log import checkpoints
from src.log.exceptions import CannotPrune
from src.log.models import LogPruneAnchor
from src.log.signing import LogIdentity
from src.verifier import anchor as anchors
from src.verifier import note
from src.verifier.tiles import TILE_HEIGHT, TILE_WIDTH


@dataclass(frozen=True, slots=True)
class StoredAnchor:
    min_index: int
    prev_hash: bytes
    checkpoint_size: int
    note: str
    pruned_at: datetime


async def min_index(session: AsyncSession, tenant: str) -> int:
    """The first leaf the tenant's log still serves (0 before any prune)."""
    found = await session.scalar(
        select(func.max(col(LogPruneAnchor.min_index))).where(col(LogPruneAnchor.tenant) == tenant)
    )
    return int(found or 0)


async def latest_anchor(session: AsyncSession, tenant: str) -> StoredAnchor | None:
    row = (
        await session.execute(
            select(
                col(LogPruneAnchor.min_index),
                col(LogPruneAnchor.prev_hash),
                col(LogPruneAnchor.checkpoint_size),
                col(LogPruneAnchor.note),
                col(LogPruneAnchor.pruned_at),
            )
            .where(col(LogPruneAnchor.tenant) == tenant)
            .order_by(col(LogPruneAnchor.min_index).desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    index, prev_hash, size, text, at = row
    return StoredAnchor(int(index), bytes(prev_hash), int(size), text, at)


def open_anchor(identity: LogIdentity, tenant: str, text: str) -> anchors.PruneAnchor:
    """The anchor a stored note says, if the log's key signed it for this tenant's log;
    ValueError otherwise."""
    opened = anchors.parse_anchor(note.open_note(text, identity.verifier_key(tenant)))
    if opened.origin != identity.origin(tenant):
        raise ValueError("the prune anchor is for another log")
    return opened


def is_pruned(level: int | None, index: int, minimum: int) -> bool:
    """Whether the tile (`level` None: the entry bundle) ends at or below the minimum index:
    the tile's end index, `(index + 1) * 256**(level + 1)`, in leaves."""
    end = (index + 1) * TILE_WIDTH << (TILE_HEIGHT * (level or 0))
    return end <= minimum


async def record_anchor(
    session: AsyncSession,
    identity: LogIdentity,
    tenant: str,
    *,
    new_min_index: int,
    prev_hash: bytes,
) -> StoredAnchor:
    """Sign and store the anchor that moves the minimum index up to `new_min_index` (in the
    caller's transaction; the rows below it may then be removed, and only then)."""
    latest = await checkpoints.latest(session, tenant)
    current = await min_index(session, tenant)
    if latest is None or new_min_index > latest.size or new_min_index <= current:
        raise CannotPrune(
            f"The minimum index can only move up within the latest checkpoint "
            f"(now {current}, asked {new_min_index})."
        )
    body = anchors.format_anchor(
        anchors.PruneAnchor(
            origin=identity.origin(tenant),
            min_index=new_min_index,
            prev_hash=prev_hash,
            checkpoint_size=latest.size,
            checkpoint_root=latest.root_hash,
        )
    )
    stored = StoredAnchor(
        min_index=new_min_index,
        prev_hash=prev_hash,
        checkpoint_size=latest.size,
        note=identity.signer(tenant).sign(body),
        pruned_at=datetime.now(UTC),
    )
    session.add(
        LogPruneAnchor(
            tenant=tenant,
            min_index=stored.min_index,
            prev_hash=stored.prev_hash,
            checkpoint_size=stored.checkpoint_size,
            note=stored.note,
            pruned_at=stored.pruned_at,
        )
    )
    await session.flush()
    return stored
