"""The log's leaves: each event's committed content, rebuilt from its stored row.

Leaves are not stored twice: an entry bundle, a proof's `leaf_data` and the bundle export
encode them from the events table, so a row edited in the database shows up as a leaf that
no longer matches its tile hash, which is what verification looks for.
"""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from src.events.models import STORED_COLUMNS, events
from src.events.stored import StoredEvent
from src.verifier.tiles import encode_entries


def leaf_of(event: StoredEvent) -> bytes:
    """The event's leaf data; empty if the stored row has lost what its content needs (it
    was edited in the database), which no proof can then match."""
    return event.leaf_data() or b""


async def leaf_data(
    session: AsyncSession, tenant: str, first_seq: int, last_seq: int
) -> list[bytes]:
    """The leaves of events `first_seq` to `last_seq` (inside the caller's transaction)."""
    rows = await session.execute(
        select(*STORED_COLUMNS)
        .where(events.c.tenant == tenant, events.c.seq >= first_seq, events.c.seq <= last_seq)
        .order_by(events.c.seq)
    )
    return [leaf_of(StoredEvent(*row)) for row in rows]


def bundle(leaves: Iterable[bytes]) -> bytes:
    """A C2SP entry bundle: each leaf as a big-endian uint16 length and its bytes."""
    return encode_entries(leaves)
