"""C2SP tlog-tiles: tile paths, Merkle nodes rebuilt from tiles, entry bundles."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.verifier.merkle import Frontier, leaf_hash, perfect_nodes, range_hash, root_of
from src.verifier.tiles import (
    TILE_HEIGHT,
    TILE_WIDTH,
    TileRef,
    TileSpan,
    decode_entries,
    encode_entries,
    format_index,
    node_from_tile,
    node_tile,
    parse_index,
    parse_tile_path,
    tile_coverage,
)

# --- Tile indexes and paths --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1001, "x001/001"),
        (1234067, "x001/x234/067"),  # c2sp.org/tlog-tiles's example
        (10**6, "x001/x000/000"),
        # golang.org/x/mod/sumdb/tlog's tlog_test.go (tilePaths).
        (123456078, "x123/x456/078"),
        (3057500, "x003/x057/500"),
    ],
)
def test_index_path_forms(n: int, text: str) -> None:
    assert format_index(n) == text
    assert parse_index(text) == n


@given(st.integers(min_value=0, max_value=10**30))
def test_index_paths_round_trip(n: int) -> None:
    text = format_index(n)
    assert parse_index(text) == n
    elements = text.split("/")
    assert all(len(e) == 4 and e[0] == "x" for e in elements[:-1])
    assert len(elements[-1]) == 3


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0",
        "00",
        "0000",
        "x000",
        "x001",
        "x000/001",  # 1 is "001"
        "x000/x001/000",
        "001/000",  # a directory element without its "x"
        "123/456/078",  # tlog_test.go's invalid form
        "x01/000",
        "x001/x000",
        "x001//000",
        "/000",
        "000/",
        "-01",
        "+01",
        " 01",
        "X001/000",
        "x001/0a0",
        "\u0661\u0662\u0663",  # Arabic-Indic digits
    ],
)
def test_non_canonical_index_paths_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="tile index"):
        parse_index(text)


def test_negative_indexes_have_no_path() -> None:
    with pytest.raises(ValueError, match="never negative"):
        format_index(-1)


@pytest.mark.parametrize(
    ("path", "tile"),
    [
        ("0/000", TileRef(0, 0)),
        ("0/000", TileRef(0, 0, 256)),
        ("0/001.p/5", TileRef(0, 1, 5)),
        ("1/x001/x234/067", TileRef(1, 1234067)),
        ("5/x123/x456/078.p/2", TileRef(5, 123456078, 2)),
        ("63/000.p/255", TileRef(63, 0, 255)),
        ("entries/000", TileRef(None, 0)),
        ("entries/x003/x057/500.p/1", TileRef(None, 3057500, 1)),
    ],
)
def test_tile_paths(path: str, tile: TileRef) -> None:
    assert parse_tile_path(path) == tile
    assert tile.path() == "tile/" + path


tile_refs = st.builds(
    TileRef,
    level=st.one_of(st.none(), st.integers(min_value=0, max_value=63)),
    index=st.integers(min_value=0, max_value=10**12),
    width=st.integers(min_value=1, max_value=256),
)


@given(tile_refs)
def test_tile_paths_round_trip(tile: TileRef) -> None:
    path = tile.path()
    assert path.startswith("tile/")
    assert parse_tile_path(path.removeprefix("tile/")) == tile
    assert tile.is_partial == (".p/" in path)
    assert tile.is_entries == path.startswith("tile/entries/")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("", "not a tile path"),
        ("0", "not a tile path"),
        ("0/", "tile index"),
        ("00/000", "tile level"),
        ("01/000", "tile level"),
        ("64/000", "tile level"),
        ("-1/000", "tile level"),
        ("data/000", "tile level"),
        ("tile/0/000", "tile level"),
        ("8/0/000", "tile index"),  # Go's "tile/<H>/<L>/<N>" form is not C2SP's
        ("0/000.p/0", "width"),
        ("0/000.p/256", "width"),
        ("0/000.p/010", "width"),
        ("0/000.p/", "width"),
        ("0/000.p/5/", "width"),
        ("0/000.p/5.p/5", "width"),
        ("entries/000.p/256", "width"),
        ("0/x000/001", "tile index"),
        ("0/000/", "tile index"),
        ("0/0000", "tile index"),
        ("0/000.P/5", "tile index"),
        ("0 /000", "tile level"),
    ],
)
def test_bad_tile_paths_are_refused(path: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_tile_path(path)


@pytest.mark.parametrize(
    ("level", "index", "width", "message"),
    [
        (64, 0, 256, "tile level"),
        (-1, 0, 256, "tile level"),
        (0, -1, 256, "never negative"),
        (0, 0, 0, "tile width"),
        (0, 0, 257, "tile width"),
    ],
)
def test_tile_refs_check_their_fields(level: int, index: int, width: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TileRef(level, index, width)


# --- Coverage, and Merkle nodes in tiles -------------------------------------------------------


def test_the_spec_example_of_coverage() -> None:
    # c2sp.org/tlog-tiles: a tree of 70,000 leaves has 273 full level-0 tiles and a partial
    # one of width 112, one full level-1 tile and a partial one of width 17, and a partial
    # level-2 tile of width 1. A tree of 256 has a full level-0 tile and a level-1 tile of 1.
    assert divmod(tile_coverage(70_000, 0), TILE_WIDTH) == (273, 112)
    assert divmod(tile_coverage(70_000, 1), TILE_WIDTH) == (1, 17)
    assert divmod(tile_coverage(70_000, 2), TILE_WIDTH) == (0, 1)
    assert tile_coverage(70_000, 3) == 0
    assert divmod(tile_coverage(256, 0), TILE_WIDTH) == (1, 0)
    assert divmod(tile_coverage(256, 1), TILE_WIDTH) == (0, 1)
    with pytest.raises(ValueError, match="bad tree size"):
        tile_coverage(-1, 0)


@pytest.mark.parametrize(
    ("level", "index", "span"),
    [
        (0, 5, (0, 0, 5, 6)),
        (0, 256, (0, 1, 0, 1)),
        (3, 33, (0, 1, 8, 16)),
        (7, 1, (0, 0, 128, 256)),
        (7, 2, (0, 1, 0, 128)),
        (8, 0, (1, 0, 0, 1)),
        (9, 3, (1, 0, 6, 8)),
        (16, 2, (2, 0, 2, 3)),
        (15, 1, (1, 0, 128, 256)),
        (15, 2, (1, 1, 0, 128)),
    ],
)
def test_node_tile(level: int, index: int, span: tuple[int, int, int, int]) -> None:
    assert node_tile(level, index) == TileSpan(*span)


def test_node_tile_refuses_what_is_not_a_node() -> None:
    for level, index in [(-1, 0), (0, -1), (64 * TILE_HEIGHT, 0)]:
        with pytest.raises(ValueError, match="Merkle"):
            node_tile(level, index)


def build_tiles(
    leaf_hashes: list[bytes],
) -> tuple[Frontier, dict[tuple[int, int], bytearray], list[tuple[int, int, bytes]]]:
    """Integrate leaves as a log would: every completed node of a tile level goes in a tile."""
    frontier = Frontier()
    tiles: dict[tuple[int, int], bytearray] = {}
    nodes = []
    for leaf in leaf_hashes:
        for level, index, node in frontier.append(leaf):
            nodes.append((level, index, node))
            if level % TILE_HEIGHT == 0:
                tile = tiles.setdefault((level // TILE_HEIGHT, index // TILE_WIDTH), bytearray())
                assert len(tile) == (index % TILE_WIDTH) * 32  # completed in index order
                tile += node
    return frontier, tiles, nodes


def leaves(n: int) -> list[bytes]:
    return [leaf_hash(b"entry %d" % i) for i in range(n)]


@settings(max_examples=10)
@given(st.integers(min_value=1, max_value=2600))
def test_every_node_rebuilds_from_its_tile(size: int) -> None:
    _, tiles, nodes = build_tiles(leaves(size))
    for level, index, node in nodes:
        span = node_tile(level, index)
        tile = bytes(tiles[span.tile_level, span.tile_index])
        assert node_from_tile(tile, span.start, span.end) == node
    # The tiles are as wide as the coverage says.
    for (tile_level, tile_index), stored in tiles.items():
        coverage = tile_coverage(size, tile_level)
        assert len(stored) // 32 == min(TILE_WIDTH, coverage - tile_index * TILE_WIDTH)


def test_the_spec_example_tree_from_its_tiles() -> None:
    size = 70_000
    frontier, tiles, nodes = build_tiles(leaves(size))
    widths = {key: len(tile) // 32 for key, tile in tiles.items()}
    assert sorted(w for (lv, _), w in widths.items() if lv == 0) == [112] + [256] * 273
    assert sorted(w for (lv, _), w in widths.items() if lv == 1) == [17, 256]
    assert [w for (lv, _), w in widths.items() if lv == 2] == [1]
    for level, index, node in nodes:
        if level >= TILE_HEIGHT:
            span = node_tile(level, index)
            assert (
                node_from_tile(bytes(tiles[span.tile_level, span.tile_index]), span.start, span.end)
                == node
            )
    # The root, as a tiles client computes it: the tree's perfect nodes, each from a tile.
    rebuilt = []
    for level, index in perfect_nodes(0, size):
        span = node_tile(level, index)
        rebuilt.append(
            node_from_tile(bytes(tiles[span.tile_level, span.tile_index]), span.start, span.end)
        )
    assert range_hash(rebuilt) == frontier.root() == root_of(leaves(size))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (0, 0, "not the span"),
        (0, 3, "not the span"),
        (1, 3, "not the span"),
        (2, 1, "not the span"),
        (0, 8, "has no hashes"),
    ],
)
def test_node_from_tile_refuses_bad_spans(start: int, end: int, message: str) -> None:
    tile = bytes(4 * 32)
    with pytest.raises(ValueError, match=message):
        node_from_tile(tile, start, end)


def test_node_from_tile_refuses_ragged_tiles() -> None:
    with pytest.raises(ValueError, match="has no hashes"):
        node_from_tile(bytes(33), 0, 1)


# --- Entry bundles -----------------------------------------------------------------------------


@given(st.lists(st.binary(max_size=300), max_size=40))
def test_entry_bundles_round_trip(entries: list[bytes]) -> None:
    data = encode_entries(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_entries(data) == entries
    # Every cut is either between entries (a shorter bundle) or refused.
    boundaries = {0}
    position = 0
    for entry in entries:
        position += 2 + len(entry)
        boundaries.add(position)
    for cut in range(len(data)):
        if cut in boundaries:
            assert decode_entries(data[:cut]) == entries[: sorted(boundaries).index(cut)]
        else:
            with pytest.raises(ValueError, match="entry bundle ends inside"):
                decode_entries(data[:cut])


def test_entry_bundle_format() -> None:
    assert (
        encode_entries([b"", b"ab", b"\x00" * 300]) == b"\x00\x00\x00\x02ab\x01\x2c" + b"\x00" * 300
    )
    assert decode_entries(b"") == []
    largest = b"x" * 0xFFFF
    assert decode_entries(encode_entries([largest])) == [largest]
    with pytest.raises(ValueError, match="at most 65535 bytes"):
        encode_entries([largest + b"x"])
    with pytest.raises(ValueError, match="inside a length prefix"):
        decode_entries(b"\x00")
    with pytest.raises(ValueError, match="inside an entry"):
        decode_entries(b"\x00\x05abc")
