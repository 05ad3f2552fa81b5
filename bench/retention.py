"""Retention's benchmark: prune the oldest month of one tenant among 2M events.

`python -m bench.retention [--smoke] [--out FILE]` loads 5 tenants with events received over
12 months of 30 days (COPY, chained as the API chains them, a month at a time, each month
closed as the job closes it: `audit_event_close_partition`), lets the API's log worker
integrate and sign them all, then, on identical tenants:

- prunes the oldest month of `r0` with the retention job (`prune`, days = 360 - 30);
- deletes the same month of `r1` with a plain `DELETE` (the guard bypassed, as a superuser
  would), the ceiling any removal of those rows is measured against;
- prunes `r2` while single events are ingested (into another tenant) through the API, and
  compares that ingest rate with the rate just before, over as long a time.

For each removal: seconds, WAL bytes (`pg_current_wal_insert_lsn` before and after) and the
dead tuples it left (`pg_stat_user_tables`, autovacuum off meanwhile). JSON on stdout.
"""

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import and_
from sqlalchemy.ext.asyncio import AsyncSession

from bench import data, load
from bench.log import wait_integrated
from bench.run import _admin_key
from bench.server import ROOT, Api, Database
from src.audits import service as audits_service
from src.config import Settings
from src.database import create_engine, create_sessionmaker
from src.devdb import connect as connect_database
from src.events.models import events
from src.log.signing import LogIdentity, parse_seed
from src.retention import job

MONTHS, MONTH_DAYS = 12, 30
KEPT_DAYS = (MONTHS - 1) * MONTH_DAYS  # the oldest month, and only it, expires


# Dead tuples are counted, so autovacuum stays off meanwhile: on every range of events (a
# partitioned table has no storage of its own to set it on).
_NO_AUTOVACUUM = """
DO $$
DECLARE
    range_name text;
BEGIN
    FOR range_name IN SELECT name FROM audit_event_partition WHERE lower_seq IS NOT NULL LOOP
        EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = false)', range_name);
    END LOOP;
END $$
"""


@dataclass(frozen=True)
class Sizes:
    events_per_tenant: int
    tenants: int
    ingest_clients: int

    @classmethod
    def full(cls) -> "Sizes":
        return cls(400_000, 5, 64)

    @classmethod
    def smoke(cls) -> "Sizes":
        return cls(6_144, 4, 8)  # 512 a month: a range closes each month


async def _dead_tuples(connection: asyncpg.Connection) -> int:
    await connection.execute("SELECT pg_stat_force_next_flush()")
    value = await connection.fetchval(
        "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables "
        "WHERE relname LIKE 'audit_event%'"
    )
    return int(value)


async def _wal(connection: asyncpg.Connection) -> int:
    return int(await connection.fetchval("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"))


async def _measured(connection: asyncpg.Connection, remove: Any, *, rows_of: str) -> dict[str, Any]:
    """Time, WAL bytes and dead tuples of `remove()` (a coroutine function)."""
    await asyncio.sleep(1)  # let other backends' statistics settle
    dead_before, wal_before = await _dead_tuples(connection), await _wal(connection)
    started = time.perf_counter()
    detail = await remove()
    seconds = time.perf_counter() - started
    wal = await _wal(connection) - wal_before
    await asyncio.sleep(1.2)  # the remover's statistics reach the shared counters
    dead = await _dead_tuples(connection) - dead_before
    return {
        "tenant": rows_of,
        "seconds": round(seconds, 3),
        "wal_bytes": wal,
        "dead_tuples": dead,
        **detail,
    }


@asynccontextmanager
async def _session(url: str) -> AsyncIterator[tuple[AsyncSession, Settings]]:
    """A session on an engine of its own (the job's and the erasures' own connection)."""
    settings = Settings(_env_file=None, database_url=url, environment="test")
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            yield session, settings
    finally:
        await engine.dispose()


async def _prune(url: str, signing_key: str, tenant: str, as_of: datetime) -> dict[str, Any]:
    """One retention run of `tenant`, as the job runs it."""
    async with _session(url) as (session, settings):
        identity = LogIdentity(origin_prefix=settings.log_origin, key=parse_seed(signing_key))
        report = await job.run_tenant(session, identity, tenant, as_of=as_of)
    assert report is not None
    return {"pruned": report.pruned, "erased": report.erased, "min_index": report.min_index}


