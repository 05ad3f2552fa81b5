"""The rules of reading, settling and erasing audit events. Every function owns its transaction.

Writing lives in `ingest.py`, export in `export.py`, verification in `verification.py`.
"""

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits import ingest
from src.audits.constants import AUDIT_EVENT_ENTITY
from src.audits.exceptions import EventErased, EventNotFound, InvalidStatusTransition
from src.audits.filters import fixed_filters
from src.audits.query import EVENTS_ORDER, Selection, conditions
from src.audits.rendering import EVENT_JSON, fetch_rendered
from src.audits.schemas import ActorIn, EventIn
from src.auth.schemas import Principal, TenantAccess
from src.events.constants import ActionType, ActorType, EventStatus
from src.events.models import STORED_COLUMNS, events
from src.events.stored import StoredEvent
from src.log import service as log_service
from src.log.schemas import InclusionProof
from src.log.signing import LogIdentity
from src.pagination import CursorCodec, keyset_page

Order = Literal["asc", "desc"]


def _about(
    event_id: uuid.UUID,
    principal: Principal,
    action_type: ActionType,
    action: str,
    details: dict[str, str] | None = None,
) -> EventIn:
    """The event the service records about its own action on an event, by the key's holder."""
    return EventIn(
        action_type=action_type,
        action=action,
        entity_type=AUDIT_EVENT_ENTITY,
        entity_id=str(event_id),
        actor=ActorIn(id=str(principal.key_id), type=ActorType.SERVICE, name=None),
        details=details,
    )


async def stored_event(
    *, session: AsyncSession, access: TenantAccess, event_id: uuid.UUID
) -> StoredEvent:
    """One of the tenant's events as stored, erased or not (inside the caller's transaction)."""
    if not access.visible:
        raise EventNotFound()
    row = (
        await session.execute(
            select(*STORED_COLUMNS).where(
                *conditions(access.tenant, *fixed_filters(access.fixed), include_erased=True),
                events.c.id == event_id,
            )
        )
    ).first()
    if row is None:
        raise EventNotFound()
    return StoredEvent(*row)


async def event_proof(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    access: TenantAccess,
    event_id: uuid.UUID,
    tree_size: int | None,
) -> InclusionProof:
    """The event's leaf and its inclusion proof in a signed tree (the latest by default),
    erased or not: the event as this access may see it, proved by the log."""
    async with session.begin():
        event = await stored_event(session=session, access=access, event_id=event_id)
        return await log_service.inclusion(
            session=session, identity=identity, event=event, tree_size=tree_size
        )


async def _locked_event(
    session: AsyncSession, access: TenantAccess, event_id: uuid.UUID
) -> StoredEvent:
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
        change = _about(
            event_id,
            principal,
            ActionType.UPDATE,
            "audit_event.status_changed",
            {"from": EventStatus.PENDING.value, "to": status.value},
        )
        await ingest.append(session, access.tenant, [change])
        [item] = await fetch_rendered(session, access.tenant, [event_id])
    return item


async def erase(
    *, session: AsyncSession, access: TenantAccess, event_id: uuid.UUID, principal: Principal
) -> None:
    """Destroy the personal payload, keeping what verification needs; record the erasure."""
    async with session.begin():
        event = await _locked_event(session, access, event_id)
        await session.execute(_ERASE, [_erasure(event)])
        erasure = _about(event_id, principal, ActionType.DELETE, "audit_event.erased")
        await ingest.append(session, access.tenant, [erasure])


# Erasure, for one event or many: the payload goes, the hashes the digest needs stay.
_ERASE = (
    update(events)
    .where(events.c.tenant == bindparam("t"), events.c.seq == bindparam("s"))
    .values(
        actor_name=None,
        ip_address=None,
        user_agent=None,
        details=None,
        field_salt=None,
        erased_at=func.now(),
        erased_hashes=bindparam("h", type_=JSONB),
    )
)
ERASE_BATCH = 1000


def _erasure(event: StoredEvent) -> dict[str, object]:
    hashes = event.field_hashes()
    if hashes is None:  # only a row edited behind the trigger's back lacks its salt
        raise RuntimeError(f"event {event.id} has no field salt; run integrity verification")
    return {"t": event.tenant, "s": event.seq, "h": hashes}


async def erase_matching(
    session: AsyncSession, tenant: str, where: ColumnElement[bool]
) -> list[int]:
    """Erase every event of the tenant that `where` selects and is not erased yet, as
    `erase` does one, in `seq` batches (inside the caller's transaction); their seqs."""
    erased: list[int] = []
    while True:
        query = (
            select(*STORED_COLUMNS)
            .where(
                events.c.tenant == tenant,
                events.c.erased_at.is_(None),
                events.c.seq > (erased[-1] if erased else 0),
                where,
            )
            .order_by(events.c.seq)
            .limit(ERASE_BATCH)
            .with_for_update()
        )
        batch = [StoredEvent(*row) for row in await session.execute(query)]
        if not batch:
            return erased
        await session.execute(_ERASE, [_erasure(event) for event in batch])
        erased.extend(event.seq for event in batch)


async def get(*, session: AsyncSession, access: TenantAccess, event_id: uuid.UUID) -> str:
    """One event as API JSON; 404 if unknown (or another tenant's), 410 if erased."""
    if not access.visible:
        raise EventNotFound()
    async with session.begin():
        row = (
            await session.execute(
                select(EVENT_JSON, events.c.erased_at).where(
                    *conditions(access.tenant, *fixed_filters(access.fixed), include_erased=True),
                    events.c.id == event_id,
                )
            )
        ).first()
    if row is None:
        raise EventNotFound()
    if row.erased_at is not None:
        raise EventErased()
    event: str = row.event
    return event


async def list_page(
    *,
    session: AsyncSession,
    codec: CursorCodec,
    selection: Selection,
    order: Order,
    limit: int,
    cursor: str | None,
) -> tuple[list[str], str | None]:
    """One page of the selected events (API JSON each) and the cursor of the next page."""
    rows, next_cursor = await keyset_page(
        session,
        select(EVENT_JSON).where(selection.where()),
        keyset=EVENTS_ORDER,
        codec=codec,
        limit=limit,
        cursor=cursor,
        descending=order == "desc",
        bound_to={"tenant": selection.access.tenant, "order": order},
    )
    return [row.event for row in rows], next_cursor


GROUP_COLUMNS = {
    "action_type": events.c.action_type,
    "status": events.c.status,
    "entity_type": events.c.entity_type,
    "actor_id": events.c.actor_id,
}


async def stats(
    *,
    session: AsyncSession,
    selection: Selection,
    group_by: str,
    interval: Literal["hour", "day"],
) -> list[tuple[datetime, str | None, int]]:
    """Counts of the selected events per time bucket and group, computed by PostgreSQL."""
    start = func.date_trunc(interval, events.c.occurred_at, "UTC").label("start")
    key = GROUP_COLUMNS[group_by].label("key")
    query = (
        select(start, key, func.count().label("count"))
        .where(selection.where())
        .group_by(start, key)
        .order_by(start, key)
    )
    async with session.begin():
        return [(row[0], row[1], int(row[2])) for row in await session.execute(query)]
