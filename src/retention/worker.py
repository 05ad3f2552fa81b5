"""The process's retention worker: every interval, the job for each tenant (with a policy, it
applies it; with or without, it closes the tenant's month of events when one has ended).

Every API process runs one. PostgreSQL decides who works: a per-tenant advisory lock (one
process at a time) and the policy's `last_run_at` (at most once an interval, however many
processes), so any number of processes is safe.
"""

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.database import is_database_unavailable
from src.log.signing import LogIdentity
from src.periodic import PeriodicWorker
from src.retention import job

logger = logging.getLogger(__name__)


class RetentionWorker(PeriodicWorker):
    name = "retention worker"
    waits_first = True  # a fleet's restart does not run every tenant's retention at once

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
        """One round: each tenant that did not run within the interval."""
        async with self._sessionmaker() as session:
            for tenant in await job.all_tenants(session):
                try:
                    report = await job.run_tenant(
                        session,
                        self._identity,
                        tenant,
                        as_of=datetime.now(UTC),
                        min_interval=timedelta(seconds=self._interval),
                    )
                except Exception as error:
                    if is_database_unavailable(error):
                        raise
                    # One tenant's failure must not stop the others' retention.
                    logger.exception("retention run failed", extra={"tenant": tenant})
                    continue
                if report is not None and report.recorded_seq is not None:
                    logger.info(
                        "retention run",
                        extra={
                            "tenant": tenant,
                            "erased": report.erased,
                            "pruned": report.pruned,
                            "min_index": report.min_index,
                        },
                    )
