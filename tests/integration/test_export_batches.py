"""Export batches: two PostgreSQL backends read alternate batches; the file is still the list.

Batches here are three events, so a few dozen events cross many batch bounds (ties of
`occurred_at` included) and both reading sessions take turns many times.
"""

import asyncio
import json
from contextlib import aclosing
from typing import Any

import httpx
import pytest
from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from src.audits import export
from src.audits.query import Selection
from src.auth.schemas import TenantAccess
from src.database import create_sessionmaker
from tests.support.api import all_pages, post_many
from tests.support.events import at, event
from tests.support.paths import api_path

ACME = Selection(TenantAccess(tenant="acme", visible=True))


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "EXPORT_BATCH", 3)


def spread(count: int) -> list[dict[str, Any]]:
    """`count` events, two of every three sharing their `occurred_at` (ties at bounds)."""
    return [event(entity_id=f"e{i}", occurred_at=at(i // 3 * 2 + i % 3 // 2)) for i in range(count)]


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[str]:
    """The ids the list gives, page by page (pages of 7: bounds fall elsewhere)."""
    return [item["id"] for item in await all_pages(client, headers, limit=7, **params)]


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("count", [0, 1, 3, 4, 6, 31])
async def test_the_export_is_the_list_whatever_the_batches(
    client: httpx.AsyncClient, acme: dict[str, str], order: str, count: int
) -> None:
    await post_many(client, acme, spread(count))
    response = await client.get(
        api_path("export_events"), headers=acme, params={"order": order, "format": "ndjson"}
    )
    assert response.status_code == 200
    lines = response.text.split("\n")
    assert lines.pop() == ""  # every line ends with a newline; no empty line between batches
    assert [json.loads(line)["id"] for line in lines] == await listed(client, acme, order=order)
    assert len(lines) == count


async def test_filters_and_csv_cross_batches_too(
    client: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    bodies = spread(20)
    for i, body in enumerate(bodies):
        body["status"] = "failure" if i % 4 else "success"
    await post_many(client, acme, bodies)
    filtered = await client.get(
        api_path("export_events"), headers=acme, params={"q": "status:failure"}
    )
    ids = [json.loads(line)["id"] for line in filtered.text.splitlines()]
    assert ids == await listed(client, acme, q="status:failure")
    assert len(ids) == 15
    csv = await client.get(api_path("export_events"), headers=acme, params={"format": "csv"})
    rows = csv.text.splitlines()
    assert rows[0].startswith("id,tenant,seq")
    assert [row.split(",")[0] for row in rows[1:]] == await listed(client, acme)


async def test_events_written_during_an_export_are_never_exported_twice(
    client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
) -> None:
    before = [item["id"] for item in await post_many(client, acme, spread(30))]
    exported: list[str] = []
    async with create_sessionmaker(engine)() as session:
        chunks = export.stream(session=session, selection=ACME, format="ndjson", descending=True)
        async with aclosing(chunks):
            async for chunk in chunks:
                exported.extend(json.loads(line)["id"] for line in chunk.splitlines())
                # New events all over the range: before, among and after what was read.
                await post_many(client, acme, [event(occurred_at=at(m)) for m in (-5, 7, 30)])
    assert len(exported) == len(set(exported))
    assert set(before) <= set(exported)


async def test_closing_early_stops_both_readers(
    client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
) -> None:
    await post_many(client, acme, spread(30))
    async with create_sessionmaker(engine)() as session:
        chunks = export.stream(session=session, selection=ACME, format="ndjson", descending=True)
        async with aclosing(chunks):
            first = await anext(chunks)
        assert len(first.splitlines()) == 3
        # Nothing reads on the request's session any more: it takes a statement at once.
        assert await session.scalar(select(literal_column("1"))) == 1
    running = [task for task in asyncio.all_tasks() if "_read_batch" in repr(task.get_coro())]
    assert running == []


async def test_a_failing_probe_fails_the_export_instead_of_hanging(
    client: httpx.AsyncClient,
    acme: dict[str, str],
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await post_many(client, acme, spread(10))
    real = export.bound_query
    probes = 0

    def failing_second_probe(*args: Any, **kwargs: Any) -> Any:  # a SQLAlchemy Select
        nonlocal probes
        probes += 1
        if probes == 2:
            return select(literal_column("1 / 0"))
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "bound_query", failing_second_probe)
    async with create_sessionmaker(engine)() as session:
        chunks = export.stream(session=session, selection=ACME, format="ndjson", descending=True)
        with pytest.raises(Exception, match="division by zero"):
            async with aclosing(chunks):
                await asyncio.wait_for(_drain(chunks), timeout=30)


async def _drain(chunks: Any) -> None:  # an async iterator of text
    async for _ in chunks:
        pass
