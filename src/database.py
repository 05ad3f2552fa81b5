"""Engine, sessions and metadata. Nothing here connects at import time."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlmodel import SQLModel

from src.config import Settings

# Explicit constraint names, so migrations are reviewable and stable across environments.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: MetaData = SQLModel.metadata
metadata.naming_convention = NAMING_CONVENTION


def create_engine(settings: Settings) -> AsyncEngine:
    """The one engine of a process, created in the lifespan (or by the CLI)."""
    return create_async_engine(
        settings.async_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        # A connection that died while the database was away is replaced, not reused.
        pool_pre_ping=True,
        connect_args={
            "timeout": settings.database_connect_timeout_seconds,
            "server_settings": {
                "application_name": "trailmark",
                "statement_timeout": str(settings.database_statement_timeout_ms),
                "timezone": "UTC",
            },
        },
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after the service's transaction commits."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    """The sessionmaker the lifespan put into the request state.

    Dependencies like this one are `async def` even though they never await: FastAPI runs a
    plain `def` dependency in a thread pool, and those hand-offs, several per request, took a
    measurable share of the event loop under load (see docs/performance.md).
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    return sessionmaker


async def get_session(
    sessionmaker: Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)],
) -> AsyncIterator[AsyncSession]:
    """One session per request. Services own its transactions (`async with session.begin()`)."""
    async with sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessionmaker)]
