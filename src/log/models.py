"""The log's rows: hash tiles, signed checkpoints, and each tenant's checkpoint head.

The tree's right edge (`tree_size`, `frontier`) lives on the tenant's chain head
(src/events/models.py), which writers already lock, so integration shares their lock.
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    LargeBinary,
    PrimaryKeyConstraint,
    SmallInteger,
    Text,
)
from sqlmodel import Field, SQLModel

HASH_TILE_BYTES = 256 * 32


class LogTile(SQLModel, table=True):
    """A C2SP hash tile: up to 256 hashes of Merkle level 8 x `level`, appended to in place.

    A partial tile only ever grows by appending (a trigger refuses anything else), so any
    width it once had is a prefix of what it holds now: every partial tile that was ever
    checkpointed can still be served.
    """

    __tablename__ = "log_tile"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "level", "index", name="pk_log_tile"),
        CheckConstraint("level >= 0 AND level < 64", name="level_range"),
        CheckConstraint("index >= 0", name="index_positive"),
        CheckConstraint(
            f"octet_length(hashes) % 32 = 0 AND octet_length(hashes) BETWEEN 32 AND "
            f"{HASH_TILE_BYTES}",
            name="hashes_whole",
        ),
    )

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False))
    level: int = Field(sa_column=Column(SmallInteger, nullable=False))
    index: int = Field(sa_column=Column(BigInteger, nullable=False))
    hashes: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class LogCheckpoint(SQLModel, table=True):
    """A signed checkpoint. The primary key makes two checkpoints of one size impossible."""

    __tablename__ = "log_checkpoint"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "size", name="pk_log_checkpoint"),
        CheckConstraint("size >= 0", name="size_positive"),
        CheckConstraint("octet_length(root_hash) = 32", name="root_hash_size"),
    )

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    signed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))


class LogHead(SQLModel, table=True):
    """The newest checkpoint of a tenant: signers move it by compare-and-set on `size`."""

    __tablename__ = "log_head"
    __table_args__ = (CheckConstraint("size >= 0", name="size_positive"),)

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), primary_key=True))
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))


class LogPruneAnchor(SQLModel, table=True):
    """A signed prune anchor (src/verifier/anchor.py): the tenant's log publishes nothing below
    `min_index` any more, and its chain restarts from `prev_hash`. The newest is the one in
    force; the database lets the prune remove only rows below it."""

    __tablename__ = "log_prune_anchor"
    __table_args__ = (
        PrimaryKeyConstraint("tenant", "min_index", name="pk_log_prune_anchor"),
        CheckConstraint("min_index > 0 AND min_index % 256 = 0", name="min_index_whole_tiles"),
        CheckConstraint("checkpoint_size >= min_index", name="within_checkpoint"),
        CheckConstraint("octet_length(prev_hash) = 32", name="prev_hash_size"),
    )

    tenant: str = Field(sa_column=Column(Text, ForeignKey("tenant.slug"), nullable=False))
    min_index: int = Field(sa_column=Column(BigInteger, nullable=False))
    prev_hash: bytes = Field(sa_column=Column(LargeBinary(32), nullable=False))
    checkpoint_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    pruned_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
