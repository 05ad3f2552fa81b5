"""Graceful shutdown: on SIGTERM, drain before the server stops listening.

An orchestrator (Kubernetes, systemd, compose) sends SIGTERM and, at about the same time,
stops routing to the process; its load balancer only notices through `/readyz`. A server
that stopped listening at once would refuse the requests still routed to it meanwhile. So
SIGTERM first marks the process as draining (`/readyz` answers 503, every other route still
serves), and only after `SHUTDOWN_DRAIN_SECONDS` is the signal handed to the server's own
handler (uvicorn's), which stops listening, lets in-flight requests finish and runs the
lifespan's shutdown. A second SIGTERM, or SIGINT (Ctrl-C), skips the wait.

This works the same in every worker of `uvicorn --workers N`: the supervisor forwards
SIGTERM to each worker, and each drains on its own.
"""

import asyncio
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

logger = logging.getLogger(__name__)

SignalHandler = Callable[[int, FrameType | None], object]


class Lifecycle:
    """Whether this process is draining before shutdown."""

    def __init__(self, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        self.draining = False

    @contextmanager
    def drain_on_sigterm(self) -> Iterator[None]:
        """While inside, SIGTERM drains first, then reaches the server's handler.

        Only a server's handler is wrapped: where SIGTERM has its default action (tests that
        run the app in-process) or outside the main thread, nothing is installed.
        """
        previous = signal.getsignal(signal.SIGTERM)
        if (
            self.drain_seconds <= 0
            or not callable(previous)
            or threading.current_thread() is not threading.main_thread()
        ):
            yield
            return
        server_handler: SignalHandler = previous
        loop = asyncio.get_running_loop()

        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            if self.draining:  # a second SIGTERM: stop now
                server_handler(signum, frame)
                return
            self.draining = True
            logger.warning(
                "SIGTERM: draining for %.1f s (/readyz answers 503), then shutting down",
                self.drain_seconds,
            )
            # Signal handlers run between bytecodes: hand the timer to the loop safely.
            loop.call_soon_threadsafe(
                loop.call_later, self.drain_seconds, server_handler, signum, None
            )

        signal.signal(signal.SIGTERM, on_sigterm)
        try:
            yield
        finally:
            if signal.getsignal(signal.SIGTERM) is on_sigterm:
                signal.signal(signal.SIGTERM, server_handler)
