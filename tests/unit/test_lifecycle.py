"""SIGTERM drains first: `/readyz` turns 503, then the server's own handler runs."""

import asyncio
import os
import signal
from types import FrameType

from src.lifecycle import Lifecycle


class ServerHandler:
    """Stands in for uvicorn's handler: remembers the signals it was given."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.called = asyncio.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        self.called.set()


async def test_sigterm_drains_then_reaches_the_server_handler() -> None:
    server = ServerHandler()
    original = signal.signal(signal.SIGTERM, server)
    try:
        lifecycle = Lifecycle(drain_seconds=0.2)
        with lifecycle.drain_on_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0)
            assert lifecycle.draining
            assert server.received == []  # still serving while the balancer notices

            await asyncio.wait_for(server.called.wait(), timeout=10)
            assert server.received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is server  # put back on the way out
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_a_second_sigterm_stops_at_once() -> None:
    server = ServerHandler()
    original = signal.signal(signal.SIGTERM, server)
    try:
        lifecycle = Lifecycle(drain_seconds=3600)
        with lifecycle.drain_on_sigterm():
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0)
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.wait_for(server.called.wait(), timeout=10)
        assert server.received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, original)


async def test_nothing_is_installed_without_a_server_handler_or_a_drain() -> None:
    original = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with Lifecycle(drain_seconds=5).drain_on_sigterm():
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        server = ServerHandler()
        signal.signal(signal.SIGTERM, server)
        with Lifecycle(drain_seconds=0).drain_on_sigterm():
            assert signal.getsignal(signal.SIGTERM) is server
    finally:
        signal.signal(signal.SIGTERM, original)
