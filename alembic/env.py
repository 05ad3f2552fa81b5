"""Alembic environment: async, reading the database URL from Trailmark's settings."""

import asyncio
import logging.config
import re

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import src.models  # noqa: F401  (registers every table on the metadata)
from src.config import get_settings, to_async_url
from src.database import metadata

config = context.config

if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return to_async_url(url)
    return get_settings().async_database_url


# The events' partitions (one per tenant, one per range of seq) are made at run time by the
# database's own functions (migration 0009), not declared on the metadata.
_EVENT_PARTITION = re.compile(r"audit_event_[0-9a-f]{16}(_\d+)?(_pkey|_.*_idx)?")


def _include_name(name: str | None, type_: str, parent_names: object) -> bool:
    return not (type_ in {"table", "index"} and name and _EVENT_PARTITION.fullmatch(name))


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_migrations_online() -> None:
    engine = create_async_engine(_database_url(), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
