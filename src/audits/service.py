"""The rules of the audit trail. Every function owns its transaction.

Writes take the tenant's chain head row `FOR UPDATE`: that lock, held by PostgreSQL rather
than by this process, makes `seq` gap-free and the chain linear whatever number of server
processes write at once. Reads return events as JSON shaped by PostgreSQL (`event_json()`),
the single source of the API's event shape for single reads, lists and exports.
"""

import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import uuid6
from sqlalchemy import (
    BigInteger,
    LargeBinary,
    Row,
    Select,
    Text,
    and_,
    cast,
    column,
    func,
    insert,
    select,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from src.audits import idempotency
from src.audits.constants import (
    AUDIT_EVENT_ENTITY,
    EVENTS_CURSOR,
    GENESIS_HASH,
    ActionType,
    ActorType,
    EventStatus,
)
from src.audits.exceptions import EventErased, EventNotFound, InvalidStatusTransition
from src.audits.integrity import (
    ChainVerifier,
    CommittedContent,
    StoredEvent,
    chain_hash,
    erasable_hashes,
)
from src.audits.models import ChainHead
from src.audits.query import EventFilter, conditions, event_json, events, keyset_after
from src.audits.schemas import ActorIn, EventIn, Verification
from src.auth import service as auth_service
from src.auth.dependencies import TenantAccess
from src.auth.schemas import Principal
from src.pagination import CursorCodec, InvalidCursor, read_ahead

Order = Literal["asc", "desc"]
EXPORT_BATCH = 1000
VERIFY_BATCH = 5000


@dataclass(frozen=True, slots=True)
class RecordedEvents:
    """Events as written (JSON text each, in order) and whether this was a replay."""

    ids: list[uuid.UUID]
    items: list[str]
    replayed: bool


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


Head = tuple[int, bytes]  # (seq, hash) of a tenant's newest event


async def _lock_heads(session: AsyncSession, tenants: Sequence[str]) -> dict[str, Head]:
    """Lock these tenants' chain heads, in tenant order (creating tenants and heads first used).

    One statement for any number of tenants; the fixed order means two writers locking
    several heads never wait on each other in a cycle.
    """
    query = (
        select(col(ChainHead.tenant), col(ChainHead.head_seq), col(ChainHead.head_hash))
        .where(col(ChainHead.tenant).in_(tenants))
        .order_by(col(ChainHead.tenant))
        .with_for_update()
    )
    heads = {row[0]: (int(row[1]), bytes(row[2])) for row in await session.execute(query)}
    missing = [tenant for tenant in tenants if tenant not in heads]
    if missing:
        await auth_service.ensure_tenants(session=session, slugs=missing)
        await session.execute(
            pg_insert(ChainHead)
            .values([{"tenant": tenant} for tenant in missing])
            .on_conflict_do_nothing()
        )
        heads = {row[0]: (int(row[1]), bytes(row[2])) for row in await session.execute(query)}
    return heads


async def _move_heads(session: AsyncSession, heads: dict[str, Head]) -> None:
    """Set the (locked) heads of these tenants, in one statement."""
    moved = values(
        column("tenant", Text), column("seq", BigInteger), column("hash", LargeBinary), name="moved"
    ).data([(tenant, seq, head_hash) for tenant, (seq, head_hash) in heads.items()])
    await session.execute(
        update(ChainHead)
        .where(col(ChainHead.tenant) == moved.c.tenant)
        .values(head_seq=moved.c.seq, head_hash=moved.c.hash)
    )


def chain_rows(
    tenant: str, seq: int, prev_hash: bytes, batch: Sequence[EventIn], received_at: datetime
) -> tuple[list[dict[str, Any]], int, bytes]:
    """The rows of `batch` chained after (`seq`, `prev_hash`), and the new head.

    Pure: the API's writes and the benchmark's COPY ceiling both chain events with it.
    """
    rows: list[dict[str, Any]] = []  # column values of each new row
    for event in batch:
        seq += 1
        event_id = uuid6.uuid7()
        salt = secrets.token_bytes(16)
        actor = event.actor
        actor_id, actor_type, actor_name = (
            (actor.id, actor.type.value, actor.name) if actor else (None, None, None)
        )
        occurred_at = event.occurred_at or received_at
        committed = CommittedContent(
            tenant=tenant,
            seq=seq,
            id=str(event_id),
            received_at=received_at,
            action_type=event.action_type.value,
            action=event.action,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            actor_id=actor_id,
            actor_type=actor_type,
            status=event.status.value,
            occurred_at=occurred_at,
            request_id=event.request_id,
            hashes=erasable_hashes(
                salt,
                actor_name=actor_name,
                ip_address=event.ip_address,
                user_agent=event.user_agent,
                details=event.details,
            ),
        )
        event_hash = chain_hash(prev_hash, committed.digest())
        rows.append(
            {
                "tenant": tenant,
                "seq": seq,
                "id": event_id,
                "action_type": event.action_type.value,
                "action": event.action,
                "entity_type": event.entity_type,
                "entity_id": event.entity_id,
                "actor_id": actor_id,
                "actor_type": actor_type,
                "actor_name": actor_name,
                "status": event.status.value,
                "occurred_at": occurred_at,
                "received_at": received_at,
                "ip_address": event.ip_address,
                "user_agent": event.user_agent,
                "request_id": event.request_id,
                "details": event.details,
                "field_salt": salt,
                "hash": event_hash,
                "prev_hash": prev_hash,
            }
        )
        prev_hash = event_hash
    return rows, seq, prev_hash


async def _append(session: AsyncSession, tenant: str, batch: Sequence[EventIn]) -> list[uuid.UUID]:
    """Chain and insert `batch` at the end of the tenant's log (inside the caller's transaction)."""
    [(seq, head_hash)] = (await _lock_heads(session, [tenant])).values()
    rows, seq, head_hash = chain_rows(tenant, seq, head_hash, batch, datetime.now(UTC))
    await session.execute(insert(events), rows)
    await _move_heads(session, {tenant: (seq, head_hash)})
    return [row["id"] for row in rows]


async def append_group(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    items: Sequence[tuple[str, EventIn]],
) -> list[tuple[uuid.UUID, str]]:
    """Append single events of any tenants in one transaction; (id, API JSON) of each, in order.

    A handful of statements whatever the number of events and tenants: lock the heads, insert
    every row, move the heads, render the events.
    """
    by_tenant: dict[str, list[int]] = {}
    for index, (tenant, _) in enumerate(items):
        by_tenant.setdefault(tenant, []).append(index)
    ids: list[uuid.UUID] = [uuid.UUID(int=0)] * len(items)
    rows: list[dict[str, Any]] = []
    received_at = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        heads = await _lock_heads(session, sorted(by_tenant))
        for tenant, indexes in by_tenant.items():
            chained, seq, head_hash = chain_rows(
                tenant, *heads[tenant], [items[i][1] for i in indexes], received_at
            )
            heads[tenant] = (seq, head_hash)
            for index, row in zip(indexes, chained, strict=True):
                ids[index] = row["id"]
            rows.extend(chained)
        await session.execute(insert(events), rows)
        await _move_heads(session, heads)
        rendered = await session.execute(
            select(events.c.id, cast(event_json(), Text)).where(
                tuple_(events.c.tenant, events.c.id).in_(
                    [(tenant, event_id) for (tenant, _), event_id in zip(items, ids, strict=True)]
                )
            )
        )
        by_id = {row[0]: str(row[1]) for row in rendered}
    return [(event_id, by_id[event_id]) for event_id in ids]


async def _render(session: AsyncSession, tenant: str, ids: Sequence[uuid.UUID]) -> list[str]:
    """The events with these ids, as API JSON, in the order given."""
    rows = await session.execute(
        select(events.c.id, cast(event_json(), Text)).where(
            events.c.tenant == tenant, events.c.id.in_(ids)
        )
    )
    by_id = {row[0]: row[1] for row in rows}
    return [by_id[event_id] for event_id in ids if event_id in by_id]


async def record(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant: str,
    batch: Sequence[EventIn],
    idempotency_key: str | None,
    fingerprint: bytes,
) -> RecordedEvents:
    """Append events to the tenant's chain, all or nothing; replay if the key was used before.

    One transaction: the key's claim, the events and the key's record commit together, or
    nothing does (a crash included), so a retry with the same key is always safe.
    """
    async with sessionmaker() as session, session.begin():
        if idempotency_key is not None:
            replay = await idempotency.claim(
                session=session, tenant=tenant, key=idempotency_key, fingerprint=fingerprint
            )
            if replay is not None:
                items = await _render(session, tenant, replay.event_ids)
                return RecordedEvents(ids=replay.event_ids, items=items, replayed=True)
        ids = await _append(session, tenant, batch)
        if idempotency_key is not None:
            await idempotency.remember(
                session=session,
                tenant=tenant,
                key=idempotency_key,
                fingerprint=fingerprint,
                event_ids=ids,
            )
        items = await _render(session, tenant, ids)
    return RecordedEvents(ids=ids, items=items, replayed=False)


def _service_actor(principal: Principal) -> ActorIn:
    return ActorIn(id=str(principal.key_id), type=ActorType.SERVICE, name=None)


async def _locked_event(
    session: AsyncSession, access: TenantAccess, event_id: uuid.UUID
) -> Any:  # a Row
    if not access.visible:
        raise EventNotFound()
    row = (
        await session.execute(
            select(*STORED_COLUMNS)
            .where(events.c.tenant == access.tenant, events.c.id == event_id)
            .with_for_update()
        )
    ).first()
    if row is None:
        raise EventNotFound()
    event = StoredEvent(*row)
    if event.erased_at is not None:
        raise EventErased()
    return event


async def change_status(
    *,
    session: AsyncSession,
    access: TenantAccess,
    event_id: uuid.UUID,
    status: EventStatus,
    principal: Principal,
) -> str:
    """Settle a pending event (once) and record the change as an event of its own."""
    async with session.begin():
        event = await _locked_event(session, access, event_id)
        if event.status != EventStatus.PENDING.value or event.status_changed_at is not None:
            raise InvalidStatusTransition(
                f"The event's status is {event.status!r}: it cannot change."
            )
        await session.execute(
            update(events)
            .where(events.c.tenant == access.tenant, events.c.seq == event.seq)
            .values(status=status.value, status_changed_at=func.now())
        )
        change = EventIn(
            action_type=ActionType.UPDATE,
            action="audit_event.status_changed",
            entity_type=AUDIT_EVENT_ENTITY,
            entity_id=str(event_id),
            actor=_service_actor(principal),
            details={"from": EventStatus.PENDING.value, "to": status.value},
        )
        await _append(session, access.tenant, [change])
        [item] = await _render(session, access.tenant, [event_id])
    return item


async def erase(
    *, session: AsyncSession, access: TenantAccess, event_id: uuid.UUID, principal: Principal
) -> None:
    """Destroy the personal payload, keeping what verification needs; record the erasure."""
    async with session.begin():
        event = await _locked_event(session, access, event_id)
        hashes = event.field_hashes()
        if hashes is None:  # only a row edited behind the trigger's back lacks its salt
            raise RuntimeError(f"event {event_id} has no field salt; run integrity verification")
        await session.execute(
            update(events)
            .where(events.c.tenant == access.tenant, events.c.seq == event.seq)
            .values(
                actor_name=None,
                ip_address=None,
                user_agent=None,
                details=None,
                field_salt=None,
                erased_at=func.now(),
                erased_hashes=hashes,
            )
        )
        erasure = EventIn(
            action_type=ActionType.DELETE,
            action="audit_event.erased",
            entity_type=AUDIT_EVENT_ENTITY,
            entity_id=str(event_id),
            actor=_service_actor(principal),
        )
        await _append(session, access.tenant, [erasure])


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


async def get(*, session: AsyncSession, access: TenantAccess, event_id: uuid.UUID) -> str:
    """One event as API JSON; 404 if unknown (or another tenant's), 410 if erased."""
    if not access.visible:
        raise EventNotFound()
    async with session.begin():
        row = (
            await session.execute(
                select(cast(event_json(), Text), events.c.erased_at).where(
                    events.c.tenant == access.tenant, events.c.id == event_id
                )
            )
        ).first()
    if row is None:
        raise EventNotFound()
    if row[1] is not None:
        raise EventErased()
    return str(row[0])


def _order_by(order: Order) -> list[Any]:  # SQL order expressions
    if order == "desc":
        return [events.c.occurred_at.desc(), events.c.id.desc()]
    return [events.c.occurred_at.asc(), events.c.id.asc()]


Position = tuple[datetime, uuid.UUID]  # (occurred_at, id) of the last row seen


def _page_query(
    access: TenantAccess,
    filters: Sequence[EventFilter],
    include_erased: bool,
    order: Order,
    after: Position | None,
    limit: int,
) -> Select[str, datetime, uuid.UUID]:
    """Matching events as API JSON, in page order, strictly after `after`: lists and exports."""
    where = conditions(access.tenant, *filters, include_erased=include_erased)
    if after is not None:
        where.append(keyset_after(*after, descending=order == "desc"))
    return (
        select(cast(event_json(), Text), events.c.occurred_at, events.c.id)
        .where(and_(*where))
        .order_by(*_order_by(order))
        .limit(limit)
    )


def _decode_position(codec: CursorCodec, cursor: str, tenant: str, order: Order) -> Position:
    position = codec.decode(EVENTS_CURSOR, cursor)
    if position.get("tenant") != tenant or position.get("order") != order:
        raise InvalidCursor("The cursor belongs to another tenant or sort order.")
    try:
        return datetime.fromisoformat(str(position["at"])), uuid.UUID(str(position["id"]))
    except (KeyError, ValueError) as exc:
        raise InvalidCursor() from exc


async def list_page(
    *,
    session: AsyncSession,
    codec: CursorCodec,
    access: TenantAccess,
    filters: Sequence[EventFilter],
    order: Order,
    limit: int,
    cursor: str | None,
    include_erased: bool,
) -> tuple[list[str], str | None]:
    """One page of matching events (API JSON each) and the cursor of the next page."""
    after = None if cursor is None else _decode_position(codec, cursor, access.tenant, order)
    if not access.visible:
        return [], None
    query = _page_query(access, filters, include_erased, order, after, limit + 1)
    async with session.begin():
        rows = (await session.execute(query)).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = codec.encode(
            EVENTS_CURSOR,
            {
                "tenant": access.tenant,
                "order": order,
                "at": last[1].isoformat(),
                "id": str(last[2]),
            },
        )
    return [str(row[0]) for row in rows], next_cursor


async def stream(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    access: TenantAccess,
    filters: Sequence[EventFilter],
    order: Order,
    include_erased: bool,
) -> AsyncIterator[list[str]]:
    """Every matching event (API JSON each), a keyset batch at a time: constant memory.

    Batches, not single events, travel up the stack: each becomes one chunk of the response
    body, so the per-chunk cost (ASGI message, gzip flush, socket write) is paid per thousands.
    The next batch is read while this one is written (two batches in memory at most).
    """
    if not access.visible:
        return

    async def fetch(after: Position | None) -> Sequence[Row[str, datetime, uuid.UUID]]:
        query = _page_query(access, filters, include_erased, order, after, EXPORT_BATCH)
        async with sessionmaker() as session, session.begin():
            return (await session.execute(query)).all()

    batches = read_ahead(fetch, lambda row: (row[1], row[2]), EXPORT_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            yield [row[0] for row in rows]


GROUP_COLUMNS = {
    "action_type": events.c.action_type,
    "status": events.c.status,
    "entity_type": events.c.entity_type,
    "actor_id": events.c.actor_id,
}


async def stats(
    *,
    session: AsyncSession,
    access: TenantAccess,
    filters: Sequence[EventFilter],
    group_by: str,
    interval: Literal["hour", "day"],
    include_erased: bool,
) -> list[tuple[datetime, str | None, int]]:
    """Counts per time bucket and group, computed by PostgreSQL."""
    if not access.visible:
        return []
    start = func.date_trunc(interval, events.c.occurred_at, "UTC").label("start")
    key = GROUP_COLUMNS[group_by].label("key")
    query = (
        select(start, key, func.count().label("count"))
        .where(and_(*conditions(access.tenant, *filters, include_erased=include_erased)))
        .group_by(start, key)
        .order_by(start, key)
    )
    async with session.begin():
        return [(row[0], row[1], int(row[2])) for row in await session.execute(query)]


async def verify(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    access: TenantAccess,
    from_seq: int | None,
    to_seq: int | None,
) -> Verification:
    """Recompute every hash in the range from stored content and check every link."""
    head_seq, head_hash = 0, GENESIS_HASH
    if access.visible:
        async with sessionmaker() as session, session.begin():
            head = (
                await session.execute(
                    select(col(ChainHead.head_seq), col(ChainHead.head_hash)).where(
                        col(ChainHead.tenant) == access.tenant
                    )
                )
            ).first()
        if head is not None:
            head_seq, head_hash = int(head[0]), bytes(head[1])
    start = from_seq or 1
    end = min(to_seq if to_seq is not None else head_seq, head_seq)
    verifier = ChainVerifier(expected_seq=start)
    if start <= end:
        async with sessionmaker() as session, session.begin():
            if start > 1:
                previous = await session.scalar(
                    select(events.c.hash).where(
                        events.c.tenant == access.tenant, events.c.seq == start - 1
                    )
                )
                verifier.expected_prev_hash = bytes(previous) if previous is not None else b""

        async def fetch(after: int | None) -> Sequence[Row[*tuple[Any, ...]]]:  # STORED_COLUMNS
            query = (
                select(*STORED_COLUMNS)
                .where(
                    events.c.tenant == access.tenant,
                    events.c.seq >= (start if after is None else after + 1),
                    events.c.seq <= end,
                )
                .order_by(events.c.seq)
                .limit(VERIFY_BATCH)
            )
            async with sessionmaker() as session, session.begin():
                return (await session.execute(query)).all()

        batches = read_ahead(fetch, lambda row: int(row.seq), VERIFY_BATCH)
        async with aclosing(batches):
            async for rows in batches:
                if not all(verifier.feed(StoredEvent(*row)) for row in rows):
                    break
        verifier.finish(head_seq=head_seq, head_hash=head_hash, last_seq=end)
    return Verification(
        valid=verifier.first_invalid_seq is None,
        checked=verifier.checked,
        first_invalid_seq=verifier.first_invalid_seq,
        reason=verifier.reason,
        head_seq=head_seq,
        head_hash=head_hash.hex(),
    )


# What verification reads, in `StoredEvent`'s field order: the stored event without the search
# vector and other extras, its id as text (PostgreSQL writes a UUID as `str(uuid)` does).
STORED_COLUMNS = [
    cast(events.c.id, Text).label("id") if field.name == "id" else events.c[field.name]
    for field in dataclasses.fields(StoredEvent)
]
