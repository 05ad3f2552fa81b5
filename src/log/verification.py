"""The log's half of `/audits/integrity/verify`: the events are the stored tiles' leaves, and
the latest signed checkpoint is the root of those tiles."""

import base64
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.events.models import ChainHead
from src.events.stored import GENESIS_HASH
from src.log import checkpoints, pruning
from src.log.proofs import NodeReader, TileMissing, root_of_tiles
from src.log.signing import LogIdentity
from src.verifier import merkle, note


@dataclass
class LeafCheck:
    """Compares events' committed content with the leaf hashes in the tenant's level-0 tiles."""

    tenant: str
    tree_size: int  # leaves integrated so far (events past it are not in the tiles yet)

    def __post_init__(self) -> None:
        self._reader = NodeReader(self.tenant)

    async def load(self, session: AsyncSession, seqs: Sequence[int]) -> None:
        """Read the level-0 tiles of these events (inside the caller's transaction)."""
        await self._reader.load(session, [(0, seq - 1) for seq in seqs if seq <= self.tree_size])

    def first_mismatch(self, leaves: Sequence[tuple[int, bytes]]) -> int | None:
        """The first `seq` among (seq, leaf data) whose leaf is not the stored one, if any
        (their tiles loaded first with `load`)."""
        try:
            for seq, leaf in leaves:
                if seq > self.tree_size:
                    continue  # not integrated yet: nothing stored to compare with
                try:
                    stored = self._reader.node(0, seq - 1)
                except TileMissing:
                    return seq
                if stored != merkle.leaf_hash(leaf):
                    return seq
            return None
        finally:
            self._reader.trim()


async def integrated_size(session: AsyncSession, tenant: str) -> int:
    async with session.begin():
        size = await session.scalar(
            select(col(ChainHead.tree_size)).where(col(ChainHead.tenant) == tenant)
        )
    return int(size or 0)


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    size: int
    root_hash: str | None  # base64, as in the checkpoint
    reason: str | None  # why the checkpoint does not hold, if it does not


async def check_latest_checkpoint(
    session: AsyncSession, identity: LogIdentity, tenant: str
) -> CheckpointCheck:
    """The latest checkpoint is signed by the log's key, says what its row says, and its root
    is the root of the stored tiles."""
    async with session.begin():
        latest = await checkpoints.latest(session, tenant)
        if latest is None:
            return CheckpointCheck(size=0, root_hash=None, reason=None)
        root_b64 = base64.b64encode(latest.root_hash).decode()
        try:
            body = note.open_note(latest.note, identity.verifier_key(tenant))
            signed = note.parse_checkpoint(body)
        except ValueError:
            return CheckpointCheck(
                latest.size, root_b64, "the latest checkpoint's signature is invalid"
            )
        if (signed.origin, signed.size, signed.root_hash) != (
            identity.origin(tenant),
            latest.size,
            latest.root_hash,
        ):
            return CheckpointCheck(
                latest.size, root_b64, "the latest checkpoint's text does not match its record"
            )
        try:
            tiles_root = await root_of_tiles(session, NodeReader(tenant), latest.size)
        except TileMissing:
            tiles_root = b""
    if tiles_root != latest.root_hash:
        return CheckpointCheck(
            latest.size,
            root_b64,
            "the latest checkpoint's root is not the root of the stored tiles",
        )
    return CheckpointCheck(latest.size, root_b64, None)


@dataclass(frozen=True, slots=True)
class ChainStart:
    """Where the tenant's hash chain starts: seq 1 from the genesis hash, or, once pruned,
    the newest signed anchor's first kept event and the `prev_hash` it links to."""

    min_index: int
    prev_hash: bytes
    reason: str | None = None  # why the anchor does not hold, if it does not

    @property
    def first_seq(self) -> int:
        return self.min_index + 1


async def chain_start(session: AsyncSession, identity: LogIdentity, tenant: str) -> ChainStart:
    """The chain's start, its anchor's signature and record checked against each other."""
    async with session.begin():
        stored = await pruning.latest_anchor(session, tenant)
    if stored is None:
        return ChainStart(0, GENESIS_HASH)
    try:
        signed = pruning.open_anchor(identity, tenant, stored.note)
    except ValueError:
        reason = "the prune anchor's signature is invalid"
        return ChainStart(stored.min_index, stored.prev_hash, reason)
    if (signed.min_index, signed.prev_hash) != (stored.min_index, stored.prev_hash):
        return ChainStart(
            stored.min_index, stored.prev_hash, "the prune anchor's text does not match its record"
        )
    return ChainStart(signed.min_index, signed.prev_hash)
