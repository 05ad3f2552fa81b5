"""PostgreSQL crashes under load: every request is answered, nothing acknowledged is lost."""

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx

from src.devdb import connect
from tests.support.api_process import ApiProcess
from tests.support.cluster import Cluster
from tests.support.events import event
from tests.support.faults import (
    ANSWER_WITHIN_SECONDS,
    Outcomes,
    Writer,
    assert_chain_verifies,
    assert_every_read_request_answered,
    assert_seq_gap_free,
    eventually,
    stored_ids,
    writing_backends,
)
from tests.support.paths import api_path

SINGLE_WRITERS = 32
BATCH_SIZE = 50
OUTAGE_SECONDS = 3
BACK_WITHIN_SECONDS = 15
MAX_LOAD_SECONDS = 90  # every loop below ends by itself


async def single_writer(
    writer: Writer, headers: dict[str, str], n: int, stop: asyncio.Event
) -> None:
    """One event after another, each under its own key; a 503 moves on to the next event."""
    deadline = time.monotonic() + MAX_LOAD_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        body = event(entity_id=f"single-{n}")
        response = await writer.post(
            api_path("list_events"),
            headers=headers,
            body=body,
            key=uuid.uuid4().hex,
            what=f"single-{n}",
        )
        if response is None:
            return
        if response.status_code != 201:
            await asyncio.sleep(0.05)  # as a client honouring Retry-After, only sooner


async def batch_writer(writer: Writer, headers: dict[str, str], stop: asyncio.Event) -> None:
    """Batches under an Idempotency-Key, each retried with its key until it is acknowledged."""
    deadline = time.monotonic() + MAX_LOAD_SECONDS
    while not stop.is_set() and time.monotonic() < deadline:
        key = uuid.uuid4().hex
        body = {"events": [event(entity_id=f"batch-{key}-{i}") for i in range(BATCH_SIZE)]}
        while time.monotonic() < deadline:
            response = await writer.post(
                api_path("record_batch"), headers=headers, body=body, key=key, what=f"batch {key}"
            )
            if response is None:
                return
            if response.status_code == 201:
                break
            await asyncio.sleep(0.05)


async def test_a_crash_of_postgresql_is_survived(
    cluster: Cluster,
    fault_database: str,
    start_api: Callable[..., ApiProcess],
    acme: dict[str, str],
) -> None:
    # The access log (INFO) names every request the server read, by the writers' request ids.
    api = start_api(
        database_pool_timeout_seconds="2",
        database_connect_timeout_seconds="2",
        log_level="INFO",
        access_log="true",
    )
    seen = Outcomes()
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=SINGLE_WRITERS + 8)
    new_connections = httpx.Limits(max_keepalive_connections=0)
    async with (
        httpx.AsyncClient(
            base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS, limits=limits
        ) as http,
        httpx.AsyncClient(
            base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS, limits=new_connections
        ) as fresh,
    ):
        writer = Writer(http, fresh, seen)
        load = [
            asyncio.create_task(single_writer(writer, acme, n, stop)) for n in range(SINGLE_WRITERS)
        ]
        load.append(asyncio.create_task(batch_writer(writer, acme, stop)))

        async def flowing() -> bool:
            return len(seen.created) >= 200

        await eventually(flowing, within=30, what="the load is being written")
        # Crash while a group commit is surely in flight: hold the tenant's chain head so the
        # writing transaction waits on it and the next events queue behind it.
        holder = await connect(fault_database)
        await holder.execute("BEGIN; SELECT 1 FROM chain_head WHERE tenant = 'acme' FOR UPDATE")

        async def blocked() -> bool:
            return await writing_backends(fault_database, waiting_on_lock=True) > 0

        await eventually(blocked, within=10, what="a group commit waits on the chain head")
        await asyncio.sleep(0.3)  # more single events queue for the next group
        await asyncio.to_thread(cluster.crash)
        holder.terminate()
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(cluster.start)
        back_at = time.monotonic()

        async def writing_again() -> bool:
            return seen.last_created_at > back_at

        await eventually(
            writing_again,
            within=BACK_WITHIN_SECONDS,
            what="writes succeed again after PostgreSQL is back, without restarting the API",
        )
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*load)

        assert seen.unanswered == [], seen.unanswered[:5]  # no request hung or was dropped
        writes = {api_path("list_events"), api_path("record_batch")}
        await assert_every_read_request_answered(api.log_file, writes, seen)
        assert seen.unexpected == [], seen.unexpected[:5]  # only 201s and 503 problems
        assert seen.unavailable > 0  # the outage was seen, as 503s with Retry-After
        acknowledged = {uuid.UUID(event_id) for event_id in seen.created}
        assert len(acknowledged) == len(seen.created)  # no id acknowledged twice
        stored = await stored_ids(fault_database, "acme")
        assert acknowledged <= stored, f"{len(acknowledged - stored)} acknowledged events lost"
        count = await assert_seq_gap_free(fault_database, "acme")
        await assert_chain_verifies(http, acme, count)
