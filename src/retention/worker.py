"""The process's retention worker: every interval, the job for each tenant with a policy.

Every API process runs one. PostgreSQL decides who works: a per-tenant advisory lock (one
process at a time) and the policy's `last_run_at` (at most once an interval, however many
processes), so any number of processes is safe.
"""

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from src.database import is_database_unavailable
from src.log.signing import LogIdentity
from src.retention import job

logger = logging.getLogger(__name__)


class RetentionWorker:
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

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="retention-worker")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        """One round: each tenant with a policy that did not run within the interval."""
        async with self._sessionmaker() as session:
            for tenant in await job.tenants_with_policies(session):
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

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception as error:  # the worker must outlive any one bad round
                if is_database_unavailable(error):
                    logger.warning("retention worker: the database is unavailable; retrying")
                else:
                    logger.exception("retention worker round failed")
