"""The system under test: a PostgreSQL database and the API under uvicorn, as in production."""

import asyncio
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from src.devdb import EmbeddedPostgres, create_database, drop_database
from src.log.signing import keygen
from src.migrations import upgrade_to_head

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Database:
    server_url: str
    name: str
    url: str
    embedded: EmbeddedPostgres | None

    @classmethod
    def create(cls) -> "Database":
        """A fresh, migrated database on `BENCH_DATABASE_URL`'s server or an embedded one."""
        configured = os.environ.get("BENCH_DATABASE_URL")
        embedded = None if configured else EmbeddedPostgres(ROOT / ".data" / "bench-pg")
        server_url = configured or embedded.url()  # type: ignore[union-attr]
        name = f"trailmark_bench_{secrets.token_hex(4)}"
        url = asyncio.run(create_database(server_url, name))
        upgrade_to_head(url)
        return cls(server_url, name, url, embedded)

    def drop(self) -> None:
        asyncio.run(drop_database(self.server_url, self.name))
        if self.embedded is not None:
            self.embedded.stop()


class Api:
    """`uvicorn --factory src.main:create_app` with production settings.

    `factory` may name another app factory (`bench.nolog:create_app`, the baseline without
    the transparency log); `pepper` and `signing_key` let a second server share the first's
    keys and log.
    """

    def __init__(
        self,
        database_url: str,
        workers: int = 1,
        *,
        factory: str = "src.main:create_app",
        pepper: str | None = None,
        signing_key: str | None = None,
    ) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.pepper = pepper or secrets.token_urlsafe(32)
        self.signing_key = signing_key or json.loads(keygen())["signing_key"]
        env = {
            **os.environ,
            "ENVIRONMENT": "production",
            "API_KEY_PEPPER": self.pepper,
            "LOG_SIGNING_KEY": self.signing_key,
            "DATABASE_URL": database_url,
            "LOG_LEVEL": "WARNING",
            "ACCESS_LOG": "false",
            "SHUTDOWN_DRAIN_SECONDS": "0",  # no load balancer to tell: stop at once
            # The benchmarks run retention themselves, when and on what they measure.
            "RETENTION_INTERVAL_SECONDS": "0",
        }
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn", "--factory", factory,
                "--host", "127.0.0.1", "--port", str(self.port),
                "--no-access-log", "--log-level", "warning", "--workers", str(workers),
            ],
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the API did not become ready")
            time.sleep(0.2)

    def rss_bytes(self) -> int:
        """Resident memory of the server and its worker processes (Linux; 0 elsewhere)."""
        return sum(_rss(pid) for pid in _tree(self.process.pid))

    @asynccontextmanager
    async def rss_growth(self) -> AsyncIterator["RssGrowth"]:
        """While the block runs, sample the server's memory; `.bytes` is its peak growth."""
        growth = RssGrowth(self.rss_bytes())
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                growth.observe(self.rss_bytes())
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        try:
            yield growth
        finally:
            done.set()
            await sampler

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children = task.read_text().split()
        except OSError:
            continue
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def _rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class RssGrowth:
    """How far a server's resident memory rose above `baseline`, at its highest."""

    baseline: int
    bytes: int = 0

    def observe(self, rss: int) -> None:
        self.bytes = max(self.bytes, rss - self.baseline)
