"""The engine's pool replaces connections the database closed, without pinging every checkout."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src import database
from src.config import Settings


@pytest.fixture
async def pooled(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """The app's engine with a pool of one connection, so every checkout reuses it."""
    engine = database.create_engine(settings.model_copy(update={"database_pool_size": 1}))
    yield engine
    await engine.dispose()


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid = await connection.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def test_a_live_connection_is_reused_without_a_ping(
    pooled: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    monkeypatch.setattr(pooled.sync_engine.dialect, "do_ping", pings.append)
    assert await backend_pid(pooled) == await backend_pid(pooled)
    assert pings == []


async def test_a_connection_the_server_closed_is_replaced(
    pooled: AsyncEngine, engine: AsyncEngine
) -> None:
    first = await backend_pid(pooled)
    async with engine.connect() as admin:
        await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    await asyncio.sleep(0.2)  # the closed socket reaches the pooled connection's event loop
    second = await backend_pid(pooled)  # no error: a new connection
    assert second != first


async def test_a_long_idle_connection_is_pinged_and_replaced_when_the_ping_fails(
    pooled: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_pid(pooled)
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)
    assert await backend_pid(pooled) == first  # pinged, alive, reused

    def unanswered(dbapi_connection: object) -> None:
        raise OSError("no answer")

    monkeypatch.setattr(pooled.sync_engine.dialect, "do_ping", unanswered)
    assert await backend_pid(pooled) != first
