"""RFC 9162 Merkle trees: the published vectors of transparency-dev/merkle, the RFC's
recursive definitions (re-implemented here, independently) and tampering."""

import hashlib
import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from src.verifier import inclusion, merkle
from src.verifier.inclusion import InclusionVerifier
from src.verifier.merkle import (
    EMPTY_ROOT,
    Frontier,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    perfect_nodes,
    range_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)


def h(hex_text: str) -> bytes:
    return bytes.fromhex(hex_text)


# --- Published vectors -------------------------------------------------------------------------
# From github.com/transparency-dev/merkle at 417fb0c314750d94e53942e9f92e79b6d35915db:
# testonly/constants.go (LeafInputs, NodeHashes, RootHashes, CompactTrees) and
# cmd/proofgen/main.go (inclusionProofs, consistencyProofs; leaf numbers there are 1-based).

LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]

NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]

ROOT_HASHES = [  # by tree size, 0..8
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

NH = NODE_HASHES
COMPACT_TREES = [  # the frontier by tree size, 0..8
    [],
    [NH[0][0]],
    [NH[1][0]],
    [NH[1][0], NH[0][2]],
    [NH[2][0]],
    [NH[2][0], NH[0][4]],
    [NH[2][0], NH[1][2]],
    [NH[2][0], NH[1][2], NH[0][6]],
    [NH[3][0]],
]

INCLUSION_PROOFS = [  # (1-based leaf number, tree size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

CONSISTENCY_PROOFS = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# Stand-ins of cmd/proofgen/main.go: sha256SomeHash and sha256EmptyTreeHash.
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
EMPTY_TREE_HASH = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

PUBLISHED_LEAF_HASHES = [leaf_hash(data) for data in LEAF_INPUTS]


def test_published_leaf_and_node_hashes() -> None:
    assert NODE_HASHES[0] == PUBLISHED_LEAF_HASHES
    for level in range(1, len(NODE_HASHES)):
        below = NODE_HASHES[level - 1]
        assert NODE_HASHES[level] == [
            node_hash(below[2 * i], below[2 * i + 1]) for i in range(len(below) // 2)
        ]


def test_empty_root_is_the_hash_of_nothing() -> None:
    assert EMPTY_ROOT == EMPTY_TREE_HASH == ROOT_HASHES[0]


@pytest.mark.parametrize("size", range(len(ROOT_HASHES)))
def test_published_roots(size: int) -> None:
    assert root_of(PUBLISHED_LEAF_HASHES[:size]) == ROOT_HASHES[size]
    frontier = Frontier()
    for leaf in PUBLISHED_LEAF_HASHES[:size]:
        frontier.append(leaf)
    assert frontier.hashes == COMPACT_TREES[size]
    assert frontier.root() == ROOT_HASHES[size]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_PROOFS)
def test_published_inclusion_proofs(leaf: int, size: int, proof: list[bytes]) -> None:
    index = leaf - 1
    assert inclusion_proof(index, size, PUBLISHED_LEAF_HASHES) == proof
    assert verify_inclusion(
        leaf_hash=PUBLISHED_LEAF_HASHES[index],
        index=index,
        size=size,
        proof=proof,
        root=ROOT_HASHES[size],
    )


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY_PROOFS)
def test_published_consistency_proofs(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(old, new, PUBLISHED_LEAF_HASHES) == proof
    assert verify_consistency(
        old_size=old,
        new_size=new,
        proof=proof,
        old_root=ROOT_HASHES[old],
        new_root=ROOT_HASHES[new],
    )


# The corrupted probes transparency-dev/merkle's cmd/proofgen/main.go derives from each
# published proof (invalidInclusionProof, invalidConsistencyProof); each must be refused.


def corrupted_inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    probes = [
        ("leafIdx sub 1", index - 1, size, root, leaf, proof),
        ("leafIdx plus 1", index + 1, size, root, leaf, proof),
        ("leafIdx XOR 2", index ^ 2, size, root, leaf, proof),
        ("treeSize mul 2", index, size * 2, root, leaf, proof),
        ("treeSize div 2", index, size // 2, root, leaf, proof),
        ("wrong leaf", index, size, root, b"WrongLeaf", proof),
        ("empty root", index, size, EMPTY_TREE_HASH, leaf, proof),
        ("random root", index, size, SOME_HASH, leaf, proof),
        ("trailing garbage", index, size, root, leaf, [*proof, b""]),
        ("trailing root", index, size, root, leaf, [*proof, root]),
        ("preceding garbage", index, size, root, leaf, [b"", *proof]),
        ("preceding root", index, size, root, leaf, [root, *proof]),
    ]
    for i in range(len(proof)):
        probes.append((f"modified proof[{i}]", index, size, root, leaf, flip(proof, i, 3)))
    if proof:
        probes.append(("removed component", index, size, root, leaf, proof[:-1]))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, root, leaf, [proof[0], SOME_HASH, *proof[1:]])
        )
    return probes


def flip(proof: Sequence[bytes], element: int, bit: int) -> list[bytes]:
    """A copy of `proof` with one bit of one element flipped."""
    changed = list(proof)
    changed[element] = flip_bit(changed[element], bit)
    return changed


def flip_bit(data: bytes, bit: int) -> bytes:
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION_PROOFS)
def test_published_inclusion_probes_corrupted(leaf: int, size: int, proof: list[bytes]) -> None:
    index = leaf - 1
    probes = corrupted_inclusion_probes(
        index, size, proof, ROOT_HASHES[size], PUBLISHED_LEAF_HASHES[index]
    )
    for desc, p_index, p_size, p_root, p_leaf, p_proof in probes:
        assert not verify_inclusion(
            leaf_hash=p_leaf, index=p_index, size=p_size, proof=p_proof, root=p_root
        ), desc


