"""Where an export's time goes in PostgreSQL: `python -m bench.explain`.

Loads one tenant of 200k events (COPY, as the benchmark does) into a throwaway database,
then prints `EXPLAIN (ANALYZE, BUFFERS)` of one export batch and of the whole tenant, and
how fast PostgreSQL returns the same rows with all the API's columns and with keys only.
"""

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import create_async_engine

from bench import data
from bench.server import Database
from src.audits.export import EXPORT_BATCH, batch_query
from src.audits.query import Selection
from src.auth.schemas import TenantAccess
from src.config import to_async_url
from src.devdb import connect

EVENTS = 200_000
TENANT = "big"


async def explain(url: str) -> None:
    connection = await connect(url)
    try:
        factory = data.EventFactory(seed=1, now=datetime.now(UTC))
        await data.copy_load(connection, factory, {TENANT: EVENTS})
        await connection.execute("VACUUM ANALYZE audit_event")
        query = batch_query(
            Selection(TenantAccess(TENANT, True)), format="ndjson", descending=True, after=None
        )
        dialect = create_async_engine(to_async_url(url)).dialect  # compiles; never connects
        batch = str(query.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        whole = batch.replace(f"LIMIT {EXPORT_BATCH}", "")
        for title, sql in (("one export batch", batch), ("the whole tenant", whole)):
            print(f"-- {title}")
            for line in await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql):
                print(line[0])
        plain = (
            "SELECT occurred_at, id FROM audit_event WHERE tenant = 'big' "
            "AND erased_at IS NULL ORDER BY occurred_at DESC, id DESC"
        )
        # The export's query reads one row: the events' lines and their count (second column).
        for title, sql, count in (
            ("API JSON, joined into lines", whole, lambda rows: int(rows[0][1])),
            ("keys only", plain, len),
        ):
            started = time.perf_counter()
            events = count(await connection.fetch(sql))
            seconds = time.perf_counter() - started
            print(f"-- {title}: {events} events in {seconds:.2f} s = {events / seconds:,.0f}/s")
    finally:
        await connection.close()


def main() -> None:
    database = Database.create()
    try:
        asyncio.run(explain(database.url))
    finally:
        database.drop()


if __name__ == "__main__":
    main()
