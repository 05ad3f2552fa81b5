"""A process's periodic background work (the log worker, the retention worker): one round
every interval, sooner when woken, outliving any one bad round.

Every API process runs each of them; PostgreSQL decides who does what (locks), so a round
never assumes it is alone.
"""

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from typing import ClassVar

from src.database import is_database_unavailable

logger = logging.getLogger(__name__)


class PeriodicWorker(ABC):
    name: ClassVar[str]  # in logs and as the asyncio task's name
    # Wait an interval before the first round (rather than start with one).
    waits_first: ClassVar[bool] = False

    def __init__(self, *, interval: float) -> None:
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @abstractmethod
    async def run_once(self) -> None:
        """One round; exceptions end the round, not the worker."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    def wake(self) -> None:
        """Run a round now rather than at the next tick (tests, and a start with a backlog)."""
        self._wake.set()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        if self.waits_first:
            await self._sleep()
        while True:
            try:
                await self.run_once()
            except Exception as error:  # the worker must outlive any one bad round
                if is_database_unavailable(error):
                    logger.warning("%s: the database is unavailable; retrying", self.name)
                else:
                    logger.exception("%s round failed", self.name)
            await self._sleep()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
        self._wake.clear()