@pytest.mark.parametrize(("old", "new", "proof"), [v for v in CONSISTENCY_PROOFS if v[2]])
def test_published_consistency_probes_corrupted(old: int, new: int, proof: list[bytes]) -> None:
    root1, root2 = ROOT_HASHES[old], ROOT_HASHES[new]
    probes = [
        ("size1 sub 1", old - 1, new, root1, root2, proof),
        ("size1 plus 1", old + 1, new, root1, root2, proof),
        ("size1 XOR 2", old ^ 2, new, root1, root2, proof),
        ("size2 mul 2", old, new * 2, root1, root2, proof),
        ("size2 div 2", old, new // 2, root1, root2, proof),
        ("wrong root1", old, new, b"WrongRoot", root2, proof),
        ("wrong root2", old, new, root1, b"WrongRoot", proof),
        ("swapped roots", old, new, root2, root1, proof),
        ("empty proof", old, new, root1, root2, []),
        ("trailing garbage", old, new, root1, root2, [*proof, b""]),
        ("trailing root1", old, new, root1, root2, [*proof, root1]),
        ("trailing root2", old, new, root1, root2, [*proof, root2]),
        ("preceding garbage", old, new, root1, root2, [b"", *proof]),
        ("preceding root1", old, new, root1, root2, [root1, *proof]),
        ("preceding root2", old, new, root1, root2, [root2, *proof]),
        ("preceding proof[0]", old, new, root1, root2, [proof[0], *proof]),
        ("truncated proof", old, new, root1, root2, proof[:-1]),
    ]
    probes += [
        (f"modified proof[{i}]", old, new, root1, root2, flip(proof, i, 4))
        for i in range(len(proof))
    ]
    for desc, size1, size2, r1, r2, p in probes:
        assert not verify_consistency(
            old_size=size1, new_size=size2, proof=p, old_root=r1, new_root=r2
        ), desc


# staticConsistencyProbes and the single-entry and static inclusion probes of proofgen. Its
# "don't care" roots are 12-byte strings; 32-byte stand-ins here, because these functions
# refuse any root that is not 32 bytes (see test_hash_sizes_are_checked).
DONT_CARE_1 = hashlib.sha256(b"don't care 1").digest()
DONT_CARE_2 = hashlib.sha256(b"don't care 2").digest()


@pytest.mark.parametrize(
    ("old", "new", "root1", "root2", "proof", "valid"),
    [
        (0, 0, DONT_CARE_1, DONT_CARE_2, [], False),
        (1, 1, DONT_CARE_1, DONT_CARE_2, [], False),
        (0, 0, DONT_CARE_1, DONT_CARE_1, [], False),
        (0, 1, DONT_CARE_1, DONT_CARE_2, [], False),
        (1, 1, DONT_CARE_2, DONT_CARE_2, [], True),
        (1, 0, DONT_CARE_1, DONT_CARE_2, [], False),
        (2, 1, DONT_CARE_1, DONT_CARE_2, [], False),
        (1, 2, DONT_CARE_1, DONT_CARE_2, [], False),
        (0, 0, EMPTY_TREE_HASH, DONT_CARE_2, [], False),
        (1, 1, EMPTY_TREE_HASH, DONT_CARE_2, [], False),
        (0, 0, EMPTY_TREE_HASH, EMPTY_TREE_HASH, [EMPTY_TREE_HASH], False),
        (1, 1, EMPTY_TREE_HASH, EMPTY_TREE_HASH, [EMPTY_TREE_HASH], False),
        (0, 1, EMPTY_TREE_HASH, DONT_CARE_2, [], False),
        (0, 1, EMPTY_TREE_HASH, EMPTY_TREE_HASH, [EMPTY_TREE_HASH], False),
    ],
)
def test_static_consistency_probes(
    old: int, new: int, root1: bytes, root2: bytes, proof: list[bytes], valid: bool
) -> None:
    assert (
        verify_consistency(old_size=old, new_size=new, proof=proof, old_root=root1, new_root=root2)
        is valid
    )


def test_static_inclusion_probes() -> None:
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        for root, leaf in [(b"", SOME_HASH), (EMPTY_TREE_HASH, b""), (EMPTY_TREE_HASH, SOME_HASH)]:
            assert not verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=[], root=root)


