"""What the log routes answer. Hashes are standard base64 as in checkpoints, except the
leaf hash, which is lower-case hex like the chain's hashes."""

from typing import Annotated

from pydantic import BaseModel, Field

from src.database import BIGINT_MAX
from src.schemas import UtcDatetime, with_examples

MAX_TREE_SIZE = BIGINT_MAX  # leaves are counted in bigint
# A tree size a request names (a parameter's own `Query` says what for).
TreeSize = Annotated[int, Field(ge=1, le=MAX_TREE_SIZE)]

_ORIGIN = "trailmark.localhost/acme"
_ROOT = "Hj5TksjVG3ZlTTP3Kq2R1KmJHGnCVOw8qYWCdfk8CzY="
EXAMPLE_CHECKPOINT = (
    f"{_ORIGIN}\n1200\n{_ROOT}\n\n— {_ORIGIN} hs9Jv2sL7m3ubsUGvGrT1OrDvq/Kk0Ln4r4d8Hc5/9BIjCSUD7Lb"
    "Yo6BhAtkYHZXYQ0F5BOD0a1m0xyA2QjVHw2iUk0mBgY=\n"
)


class LogKey(BaseModel):
    model_config = with_examples(
        {
            "origin": _ORIGIN,
            "verifier_key": f"{_ORIGIN}+86cf49bf+AQ2H8q3W3pQh3yL1q8Qx6m1bqv3k2s7C2Z0oWn1p8Y5s",
            "algorithm": "ed25519",
            "min_index": 0,
            "prune_anchor": None,
        }
    )

    origin: str = Field(description="The log's origin, the first line of its checkpoints.")
    verifier_key: str = Field(
        description="The C2SP signed-note verifier key: `<origin>+<key id>+<base64 key>`."
    )
    algorithm: str = Field(description="The signature algorithm (always `ed25519`).")
    min_index: int = Field(
        description='The first leaf the log still serves (C2SP tlog-tiles, "Pruning"): 0 until '
        "a retention policy prunes it; always a multiple of 256. Tiles and entry bundles "
        "wholly below it are a 404 `pruned`; every proof of a leaf at or above it verifies."
    )
    prune_anchor: str | None = Field(
        description="Where the pruned log's hash chain starts, as a note signed by this key "
        "(`prune anchor` on its second line: min index, the first kept event's `prev_hash`, "
        "and the checkpoint it was pruned under); null before any prune."
    )


class CheckpointOut(BaseModel):
    model_config = with_examples(
        {
            "size": 1200,
            "root_hash": _ROOT,
            "signed_at": "2026-12-01T16:00:00.000000Z",
            "checkpoint": EXAMPLE_CHECKPOINT,
        }
    )

    size: int = Field(description="How many events (leaves) the signed tree has.")
    root_hash: str = Field(description="The tree's root hash (base64).")
    signed_at: UtcDatetime = Field(description="When it was signed.")
    checkpoint: str = Field(description="The signed checkpoint (C2SP signed note text).")


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    next_cursor: str | None = Field(description="The next page's cursor, or null at the end.")
    limit: int


class ConsistencyProof(BaseModel):
    model_config = with_examples(
        {"from": 1000, "to": 1200, "proof": [_ROOT, "5q1XnVdQ0vYy0Q7Qh3r4Y2x3bXb3ZpM3m0Z1m7k8u9A="]}
    )

    from_: int = Field(alias="from", description="The older tree size.")
    to: int = Field(description="The newer tree size.")
    proof: list[str] = Field(description="RFC 9162 consistency proof (base64 hashes).")


class InclusionProof(BaseModel):
    model_config = with_examples(
        {
            "id": "0193a1c2-7b3e-7c1d-9a2b-3c4d5e6f7a8b",
            "seq": 42,
            "leaf_index": 41,
            "tree_size": 1200,
            "leaf_data": "eyJhY3Rpb24iOiJyZXBvc2l0b3J5LmRlbGV0ZWQiLCJ2IjoxfQ==",
            "leaf_hash": "3b1f" + "0" * 60,
            "inclusion": [_ROOT],
            "checkpoint": EXAMPLE_CHECKPOINT,
        }
    )

    id: str = Field(description="The event's id.")
    seq: int = Field(description="The event's position in the tenant's log (1-based).")
    leaf_index: int = Field(description="Its leaf index in the tree (`seq - 1`).")
    tree_size: int = Field(description="The size of the signed tree the proof is for.")
    leaf_data: str = Field(description="The event's committed content (canonical JSON, base64).")
    leaf_hash: str = Field(description="SHA-256(0x00 || leaf data), lower-case hex.")
    inclusion: list[str] = Field(description="RFC 9162 inclusion proof (base64 hashes).")
    checkpoint: str = Field(description="The signed checkpoint of `tree_size`.")
