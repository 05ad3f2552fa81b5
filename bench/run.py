"""Measure ingest, query, export and verify against the machine's own ceilings; print JSON.

    python -m bench            # 100k then 1M events over 50 tenants (minutes)
    python -m bench --smoke    # the same steps on a few thousand events (seconds; CI runs it)

The JSON document goes to stdout (or `--out`), a short table to stderr.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from subprocess import PIPE
from typing import Any

import asyncpg
import httpx
from sqlalchemy.ext.asyncio import create_async_engine

from bench import data, load, wrk
from bench import log as log_bench
from bench.server import Api, Database
from src.auth.constants import Scope
from src.auth.schemas import KeyCreate
from src.auth.service import create_key
from src.config import to_async_url
from src.database import create_sessionmaker
from src.devdb import connect as connect_database

BATCH_SIZE = 1000


@dataclass(frozen=True)
class Sizes:
    scales: tuple[int, ...]  # dataset sizes (events) at which ingest and queries are measured
    tenants: int
    big_share: float  # of each load, the share of the one big tenant (export and verify)
    healthz_seconds: float
    single_seconds: float
    single_clients: int
    batches: int  # 1000-event batches per scale
    batch_clients: int
    query_samples: int
    deep_page: int
    log_events: int  # the transparency log's own tenant: proofs, tiles and a full bundle
    lag_seconds: float  # sustained single-event writes while checkpoint lag is measured
    proof_samples: int
    tile_seconds: float

    @classmethod
    def full(cls) -> "Sizes":
        return cls(
            (100_000, 1_000_000), 50, 0.2, 5.0, 10.0, 64, 40, 4, 200, 500,
            1_000_000, 10.0, 500, 5.0,
        )  # fmt: skip

    @classmethod
    def smoke(cls) -> "Sizes":
        return cls((2_000, 5_000), 5, 0.2, 1.0, 1.5, 64, 3, 2, 10, 5, 3_000, 1.5, 10, 1.0)


def _plan(sizes: Sizes, tenants: list[str], events: int) -> dict[str, int]:
    """How many of `events` each dataset tenant gets: the big one its share, others the rest."""
    big = round(events * sizes.big_share)
    others = tenants[1:]
    each, extra = divmod(events - big, len(others))
    return {tenants[0]: big} | {t: each + (1 if i < extra else 0) for i, t in enumerate(others)}


async def _ingest(
    connect: Callable[[], load.Connection],
    base_url: str,
    authorization: str,
    factory: data.EventFactory,
    sizes: Sizes,
) -> dict[str, Any]:
    """Batch and single-event ingest through the API, into tenants of their own."""
    payloads = [
        json.dumps({"events": factory.bodies(BATCH_SIZE)}).encode()
        for _ in range(min(sizes.batches, 8))
    ]

    def batch_request(worker: int) -> load.Request:
        body = payloads[worker % len(payloads)]
        return load.Request("POST", "/api/v1/audits/batch", {"tenant": f"batch-{worker}"}, body)

    batch = await load.run(
        connect, batch_request, sizes.batch_clients, count=sizes.batches, expect=201
    )
    return {
        "batch": {
            "batches": batch.requests,
            "errors": batch.errors,
            "events_per_s": round(batch.rate * BATCH_SIZE),
            "clients": sizes.batch_clients,
        },
        "single": await _single_ingest(base_url, authorization, factory, sizes),
    }


async def _single_ingest(
    base_url: str, authorization: str, factory: data.EventFactory, sizes: Sizes
) -> dict[str, Any]:
    """One event per request from `wrk`'s connections, spread over 16 tenants."""
    single = await asyncio.to_thread(
        wrk.run,
        base_url,
        [f"/api/v1/audits?tenant=single-{n}" for n in range(16)],
        method="POST",
        bodies=[json.dumps(body) for body in factory.bodies(1000)],
        headers={"Authorization": authorization},
        seconds=sizes.single_seconds,
        connections=sizes.single_clients,
    )
    if single.errors:
        raise RuntimeError(f"{single.errors} single-event requests failed")
    return {
        "requests": single.requests,
        "errors": single.errors,
        "events_per_s": round(single.requests_per_s),
        "p50_ms": round(single.p50_ms, 2),
        "p99_ms": round(single.p99_ms, 2),
        "clients": sizes.single_clients,
        "load_generator": "wrk",
    }


