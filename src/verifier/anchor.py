"""The prune anchor: where a pruned log's hash chain now starts, signed by the log's key.

Pruning (C2SP tlog-tiles, "Pruning") removes a prefix of the log: its leaves below the
*minimum index* are no longer served, while the tree, its roots and every proof above stay.
The hash chain beside the tree loses its start too, so the log signs where it picks up: the
first kept leaf (`min_index`, a multiple of 256), the chain hash it links to (`prev_hash`,
the hash of the last removed event), and the checkpoint it was pruned under. The note's
second line is not a number, so no checkpoint parser can mistake an anchor for a tree head.

    <origin>
    prune anchor
    <min_index>
    <prev_hash, 64 lower-case hex digits>
    <checkpoint size>
    <checkpoint root hash, base64>
"""

import re
from dataclasses import dataclass

from src.verifier.merkle import HASH_SIZE
from src.verifier.note import NoteError, b64decode, b64encode

ANCHOR_LINE = "prune anchor"
TILE_LEAVES = 256
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")
_HEX_HASH = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class PruneAnchor:
    origin: str
    min_index: int  # the first leaf still served; the event with `seq` min_index + 1
    prev_hash: bytes  # that event's `prev_hash`: the chain hash of the last removed event
    checkpoint_size: int
    checkpoint_root: bytes

    def __post_init__(self) -> None:
        if self.min_index <= 0 or self.min_index % TILE_LEAVES:
            raise ValueError(f"a minimum index is a positive multiple of {TILE_LEAVES}")
        if self.checkpoint_size < self.min_index:
            raise ValueError("a minimum index is at most its checkpoint's size")
        if len(self.prev_hash) != HASH_SIZE or len(self.checkpoint_root) != HASH_SIZE:
            raise ValueError(f"hashes are {HASH_SIZE} bytes")

    @property
    def first_seq(self) -> int:
        return self.min_index + 1


def format_anchor(anchor: PruneAnchor) -> str:
    lines = [
        anchor.origin,
        ANCHOR_LINE,
        str(anchor.min_index),
        anchor.prev_hash.hex(),
        str(anchor.checkpoint_size),
        b64encode(anchor.checkpoint_root),
    ]
    return "".join(f"{line}\n" for line in lines)


def parse_anchor(text: str) -> PruneAnchor:
    """Parse an anchor's note text, strictly; NoteError if it is not one."""
    lines = text[:-1].split("\n") if text.endswith("\n") else []
    if len(lines) != 6 or lines[1] != ANCHOR_LINE:
        raise NoteError("malformed prune anchor: want six lines, the second `prune anchor`")
    origin, _, index_text, prev_text, size_text, root_text = lines
    if not (_DECIMAL.fullmatch(index_text) and _DECIMAL.fullmatch(size_text)):
        raise NoteError("malformed prune anchor: sizes are canonical decimals")
    if not _HEX_HASH.fullmatch(prev_text):
        raise NoteError("malformed prune anchor: prev_hash is 64 lower-case hex digits")
    root = b64decode(root_text)
    if root is None:
        raise NoteError("malformed prune anchor: the root hash is not canonical base64")
    try:
        return PruneAnchor(origin, int(index_text), bytes.fromhex(prev_text), int(size_text), root)
    except ValueError as error:
        raise NoteError(f"malformed prune anchor: {error}") from None
