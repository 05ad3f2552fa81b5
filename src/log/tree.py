"""Growing a tenant's Merkle tree: new leaves onto the right edge, new hashes into tiles.

The right edge (`Frontier`: the roots of the tree's perfect subtrees) lives on the tenant's
chain head, so each leaf costs O(1) amortized hashing and no request recomputes a tree from
its leaves. Every perfect node on a tile level (Merkle level 8 x L) is appended to its hash
tile. Callers hold the chain head's row lock, so one writer at a time grows a tenant's tree.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.events.models import STORED_COLUMNS, ChainHead, events
from src.events.stored import StoredEvent
from src.verifier import merkle
from src.verifier.tiles import TILE_HEIGHT

logger = logging.getLogger(__name__)

BACKFILL_CHUNK = 5000  # leaves integrated per transaction by the backfill


@dataclass(slots=True)
class TreeGrowth:
    """The tile appends of newly integrated leaves: (tile level, tile index) -> new hashes."""

    appends: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)

    def add(self, frontier: merkle.Frontier, leaf_hashes: Sequence[bytes]) -> None:
        """Append the leaves to `frontier`, noting every completed node on a tile level."""
        appends = self.appends
        for leaf_hash in leaf_hashes:
            for level, index, node in frontier.append(leaf_hash):
                if level % TILE_HEIGHT == 0:
                    key = (level // TILE_HEIGHT, index >> TILE_HEIGHT)
                    tile = appends.get(key)
                    if tile is None:
                        appends[key] = [node]
                    else:
                        tile.append(node)


# Every tile a write touched, in one statement. A tile only grows at its end, and the head
# lock orders the writers, so appending the new hashes to what is stored is the new tile.
# Writers of events run it as part of their own statement (`src/audits/ingest.py`).
APPEND_TILES_SQL = (
    "INSERT INTO log_tile (tenant, level, index, hashes) "
    "SELECT * FROM unnest(CAST(:tile_tenants AS text[]), CAST(:tile_levels AS smallint[]), "
    "CAST(:tile_indexes AS bigint[]), CAST(:tile_hashes AS bytea[])) "
    "ON CONFLICT (tenant, level, index) DO UPDATE SET hashes = log_tile.hashes || excluded.hashes"
)
_APPEND_TILES = text(APPEND_TILES_SQL)


def tile_appends(growth: dict[str, TreeGrowth]) -> dict[str, list[Any]]:
    """`APPEND_TILES_SQL`'s parameters: the tile appends of any number of tenants' growth."""
    tenants: list[str] = []
    levels: list[int] = []
    indexes: list[int] = []
    hashes: list[bytes] = []
    for tenant, grown in growth.items():
        for (level, index), nodes in grown.appends.items():
            tenants.append(tenant)
            levels.append(level)
            indexes.append(index)
            hashes.append(b"".join(nodes))
    return {
        "tile_tenants": tenants,
        "tile_levels": levels,
        "tile_indexes": indexes,
        "tile_hashes": hashes,
    }


async def write_tiles(session: AsyncSession, growth: dict[str, TreeGrowth]) -> None:
    """Store the tile appends of any number of tenants' growth, in one statement."""
    appends = tile_appends(growth)
    if appends["tile_tenants"]:
        await session.execute(_APPEND_TILES, appends)


async def integrate_backlog(session: AsyncSession, tenant: str) -> tuple[int, int] | None:
    """Integrate the next chunk of a tenant's events not yet in its tree (older than the log).

    Returns (tree size, events) after the chunk, or None when there was nothing to do. Takes
    the chain head's lock for the chunk, so writers wait for at most one chunk.
    """
    async with session.begin():
        head = (
            await session.execute(
                select(col(ChainHead.head_seq), col(ChainHead.tree_size), col(ChainHead.frontier))
                .where(col(ChainHead.tenant) == tenant)
                .with_for_update()
            )
        ).first()
        if head is None or head.tree_size >= head.head_seq:
            return None
        frontier = merkle.Frontier.from_bytes(head.tree_size, bytes(head.frontier))
        rows = await session.execute(
            select(*STORED_COLUMNS)
            .where(events.c.tenant == tenant, events.c.seq > head.tree_size)
            .order_by(events.c.seq)
            .limit(BACKFILL_CHUNK)
        )
        leaves: list[bytes] = []
        for row in rows:
            stored = StoredEvent(*row)
            leaf = stored.leaf_data()
            if stored.seq != frontier.size + len(leaves) + 1 or leaf is None:
                # The chain is broken here: integrating around it would hide the damage.
                logger.error(
                    "log backfill stopped: the chain cannot be read at this event",
                    extra={"tenant": tenant, "seq": frontier.size + len(leaves) + 1},
                )
                break
            leaves.append(merkle.leaf_hash(leaf))
        if not leaves:
            return None
        growth = TreeGrowth()
        growth.add(frontier, leaves)
        await write_tiles(session, {tenant: growth})
        await session.execute(
            update(ChainHead)
            .where(col(ChainHead.tenant) == tenant)
            .values(tree_size=frontier.size, frontier=frontier.to_bytes())
        )
    logger.info(
        "log backfill",
        extra={"tenant": tenant, "integrated": frontier.size, "events": head.head_seq},
    )
    return frontier.size, head.head_seq


async def tenants_behind(session: AsyncSession) -> list[str]:
    """Tenants with events not yet in their tree."""
    async with session.begin():
        rows = await session.execute(
            select(col(ChainHead.tenant)).where(col(ChainHead.tree_size) < col(ChainHead.head_seq))
        )
        return [row[0] for row in rows]