async def _timed_get(
    connect: Callable[[], load.Connection], path: str, params: dict[str, str], samples: int
) -> dict[str, float]:
    request = load.Request("GET", path, params)
    await load.run(connect, lambda _: request, 1, count=min(5, samples))  # warm up
    result = await load.run(connect, lambda _: request, 1, count=samples)
    if result.errors:
        raise RuntimeError(f"{path} {params} failed")
    return {"p50_ms": round(result.percentile(50), 2), "p99_ms": round(result.percentile(99), 2)}


async def _queries(
    connect: Callable[[], load.Connection], tenant: str, sizes: Sizes
) -> dict[str, Any]:
    """List latencies on the big tenant, one request at a time."""
    base = {"tenant": tenant, "limit": "20"}
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    window = {
        "occurred_after": (day - timedelta(days=2)).isoformat(),
        "occurred_before": (day - timedelta(days=1)).isoformat(),
    }
    kinds: dict[str, dict[str, str]] = {
        "no_filter": {},
        "actor_id": {"actor_id": "user_42"},
        "action_type": {"action_type": "delete"},
        "time_window": window,
        "q_details": {"q": "details.reason:cleanup"},
    }
    results = {
        kind: await _timed_get(connect, "/api/v1/audits", base | params, sizes.query_samples)
        for kind, params in kinds.items()
    }
    walker = connect()
    cursor = None
    for _ in range(sizes.deep_page - 1):
        params = base | ({"cursor": cursor} if cursor else {})
        _, page = await walker.send(load.Request("GET", "/api/v1/audits", params))
        cursor = json.loads(page)["next_cursor"]
    await walker.close()
    results[f"page_{sizes.deep_page}"] = await _timed_get(
        connect, "/api/v1/audits", base | {"cursor": cursor or ""}, sizes.query_samples
    )
    return results


async def _export_once(
    api: Api, authorization: str, tenant: str, compressed: bool
) -> tuple[int, float, int]:
    """One NDJSON export downloaded by `curl` (C, like `wrk`: a Python client reading 130 MB
    competes with the server for the two cores): (events, seconds, peak RSS growth of the
    server in bytes). Compressed, curl asks for gzip and inflates it."""
    curl = shutil.which("curl")
    if curl is None:
        raise RuntimeError("curl is not installed (Debian package `curl`; .ci/run installs it)")
    url = f"{api.base_url}/api/v1/audits/export?tenant={tenant}&format=ndjson"
    command = [curl, "--silent", "--show-error", "--fail", "-H", f"Authorization: {authorization}"]
    lines = 0
    async with api.rss_growth() as growth:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *command, *(["--compressed"] if compressed else []), url, stdout=PIPE, stderr=PIPE
        )
        assert process.stdout is not None
        while chunk := await process.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
        _, error = await process.communicate()
        seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"curl failed: {error.decode()}")
    return lines, seconds, growth.bytes


async def _export(api: Api, authorization: str, tenant: str) -> dict[str, Any]:
    """The big tenant's NDJSON export, plain (as `curl` asks) and gzip-compressed."""
    lines, seconds, growth = await _export_once(api, authorization, tenant, compressed=False)
    gzip_lines, gzip_seconds, gzip_growth = await _export_once(
        api, authorization, tenant, compressed=True
    )
    return {
        "events": lines,
        "events_per_s": round(lines / seconds),
        "gzip_events_per_s": round(gzip_lines / gzip_seconds),
        "rss_growth_mb": round(max(growth, gzip_growth) / 2**20, 1),
        "client": "curl",
    }