def test_single_entry_inclusion_probes() -> None:
    single = leaf_hash(b"data")  # a one-leaf tree: root and leaf hash are the same
    assert verify_inclusion(leaf_hash=single, index=0, size=1, proof=[], root=single)
    assert not verify_inclusion(leaf_hash=b"", index=0, size=1, proof=[], root=single)
    assert not verify_inclusion(leaf_hash=single, index=0, size=1, proof=[], root=b"")
    assert not verify_inclusion(leaf_hash=b"", index=0, size=1, proof=[], root=b"")


def test_hash_sizes_are_checked() -> None:
    # Unlike transparency-dev/merkle, equal trees with roots of another size are refused.
    short = b"don't care 2"
    assert not verify_consistency(old_size=1, new_size=1, proof=[], old_root=short, new_root=short)
    long = EMPTY_ROOT + b"\x00"
    assert not verify_inclusion(leaf_hash=long, index=0, size=1, proof=[], root=long)
    assert not verify_inclusion(
        leaf_hash=PUBLISHED_LEAF_HASHES[0],
        index=0,
        size=2,
        proof=[PUBLISHED_LEAF_HASHES[1] + b"\x00"],
        root=ROOT_HASHES[2],
    )


# The proof node layouts of transparency-dev/merkle's proof/proof_test.go (TestInclusion,
# TestConsistency): the stored nodes each proof reads, as (level, index). Go lists the nodes
# of a range that is not one perfect subtree (the "rehash" ones) right to left.

INCLUSION_LAYOUTS = [  # (size, index, nodes)
    (1, 0, []),
    (2, 0, [(0, 1)]),
    (2, 1, [(0, 0)]),
    (3, 1, [(0, 0), (0, 2)]),
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)]),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)]),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)]),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)]),
    (7, 4, [(0, 5), (0, 6), (2, 0)]),
    (7, 5, [(0, 4), (0, 6), (2, 0)]),
    (7, 6, [(1, 2), (2, 0)]),
    (4, 2, [(0, 3), (1, 0)]),
    (5, 3, [(0, 2), (1, 0), (0, 4)]),
    (6, 3, [(0, 2), (1, 0), (1, 2)]),
    (6, 4, [(0, 5), (2, 0)]),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)]),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)]),
    (95, 81, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
]

