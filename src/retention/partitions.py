"""The events' partitions, as the retention job uses them (the database makes them: migration
0009): each tenant's events are ranges of `seq` that end on tile boundaries, and a prune
drops whole ranges below the new minimum index instead of deleting rows.

Once a month the job closes the tenant's open range at the last tile boundary of what it
holds, so a range is a month of events (and at most the 255 last ones of the month before);
dropping it writes a few catalog rows, whatever it held, and leaves no dead tuple behind.

Both steps take the tenant's table's ACCESS EXCLUSIVE lock, after the chain head's: the
tenant's writers hold the chain head before they insert, so they queue on it without
holding the table. A request that changes an event (status, erasure) holds the table and
then appends under the chain head; against it only a wait closes a cycle, so the job waits
for the table at most `LOCK_WAIT`, under PostgreSQL's deadlock check (1 s), and gives up
first (`TenantBusy`): the run changes nothing, and the next one does it.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from asyncpg.exceptions import LockNotAvailableError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.events.models import ChainHead, EventPartition, events
from src.retention.exceptions import TenantBusy
from src.verifier.anchor import TILE_LEAVES

LOCK_WAIT = "500ms"
_LOCK_WAIT = text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
_DEFAULT_LOCK_WAIT = text("SET LOCAL lock_timeout TO DEFAULT")
_CLOSE = text("SELECT audit_event_close_partition(:tenant)")
_TENANT_TABLE = text("SELECT audit_event_tenant_table(:tenant)")
_PRUNING = text("SELECT set_config('trailmark.prune', :on, true)")


@dataclass(frozen=True, slots=True)
class Range:
    """A closed range of the tenant's events: `seq` in `[lower, upper)`."""

    name: str
    lower: int
    upper: int

    @property
    def min_index_after(self) -> int:
        """The minimum index once the range is gone: its last seq (leaf `upper - 2`) is the
        last removed."""
        return self.upper - 1


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


async def due_close(session: AsyncSession, tenant: str, as_of: datetime) -> Range | None:
    """The close a run as of `as_of` makes: the tenant's open range, as it would end, when it
    was opened before `as_of`'s month, holds events received before it, and a whole tile
    past its start. (The bound is where the close puts it now: more events may follow.)"""
    open_range = (
        await session.execute(
            select(
                col(EventPartition.name),
                col(EventPartition.lower_seq),
                col(EventPartition.created_at),
            ).where(
                col(EventPartition.tenant) == tenant,
                col(EventPartition.lower_seq).is_not(None),
                col(EventPartition.upper_seq).is_(None),
            )
        )
    ).first()
    if open_range is None:
        return None
    name, lower, opened_at = open_range[0], int(open_range[1] or 0), open_range[2]
    month = month_start(as_of)
    if opened_at >= month:  # opened this month: by the last close, or the tenant's first
        return None
    first_received = await session.scalar(
        select(events.c.received_at)
        .where(events.c.tenant == tenant, events.c.seq >= lower)
        .order_by(events.c.seq)
        .limit(1)
    )
    head = await session.scalar(
        select(col(ChainHead.head_seq)).where(col(ChainHead.tenant) == tenant)
    )
    if first_received is None or first_received >= month or head is None:
        return None
    bound = int(head) // TILE_LEAVES * TILE_LEAVES + 1
    return Range(name, lower, bound) if bound > lower else None


async def close_if_due(session: AsyncSession, tenant: str, as_of: datetime) -> int | None:
    """Close the tenant's open range if a run as of `as_of` should (`due_close`); the new
    range's first seq, or None. In the caller's transaction, which should end soon after:
    the tenant's writers wait for it."""
    if await due_close(session, tenant, as_of) is None:
        return None
    return await close(session, tenant)


async def close(session: AsyncSession, tenant: str) -> int | None:
    """Close the tenant's open range at the last tile boundary of what it holds, now; the new
    range's first seq, or None when it holds less than a tile past its start."""
    await lock_tenant_table(session, tenant)
    bound = await session.scalar(_CLOSE, {"tenant": tenant})
    return None if bound is None else int(bound)


async def closed_up_to(session: AsyncSession, tenant: str, min_index: int) -> list[Range]:
    """The tenant's closed ranges, not dropped yet, that end at or below `min_index`, oldest
    first: what a prune to the last one's end removes."""
    rows = await session.execute(
        select(
            col(EventPartition.name), col(EventPartition.lower_seq), col(EventPartition.upper_seq)
        )
        .where(
            col(EventPartition.tenant) == tenant,
            col(EventPartition.dropped_at).is_(None),
            col(EventPartition.upper_seq).is_not(None),
            col(EventPartition.upper_seq) - 1 <= min_index,
        )
        .order_by(col(EventPartition.lower_seq))
    )
    return [Range(name, int(lower or 0), int(upper or 0)) for name, lower, upper in rows]


async def lock_tenant_table(session: AsyncSession, tenant: str) -> None:
    """The chain head, then (waiting at most `LOCK_WAIT`) the tenant's events table; both held
    to the end of the transaction, whose later statements wait as long as they normally do
    (they need no lock the table's does not cover)."""
    await session.execute(
        select(col(ChainHead.tenant)).where(col(ChainHead.tenant) == tenant).with_for_update()
    )
    table = await session.scalar(_TENANT_TABLE, {"tenant": tenant})
    await session.execute(_LOCK_WAIT)
    try:
        await session.execute(text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))
    except DBAPIError as error:
        driver_error = error.orig.__cause__ if error.orig is not None else None
        if isinstance(driver_error, LockNotAvailableError):
            raise TenantBusy(tenant) from error
        raise
    await session.execute(_DEFAULT_LOCK_WAIT)


async def drop(session: AsyncSession, tenant: str, ranges: list[Range]) -> None:
    """Drop the ranges, under the signed anchor the caller has recorded: the database's drop
    guard checks the anchor, the holds and the flag this sets, whoever asks."""
    await lock_tenant_table(session, tenant)
    await session.execute(_PRUNING, {"on": "on"})
    for pruned in ranges:
        await session.execute(text(f'DROP TABLE "{pruned.name}"'))
    await session.execute(_PRUNING, {"on": "off"})
