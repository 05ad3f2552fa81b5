"""Group commit: concurrent single-event writes share one transaction.

Every commit waits for PostgreSQL to flush its WAL, and every write holds its tenant's chain
head lock until it commits; one transaction per event caps single-event ingest at the rate
of those flushes. Here, events that arrive while a commit is in flight wait for the next
one, which writes them all together: the first request of a quiet moment is written at once,
later ones share the next commit. Each request still gets its own event back, in order.
"""

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from src.audits.schemas import EventIn
from src.exceptions import is_database_unavailable

MAX_GROUP = 256  # events per shared transaction

# Writes (tenant, event) pairs in one transaction; returns each one's (id, API JSON) in order.
WriteGroup = Callable[[Sequence[tuple[str, EventIn]]], Awaitable[list[tuple[uuid.UUID, str]]]]


@dataclass(slots=True)
class _Pending:
    tenant: str
    event: EventIn
    written: "asyncio.Future[tuple[uuid.UUID, str]]"


class GroupCommitter:
    """Queues single events and writes each queue-full in one transaction (one per process)."""

    def __init__(self, write: WriteGroup) -> None:
        self._write = write
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def append(self, tenant: str, event: EventIn) -> tuple[uuid.UUID, str]:
        """Write `event` at the end of `tenant`'s chain; its id and API JSON once committed."""
        written: asyncio.Future[tuple[uuid.UUID, str]] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(tenant, event, written))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain())
        return await asyncio.shield(written)  # a client that leaves does not undo its write

    async def _drain(self) -> None:
        try:
            while self._queue:
                group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
                await self._commit(group)
        finally:
            self._writer = None

    async def _commit(self, group: Sequence[_Pending]) -> None:
        try:
            written = await self._write([(pending.tenant, pending.event) for pending in group])
        except Exception as exc:
            if len(group) > 1 and not is_database_unavailable(exc):
                # Whatever failed must fail only its own request: write each on its own.
                for pending in group:
                    await self._commit([pending])
                return
            group[0].written.set_exception(exc)
            return
        for pending, result in zip(group, written, strict=True):
            pending.written.set_result(result)
