"""C2SP tiled transparency logs (c2sp.org/tlog-tiles): tile paths, which tile holds a Merkle
node, and entry bundles.

A tile at level L holds up to 256 consecutive hashes of Merkle level 8*L: level-0 tiles hold
leaf hashes, and each hash of a level-L tile (L > 0) is the root of a full level-(L-1) tile.
A Merkle node between those levels is rebuilt by hashing a run of a tile's hashes.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from src.verifier.merkle import HASH_SIZE, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT  # 256
MAX_TILE_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF  # an entry's length is a big-endian uint16

_INDEX_PATH = re.compile("(?:x[0-9]{3}/)*[0-9]{3}")
_LEVEL = re.compile("0|[1-9][0-9]?")
_WIDTH = re.compile("[1-9][0-9]{0,2}")


# --- Tile paths --------------------------------------------------------------------------------


def format_index(n: int) -> str:
    """A tile index in path form: 3-digit elements, all but the last prefixed "x".

    0 -> "000", 1000 -> "x001/000", 1234067 -> "x001/x234/067".
    """
    if n < 0:
        raise ValueError(f"a tile index is never negative, got {n}")
    text = f"{n % 1000:03d}"
    n //= 1000
    while n:
        text = f"x{n % 1000:03d}/{text}"
        n //= 1000
    return text


def parse_index(text: str) -> int:
    """The tile index a path form denotes; ValueError unless it is the canonical form."""
    if not _INDEX_PATH.fullmatch(text):
        raise ValueError(f"not a tile index path: {text!r}")
    n = 0
    for element in text.split("/"):
        n = n * 1000 + int(element[-3:])
    # "x000/001" has the right shape but denotes 1, whose form is "001".
    if format_index(n) != text:
        raise ValueError(f"not the canonical path of tile index {n}: {text!r}")
    return n


@dataclass(frozen=True)
class TileRef:
    """A tile (`level` 0..63) or entry bundle (`level` None), by index and width.

    A width of 256 is a full tile; 1..255 is a partial one (".p/<width>" in its path).
    """

    level: int | None
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if self.level is not None and not 0 <= self.level <= MAX_TILE_LEVEL:
            raise ValueError(f"a tile level is 0..{MAX_TILE_LEVEL}, got {self.level}")
        if self.index < 0:
            raise ValueError(f"a tile index is never negative, got {self.index}")
        if not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"a tile width is 1..{TILE_WIDTH}, got {self.width}")

    @property
    def is_entries(self) -> bool:
        """Whether this is an entry bundle rather than a hash tile."""
        return self.level is None

    @property
    def is_partial(self) -> bool:
        """Whether the tile is narrower than a full one."""
        return self.width < TILE_WIDTH

    def path(self) -> str:
        """The resource path: "tile/<L>/<N>[.p/<W>]" or "tile/entries/<N>[.p/<W>]"."""
        kind = "entries" if self.level is None else str(self.level)
        suffix = f".p/{self.width}" if self.is_partial else ""
        return f"tile/{kind}/{format_index(self.index)}{suffix}"


def parse_tile_path(path: str) -> TileRef:
    """Parse the part of a tile path after "tile/": "L/N", "L/N.p/W", "entries/N[.p/W]".

    Strict: canonical numbers only, levels 0..63, partial widths 1..255; ValueError otherwise.
    """
    kind, slash, rest = path.partition("/")
    if not slash:
        raise ValueError(f"not a tile path: {path!r}")
    level: int | None
    if kind == "entries":
        level = None
    elif _LEVEL.fullmatch(kind) and int(kind) <= MAX_TILE_LEVEL:
        level = int(kind)
    else:
        raise ValueError(f"not a tile level (0..{MAX_TILE_LEVEL} or 'entries'): {kind!r}")
    index_text, partial, width_text = rest.partition(".p/")
    width = TILE_WIDTH
    if partial:
        if not _WIDTH.fullmatch(width_text) or int(width_text) >= TILE_WIDTH:
            raise ValueError(f"a partial tile's width is 1..{TILE_WIDTH - 1}: {width_text!r}")
        width = int(width_text)
    return TileRef(level, parse_index(index_text), width)


# --- Merkle nodes in tiles ---------------------------------------------------------------------


class TileSpan(NamedTuple):
    """Where a Merkle node's hash comes from: hashes [start, end) of tile (level, index)."""

    tile_level: int
    tile_index: int
    start: int
    end: int


def node_tile(level: int, index: int) -> TileSpan:
    """The tile hashes a perfect Merkle node (level, index) is the root of.

    The node is at tile level level // 8; it covers 2**(level % 8) consecutive hashes of
    Merkle level 8 * (level // 8), always inside one tile.
    """
    if level < 0 or index < 0:
        raise ValueError(f"not a Merkle node: ({level}, {index})")
    tile_level, height = divmod(level, TILE_HEIGHT)
    if tile_level > MAX_TILE_LEVEL:
        raise ValueError(f"Merkle level {level} is above the highest tile level")
    first = index << height  # its first covered hash, at Merkle level 8 * tile_level
    tile_index, start = divmod(first, TILE_WIDTH)
    return TileSpan(tile_level, tile_index, start, start + (1 << height))


def node_from_tile(tile_hashes: bytes, start: int, end: int) -> bytes:
    """The Merkle node whose subtree's bottom row is the tile's hashes [start, end).

    `end - start` is a power of two and `start` a multiple of it (a node's span).
    """
    width = end - start
    if width <= 0 or width & (width - 1) or start % width:
        raise ValueError(f"[{start}, {end}) is not the span of a Merkle node")
    if len(tile_hashes) % HASH_SIZE or end * HASH_SIZE > len(tile_hashes):
        raise ValueError(f"a tile of {len(tile_hashes)} bytes has no hashes [{start}, {end})")
    # Hashed up level by level in a loop: the server's proofs spend most of their Python
    # time here (src/log/proofs.py), half as much as recursing through a memo did.
    size = HASH_SIZE
    row = [tile_hashes[at : at + size] for at in range(start * size, end * size, size)]
    node = node_hash
    while len(row) > 1:
        row = [node(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def tile_coverage(tree_size: int, level: int) -> int:
    """How many hashes of tile level `level` (Merkle level 8 * level) a tree has complete.

    Tile N at that level is full when coverage >= 256 * (N + 1); else it is partial with
    width coverage - 256 * N, or does not exist when that is not positive.
    """
    if tree_size < 0 or level < 0:
        raise ValueError(f"bad tree size {tree_size} or tile level {level}")
    return tree_size >> (TILE_HEIGHT * level)


# --- Entry bundles -----------------------------------------------------------------------------


def encode_entries(entries: Iterable[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length, then its bytes."""
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"an entry is at most {MAX_ENTRY_SIZE} bytes, got {len(entry)}")
        parts.append(len(entry).to_bytes(2, "big"))
        parts.append(bytes(entry))
    return b"".join(parts)


def decode_entries(data: bytes) -> list[bytes]:
    """The entries of a bundle; ValueError if a length prefix or entry is cut short."""
    entries = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise ValueError(f"an entry bundle ends inside a length prefix at byte {offset}")
        size = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + size > len(data):
            raise ValueError(f"an entry bundle ends inside an entry at byte {offset}")
        entries.append(bytes(data[offset : offset + size]))
        offset += size
    return entries
