"""Writing events: chain them after the tenant's head, insert, answer with what was written.

Writers lock the tenant's chain head row (`SELECT ... FOR UPDATE`) inside the writing
transaction: that lock, held by PostgreSQL rather than by this process, makes `seq` gap-free
and the chain linear whatever number of server processes write at once. Plain single events
share transactions through the group committer; batches and idempotent requests write in
their own. Either way the service owns the transaction (`async with session.begin()`).
"""

import hashlib
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uuid6
from sqlalchemy import TextClause, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from src.audits import idempotency
from src.audits.group_commit import GroupCommitter
from src.audits.rendering import fetch_rendered, render_stored
from src.audits.schemas import EventBatchCreate, EventCreate, EventIn
from src.auth import service as auth_service
from src.auth.schemas import Principal
from src.events.models import ChainHead
from src.events.stored import WRITTEN_FIELDS, StoredEvent, chain_hash
from src.log.tree import APPEND_TILES_SQL, TreeGrowth, tile_appends
from src.metrics import Metrics
from src.verifier import merkle


@dataclass(frozen=True, slots=True)
class RecordedEvents:
    """Events as written (JSON text each, in order) and whether this was a replay."""

    ids: list[uuid.UUID]
    items: list[str]
    replayed: bool


@dataclass(slots=True)
class Head:
    """A tenant's locked chain head: the newest link, and the right edge of its Merkle tree."""

    seq: int
    hash: bytes
    tree_size: int
    frontier: bytes

    def grow(self, seq: int, head_hash: bytes, leaf_hashes: Sequence[bytes]) -> TreeGrowth | None:
        """Move to the new newest link; integrate its leaves unless a backfill is behind."""
        integrated = self.tree_size == self.seq
        self.seq, self.hash = seq, head_hash
        if not integrated:  # older events are not in the tree yet: the backfill adds these too
            return None
        frontier = merkle.Frontier.from_bytes(self.tree_size, self.frontier)
        growth = TreeGrowth()
        growth.add(frontier, leaf_hashes)
        self.tree_size, self.frontier = frontier.size, frontier.to_bytes()
        return growth


_HEAD_COLUMNS = (
    col(ChainHead.tenant),
    col(ChainHead.head_seq),
    col(ChainHead.head_hash),
    col(ChainHead.tree_size),
    col(ChainHead.frontier),
)


async def _lock_heads(session: AsyncSession, tenants: Sequence[str]) -> dict[str, Head]:
    """Lock these tenants' chain heads, in tenant order (creating tenants and heads first used).

    One statement for any number of tenants; the fixed order means two writers locking
    several heads never wait on each other in a cycle.
    """
    query = (
        select(*_HEAD_COLUMNS)
        .where(col(ChainHead.tenant).in_(tenants))
        .order_by(col(ChainHead.tenant))
        .with_for_update()
    )

    async def read() -> dict[str, Head]:
        return {
            row[0]: Head(int(row[1]), bytes(row[2]), int(row[3]), bytes(row[4]))
            for row in await session.execute(query)
        }

    heads = await read()
    missing = [tenant for tenant in tenants if tenant not in heads]
    if missing:
        await auth_service.ensure_tenants(session=session, slugs=missing)
        await session.execute(
            pg_insert(ChainHead)
            .values([{"tenant": tenant} for tenant in missing])
            .on_conflict_do_nothing()
        )
        heads = await read()
    return heads


# The columns a new event's insert sets, and the PostgreSQL type their values travel in:
# addresses and JSON as text, cast where they are inserted.
_TRAVELS_AS_TEXT = {"inet", "jsonb"}
_NEW_EVENT_COLUMNS: dict[str, str] = {
    field.name: "text" if field.storage.sql_type in _TRAVELS_AS_TEXT else field.storage.sql_type
    for field in WRITTEN_FIELDS
}
_CAST_ON_INSERT = {
    field.name: field.storage.sql_type
    for field in WRITTEN_FIELDS
    if field.storage.sql_type in _TRAVELS_AS_TEXT
}


