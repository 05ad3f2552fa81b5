import asyncio
from collections.abc import Iterator

import pytest

from tests.support.database import truncate_all


@pytest.fixture(autouse=True, scope="module")
def _empty_tables_afterwards(database_url: str) -> Iterator[None]:
    """Processes started here write to the run's database; leave it empty for the next test."""
    yield
    asyncio.run(truncate_all(database_url))
