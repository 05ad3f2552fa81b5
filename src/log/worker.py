"""The process's log worker: integrates events older than the log, and signs checkpoints.

Every server process runs one; PostgreSQL decides who does what (row locks for integration,
an advisory lock and compare-and-set for signing), so any number of processes is safe.
"""

import asyncio
import contextlib
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.database import is_database_unavailable
from src.log import checkpoints, tree
from src.log.signing import LogIdentity

logger = logging.getLogger(__name__)


class LogWorker:
    """Every `interval` seconds: catch up tenants behind (backfill), then sign grown trees."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        identity: LogIdentity,
        *,
        interval: float,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._identity = identity
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-worker")

    def wake(self) -> None:
        """Run a round now rather than at the next tick (tests, and a start with a backlog)."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        """One round: integrate backlogs for up to half an interval (then the rest next round,
        so signing never waits behind a long backfill), then sign every grown tree."""
        budget_ends = time.monotonic() + self._interval / 2
        async with self._sessionmaker() as session:
            for tenant in await tree.tenants_behind(session):
                try:
                    while await tree.integrate_backlog(session, tenant) is not None:
                        if time.monotonic() > budget_ends:
                            break
                except Exception:  # one tenant's damage must not stop the others' log
                    if session.in_transaction():
                        await session.rollback()
                    logger.exception("log backfill failed", extra={"tenant": tenant})
                if time.monotonic() > budget_ends:
                    break
            await checkpoints.sign_round(session, self._identity)

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception as error:  # the worker must outlive any one bad round
                if is_database_unavailable(error):
                    logger.warning("log worker: the database is unavailable; retrying")
                else:
                    logger.exception("log worker round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            self._wake.clear()
