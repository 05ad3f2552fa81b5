"""Deterministic audit events, and loading them with COPY (the ingest ceiling).

The COPY path chains events with the service's own `chain_rows`, so its hashes are computed
exactly as the API computes them and the loaded tenants verify.
"""

import json
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from src.audits.ingest import chain_rows
from src.audits.schemas import EventIn
from src.events.stored import GENESIS_HASH, WRITTEN_FIELDS, StoredEvent

ACTION_TYPES = ("create", "update", "delete", "view", "export", "import", "login", "logout")
ENTITY_TYPES = ("repository", "user", "project", "invoice", "document", "file", "key", "team")
REASONS = ("cleanup", "request", "policy", "migration", "incident")
DAYS = 30
ACTORS = 1000

COLUMNS = tuple(field.name for field in WRITTEN_FIELDS)  # what the API's insert sets


class EventFactory:
    """Events as request bodies (JSON-ready dicts), reproducible from a seed."""

    def __init__(self, seed: int, now: datetime) -> None:
        self.random = random.Random(seed)
        self.now = now

    def body(self) -> dict[str, Any]:
        r = self.random
        action_type = r.choice(ACTION_TYPES)
        entity_type = r.choice(ENTITY_TYPES)
        occurred = self.now - timedelta(seconds=r.uniform(0, DAYS * 86400))
        return {
            "action_type": action_type,
            "action": f"{entity_type}.{action_type}d",
            "entity_type": entity_type,
            "entity_id": f"{entity_type}_{r.randrange(10_000)}",
            "actor": {"id": f"user_{r.randrange(ACTORS)}", "type": "user", "name": "Bench User"},
            "status": "failure" if r.random() < 0.05 else "success",
            "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
            "ip_address": f"203.0.113.{r.randrange(256)}",
            "user_agent": "trailmark-bench/1",
            "details": {"reason": r.choice(REASONS), "count": r.randrange(100)},
        }

    def bodies(self, count: int) -> list[dict[str, Any]]:
        return [self.body() for _ in range(count)]


def _copy_records(rows: list[StoredEvent]) -> Iterator[tuple[Any, ...]]:
    for row in rows:
        values = {column: getattr(row, column) for column in COLUMNS}
        if row.details is not None:
            values["details"] = json.dumps(row.details)
        yield tuple(values.values())


async def copy_load(
    connection: asyncpg.Connection,
    factory: EventFactory,
    plan: dict[str, int],
    chunk: int = 10_000,
    received_at: Callable[[int, int], datetime] | None = None,
) -> tuple[int, float]:
    """COPY `plan[tenant]` more events into each tenant's chain; (events, seconds).

    `received_at(done, count)` is when a chunk starting at the tenant's `done`-th event of
    `count` was received (default: now), to spread a load over months."""
    total = 0
    started = time.perf_counter()
    for tenant, count in plan.items():
        await connection.execute(
            "INSERT INTO tenant (slug) VALUES ($1) ON CONFLICT DO NOTHING", tenant
        )
        await connection.execute(
            "INSERT INTO chain_head (tenant) VALUES ($1) ON CONFLICT DO NOTHING", tenant
        )
        head = await connection.fetchrow(
            "SELECT head_seq, head_hash FROM chain_head WHERE tenant = $1", tenant
        )
        assert head is not None  # inserted just above
        seq, prev_hash = int(head["head_seq"]), bytes(head["head_hash"] or GENESIS_HASH)
        done = 0
        while done < count:
            size = min(chunk, count - done)
            batch = [EventIn.model_validate(body) for body in factory.bodies(size)]
            when = datetime.now(UTC) if received_at is None else received_at(done, count)
            chained = chain_rows(tenant, seq, prev_hash, batch, when)
            rows, seq, prev_hash = chained.rows, chained.seq, chained.hash
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "audit_event", records=_copy_records(rows), columns=COLUMNS
                )
                await connection.execute(
                    "UPDATE chain_head SET head_seq = $2, head_hash = $3 WHERE tenant = $1",
                    tenant,
                    seq,
                    prev_hash,
                )
            done += size
        total += count
    return total, time.perf_counter() - started
