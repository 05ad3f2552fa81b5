"""The process's log worker: integrates events older than the log, and signs checkpoints.

Every server process runs one; PostgreSQL decides who does what (row locks for integration,
an advisory lock and compare-and-set for signing), so any number of processes is safe.
"""

import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.log import checkpoints, tree
from src.log.signing import LogIdentity
from src.periodic import PeriodicWorker

logger = logging.getLogger(__name__)


class LogWorker(PeriodicWorker):
    """Every `interval` seconds: catch up tenants behind (backfill), then sign grown trees."""

    name = "log worker"

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        identity: LogIdentity,
        *,
        interval: float,
    ) -> None:
        super().__init__(interval=interval)
        self._sessionmaker = sessionmaker
        self._identity = identity

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