CONSISTENCY_LAYOUTS = [  # (old size, new size, nodes)
    (1, 2, [(0, 1)]),
    (1, 4, [(0, 1), (1, 1)]),
    (1, 6, [(0, 1), (1, 1), (1, 2)]),
    (2, 3, [(0, 2)]),
    (2, 8, [(1, 1), (2, 1)]),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)]),
    (4, 7, [(0, 6), (1, 2)]),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)]),
    (6, 7, [(1, 2), (0, 6), (2, 0)]),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)]),
    *[(n, n, []) for n in (1, 2, 3, 4, 5, 7, 8)],
    (2, 4, [(1, 1)]),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)]),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)]),
    (4, 6, [(1, 2)]),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)]),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)]),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)]),
    (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)]),
]


def layout(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The nodes a proof reads, in Go's order."""
    nodes: list[tuple[int, int]] = []
    for lo, hi in ranges:
        nodes += reversed(perfect_nodes(lo, hi))
    return nodes


@pytest.mark.parametrize(("size", "index", "nodes"), INCLUSION_LAYOUTS)
def test_inclusion_layouts(size: int, index: int, nodes: list[tuple[int, int]]) -> None:
    assert layout(inclusion_ranges(index, size)) == nodes


@pytest.mark.parametrize(("old", "new", "nodes"), CONSISTENCY_LAYOUTS)
def test_consistency_layouts(old: int, new: int, nodes: list[tuple[int, int]]) -> None:
    assert layout(consistency_ranges(old, new)) == nodes


@pytest.mark.parametrize(("size", "index"), [(0, 0), (0, 1), (1, 2), (0, 3), (7, 8), (7, -1)])
def test_inclusion_ranges_refuse_bad_parameters(size: int, index: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_ranges(index, size)


@pytest.mark.parametrize(("old", "new"), [(5, 0), (9, 8), (0, 5), (0, 0), (-1, 3)])
def test_consistency_ranges_refuse_bad_parameters(old: int, new: int) -> None:
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_ranges(old, new)


def test_proofs_need_the_leaves() -> None:
    with pytest.raises(ValueError, match="3 leaf hashes given"):
        inclusion_proof(0, 4, PUBLISHED_LEAF_HASHES[:3])
    with pytest.raises(ValueError, match="3 leaf hashes given"):
        consistency_proof(1, 4, PUBLISHED_LEAF_HASHES[:3])


# --- The RFC's recursive definitions, written out again for reference --------------------------


def largest_power_of_two_below(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes, as RFC 9162 2.1.1 defines it."""
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return d[0]
    k = largest_power_of_two_below(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]), RFC 9162 2.1.3.1."""
    if len(d) == 1:
        return []
    k = largest_power_of_two_below(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), RFC 9162 2.1.4.1."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = largest_power_of_two_below(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# Distinct leaves: with two equal leaves, a proof for one also proves the other's index.
LEAVES = [leaf_hash(b"leaf %d" % i) for i in range(4096)]


def test_reference_matches_published_vectors() -> None:
    # The reference itself is checked, so the properties below compare against truth.
    for size, root in enumerate(ROOT_HASHES):
        assert ref_mth(PUBLISHED_LEAF_HASHES[:size]) == root
    for leaf, size, proof in INCLUSION_PROOFS:
        assert ref_path(leaf - 1, PUBLISHED_LEAF_HASHES[:size]) == proof
    for old, new, proof in CONSISTENCY_PROOFS:
        assert ref_subproof(old, PUBLISHED_LEAF_HASHES[:new], True) == proof


sizes = st.integers(min_value=1, max_value=3000)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(min_value=1, max_value=new)), new


@given(st.integers(min_value=0, max_value=3000))
def test_root_of_is_the_rfc_mth(size: int) -> None:
    assert root_of(LEAVES[:size]) == ref_mth(LEAVES[:size])


@given(size_and_index())
def test_inclusion_proofs_are_the_rfc_path_and_verify(case: tuple[int, int]) -> None:
    size, index = case
    proof = inclusion_proof(index, size, LEAVES)
    assert proof == ref_path(index, LEAVES[:size])
    root = ref_mth(LEAVES[:size])
    assert verify_inclusion(leaf_hash=LEAVES[index], index=index, size=size, proof=proof, root=root)
    assert (
        merkle.root_from_inclusion(leaf_hash=LEAVES[index], index=index, size=size, proof=proof)
        == root
    )


@given(old_and_new())
def test_consistency_proofs_are_the_rfc_proof_and_verify(case: tuple[int, int]) -> None:
    old, new = case
    proof = consistency_proof(old, new, LEAVES)
    assert proof == ref_subproof(old, LEAVES[:new], True)
    assert verify_consistency(
        old_size=old,
        new_size=new,
        proof=proof,
        old_root=ref_mth(LEAVES[:old]),
        new_root=ref_mth(LEAVES[:new]),
    )


@given(size_and_index(), st.data())
def test_tampered_inclusion_proofs_fail(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = inclusion_proof(index, size, LEAVES)
    root = root_of(LEAVES[:size])
    leaf = LEAVES[index]

    def verifies(
        *,
        leaf_hash: bytes = leaf,
        index: int = index,
        size: int = size,
        proof: Sequence[bytes] = proof,
        root: bytes = root,
    ) -> bool:
        return verify_inclusion(leaf_hash=leaf_hash, index=index, size=size, proof=proof, root=root)

    assert verifies()
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    assert not verifies(leaf_hash=flip_bit(leaf, bit))
    assert not verifies(root=flip_bit(root, bit))
    if proof:
        element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
        assert not verifies(proof=flip(proof, element, bit))
        assert not verifies(proof=proof[:-1])
        assert not verifies(proof=proof[1:])
    assert not verifies(proof=[*proof, SOME_HASH])
    other_index = data.draw(st.integers(min_value=-2, max_value=size + 2), label="other index")
    if other_index != index:
        assert not verifies(index=other_index)
    # Another size, with that size's root: a proof of one tree proves nothing of another.
    # (With the original root it can pass: sizes 3 and 4 give leaf 0 paths of one shape.)
    other_size = data.draw(st.integers(min_value=index + 1, max_value=size + 300), label="size")
    if other_size != size:
        assert not verifies(size=other_size, root=ref_mth(LEAVES[:other_size]))


@given(old_and_new(), st.data())
def test_tampered_consistency_proofs_fail(case: tuple[int, int], data: st.DataObject) -> None:
    old, new = case
    proof = consistency_proof(old, new, LEAVES)
    old_root, new_root = root_of(LEAVES[:old]), root_of(LEAVES[:new])

    def verifies(
        *,
        old_size: int = old,
        new_size: int = new,
        proof: Sequence[bytes] = proof,
        old_root: bytes = old_root,
        new_root: bytes = new_root,
    ) -> bool:
        return verify_consistency(
            old_size=old_size, new_size=new_size, proof=proof, old_root=old_root, new_root=new_root
        )

    assert verifies()
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")
    assert not verifies(old_root=flip_bit(old_root, bit))
    assert not verifies(new_root=flip_bit(new_root, bit))
    if proof:
        element = data.draw(st.integers(min_value=0, max_value=len(proof) - 1), label="element")
        assert not verifies(proof=flip(proof, element, bit))
        assert not verifies(proof=proof[:-1])
        assert not verifies(proof=proof[1:])
    assert not verifies(proof=[*proof, SOME_HASH])
    assert not verifies(proof=[SOME_HASH, *proof])
    other_old = data.draw(st.integers(min_value=0, max_value=new + 1), label="other old size")
    if other_old != old:
        assert not verifies(old_size=other_old, old_root=ref_mth(LEAVES[:other_old]))
    other_new = data.draw(st.integers(min_value=old, max_value=new + 300), label="other new size")
    if other_new != new:
        assert not verifies(new_size=other_new, new_root=ref_mth(LEAVES[:other_new]))


def test_root_from_inclusion_needs_a_proof_of_the_right_length() -> None:
    proof = inclusion_proof(5, 7, LEAVES)
    root = root_of(LEAVES[:7])
    assert merkle.root_from_inclusion(leaf_hash=LEAVES[5], index=5, size=7, proof=proof) == root
    for wrong in ([*proof, SOME_HASH], proof[:-1], [*proof, b""]):
        assert merkle.root_from_inclusion(leaf_hash=LEAVES[5], index=5, size=7, proof=wrong) is None
    assert merkle.root_from_inclusion(leaf_hash=LEAVES[5], index=7, size=7, proof=proof) is None


def test_one_leaf_and_equal_sizes() -> None:
    # RFC 9162: a one-leaf tree's inclusion proof is empty and its root is the leaf hash;
    # equal sizes need an empty consistency proof.
    leaf = LEAVES[0]
    assert inclusion_ranges(0, 1) == []
    assert verify_inclusion(leaf_hash=leaf, index=0, size=1, proof=[], root=leaf)
    assert not verify_inclusion(leaf_hash=leaf, index=0, size=1, proof=[leaf], root=leaf)
    assert consistency_ranges(5, 5) == []
    root = root_of(LEAVES[:5])
    assert verify_consistency(old_size=5, new_size=5, proof=[], old_root=root, new_root=root)
    assert not verify_consistency(
        old_size=5, new_size=5, proof=[root], old_root=root, new_root=root
    )


junk_hash = st.one_of(st.binary(max_size=40), st.sampled_from(LEAVES[:4]))


@given(
    leaf=junk_hash,
    index=st.integers(min_value=-(2**70), max_value=2**70),
    size=st.integers(min_value=-(2**70), max_value=2**70),
    proof=st.lists(junk_hash, max_size=80),
    root=junk_hash,
)
def test_inclusion_never_raises(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    result = verify_inclusion(leaf_hash=leaf, index=index, size=size, proof=proof, root=root)
    assert result is False or (0 <= index < size and len(root) == len(leaf) == 32)


@given(
    old=st.integers(min_value=-(2**70), max_value=2**70),
    new=st.integers(min_value=-(2**70), max_value=2**70),
    proof=st.lists(junk_hash, max_size=80),
    old_root=junk_hash,
    new_root=junk_hash,
)
def test_consistency_never_raises(
    old: int, new: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> None:
    result = verify_consistency(
        old_size=old, new_size=new, proof=proof, old_root=old_root, new_root=new_root
    )
    assert result is False or (0 < old <= new and len(old_root) == len(new_root) == 32)


# --- Ranges and perfect nodes ------------------------------------------------------------------


def pair_up(row: list[bytes]) -> list[bytes]:
    return [
        hashlib.sha256(b"\x01" + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)
    ]


# Every perfect node over LEAVES, level by level, hashed here directly.
LEVELS = [LEAVES]
while len(LEVELS[-1]) > 1:
    LEVELS.append(pair_up(LEVELS[-1]))


def node_hash_of(level: int, index: int) -> bytes:
    return LEVELS[level][index]


@given(st.data())
def test_proof_ranges_split_into_their_rfc_subtrees(data: st.DataObject) -> None:
    if data.draw(st.booleans(), label="inclusion"):
        size, index = data.draw(size_and_index())
        ranges = inclusion_ranges(index, size)
    else:
        ranges = consistency_ranges(*data.draw(old_and_new()))
    for lo, hi in ranges:
        nodes = perfect_nodes(lo, hi)
        assert [level for level, _ in nodes] == sorted({level for level, _ in nodes}, reverse=True)
        assert range_hash([node_hash_of(level, index) for level, index in nodes]) == ref_mth(
            LEAVES[lo:hi]
        )


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_perfect_nodes_tile_any_range_with_aligned_subtrees(lo: int, length: int) -> None:
    nodes = perfect_nodes(lo, lo + length)
    position = lo
    for level, index in nodes:
        assert index << level == position  # contiguous, and aligned by construction
        position += 1 << level
    assert position == lo + length
    # Greedy: no two neighbours could have been one node.
    for (a_level, a_index), (b_level, b_index) in itertools.pairwise(nodes):
        assert not (a_level == b_level and a_index % 2 == 0 and b_index == a_index + 1)


def test_perfect_nodes_from_zero_are_the_binary_decomposition() -> None:
    assert perfect_nodes(0, 0) == []
    assert perfect_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_nodes(0, 1 << 40) == [(40, 0)]
    with pytest.raises(ValueError, match="not a leaf range"):
        perfect_nodes(5, 4)
    with pytest.raises(ValueError, match="not a leaf range"):
        perfect_nodes(-1, 4)


def test_range_hash_needs_a_node() -> None:
    with pytest.raises(ValueError, match="at least one"):
        range_hash([])
    assert range_hash([LEAVES[0]]) == LEAVES[0]


# --- Frontier ----------------------------------------------------------------------------------


def expected_completed(index: int) -> list[tuple[int, int, bytes]]:
    """The perfect nodes whose last leaf is `index`, from the leaf up."""
    nodes = []
    level = 0
    while (index + 1) % (1 << level) == 0:
        node = ((index + 1) >> level) - 1
        nodes.append((level, node, node_hash_of(level, node)))
        level += 1
    return nodes


def test_frontier_at_every_size() -> None:
    frontier = Frontier()
    assert frontier.root() == EMPTY_ROOT
    for index in range(1100):  # past 1024, so up to ten merges at once
        assert frontier.append(LEAVES[index]) == expected_completed(index)
        assert frontier.size == index + 1
        assert frontier.root() == ref_mth(LEAVES[: index + 1])
        assert frontier.hashes == [node_hash_of(lv, i) for lv, i in perfect_nodes(0, index + 1)]


@settings(max_examples=25)
@given(st.integers(min_value=0, max_value=4096))
def test_frontier_round_trips_and_grows_like_the_tree(size: int) -> None:
    frontier = Frontier()
    for leaf in LEAVES[:size]:
        frontier.append(leaf)
    assert frontier.root() == root_of(LEAVES[:size])
    restored = Frontier.from_bytes(size, frontier.to_bytes())
    assert restored == frontier
    copy = frontier.copy()
    if size < len(LEAVES):
        copy.append(LEAVES[size])
        assert copy.root() == root_of(LEAVES[: size + 1])
        assert frontier.size == size  # the copy is independent
        assert frontier.root() == root_of(LEAVES[:size])


def test_frontier_refuses_malformed_state() -> None:
    with pytest.raises(ValueError, match="has 2 edge hashes"):
        Frontier(3, [LEAVES[0]])
    with pytest.raises(ValueError, match="32 bytes"):
        Frontier(1, [b"short"])
    with pytest.raises(ValueError, match="never negative"):
        Frontier(-1, [])
    with pytest.raises(ValueError, match="64 bytes of edge hashes, got 32"):
        Frontier.from_bytes(3, LEAVES[0])
    with pytest.raises(ValueError, match="got 31"):
        Frontier.from_bytes(1, LEAVES[0][:31])
    with pytest.raises(ValueError, match="never negative"):
        Frontier.from_bytes(-1, b"")
    restored = Frontier.from_bytes(3, memoryview(LEAVES[0] + LEAVES[1]))
    assert restored.hashes == [LEAVES[0], LEAVES[1]]
    assert all(type(edge) is bytes for edge in restored.hashes)
    with pytest.raises(ValueError, match="a leaf hash is 32 bytes"):
        Frontier().append(b"leaf data, not its hash")


def test_frontier_does_not_alias_the_callers_list() -> None:
    hashes = [LEAVES[0]]
    frontier = Frontier(1, hashes)
    frontier.append(LEAVES[1])
    assert hashes == [LEAVES[0]]


# --- InclusionVerifier -------------------------------------------------------------------------


def full_proofs(size: int) -> list[list[bytes]]:
    return [inclusion_proof(index, size, LEAVES) for index in range(size)]


PROOFS_300 = full_proofs(300)
ROOT_300 = root_of(LEAVES[:300])

TAMPERINGS: list[Callable[[int, list[bytes], st.DataObject], tuple[bytes, int, list[bytes]]]] = [
    lambda i, p, d: (LEAVES[i], i, p),
    lambda i, p, d: (flip_bit(LEAVES[i], d.draw(st.integers(0, 255))), i, p),
    lambda i, p, d: (
        LEAVES[i],
        i,
        flip(p, d.draw(st.integers(0, len(p) - 1)), d.draw(st.integers(0, 255))),
    ),
    lambda i, p, d: (LEAVES[i], (i + d.draw(st.integers(1, 299))) % 300, p),
    lambda i, p, d: (LEAVES[i], i, p[:-1]),
    lambda i, p, d: (LEAVES[i], i, [*p, SOME_HASH]),
    lambda i, p, d: (LEAVES[i], i, [p[0] + b"\x00", *p[1:]]),
    lambda i, p, d: (LEAVES[i], i, PROOFS_300[(i + 1) % 300]),
    lambda i, p, d: (LEAVES[(i + 1) % 300], i, p),
]


@settings(max_examples=300)
@given(st.data())
def test_inclusion_verifier_agrees_with_verify_inclusion(data: st.DataObject) -> None:
    verifier = InclusionVerifier(size=300, root=ROOT_300)
    start = data.draw(st.integers(0, 299), label="start")
    # Mostly runs of consecutive leaves, where the memo is used, some valid, some tampered.
    steps = data.draw(st.lists(st.tuples(st.integers(-1, 3), st.integers(0, len(TAMPERINGS) - 1))))
    index = start
    for stride, how in steps:
        index = (index + stride) % 300
        leaf, claimed, proof = TAMPERINGS[how](index, PROOFS_300[index], data)
        expected = verify_inclusion(
            leaf_hash=leaf, index=claimed, size=300, proof=proof, root=ROOT_300
        )
        assert verifier.check(leaf, claimed, proof) is expected
        assert expected is (how == 0)


def test_inclusion_verifier_memo_never_accepts_a_changed_suffix() -> None:
    verifier = InclusionVerifier(size=300, root=ROOT_300)
    assert verifier.check(LEAVES[10], 10, PROOFS_300[10])
    # Leaf 11 shares every state with leaf 10 after its first element; only the rest differs.
    tampered = flip(PROOFS_300[11], len(PROOFS_300[11]) - 1, 0)
    assert not verifier.check(LEAVES[11], 11, tampered)
    assert not verifier.check(flip_bit(LEAVES[11], 7), 11, PROOFS_300[11])
    assert verifier.check(LEAVES[11], 11, PROOFS_300[11])
    assert not verifier.check(LEAVES[11], 11, PROOFS_300[11][:-1])
    assert verifier.check(LEAVES[11], 11, PROOFS_300[11])


def test_inclusion_verifier_keeps_its_own_copy_of_the_proof() -> None:
    verifier = InclusionVerifier(size=300, root=ROOT_300)
    proof = list(PROOFS_300[20])
    assert verifier.check(LEAVES[20], 20, proof)
    proof[-1] = SOME_HASH  # the caller reuses its list
    assert not verifier.check(LEAVES[21], 21, [PROOFS_300[21][0], *proof[1:]])
    assert verifier.check(LEAVES[21], 21, PROOFS_300[21])


@pytest.mark.parametrize("size", [1, 2, 3, 255, 256, 300, 513])
def test_inclusion_verifier_hashes_each_node_about_once_in_leaf_order(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    proofs = full_proofs(size)
    verifier = InclusionVerifier(size=size, root=root_of(LEAVES[:size]))
    calls = 0
    real = hashlib.sha256

    def counting_sha256(data: bytes) -> "hashlib._Hash":
        nonlocal calls
        calls += 1
        return real(data)

    monkeypatch.setattr(inclusion, "_sha256", counting_sha256)
    assert all(verifier.check(LEAVES[i], i, proofs[i]) for i in range(size))
    # A tree of n leaves has n - 1 interior nodes, each hashed once, except that a node on
    # the right border may be met again at another step (it lacks a sibling below it).
    assert size - 1 <= calls <= size - 1 + size.bit_length()


def test_inclusion_verifier_refuses_what_verify_inclusion_refuses() -> None:
    verifier = InclusionVerifier(size=300, root=ROOT_300)
    assert not verifier.check(LEAVES[0], -1, PROOFS_300[0])
    assert not verifier.check(LEAVES[0], 300, PROOFS_300[0])
    assert not verifier.check(LEAVES[0][:31], 0, PROOFS_300[0])
    bad_root = InclusionVerifier(size=300, root=ROOT_300[:31])
    assert not bad_root.check(LEAVES[0], 0, PROOFS_300[0])