async def _copy_out(connection: asyncpg.Connection, tenant: str) -> dict[str, Any]:
    """The ceiling of export and verify: PostgreSQL handing over the tenant's rows, raw.

    `COPY (SELECT * ...) TO STDOUT` in PostgreSQL's text format, into nothing: no JSON, no
    hashing, no HTTP.
    """
    copied = 0

    async def discard(chunk: bytes) -> None:
        nonlocal copied
        copied += chunk.count(b"\n")

    started = time.perf_counter()
    await connection.copy_from_query(
        "SELECT * FROM audit_event WHERE tenant = $1 ORDER BY occurred_at DESC, id DESC",
        tenant,
        output=discard,
    )
    seconds = time.perf_counter() - started
    return {"events": copied, "events_per_s": round(copied / seconds)}


async def _verify(http: httpx.AsyncClient, tenant: str) -> dict[str, Any]:
    started = time.perf_counter()
    response = await http.get("/api/v1/audits/integrity/verify", params={"tenant": tenant})
    seconds = time.perf_counter() - started
    body = response.json()
    return {
        "events": body["checked"],
        "valid": body["valid"],
        "events_per_s": round(body["checked"] / seconds),
    }


def _scale_label(events: int) -> str:
    return f"{events // 1_000_000}M" if events >= 1_000_000 else f"{events // 1000}k"


async def _admin_key(database: Database, pepper: str) -> str:
    engine = create_async_engine(to_async_url(database.url))
    async with create_sessionmaker(engine)() as session:
        key = await create_key(
            session=session,
            pepper=pepper.encode(),
            request=KeyCreate(tenant=None, scopes=[Scope.ADMIN], name="bench"),
        )
    await engine.dispose()
    return f"Bearer {key.key}"


def _connector(api: Api, authorization: str) -> Callable[[], load.Connection]:
    return lambda: load.Connection("127.0.0.1", api.port, authorization)


async def benchmark(database: Database, sizes: Sizes, workers: int) -> dict[str, Any]:
    api = await asyncio.to_thread(Api, database.url, workers)
    try:
        return await _measure(database, api, sizes, workers)
    finally:
        api.stop()


async def _measure(database: Database, api: Api, sizes: Sizes, workers: int) -> dict[str, Any]:
    authorization = await _admin_key(database, api.pepper)
    connect = _connector(api, authorization)
    connection: asyncpg.Connection = await connect_database(database.url)
    http = httpx.AsyncClient(
        base_url=api.base_url, headers={"Authorization": authorization}, timeout=600
    )
    report: dict[str, Any] = {}
    try:
        report["ceilings"] = await _ceilings(api.base_url, sizes)
        factory = data.EventFactory(seed=7, now=datetime.now(UTC))
        tenants = [f"tenant-{n:02d}" for n in range(sizes.tenants)]
        loaded = 0
        report["scales"] = {}
        for scale in sizes.scales:
            copied, seconds = await data.copy_load(
                connection, factory, _plan(sizes, tenants, scale - loaded)
            )
            # Rows COPYed past the API are integrated into the log by the server's backfill.
            backfill = await log_bench.wait_integrated(connection)
            await connection.execute("VACUUM ANALYZE audit_event")
            loaded = scale
            report["scales"][_scale_label(scale)] = {
                "events": scale,
                "copy_events_per_s": round(copied / seconds),
                "backfill_events_per_s": round(copied / max(backfill, 1e-9)),
                "ingest": await _ingest(connect, api.base_url, authorization, factory, sizes),
                "query": await _queries(connect, tenants[0], sizes),
            }
        report["ceilings"]["copy_out"] = await _copy_out(connection, tenants[0])
        report["export"] = await _export(api, authorization, tenants[0])
        report["verify"] = await _verify(http, tenants[0])
        report["log"] = await _log(
            database, api, authorization, connection, http, connect, factory, sizes
        )
    finally:
        await http.aclose()
        await connection.close()
    # The same ingest, on the same data, by the same app without the transparency log.
    api.stop()
    baseline = await asyncio.to_thread(
        Api,
        database.url,
        workers,
        factory="bench.nolog:create_app",
        pepper=api.pepper,
        signing_key=api.signing_key,
    )
    try:
        report["without_log"] = {
            "ingest": await _ingest(
                _connector(baseline, authorization),
                baseline.base_url,
                authorization,
                factory,
                sizes,
            )
        }
    finally:
        baseline.stop()
    # The ceiling and single events again with one worker process per CPU.
    cpus = os.cpu_count() or 1
    multi = await asyncio.to_thread(
        Api, database.url, cpus, pepper=api.pepper, signing_key=api.signing_key
    )
    try:
        report["workers_per_cpu"] = {
            "workers": cpus,
            "ceilings": await _ceilings(multi.base_url, sizes),
            "single": await _single_ingest(multi.base_url, authorization, factory, sizes),
        }
    finally:
        multi.stop()
    report["targets"] = _targets(report, sizes)
    return report