async def _plain_delete(
    connection: asyncpg.Connection, tenant: str, cutoff: datetime
) -> dict[str, Any]:
    async with connection.transaction():
        await connection.execute("SET LOCAL session_replication_role = replica")
        status = await connection.execute(
            "DELETE FROM audit_event WHERE tenant = $1 AND received_at < $2", tenant, cutoff
        )
    return {"deleted": int(status.split()[-1])}


async def _erase_same(url: str, tenant: str, min_index: int, cutoff: datetime) -> dict[str, Any]:
    """Erase, as the prune erases, the expired events above `min_index` of an identical
    tenant: the share of the prune's WAL that is its erasures, not its drop."""
    async with _session(url) as (session, _), session.begin():
        erased = await audits_service.erase_matching(
            session, tenant, and_(events.c.seq > min_index, events.c.received_at < cutoff)
        )
    return {"erased": len(erased)}


def _prune_in_child(
    url: str, signing_key: str, tenant: str, as_of: datetime
) -> subprocess.Popen[str]:
    """The prune in a process of its own (the load generator keeps this one's CPU)."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.retention",
            "--prune-child",
            url,
            signing_key,
            tenant,
            as_of.isoformat(),
        ],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


async def _ingest(api: Api, authorization: str, clients: int, seconds: float) -> load.Result:
    factory = data.EventFactory(7, datetime.now(UTC))
    bodies = [json.dumps(body).encode() for body in factory.bodies(1000)]
    return await load.run(
        lambda: load.Connection("127.0.0.1", api.port, authorization),
        lambda n: load.Request(
            "POST", "/api/v1/audits", {"tenant": "live"}, bodies[n % len(bodies)]
        ),
        clients,
        seconds=seconds,
        expect=201,
    )


def _rate(result: load.Result) -> dict[str, Any]:
    return {
        "events_per_s": round(result.rate),
        "p99_ms": round(result.percentile(99), 1),
        "errors": result.errors,
        "seconds": round(result.seconds, 2),
    }


def _over_a_month(start: datetime) -> Callable[[int, int], datetime]:
    """Receive a month's events evenly over the `MONTH_DAYS` from `start`."""
    return lambda done, count: start + timedelta(days=MONTH_DAYS * done / count)


async def benchmark(database: Database, sizes: Sizes) -> dict[str, Any]:
    api = Api(database.url)
    try:
        authorization = await _admin_key(database, api.pepper)
        connection = await connect_database(database.url)
        try:
            return await _measure(database, api, authorization, connection, sizes)
        finally:
            await connection.close()
    finally:
        api.stop()


