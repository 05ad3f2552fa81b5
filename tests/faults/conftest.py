"""Fault tests: a real server process against a PostgreSQL cluster the test crashes at will.

The cluster is this module tree's own (never the suite's shared database server), and each
test gets a fresh migrated database on it and its own server process.
"""

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from src.auth.constants import Scope
from src.config import to_async_url
from src.devdb import create_database, drop_database
from src.migrations import upgrade_to_head
from tests.support.api_process import PEPPER, ApiProcess, free_port
from tests.support.cluster import Cluster
from tests.support.keys import bearer, make_key

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def cluster(worker_id: str) -> Iterator[Cluster]:
    """The cluster of this process (each pytest-xdist worker has its own: `gw0`, ...)."""
    cluster = Cluster(ROOT / ".data" / f"fault-pg-{worker_id}", free_port())
    cluster.start()
    yield cluster
    cluster.remove()


@pytest.fixture
def fault_database(cluster: Cluster) -> Iterator[str]:
    """A fresh, migrated database on the cluster (started again if a test left it down)."""
    cluster.start_if_stopped()
    name = f"faults_{uuid.uuid4().hex[:12]}"
    url = asyncio.run(create_database(cluster.url(), name))
    upgrade_to_head(url)
    yield url
    cluster.start_if_stopped()
    asyncio.run(drop_database(cluster.url(), name))


@pytest.fixture
def start_api(fault_database: str, tmp_path: Path) -> Iterator[Callable[..., ApiProcess]]:
    """Start the API on the fault database with extra settings; killed at the end."""
    started: list[ApiProcess] = []

    def start(**settings: str) -> ApiProcess:
        api = ApiProcess(fault_database, tmp_path / f"api-{len(started)}.log", **settings)
        started.append(api)
        return api.start()

    yield start
    for api in started:
        api.kill()


@pytest.fixture
async def acme(fault_database: str) -> dict[str, str]:
    """Headers of an `acme` key that may write and read."""
    engine = create_async_engine(to_async_url(fault_database))
    try:
        key = await make_key(
            engine, SecretStr(PEPPER), tenant="acme", scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ]
        )
    finally:
        await engine.dispose()
    return bearer(key)