async def _ceilings(base_url: str, sizes: Sizes) -> dict[str, Any]:
    """`/healthz` under the same load generator as the figures it bounds."""
    health = await asyncio.to_thread(wrk.run, base_url, ["/healthz"], seconds=sizes.healthz_seconds)
    return {
        "healthz_requests_per_s": round(health.requests_per_s),
        "healthz_p99_ms": round(health.p99_ms, 2),
        "load_generator": "wrk",
    }


async def _log(
    database: Database,
    api: Api,
    authorization: str,
    connection: asyncpg.Connection,
    http: httpx.AsyncClient,
    connect: Callable[[], load.Connection],
    factory: data.EventFactory,
    sizes: Sizes,
) -> dict[str, Any]:
    """The transparency log: checkpoint lag under load, then a tenant of `log_events` events
    for backfill, proofs, tiles, and a complete bundle checked by the offline verifier."""
    body = json.dumps(factory.bodies(1)[0]).encode()
    lag = await log_bench.checkpoint_lag(
        connect, http, body, clients=sizes.single_clients // 4, seconds=sizes.lag_seconds
    )
    tenant = "log"
    copied, _ = await data.copy_load(connection, factory, {tenant: sizes.log_events})
    backfill = await log_bench.wait_integrated(connection)
    with tempfile.TemporaryDirectory() as scratch:
        proven = await log_bench.bundle(api, http, tenant, Path(scratch) / "bundle.ndjson")
    return {
        "checkpoint_lag": lag,
        "tenant_events": copied,
        "backfill_events_per_s": round(copied / max(backfill, 1e-9)),
        "proof": await log_bench.proofs(connect, connection, tenant, sizes.proof_samples),
        "tiles": await log_bench.tiles(
            api.base_url, authorization, tenant, copied, sizes.tile_seconds
        ),
        "bundle": proven,
    }


def _target(
    value: float, goal: float, ceiling: tuple[str, float], higher_is_better: bool = True
) -> dict[str, Any]:
    """A figure, its goal, whether it is met, and the same-run ceiling it is read against."""
    met = value >= goal if higher_is_better else value < goal
    return {
        "value": value,
        "target": (">= " if higher_is_better else "< ") + str(goal),
        "met": met,
        "ceiling": {"of": ceiling[0], "value": ceiling[1]},
    }


