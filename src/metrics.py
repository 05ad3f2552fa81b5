"""Prometheus metrics, in a registry per app (no import-time globals)."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric Trailmark exports, registered in one registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "trailmark_http_requests",
            "HTTP requests by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "trailmark_http_request_duration_seconds",
            "HTTP request latency by method, route template and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events_ingested = Counter(
            "trailmark_events_ingested",
            "Audit events written (idempotent replays excluded), by endpoint kind.",
            ["kind"],
            registry=self.registry,
        )
        self.ai_calls = Counter(
            "trailmark_ai_calls",
            "Model calls by purpose, model and outcome (retries count once).",
            ["purpose", "model", "status"],
            registry=self.registry,
        )
        self.ai_tokens = Counter(
            "trailmark_ai_tokens",
            "Tokens the upstream reported, by model and kind (prompt or completion).",
            ["model", "kind"],
            registry=self.registry,
        )
        self._pool = _PoolCollector()
        self.registry.register(self._pool)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.request_duration.labels(*labels).observe(seconds)

    def watch_engine(self, engine: AsyncEngine | None) -> None:
        """Report this engine's pool (or nothing, when it is `None`)."""
        self._pool.engine = engine


class _PoolCollector(Collector):
    """Database pool gauges, read from the engine at scrape time."""

    def __init__(self) -> None:
        self.engine: AsyncEngine | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pool = self.engine.sync_engine.pool if self.engine is not None else None
        if not isinstance(pool, QueuePool):
            return
        gauges = {
            "trailmark_db_pool_size": ("Connections the pool keeps.", pool.size()),
            "trailmark_db_pool_checked_out": ("Connections in use.", pool.checkedout()),
            "trailmark_db_pool_checked_in": ("Idle connections in the pool.", pool.checkedin()),
            "trailmark_db_pool_overflow": ("Connections above the pool size.", pool.overflow()),
        }
        for name, (documentation, value) in gauges.items():
            yield GaugeMetricFamily(name, documentation, value=value)
