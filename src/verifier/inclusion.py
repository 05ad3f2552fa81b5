"""Many RFC 9162 inclusion proofs checked against one tree head, each reusing the last's work.

A bundle's proofs are of consecutive leaves, so they share all but their lowest elements:
checked in leaf order, a bundle costs about one hash a proof (src/verifier/bundle.py).
"""

import hashlib
from collections.abc import Sequence

from src.verifier.merkle import HASH_SIZE, NODE_PREFIX

_sha256 = hashlib.sha256  # looked up once: the loop below is the bundle check's hot path


class InclusionVerifier:
    """Checks many inclusion proofs against one tree head, fast, reusing the last call's work.

    `check` gives exactly what `verify_inclusion` gives. Verification is a function of its
    state after j proof elements: the node index and the tree's last index at that height
    (fn, sn), the hash computed so far and the elements still to come. If that state equals
    the previous call's state after j elements, so does the result, and it is reused. And a
    step whose two inputs equal the previous call's at that step reuses its hash. Proofs of
    consecutive leaves differ only in their lowest elements, so a bundle in leaf order costs
    about one hash a proof.
    """

    __slots__ = ("_proof", "_result", "_root", "_size", "_steps")

    def __init__(self, *, size: int, root: bytes) -> None:
        self._size = size
        self._root = root
        # The previous call: its proof, its result and, for each element it used, the step
        # (fn, sn after it; the hash's left and right inputs; the hash). Invariant: each step
        # kept is that proof's true step (those past a reused state come from an older call
        # and are the same, because the rest of the proof is the same).
        self._proof: tuple[bytes, ...] = ()
        self._steps: list[tuple[int, int, bytes, bytes, bytes]] = []
        self._result = False

    @property
    def size(self) -> int:
        """The tree size every proof is checked against (fixed: the memo depends on it)."""
        return self._size

    @property
    def root(self) -> bytes:
        """The root hash every proof is checked against."""
        return self._root

    def check(self, leaf_hash: bytes, index: int, proof: Sequence[bytes]) -> bool:
        """Whether `proof` proves leaf `index` has `leaf_hash` in this tree (RFC 9162 2.1.3.2).

        Proof elements must be `bytes` (immutable): later calls compare against them.
        """
        # One function, the loop inlined: this runs once per event of a bundle.
        if not 0 <= index < self._size or len(leaf_hash) != HASH_SIZE:
            return False
        elements = tuple(proof)  # our own copy: the caller may reuse its list
        previous, steps = self._proof, self._steps
        known = len(steps)
        fn, sn, r = index, self._size - 1, leaf_hash
        result: bool | None = None
        j = 0
        for p in elements:
            if sn == 0 or len(p) != HASH_SIZE:
                result = False
                break
            if fn & 1 or fn == sn:
                left, right = p, r
                # On the right border a node may have no sibling: climb to a right child.
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
            else:
                left, right = r, p
            fn >>= 1
            sn >>= 1
            if j < known:
                old = steps[j]
                if old[2] == left and old[3] == right:
                    r = old[4]
                    if old[0] == fn and old[1] == sn and elements[j + 1 :] == previous[j + 1 :]:
                        self._proof = elements
                        return self._result
                else:
                    r = _sha256(NODE_PREFIX + left + right).digest()
                steps[j] = (fn, sn, left, right, r)
            else:
                r = _sha256(NODE_PREFIX + left + right).digest()
                steps.append((fn, sn, left, right, r))
            j += 1
        del steps[j:]
        if result is None:
            result = sn == 0 and r == self._root
        self._proof, self._result = elements, result
        return result
