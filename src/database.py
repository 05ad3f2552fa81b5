"""Engine, sessions, metadata, and what a database error means. Nothing connects at import."""

import asyncpg
from sqlalchemy import MetaData
from sqlalchemy import exc as sa_exc
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


def is_query_timeout(exc: BaseException) -> bool:
    """True when PostgreSQL cancelled a statement (`statement_timeout`, or an operator)."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return any(
        isinstance(candidate, asyncpg.exceptions.QueryCanceledError)
        for candidate in (exc, exc.__cause__)
    )


def is_database_unavailable(exc: BaseException) -> bool:
    """True when `exc` means the database cannot be reached, rather than a bug or bad SQL."""
    if isinstance(exc, sa_exc.TimeoutError):  # no pooled connection became free in time
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        exc = exc.orig if exc.orig is not None else exc
    # The driver's own errors may arrive wrapped by SQLAlchemy's adapter: look at the cause too.
    return any(isinstance(candidate, _UNREACHABLE_ERRORS) for candidate in (exc, exc.__cause__))


_UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable host, DNS failure
    TimeoutError,  # connect timeout
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
)
