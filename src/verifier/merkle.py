"""RFC 9162 (section 2.1) Merkle trees over SHA-256.

Hashing, the right edge of a growing tree (`Frontier`), inclusion and consistency proofs
(built in two phases so a server can read all the node hashes it needs in one round trip)
and their verification, one proof at a time (many against one tree head: inclusion.py).

A perfect node is named (level, index): the root of the perfect subtree of 2**level leaves
that starts at leaf `index << level`; leaf i is (0, i). A range [lo, hi) is a run of leaves;
its MTH (Merkle Tree Hash) is that of the leaves D[lo:hi] taken as a tree of their own.
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

Node = tuple[int, int]
"""A perfect node: (level, index)."""

LeafRange = tuple[int, int]
"""A range of leaves [lo, hi)."""


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf: SHA-256(0x00 || data)."""
    return _sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an interior node: SHA-256(0x01 || left || right)."""
    return _sha256(NODE_PREFIX + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole list of leaf hashes, by RFC 9162's recursive definition."""
    if not leaf_hashes:
        return EMPTY_ROOT
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _mth(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    if hi - lo == 1:
        return leaf_hashes[lo]
    mid = lo + _split(hi - lo)
    return node_hash(_mth(leaf_hashes, lo, mid), _mth(leaf_hashes, mid, hi))


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): where RFC 9162 splits a tree."""
    return 1 << ((n - 1).bit_length() - 1)


# --- The right edge of a growing tree ---------------------------------------------------------


@dataclass(slots=True)
class Frontier:
    """The right edge of a tree of `size` leaves: all a log must keep to append and hash.

    `hashes` are the roots of the perfect subtrees of the binary decomposition of `size`,
    largest (leftmost) first: a tree of 6 leaves keeps MTH(D[0:4]) and MTH(D[4:6]).
    """

    size: int = 0
    hashes: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.size < 0:
            raise ValueError(f"a tree size is never negative, got {self.size}")
        # A copy: the caller's list must not alias the frontier's state.
        self.hashes = list(self.hashes)
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(
                f"a tree of {self.size} leaves has {self.size.bit_count()} edge hashes, "
                f"got {len(self.hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in self.hashes):
            raise ValueError(f"every edge hash is {HASH_SIZE} bytes")

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf; return every perfect node this completed as (level, index, hash).

        The leaf itself comes first as (0, leaf index, leaf hash), then each parent it
        completed, level 1, 2, ... Each leaf costs one hash amortized.
        """
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf_hash)}")
        index = self.size
        completed = [(0, index, leaf_hash)]
        current, level = leaf_hash, 0
        # While the new node is a right child, its left sibling is the last edge hash: merge.
        while index & 1:
            index >>= 1
            level += 1
            current = node_hash(self.hashes.pop(), current)
            completed.append((level, index, current))
        self.hashes.append(current)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The tree's root hash (EMPTY_ROOT for the empty tree)."""
        if not self.hashes:
            return EMPTY_ROOT
        return range_hash(self.hashes)

    def to_bytes(self) -> bytes:
        """The edge hashes, concatenated (the size is stored apart)."""
        return b"".join(self.hashes)

    @classmethod
    def from_bytes(cls, size: int, data: bytes | bytearray | memoryview) -> "Frontier":
        """The frontier of a tree of `size` leaves from `to_bytes()`; ValueError if malformed."""
        if size < 0:
            raise ValueError(f"a tree size is never negative, got {size}")
        expected = size.bit_count() * HASH_SIZE
        if len(data) != expected:
            raise ValueError(
                f"a tree of {size} leaves has {expected} bytes of edge hashes, got {len(data)}"
            )
        # bytes(): a database driver may hand over a memoryview or bytearray.
        hashes = [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]
        return cls(size, hashes)

    def copy(self) -> "Frontier":
        """An independent copy."""
        return Frontier(self.size, self.hashes)


# --- Proof construction, phase 1: which ranges and which stored nodes ------------------------


