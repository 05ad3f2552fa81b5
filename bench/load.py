"""A closed-loop HTTP load generator: N workers, each sending its next request when the last
one is answered, over one pooled keep-alive `httpx.AsyncClient`."""

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

# One request: given the client and the worker's number, send it and return the response.
Request = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: int) -> float:
        """The p-th percentile (1..99) of the latencies, interpolated."""
        if len(self.latencies_ms) < 2:
            return self.latencies_ms[0] if self.latencies_ms else 0.0
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[p - 1]


def client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0)


async def run(
    http: httpx.AsyncClient,
    request: Request,
    workers: int,
    *,
    seconds: float | None = None,
    count: int | None = None,
    expect: int = 200,
) -> Result:
    """Run until `seconds` pass or `count` requests were sent; latencies of each request."""
    result = Result()
    deadline = time.perf_counter() + seconds if seconds is not None else None
    remaining = [count if count is not None else 1 << 62]

    async def worker(number: int) -> None:
        while remaining[0] > 0 and (deadline is None or time.perf_counter() < deadline):
            remaining[0] -= 1
            started = time.perf_counter()
            response = await request(http, number)
            result.latencies_ms.append((time.perf_counter() - started) * 1000)
            result.requests += 1
            if response.status_code != expect:
                result.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(workers)))
    result.seconds = time.perf_counter() - started
    return result
