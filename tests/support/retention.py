"""Retention in tests: run the job on demand, as of a chosen time (the background worker is
off in tests: `retention_interval_seconds=0`)."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.database import create_sessionmaker
from src.log.signing import log_identity
from src.retention import job, partitions
from src.retention.schemas import RunReport

RUN_ATTEMPTS = 10


async def run_retention(
    engine: AsyncEngine,
    settings: Settings,
    tenant: str,
    *,
    as_of: datetime,
    dry_run: bool = False,
) -> RunReport:
    """One retention run of the tenant as of `as_of`, as the job runs it. A run that gave way
    (the tenant's table held past `partitions.LOCK_WAIT`, by autovacuum analysing a range
    just written, say) changes nothing; as the job's next run would, this one runs again."""
    for _ in range(RUN_ATTEMPTS):
        async with create_sessionmaker(engine)() as session:
            report = await job.run_tenant(
                session, log_identity(settings), tenant, as_of=as_of, dry_run=dry_run
            )
        if report is not None:
            return report
        await asyncio.sleep(0.2)
    raise AssertionError(f"{RUN_ATTEMPTS} runs of {tenant} all gave way")


async def close_range(engine: AsyncEngine, tenant: str) -> int | None:
    """Close the tenant's open range of events now, as the job does when a month ends (the
    events tests make are all received this month): the next range's first seq."""
    async with create_sessionmaker(engine)() as session, session.begin():
        return await partitions.close(session, tenant)


def days_after(moment: datetime, days: int, *, seconds: float = 0) -> datetime:
    """The time at which whatever was received before `moment` is over `days` old, and
    nothing received after it is."""
    return moment + timedelta(days=days, seconds=seconds)


def now() -> datetime:
    return datetime.now(UTC)
