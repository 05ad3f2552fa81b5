"""Readiness: the database answers and its schema is the one this code expects."""

import logging
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.database import is_database_unavailable

logger = logging.getLogger(__name__)


@dataclass
class ReadinessReport:
    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(result == "ok" for result in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, result in self.checks.items() if result != "ok"]


async def check_readiness(
    *, engine: AsyncEngine, expected_revision: str | None, draining: bool = False
) -> ReadinessReport:
    """Run each check; a failure is reported by name, never raised."""
    report = ReadinessReport()
    if draining:
        report.checks["process"] = "failing: draining before shutdown"
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            report.checks["database"] = "ok"
            try:
                result = await connection.execute(text("SELECT version_num FROM alembic_version"))
                revisions = set(result.scalars().all())
            except DBAPIError:
                revisions = set()
    except (SQLAlchemyError, OSError) as exc:
        reason = "unreachable" if is_database_unavailable(exc) else "error"
        logger.warning("readiness: database %s (%s)", reason, type(exc).__name__)
        report.checks["database"] = f"failing: database {reason}"
        report.checks["schema"] = "unknown: database not reachable"
        return report

    if expected_revision is None or expected_revision in revisions:
        report.checks["schema"] = "ok"
    else:
        current = ", ".join(sorted(revisions)) or "none"
        report.checks["schema"] = (
            f"failing: schema at revision {current}, expected {expected_revision}; "
            "run `alembic upgrade head`"
        )
    return report
