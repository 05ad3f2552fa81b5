"""The transparency log's figures: backfill, checkpoint lag, proofs, tiles, bundle, verifier.

Each is measured against the running server the way a client meets it: checkpoint lag is the
time from an event's 201 to the first signed checkpoint a poller sees covering it.
"""

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import load, wrk
from bench.server import ROOT, Api
from src.verifier.tiles import format_index


async def wait_integrated(connection: asyncpg.Connection, limit_seconds: float = 900) -> float:
    """Seconds until every tenant's events are in its tree and signed (the backfill's work)."""
    started = time.perf_counter()
    while True:
        behind = await connection.fetchval(
            "SELECT count(*) FROM chain_head h LEFT JOIN log_head l USING (tenant) "
            "WHERE h.tree_size < h.head_seq OR l.size IS NULL OR l.size < h.tree_size"
        )
        if behind == 0:
            return time.perf_counter() - started
        if time.perf_counter() - started > limit_seconds:
            raise RuntimeError(f"{behind} tenants still not integrated after {limit_seconds} s")
        await asyncio.sleep(0.1)


def _size(checkpoint: str) -> int:
    return int(checkpoint.split("\n", 2)[1])


def covering_lags(acked: list[tuple[int, float]], seen: list[tuple[float, int]]) -> list[float]:
    """Per acknowledged (seq, when), ms until the first seen (when, size) covering it.

    `seen` is in time order and its sizes never shrink; it must end covering every seq.
    """
    lags = []
    position = 0
    for seq, at in sorted(acked):
        while seen[position][1] < seq:
            position += 1
        lags.append(max(seen[position][0] - at, 0.0) * 1000)
    return lags


async def checkpoint_lag(
    connect: Callable[[], load.Connection],
    http: httpx.AsyncClient,
    body: bytes,
    *,
    clients: int,
    seconds: float,
) -> dict[str, Any]:
    """Sustained single-event writes to one tenant; per event, ack to covering checkpoint."""
    tenant = "lag"
    acked: list[tuple[int, float]] = []  # (seq, when its 201 arrived)
    seen: list[tuple[float, int]] = []  # (when, checkpoint size)
    done = asyncio.Event()
    path = f"/api/v1/logs/{tenant}/checkpoint"

    async def poll() -> None:
        while True:
            response = await http.get(path)
            if response.status_code == 200:
                seen.append((time.perf_counter(), _size(response.text)))
                if done.is_set() and acked and seen[-1][1] >= max(seq for seq, _ in acked):
                    return
            await asyncio.sleep(0.01)

    async def writer(connection: load.Connection, deadline: float) -> None:
        request = load.Request("POST", "/api/v1/audits", {"tenant": tenant}, body)
        while time.perf_counter() < deadline:
            status, answer = await connection.send(request)
            if status == 201:
                acked.append((json.loads(answer)["seq"], time.perf_counter()))
        await connection.close()

    first = connect()  # the tenant exists before the poller asks for its log
    await first.send(load.Request("POST", "/api/v1/audits", {"tenant": tenant}, body))
    await first.close()
    poller = asyncio.create_task(poll())
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(writer(connect(), deadline) for _ in range(clients)))
    done.set()
    await asyncio.wait_for(poller, timeout=30)
    lags = covering_lags(acked, seen)
    result = load.Result(requests=len(lags), latencies_ms=lags)
    return {
        "events": len(lags),
        "events_per_s": round(len(lags) / seconds),
        "p50_ms": round(result.percentile(50), 1),
        "p99_ms": round(result.percentile(99), 1),
        "max_ms": round(max(lags), 1),
    }