def perfect_nodes(lo: int, hi: int) -> list[Node]:
    """Split the leaf range [lo, hi) into perfect subtrees (level, index), left to right.

    Each step takes the largest perfect subtree that starts at lo (so is aligned to it) and
    ends by hi. For a range that starts at 0, or at a multiple of a power of two at least as
    long as the range (every range in an RFC 9162 proof), these are its RFC decomposition.
    """
    if not 0 <= lo <= hi:
        raise ValueError(f"not a leaf range: [{lo}, {hi})")
    nodes = []
    while lo < hi:
        level = (hi - lo).bit_length() - 1
        if lo:
            # lo & -lo is the largest power of two dividing lo: the alignment limit.
            level = min(level, (lo & -lo).bit_length() - 1)
        nodes.append((level, lo >> level))
        lo += 1 << level
    return nodes


def inclusion_ranges(index: int, size: int) -> list[LeafRange]:
    """The leaf ranges whose MTH are PATH(index, D[0:size]) (RFC 9162 2.1.3.1), bottom up."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges = []
    lo, hi = 0, size
    # Walk down from the root; the sibling of each subtree holding the leaf is on the path.
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    ranges.reverse()
    return ranges


def consistency_ranges(old_size: int, new_size: int) -> list[LeafRange]:
    """The leaf ranges whose MTH are PROOF(old_size, D[0:new_size]) (RFC 9162 2.1.4.1).

    Empty when the sizes are equal.
    """
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    ranges = []
    lo, hi = 0, new_size
    # SUBPROOF(m, D[lo:hi], b), unrolled: `known` is b, "the verifier knows this subtree's
    # root": true only while [lo, hi) starts at 0, where the old root itself is known.
    known = True
    while old_size != hi:
        mid = lo + _split(hi - lo)
        if old_size <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
            known = False
    if not known:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


# --- Proof construction, phase 2: hashes from stored nodes ------------------------------------


def range_hash(node_hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from the hashes of its perfect nodes, in `perfect_nodes` order.

    The RFC splits a tree at its largest power of two, so the MTH folds right to left.
    """
    if not node_hashes:
        raise ValueError("a leaf range has at least one perfect node")
    current = node_hashes[-1]
    for i in range(len(node_hashes) - 2, -1, -1):
        current = node_hash(node_hashes[i], current)
    return current


def inclusion_proof(index: int, size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[0:size]) computed from all the leaf hashes (the first `size` are used)."""
    return _proof(inclusion_ranges(index, size), size, leaf_hashes)


def consistency_proof(old_size: int, new_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[0:new_size]) computed from all the leaf hashes."""
    return _proof(consistency_ranges(old_size, new_size), new_size, leaf_hashes)


def _proof(ranges: list[LeafRange], size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    if size > len(leaf_hashes):
        raise ValueError(f"a tree of {size} leaves, but {len(leaf_hashes)} leaf hashes given")
    return [
        range_hash(
            [
                _mth(leaf_hashes, index << level, (index + 1) << level)
                for level, index in perfect_nodes(lo, hi)
            ]
        )
        for lo, hi in ranges
    ]


# --- Verification -----------------------------------------------------------------------------


def root_from_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]
) -> bytes | None:
    """The root that an inclusion proof leads to (RFC 9162 2.1.3.2), or None if it cannot be
    a proof for leaf `index` of a tree of `size` leaves (bad index, length or hash size)."""
    if not 0 <= index < size or len(leaf_hash) != HASH_SIZE:
        return None
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0 or len(p) != HASH_SIZE:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right border a node may have no sibling: climb until it is a right child.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    *, leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether `proof` proves leaf `index` of the tree (`size`, `root`) has `leaf_hash`.

    RFC 9162 2.1.3.2. Never raises on bad input: anything malformed is simply False.
    """
    computed = root_from_inclusion(leaf_hash=leaf_hash, index=index, size=size, proof=proof)
    return computed is not None and computed == root


def verify_consistency(
    *, old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """Whether `proof` proves the tree (`new_size`, `new_root`) extends (`old_size`, `old_root`).

    RFC 9162 2.1.4.2 for 0 < old_size < new_size; equal sizes need an empty proof and equal
    roots; an old size of 0 is refused (nothing to prove, as in RFC 9162 and
    transparency-dev/merkle). Never raises on bad input: anything malformed is simply False.
    """
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        return False
    if any(len(p) != HASH_SIZE for p in proof) or not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one: its root starts the path.
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