async def _measure(
    database: Database, api: Api, authorization: str, connection: asyncpg.Connection, sizes: Sizes
) -> dict[str, Any]:
    now = datetime.now(UTC)
    first = now - timedelta(days=MONTHS * MONTH_DAYS)
    tenants = [f"r{n}" for n in range(sizes.tenants)]
    # Every tenant gets the same events at the same times (one seed each), a month at a time;
    # as each month ends its range closes, as the retention job closes it.
    loaded, load_seconds, closes = 0, 0.0, []
    for tenant in tenants:
        factory = data.EventFactory(1, now)
        for month in range(MONTHS):
            start = first + timedelta(days=month * MONTH_DAYS)
            count, seconds = await data.copy_load(
                connection,
                factory,
                {tenant: sizes.events_per_tenant // MONTHS},
                chunk=1000,
                received_at=_over_a_month(start),
            )
            loaded, load_seconds = loaded + count, load_seconds + seconds
            started = time.perf_counter()
            await connection.execute("SELECT audit_event_close_partition($1)", tenant)
            closes.append(time.perf_counter() - started)
    await connection.execute("INSERT INTO tenant (slug) VALUES ('live') ON CONFLICT DO NOTHING")
    integrate_seconds = await wait_integrated(connection)
    await connection.execute(_NO_AUTOVACUUM)
    await connection.execute("VACUUM (ANALYZE) audit_event")
    for tenant in tenants[:3]:
        await connection.execute(
            "INSERT INTO retention_policy (tenant, days, mode, updated_at) "
            "VALUES ($1, $2, 'prune', now())",
            tenant,
            KEPT_DAYS,
        )
    cutoff = now - timedelta(days=KEPT_DAYS)

    prune = await _measured(
        connection, lambda: _prune(database.url, api.signing_key, "r0", now), rows_of="r0"
    )
    delete = await _measured(
        connection, lambda: _plain_delete(connection, "r1", cutoff), rows_of="r1"
    )
    erasures = await _measured(
        connection,
        lambda: _erase_same(database.url, tenants[3], prune["min_index"], cutoff),
        rows_of=tenants[3],
    )
    dropped_wal = prune["wal_bytes"] - erasures["wal_bytes"]

    # Ingest alone, then ingest while r2 is pruned in another process, over the same time.
    child = _prune_in_child(database.url, api.signing_key, "r2", now)
    assert child.stdout is not None
    assert child.stdin is not None
    child.stdout.readline()  # ready: imported and connected
    idle = await _ingest(api, authorization, sizes.ingest_clients, max(prune["seconds"], 2.0))
    child.stdin.write("go\n")
    child.stdin.flush()
    during = await _ingest(api, authorization, sizes.ingest_clients, max(prune["seconds"], 2.0))
    concurrent = json.loads(child.stdout.readline())
    child.wait(timeout=60)

    removed = prune["pruned"] + prune["erased"]
    ratio = during.rate / idle.rate if idle.rate else 0.0
    return {
        "load": {
            "events": loaded,
            "tenants": sizes.tenants,
            "months": 12,
            "copy_events_per_s": round(loaded / load_seconds),
            # Each close waits for the tenant's table: behind the log worker's reads of the
            # events just loaded, at times, hence the max.
            "month_close_ms": {
                "median": round(1000 * statistics.median(closes), 1),
                "max": round(1000 * max(closes), 1),
            },
            "integrate_seconds": round(integrate_seconds, 1),
        },
        "prune": prune,
        "plain_delete": delete,
        "prune_erasures_alone": erasures,
        "ingest": {
            "idle": _rate(idle),
            "during_prune": _rate(during),
            "prune_seconds_meanwhile": concurrent["seconds"],
            "ratio": round(ratio, 3),
        },
        "targets": {
            "ingest_during_prune_at_least_0.8_of_idle": ratio >= 0.8,
            "prune_wal_per_removed_row_bytes": round(prune["wal_bytes"] / removed)
            if removed
            else None,
            "delete_wal_per_row_bytes": round(delete["wal_bytes"] / delete["deleted"])
            if delete["deleted"]
            else None,
            "prune_wal_at_most_0.1_of_delete": prune["wal_bytes"] <= 0.1 * delete["wal_bytes"],
            # What storage costs: the prune's WAL without its erasures (the erase path's
            # cost, paid the same by an `erase` policy), against deleting the rows.
            "prune_wal_without_erasures_bytes": dropped_wal,
            "prune_wal_without_erasures_at_most_0.1_of_delete": dropped_wal
            <= 0.1 * delete["wal_bytes"],
            "prune_dead_tuples_at_most_0.1_of_delete": prune["dead_tuples"]
            <= 0.1 * delete["dead_tuples"],
        },
    }


def _child(url: str, signing_key: str, tenant: str, as_of: str) -> int:
    async def run() -> None:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        started = time.perf_counter()
        detail = await _prune(url, signing_key, tenant, datetime.fromisoformat(as_of))
        print(
            json.dumps({"seconds": round(time.perf_counter() - started, 3), **detail}), flush=True
        )

    asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.retention", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it works")
    parser.add_argument("--out", help="also write the JSON document to this file")
    parser.add_argument("--prune-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prune_child:
        return _child(*args.prune_child)
    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    started = time.perf_counter()
    database = Database.create()
    try:
        report = asyncio.run(benchmark(database, sizes))
    finally:
        database.drop()
    document = {
        "mode": "smoke" if args.smoke else "full",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        **report,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
