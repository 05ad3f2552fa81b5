"""Fixtures shared by every test: a real PostgreSQL, a migrated database, the real app.

The database server is the project's embedded PostgreSQL (kept under `.data/test-pg`), or
the server at `TEST_DATABASE_URL`. Each run, and under pytest-xdist each worker, gets a
fresh database built by `alembic upgrade head`; tests that touch it see empty tables
(truncated after each test).
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from src.auth.constants import Scope
from src.auth.schemas import KeyCreated
from src.config import Settings, to_async_url
from src.devdb import EmbeddedPostgres, create_database, drop_database
from src.main import create_app
from src.migrations import upgrade_to_head
from tests.support.clients import app_client
from tests.support.database import truncate_all
from tests.support.keys import bearer, make_key
from tests.support.tlog import TEST_LOG_SIGNING_KEY

ROOT = Path(__file__).resolve().parent.parent

# Local runs explore new examples; CI replays a fixed set, so a red CI means a regression.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
hypothesis_settings.register_profile("dev", deadline=None)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")


# What touches SQL: a test using one of these fixtures (CI's second run, on another server,
# runs just those: `-m sql`).
SQL_FIXTURES = frozenset({"database_server_url", "database_url", "fault_database"})
_embedded: EmbeddedPostgres | None = None


def pytest_configure(config: pytest.Config) -> None:
    """Start the embedded PostgreSQL once per run, in the controller when there are xdist
    workers: every worker shares the server (each with a database of its own)."""
    global _embedded
    is_worker = hasattr(config, "workerinput")
    if is_worker or os.environ.get("TEST_DATABASE_URL"):
        return
    _embedded = EmbeddedPostgres(ROOT / ".data" / "test-pg")
    os.environ["TEST_DATABASE_URL"] = _embedded.url()  # workers inherit it


def pytest_unconfigure(config: pytest.Config) -> None:
    # Left running would be faster next time, but a test run must not leave processes behind.
    if _embedded is not None:
        _embedded.stop()


@pytest.hookimpl(tryfirst=True)  # before `-m sql` deselects by the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SQL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.sql)


@pytest.fixture(scope="session")
def database_server_url() -> str:
    """A PostgreSQL server for this run (its maintenance database's URL)."""
    return os.environ["TEST_DATABASE_URL"]


@pytest.fixture(scope="session")
def database_url(database_server_url: str) -> Iterator[str]:
    """A database of this run's own, migrated to head, dropped at the end."""
    name = f"trailmark_test_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(create_database(database_server_url, name))
    upgrade_to_head(url)
    yield url
    asyncio.run(drop_database(database_server_url, name))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init-only option
        environment="test",
        database_url=SecretStr(database_url),
        api_key_pepper=SecretStr("test-pepper-not-secret"),
        log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY),
        # Tests run a worker round when they need one (tests/support/log.py), not on a timer.
        log_checkpoint_interval=60,
        # Tests run retention when they mean to (tests/support/retention.py), not on a timer.
        retention_interval_seconds=0,
    )


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database, for arranging and inspecting data directly."""
    engine = create_async_engine(to_async_url(database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
async def admin_key(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> KeyCreated:
    return await make_key(engine, settings.api_key_pepper, name="test admin")


@pytest.fixture
def admin(admin_key: KeyCreated) -> dict[str, str]:
    """Authorization headers of an admin key."""
    return bearer(admin_key)


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    """The real application (its lifespan runs inside `client`)."""
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process; tables are emptied afterwards."""
    async with app_client(app) as http:
        yield http
    await truncate_all(database_url)


@pytest.fixture
async def acme_key(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> KeyCreated:
    """A key of tenant `acme` with every audits scope."""
    return await make_key(
        engine,
        settings.api_key_pepper,
        tenant="acme",
        scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ, Scope.AUDITS_ERASE],
    )


@pytest.fixture
def acme(acme_key: KeyCreated) -> dict[str, str]:
    return bearer(acme_key)


@pytest.fixture
async def globex(
    client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
) -> dict[str, str]:
    """Authorization headers of tenant `globex` with every audits scope."""
    key = await make_key(
        engine,
        settings.api_key_pepper,
        tenant="globex",
        scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ, Scope.AUDITS_ERASE],
    )
    return bearer(key)