def _write_statement() -> TextClause:
    """The events, the tiles they grew and the moved heads: one statement, one round trip.

    Every write holds its tenants' head locks until it commits; each statement more is one
    more wait for this process's busy event loop while the locks are held, and the other
    processes' writers wait behind them.
    """
    names = ", ".join(_NEW_EVENT_COLUMNS)
    arrays = ", ".join(f"CAST(:{name} AS {kind}[])" for name, kind in _NEW_EVENT_COLUMNS.items())
    selected = ", ".join(
        f"CAST(e.{name} AS {_CAST_ON_INSERT[name]})" if name in _CAST_ON_INSERT else f"e.{name}"
        for name in _NEW_EVENT_COLUMNS
    )
    # Built from the constants above only: nothing a request sends reaches the SQL text.
    return text(
        f"WITH written AS (INSERT INTO audit_event ({names}) "  # noqa: S608
        f"SELECT {selected} FROM unnest({arrays}) AS e({names})), "
        f"tiles AS ({APPEND_TILES_SQL}) "
        "UPDATE chain_head SET head_seq = moved.seq, head_hash = moved.hash, "
        "tree_size = moved.tree_size, frontier = moved.frontier "
        "FROM unnest(CAST(:head_tenants AS text[]), CAST(:head_seqs AS bigint[]), "
        "CAST(:head_hashes AS bytea[]), CAST(:head_tree_sizes AS bigint[]), "
        "CAST(:head_frontiers AS bytea[])) AS moved(tenant, seq, hash, tree_size, frontier) "
        "WHERE chain_head.tenant = moved.tenant"
    )


_WRITE = _write_statement()


def _column_values(name: str, rows: Sequence[StoredEvent]) -> list[Any]:  # Any: column's type
    values = [getattr(row, name) for row in rows]
    if _CAST_ON_INSERT.get(name) == "inet":
        return [None if value is None else str(value) for value in values]
    if _CAST_ON_INSERT.get(name) == "jsonb":
        return [None if value is None else json.dumps(value) for value in values]
    return values


async def _write(
    session: AsyncSession,
    rows: Sequence[StoredEvent],
    growth: dict[str, TreeGrowth],
    heads: dict[str, Head],
) -> None:
    """Insert the chained rows, store their tiles and move the (locked) heads."""
    await session.execute(
        _WRITE,
        {name: _column_values(name, rows) for name in _NEW_EVENT_COLUMNS}
        | tile_appends(growth)
        | {
            "head_tenants": list(heads),
            "head_seqs": [head.seq for head in heads.values()],
            "head_hashes": [head.hash for head in heads.values()],
            "head_tree_sizes": [head.tree_size for head in heads.values()],
            "head_frontiers": [head.frontier for head in heads.values()],
        },
    )


@dataclass(slots=True)
class Chained:
    """New events chained after a head, the new newest link, and their Merkle leaf hashes."""

    rows: list[StoredEvent]
    ids: list[uuid.UUID]
    seq: int
    hash: bytes
    leaf_hashes: list[bytes]


def chain_rows(
    tenant: str, seq: int, prev_hash: bytes, batch: Sequence[EventIn], received_at: datetime
) -> Chained:
    """The rows of `batch` chained after (`seq`, `prev_hash`), the new head, and their leaves.

    Pure: the API's writes and the benchmark's COPY ceiling both chain events with it.
    """
    chained = Chained([], [], seq, prev_hash, [])
    for event in batch:
        event_id = uuid6.uuid7()
        actor = event.actor
        row = StoredEvent(
            tenant=tenant,
            seq=chained.seq + 1,
            id=str(event_id),
            received_at=received_at,
            action_type=event.action_type.value,
            action=event.action,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            actor_id=actor.id if actor else None,
            actor_type=actor.type.value if actor else None,
            actor_name=actor.name if actor else None,
            status=event.status.value,
            status_changed_at=None,
            occurred_at=event.occurred_at or received_at,
            ip_address=event.ip_address,
            user_agent=event.user_agent,
            request_id=event.request_id,
            details=event.details,
            field_salt=secrets.token_bytes(16),
            erased_at=None,
            erased_hashes=None,
            hash=b"",
            prev_hash=chained.hash,
        )
        leaf_data = row.leaf_data()
        assert leaf_data is not None  # a salt and no erasure: the content is whole
        row.hash = chain_hash(chained.hash, hashlib.sha256(leaf_data).digest())
        chained.rows.append(row)
        chained.ids.append(event_id)
        chained.leaf_hashes.append(merkle.leaf_hash(leaf_data))
        chained.seq, chained.hash = row.seq, row.hash
    return chained


async def append(session: AsyncSession, tenant: str, batch: Sequence[EventIn]) -> Chained:
    """Chain and insert `batch` at the end of the tenant's log and integrate it into the
    tenant's Merkle tree (inside the caller's transaction)."""
    heads = await _lock_heads(session, [tenant])
    head = heads[tenant]
    chained = chain_rows(tenant, head.seq, head.hash, batch, datetime.now(UTC))
    growth = head.grow(chained.seq, chained.hash, chained.leaf_hashes)
    await _write(session, chained.rows, {tenant: growth} if growth is not None else {}, heads)
    return chained