def _targets(report: dict[str, Any], sizes: Sizes) -> dict[str, Any]:
    largest = report["scales"][_scale_label(sizes.scales[-1])]
    ingest, query = largest["ingest"], largest["query"]
    ceilings = report["ceilings"]
    healthz = ("/healthz req/s, wrk, 64 connections", ceilings["healthz_requests_per_s"])
    healthz_p99 = ("/healthz p99 ms, wrk, 64 connections", ceilings["healthz_p99_ms"])
    copy_in = ("COPY into audit_event, events/s", largest["copy_events_per_s"])
    copy_out = ("COPY of the tenant's rows out, events/s", ceilings["copy_out"]["events_per_s"])
    single = ingest["single"]
    list_p99 = max(value["p99_ms"] for value in query.values())
    first_page = ("page 1 p50 ms", query["no_filter"]["p50_ms"])
    deep = query[f"page_{sizes.deep_page}"]["p50_ms"] / max(first_page[1], 1e-9)
    log, without = report["log"], report["without_log"]["ingest"]
    multi = report["workers_per_cpu"]
    multi_healthz = (
        f"/healthz req/s, {multi['workers']} workers",
        multi["ceilings"]["healthz_requests_per_s"],
    )
    return {
        "log_single_ingest_vs_without_log": _target(
            round(single["events_per_s"] / max(without["single"]["events_per_s"], 1), 2),
            0.9,
            ("single ingest without the log, events/s", without["single"]["events_per_s"]),
        ),
        "log_batch_ingest_vs_without_log": _target(
            round(ingest["batch"]["events_per_s"] / max(without["batch"]["events_per_s"], 1), 2),
            0.9,
            ("batch ingest without the log, events/s", without["batch"]["events_per_s"]),
        ),
        "checkpoint_lag_p99_ms": _target(
            log["checkpoint_lag"]["p99_ms"], 2000, healthz_p99, higher_is_better=False
        ),
        "inclusion_proof_p99_ms": _target(
            log["proof"]["p99_ms"], 10, first_page, higher_is_better=False
        ),
        "tiles_per_s": _target(log["tiles"]["tiles_per_s"], 2000, healthz),
        "bundle_verifier_events_per_s": _target(
            log["bundle"]["verifier_events_per_s"], 100_000, copy_out
        ),
        # Flat memory: no process of the verifier (itself, each worker) grows with the bundle.
        "bundle_verifier_peak_rss_mb": _target(
            max(log["bundle"][f"verifier_{kind}peak_rss_mb"] for kind in ("", "worker_")),
            100,
            ("events in the bundle", log["tenant_events"]),
            higher_is_better=False,
        ),
        "batch_ingest_vs_copy": _target(
            round(ingest["batch"]["events_per_s"] / copy_in[1], 2), 0.5, copy_in
        ),
        "single_ingest_events_per_s": _target(single["events_per_s"], 3000, healthz),
        "single_ingest_vs_healthz": _target(
            round(single["events_per_s"] / healthz[1], 2), 0.4, healthz
        ),
        "single_ingest_p99_ms": _target(single["p99_ms"], 50, healthz_p99, higher_is_better=False),
        "single_ingest_vs_healthz_workers_per_cpu": _target(
            round(multi["single"]["events_per_s"] / multi_healthz[1], 2), 0.4, multi_healthz
        ),
        "list_p99_ms_max": _target(list_p99, 25, first_page, higher_is_better=False),
        "deep_page_vs_first_page": _target(round(deep, 2), 1.5, first_page, higher_is_better=False),
        "export_events_per_s": _target(report["export"]["events_per_s"], 100_000, copy_out),
        "export_rss_growth_mb": _target(
            report["export"]["rss_growth_mb"],
            100,
            ("events exported", report["export"]["events"]),
            higher_is_better=False,
        ),
        "verify_events_per_s": _target(report["verify"]["events_per_s"], 200_000, copy_out),
    }


def _table(report: dict[str, Any]) -> str:
    rows = [f"{'target':42} {'value':>10}  {'goal':>10}  met  {'ceiling':>10}  of"]
    for name, target in report["targets"].items():
        ceiling = target["ceiling"]
        rows.append(
            f"{name:42} {target['value']:>10}  {target['target']:>10}  "
            f"{'yes' if target['met'] else 'NO ':3}  {ceiling['value']:>10}  {ceiling['of']}"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks it works")
    parser.add_argument("--out", help="also write the JSON document to this file")
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes (default 1)"
    )
    args = parser.parse_args(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes.full()
    started = time.perf_counter()
    database = Database.create()
    try:
        report = asyncio.run(benchmark(database, sizes, args.workers))
    finally:
        database.drop()
    document = {
        "mode": "smoke" if args.smoke else "full",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "database": "BENCH_DATABASE_URL" if database.embedded is None else "embedded",
            "api_workers": args.workers,
        },
        **report,
        "seconds": round(time.perf_counter() - started, 1),
    }
    text = json.dumps(document, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as out:
            out.write(text + "\n")
    print(_table(document), file=sys.stderr)
    return 0