async def proofs(
    connect: Callable[[], load.Connection],
    connection: asyncpg.Connection,
    tenant: str,
    samples: int,
) -> dict[str, Any]:
    """Inclusion proofs of random events of the tenant, one request at a time."""
    ids = [
        str(row["id"])
        for row in await connection.fetch(
            "SELECT id FROM audit_event WHERE tenant = $1 AND seq IN (SELECT (random() * "
            "(SELECT head_seq - 1 FROM chain_head WHERE tenant = $1))::bigint + 1 "
            "FROM generate_series(1, $2))",
            tenant,
            samples,
        )
    ]
    requests = [load.Request("GET", f"/api/v1/audits/{i}/proof", {"tenant": tenant}) for i in ids]
    await load.run(connect, lambda n: requests[n], 1, count=5)  # warm up
    result = await load.run(
        connect, lambda _: random.choice(requests), 1, count=len(requests), expect=200
    )
    if result.errors:
        raise RuntimeError("proof requests failed")
    return {
        "samples": result.requests,
        "p50_ms": round(result.percentile(50), 2),
        "p99_ms": round(result.percentile(99), 2),
    }


async def tiles(
    base_url: str, authorization: str, tenant: str, size: int, seconds: float
) -> dict[str, Any]:
    """Full level-0 hash tiles in turn from `wrk`'s 64 connections: what a tiles client or a
    mirror does."""
    full = max(size // 256, 1)
    paths = [f"/api/v1/logs/{tenant}/tile/0/{format_index(n)}" for n in range(full)]
    if size < 256:
        paths = [f"/api/v1/logs/{tenant}/tile/0/000.p/{size}"]
    random.Random(5).shuffle(paths)
    result = await asyncio.to_thread(
        wrk.run, base_url, paths, headers={"Authorization": authorization}, seconds=seconds
    )
    if result.errors:
        raise RuntimeError("tile requests failed")
    return {
        "tiles_per_s": round(result.requests_per_s),
        "p99_ms": round(result.p99_ms, 2),
        "load_generator": "wrk",
    }


async def bundle(api: Api, http: httpx.AsyncClient, tenant: str, path: Path) -> dict[str, Any]:
    """A complete proof bundle of the tenant to a file, then the offline verifier on it."""
    params = {"tenant": tenant, "format": "bundle", "order": "asc", "include_erased": "true"}
    lines = written = 0
    async with api.rss_growth() as growth:
        started = time.perf_counter()
        with path.open("wb") as file:
            async with http.stream("GET", "/api/v1/audits/export", params=params) as response:
                async for chunk in response.aiter_bytes():
                    lines += chunk.count(b"\n")
                    written += file.write(chunk)
        export_seconds = time.perf_counter() - started
    key = (await http.get(f"/api/v1/logs/{tenant}/key")).json()["verifier_key"]
    events = lines - 1
    verified = _verify_offline(path, key)
    return {
        "events": events,
        "bytes_per_event": round(written / max(events, 1)),
        "export_events_per_s": round(events / export_seconds),
        "export_rss_growth_mb": round(growth.bytes / 2**20, 1),
        "verifier_events_per_s": round(events / verified["seconds"]),
        "verifier_processes": 1 + (os.cpu_count() or 1),  # itself and its workers
        "verifier_peak_rss_mb": verified["peak_rss_mb"],
        "verifier_worker_peak_rss_mb": verified["worker_peak_rss_mb"],
    }


# Runs the verifier as `python -m src.verifier` would (one checking process per CPU), then
# reports peak memory: its own VmHWM, which starts afresh at exec (ru_maxrss would count the
# forked benchmark's pages), and the largest of its worker processes' (they have exited).
_MEASURED_VERIFIER = """
import re, resource, runpy, sys
sys.argv = ["src.verifier", *sys.argv[1:]]
try:
    runpy.run_module("src.verifier", run_name="__main__", alter_sys=True)
except SystemExit as exit:
    code = exit.code
with open("/proc/self/status") as status:
    own = re.search(r"VmHWM:\\s+(\\d+)", status.read()).group(1)
print(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _verify_offline(path: Path, key: str) -> dict[str, float]:
    """The offline verifier on the bundle, as an auditor runs it: its time and peak RSS."""
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _MEASURED_VERIFIER, str(path), "--key", key],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"the verifier refused the bundle: {result.stdout}{result.stderr}")
    own_kb, worker_kb = (int(kb) for kb in result.stderr.strip().splitlines()[-1].split())
    return {
        "seconds": seconds,
        "peak_rss_mb": round(own_kb / 1024, 1),
        "worker_peak_rss_mb": round(worker_kb / 1024, 1),
    }
