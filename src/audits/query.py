"""The SQL of event queries: the one WHERE clause builder, the selection, keyset positions.

`conditions()` is the only place that turns an `EventFilter` into a WHERE clause; it serves
list, export, stats and the AI endpoints alike.
"""

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    cast,
    false,
    func,
    literal,
)
from sqlalchemy.dialects.postgresql import INET, JSONB

from src.audits.filters import DetailsValue, EventFilter, fixed_filters
from src.auth.schemas import TenantAccess
from src.events.models import events
from src.pagination import Keyset


def _nested(path: tuple[str, ...], value: DetailsValue) -> dict[str, Any]:
    nested: Any = value
    for key in reversed(path):
        nested = {key: nested}
    result: dict[str, Any] = nested
    return result


def conditions(
    tenant: str, *filters: EventFilter, include_erased: bool = False
) -> list[ColumnElement[bool]]:
    """The WHERE clause for a tenant's events matching every filter given."""
    c = events.c
    where: list[ColumnElement[bool]] = [c.tenant == tenant]
    if not include_erased:
        where.append(c.erased_at.is_(None))
    for f in filters:
        if f.action_types:
            where.append(c.action_type.in_([item.value for item in f.action_types]))
        for column, value in (
            (c.action, f.action),
            (c.entity_type, f.entity_type),
            (c.entity_id, f.entity_id),
            (c.actor_id, f.actor_id),
            (c.status, f.status.value if f.status else None),
        ):
            if value is not None:
                where.append(column == value)
        if f.occurred_after is not None:
            where.append(c.occurred_at >= f.occurred_after)
        if f.occurred_before is not None:
            where.append(c.occurred_at < f.occurred_before)
        if f.ip is not None:
            where.append(c.ip_address.op("<<=")(cast(str(f.ip), INET)))
        for match in f.details:
            where.append(
                c.details.op("@>")(
                    cast(literal(json.dumps(_nested(match.path, match.value))), JSONB)
                )
            )
        for phrase in f.text:
            where.append(c.search_vector.op("@@")(func.phraseto_tsquery("simple", phrase)))
    return where


@dataclass(frozen=True, slots=True)
class Selection:
    """The events a read covers: one tenant's (as the key may see it), matching every filter."""

    access: TenantAccess
    filters: tuple[EventFilter, ...] = ()
    include_erased: bool = False
    # A viewer token's filter (narrowed by the others, never widened), parsed once: `where`
    # runs for every batch of an export.
    fixed: tuple[EventFilter, ...] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fixed", fixed_filters(self.access.fixed))

    def is_everything(self) -> bool:
        """Whether it covers every event of the tenant: no filter at all, erased ones too."""
        unfiltered = all(f == EventFilter() for f in (*self.fixed, *self.filters))
        return unfiltered and self.include_erased

    def where(self) -> ColumnElement[bool]:
        """The WHERE clause; it matches nothing for a tenant the key may not see."""
        if not self.access.visible:
            return false()
        return and_(
            *conditions(
                self.access.tenant,
                *self.fixed,
                *self.filters,
                include_erased=self.include_erased,
            )
        )


# Events in list order: newest or oldest first by `occurred_at`, `id` breaking ties. Lists
# page by it, exports read batches by it.
EVENTS_ORDER = Keyset("events", (events.c.occurred_at, events.c.id))
