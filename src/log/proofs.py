"""Inclusion and consistency proofs, and tree roots, from the stored hash tiles.

A proof is a list of subtree hashes (RFC 9162 section 2.1); each subtree splits into perfect
nodes (src/verifier/merkle.py), and each perfect node is a stored tile hash or is hashed up
from at most 255 of them in one tile. So a proof reads O(log n) tiles, in one query.
"""

from collections import OrderedDict
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.log.models import LogTile
from src.verifier import merkle
from src.verifier.tiles import node_from_tile, node_tile

HASH = merkle.HASH_SIZE


class TileMissing(LookupError):
    """A hash the tree should have is not in the stored tiles (the store was damaged)."""


_tiles = LogTile.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy


def _tiles_of(tenant: str, wanted: set[tuple[int, int]]) -> ColumnElement[bool]:
    """One tenant's wanted tiles, as index scans of the primary key (an `IN` list per level)."""
    by_level: dict[int, list[int]] = {}
    for level, index in sorted(wanted):
        by_level.setdefault(level, []).append(index)
    return and_(
        _tiles.c.tenant == tenant,
        or_(
            *(
                and_(_tiles.c.level == level, _tiles.c.index.in_(indexes))
                for level, indexes in by_level.items()
            )
        ),
    )


async def load_many(
    session: AsyncSession, wanted: Sequence[tuple["NodeReader", Iterable[tuple[int, int]]]]
) -> None:
    """Load the tiles several readers (of several tenants) need, in one query."""
    missing = [(reader, reader.missing(nodes)) for reader, nodes in wanted]
    missing = [(reader, tiles) for reader, tiles in missing if tiles]
    if not missing:
        return
    readers = {reader.tenant: reader for reader, _ in missing}
    query = select(_tiles.c.tenant, _tiles.c.level, _tiles.c.index, _tiles.c.hashes).where(
        or_(*(_tiles_of(reader.tenant, tiles) for reader, tiles in missing))
    )
    for tenant, level, index, hashes in await session.execute(query):
        readers[tenant].add(level, index, bytes(hashes))


class NodeReader:
    """Perfect-node hashes of one tenant's tree, read from its tiles and kept in bounded caches.

    `load` fetches the tiles some nodes need (one query); `node` then answers from memory.
    Reading proofs for consecutive leaves (a bundle export) reuses almost every tile and node.
    """

    def __init__(self, tenant: str, *, max_tiles: int = 64, max_nodes: int = 1 << 16) -> None:
        self.tenant = tenant
        self._tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._nodes: dict[tuple[int, int], bytes] = {}
        self._max_tiles = max_tiles
        self._max_nodes = max_nodes
        self._recent = 0  # tiles the loads since the last trim needed

    def missing(self, nodes: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
        """The tiles these nodes need that are not held yet (those held are kept longest)."""
        # Consecutive leaves' proofs share most nodes: a bundle batch names 25,000, 2,000 of
        # them distinct. Each is mapped to its tile once.
        needed = {node_tile(level, index)[:2] for level, index in set(nodes)}
        for key in needed & self._tiles.keys():
            self._tiles.move_to_end(key)  # still in use: the last to go
        self._recent = max(len(needed), self._recent)
        return needed - self._tiles.keys()

    def add(self, level: int, index: int, hashes: bytes) -> None:
        self._tiles[(level, index)] = hashes

    async def load(self, session: AsyncSession, nodes: Iterable[tuple[int, int]]) -> None:
        """Read the tiles these nodes need that are not held yet (one query). Never evicts:
        a load may run while proofs of an earlier load are being made (see `trim`)."""
        await load_many(session, [(self, nodes)])

    def trim(self) -> None:
        """Forget the least recently needed tiles beyond the cache's size (never those the
        latest load needed)."""
        keep = max(self._max_tiles, self._recent)
        while len(self._tiles) > keep:
            self._tiles.popitem(last=False)
        self._recent = 0

    def node(self, level: int, index: int) -> bytes:
        """The hash of perfect node (level, index); its tile must have been loaded."""
        key = (level, index)
        cached = self._nodes.get(key)
        if cached is not None:
            return cached
        span = node_tile(level, index)  # the stored hashes under the node: part of one tile
        tile = self._tiles.get(span[:2])
        if tile is None or len(tile) < span.end * HASH:
            raise TileMissing(f"no stored hash for node {level}/{index}")
        if span.end - span.start == 1:
            return tile[span.start * HASH : span.end * HASH]
        value = node_from_tile(tile, span.start, span.end)  # the verifier's own hashing
        if len(self._nodes) >= self._max_nodes:
            self._nodes.clear()  # a bounded memo: cheap to rebuild, never grows with the log
        self._nodes[key] = value
        return value

    def range_hash(self, lo: int, hi: int) -> bytes:
        return merkle.range_hash([self.node(*node) for node in merkle.perfect_nodes(lo, hi)])


def nodes_of(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The perfect nodes these leaf ranges' hashes are made of (what `NodeReader.load` takes)."""
    return [node for lo, hi in ranges for node in merkle.perfect_nodes(lo, hi)]


async def _range_hashes(
    session: AsyncSession, reader: NodeReader, ranges: Sequence[tuple[int, int]]
) -> list[bytes]:
    """The hashes of these leaf ranges, the tiles of all their nodes read in one query."""
    await reader.load(session, nodes_of(ranges))
    return [reader.range_hash(lo, hi) for lo, hi in ranges]


async def inclusion_proof(
    session: AsyncSession, reader: NodeReader, *, index: int, size: int
) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""
    return await _range_hashes(session, reader, merkle.inclusion_ranges(index, size))


async def consistency_proof(
    session: AsyncSession, reader: NodeReader, *, old_size: int, new_size: int
) -> list[bytes]:
    """RFC 9162 consistency proof from the tree of `old_size` leaves to that of `new_size`."""
    return await _range_hashes(session, reader, merkle.consistency_ranges(old_size, new_size))


async def root_of_tiles(session: AsyncSession, reader: NodeReader, size: int) -> bytes:
    """The root of the tree of `size` leaves, hashed from the stored tiles."""
    if size == 0:
        return merkle.EMPTY_ROOT
    await reader.load(session, merkle.perfect_nodes(0, size))
    return reader.range_hash(0, size)
