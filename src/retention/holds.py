"""Which events the tenant's active legal holds hold: their filters as SQL, and the list of
held events the database's guard reads (`legal_hold_event`)."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.audits.filters import FilterBody
from src.audits.query import conditions
from src.events.models import events
from src.retention.models import LegalHold, LegalHoldEvent

_held = LegalHoldEvent.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy


@dataclass(frozen=True, slots=True)
class ActiveHold:
    id: uuid.UUID
    filter: dict[str, Any]  # JSON: the list filters as stored

    def matches(self, tenant: str) -> ColumnElement[bool]:
        """The events of the tenant this hold holds (erased ones too)."""
        filters = FilterBody.model_validate(self.filter).filters()
        return and_(*conditions(tenant, *filters, include_erased=True))


async def active(session: AsyncSession, tenant: str) -> list[ActiveHold]:
    rows = await session.execute(
        select(col(LegalHold.id), col(LegalHold.filter)).where(
            col(LegalHold.tenant) == tenant, col(LegalHold.released_at).is_(None)
        )
    )
    return [ActiveHold(hold_id, dict(filter_)) for hold_id, filter_ in rows]


def any_matches(tenant: str, holds: Sequence[ActiveHold]) -> ColumnElement[bool]:
    """Events that any of the holds holds, by their filters (false without holds)."""
    return or_(*(hold.matches(tenant) for hold in holds)) if holds else false()


def listed() -> ColumnElement[bool]:
    """Events listed as held: what the database's guard refuses to remove."""
    return exists().where(_held.c.tenant == events.c.tenant, _held.c.seq == events.c.seq)


async def list_matches(
    session: AsyncSession,
    tenant: str,
    hold: ActiveHold,
    among: ColumnElement[bool] | None = None,
) -> None:
    """List the events the hold holds (`among` those only, if given) as held, so that the
    database itself refuses to remove them; those listed already stay."""
    where = hold.matches(tenant) if among is None else and_(hold.matches(tenant), among)
    await session.execute(
        pg_insert(_held)
        .from_select(
            ["tenant", "seq", "hold_id"],
            select(events.c.tenant, events.c.seq, literal(hold.id)).where(where),
        )
        .on_conflict_do_nothing()
    )


async def unlist(session: AsyncSession, hold_id: uuid.UUID) -> None:
    await session.execute(_held.delete().where(_held.c.hold_id == hold_id))
