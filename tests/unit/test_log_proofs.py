"""Proofs from stored tiles: the tiles the server writes (`TreeGrowth`) hold every perfect
node a proof needs, over three tile levels, for every tree size up to the whole tree."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.log.proofs import NodeReader, TileMissing
from src.log.tree import TreeGrowth
from src.verifier import merkle

# Just over 256 * 256 leaves: trees of this size use level-2 tiles, and partial tiles at
# every level.
SIZE = 65_536 + 700
LEAVES = [merkle.leaf_hash(n.to_bytes(4, "big")) for n in range(SIZE)]


def levels_of(leaves: list[bytes]) -> list[list[bytes]]:
    """Every perfect node, hashed directly from the leaves: levels[k][j] covers leaves
    [j * 2**k, (j + 1) * 2**k)."""
    levels = [leaves]
    while len(levels[-1]) > 1:
        below = levels[-1]
        levels.append(
            [merkle.node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
        )
    return levels


LEVELS = levels_of(LEAVES)


def stored_tiles() -> dict[tuple[int, int], bytes]:
    """The tiles the server stores for the whole tree: (tile level, index) -> hashes."""
    growth = TreeGrowth()
    growth.add(merkle.Frontier(), LEAVES)
    return {key: b"".join(nodes) for key, nodes in growth.appends.items()}


TILES = stored_tiles()


def reader() -> NodeReader:
    """A reader with every tile loaded and nothing computed yet."""
    fresh = NodeReader("tenant", max_tiles=len(TILES))
    for (level, index), hashes in TILES.items():
        fresh.add(level, index, hashes)
    return fresh


READER = reader()


@st.composite
def perfect_node(draw: st.DrawFn) -> tuple[int, int]:
    level = draw(st.integers(min_value=0, max_value=len(LEVELS) - 1))
    return level, draw(st.integers(min_value=0, max_value=len(LEVELS[level]) - 1))


@given(perfect_node())
def test_every_perfect_node_is_hashed_from_its_tile(node: tuple[int, int]) -> None:
    level, index = node
    assert READER.node(level, index) == LEVELS[level][index]


@settings(max_examples=40)
@given(st.data())
def test_inclusion_proofs_from_tiles_verify(data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=1, max_value=SIZE))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    alone = reader()  # nothing memoized: every node this proof needs is hashed from tiles
    proof = [alone.range_hash(lo, hi) for lo, hi in merkle.inclusion_ranges(index, size)]
    root = merkle.range_hash([LEVELS[level][i] for level, i in merkle.perfect_nodes(0, size)])
    assert merkle.verify_inclusion(
        leaf_hash=LEAVES[index], index=index, size=size, proof=proof, root=root
    )
    flipped = bytearray(proof[0]) if proof else None
    if flipped is not None:
        flipped[0] ^= 1
        assert not merkle.verify_inclusion(
            leaf_hash=LEAVES[index],
            index=index,
            size=size,
            proof=[bytes(flipped), *proof[1:]],
            root=root,
        )


def test_a_missing_tile_is_reported() -> None:
    with pytest.raises(TileMissing, match="3/0"):
        NodeReader("tenant").node(3, 0)
    partial = NodeReader("tenant")
    partial.add(0, 0, TILES[(0, 0)][: 5 * merkle.HASH_SIZE])
    assert partial.node(2, 0) == LEVELS[2][0]
    with pytest.raises(TileMissing, match="1/2"):
        partial.node(1, 2)  # leaves 4 and 5: the tile holds only 5 hashes