async def append_group(
    *, session: AsyncSession, items: Sequence[tuple[str, EventIn]]
) -> list[tuple[uuid.UUID, str]]:
    """Append single events of any tenants in one transaction; (id, API JSON) of each, in order.

    Four statements whatever the number of events and tenants: lock the heads, insert every
    row, append to the Merkle trees' tiles, move the heads.
    """
    by_tenant: dict[str, list[int]] = {}
    for index, (tenant, _) in enumerate(items):
        by_tenant.setdefault(tenant, []).append(index)
    by_index: dict[int, tuple[uuid.UUID, StoredEvent]] = {}
    received_at = datetime.now(UTC)
    async with session.begin():
        heads = await _lock_heads(session, sorted(by_tenant))
        growth: dict[str, TreeGrowth] = {}
        for tenant, indexes in by_tenant.items():
            head = heads[tenant]
            chained = chain_rows(
                tenant, head.seq, head.hash, [items[i][1] for i in indexes], received_at
            )
            grown = head.grow(chained.seq, chained.hash, chained.leaf_hashes)
            if grown is not None:
                growth[tenant] = grown
            for index, event_id, row in zip(indexes, chained.ids, chained.rows, strict=True):
                by_index[index] = (event_id, row)
        written = [by_index[index] for index in range(len(items))]
        await _write(session, [row for _, row in written], growth, heads)
    return [(event_id, render_stored(row)) for event_id, row in written]


def create_committer(sessionmaker: async_sessionmaker[AsyncSession]) -> GroupCommitter:
    """The process's group committer: each group is one session and one transaction."""

    async def write(items: Sequence[tuple[str, EventIn]]) -> list[tuple[uuid.UUID, str]]:
        async with sessionmaker() as session:
            return await append_group(session=session, items=items)

    return GroupCommitter(write)


async def record(
    *,
    session: AsyncSession,
    tenant: str,
    batch: Sequence[EventIn],
    idempotency_key: str | None,
    fingerprint: bytes,
) -> RecordedEvents:
    """Append events to the tenant's chain, all or nothing; replay if the key was used before.

    One transaction: the key's claim, the events and the key's record commit together, or
    nothing does (a crash included), so a retry with the same key is always safe.
    """
    async with session.begin():
        if idempotency_key is not None:
            replay = await idempotency.claim(
                session=session, tenant=tenant, key=idempotency_key, fingerprint=fingerprint
            )
            if replay is not None:
                items = await fetch_rendered(session, tenant, replay.event_ids)
                return RecordedEvents(ids=replay.event_ids, items=items, replayed=True)
        chained = await append(session, tenant, batch)
        ids = chained.ids
        if idempotency_key is not None:
            await idempotency.remember(
                session=session,
                tenant=tenant,
                key=idempotency_key,
                fingerprint=fingerprint,
                event_ids=ids,
            )
    return RecordedEvents(
        ids=ids, items=[render_stored(row) for row in chained.rows], replayed=False
    )


async def ingest(
    *,
    session: AsyncSession,
    committer: GroupCommitter,
    metrics: Metrics,
    principal: Principal,
    query_tenant: str | None,
    body: EventCreate | EventBatchCreate,
    idempotency_key: str | None,
) -> RecordedEvents:
    """Both ingest routes: resolve the tenant, then group-commit a plain single event, or write
    a batch or an idempotent request in a transaction of its own; count what was written."""
    access = auth_service.resolve_named_tenant(principal, query=query_tenant, body=body.tenant)
    if isinstance(body, EventCreate) and idempotency_key is None:
        event_id, item = await committer.append(access.tenant, body)
        metrics.events_ingested.labels("single").inc()
        return RecordedEvents(ids=[event_id], items=[item], replayed=False)
    is_batch = isinstance(body, EventBatchCreate)
    batch: Sequence[EventIn] = body.events if isinstance(body, EventBatchCreate) else [body]
    content = json.loads(body.model_dump_json(exclude={"tenant"}))
    recorded = await record(
        session=session,
        tenant=access.tenant,
        batch=batch,
        idempotency_key=idempotency_key,
        fingerprint=idempotency.request_fingerprint(
            "batch" if is_batch else "event", access.tenant, content
        ),
    )
    if not recorded.replayed:
        metrics.events_ingested.labels("batch" if is_batch else "single").inc(len(recorded.ids))
    return recorded
