"""SIGTERM under load: drain (`/readyz` 503), finish in-flight requests, flush queued writes."""

import asyncio
import signal
import uuid
from collections.abc import Callable

import httpx

from src.devdb import connect
from tests.support.api_process import ApiProcess
from tests.support.events import event
from tests.support.faults import (
    ANSWER_WITHIN_SECONDS,
    assert_chain_verifies,
    assert_seq_gap_free,
    eventually,
    stored_ids,
    writing_backends,
)
from tests.support.paths import api_path
from tests.support.problems import assert_problem

DRAIN_SECONDS = 4  # wide enough that the late request lands inside it on a loaded machine
IN_FLIGHT = 24


async def test_sigterm_drains_and_loses_nothing(
    fault_database: str, start_api: Callable[..., ApiProcess], acme: dict[str, str]
) -> None:
    api = start_api(shutdown_drain_seconds=str(DRAIN_SECONDS))
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        first = await http.post(api_path("list_events"), headers=acme, json=event())
        assert first.status_code == 201

        # Hold the tenant's chain head: the next writes stay in flight (one group commit
        # waiting on the lock, the rest queued behind it) until the test lets go.
        holder = await connect(fault_database)
        await holder.execute("BEGIN; SELECT 1 FROM chain_head WHERE tenant = 'acme' FOR UPDATE")
        in_flight = [
            asyncio.create_task(
                http.post(
                    api_path("list_events"), headers=acme, json=event(entity_id=f"in-flight-{n}")
                )
            )
            for n in range(IN_FLIGHT)
        ]

        async def blocked() -> bool:
            return await writing_backends(fault_database, waiting_on_lock=True) > 0

        await eventually(blocked, within=10, what="a group commit waits on the chain head")
        await asyncio.sleep(0.5)  # the other requests reach the server and queue

        api.signal(signal.SIGTERM)
        async with (
            httpx.AsyncClient(base_url=api.base_url, timeout=5) as fresh,
            httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as balancer,
        ):

            async def draining() -> bool:
                return (await fresh.get("/readyz")).status_code == 503

            await eventually(draining, within=DRAIN_SECONDS, what="/readyz turns 503")
            # While draining, the process still takes requests the balancer sends it: on a
            # connection of their own, since the server closes idle keep-alive connections
            # when the drain ends, and a request sent down one just then is never read.
            late = asyncio.create_task(
                balancer.post(api_path("list_events"), headers=acme, json=event(entity_id="late"))
            )
            body = assert_problem(await fresh.get("/readyz"), 503, "shutting_down")
            assert "draining" in str(body["checks"])
            assert (await fresh.get("/healthz")).status_code == 200

            async def stopped_listening() -> bool:
                async with httpx.AsyncClient(base_url=api.base_url, timeout=5) as new:
                    try:
                        await new.get("/healthz")
                    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                        # Refused, or (closing the listener just as it connected) accepted
                        # and closed unanswered: either way no longer taking connections.
                        return True
                return False

            await eventually(
                stopped_listening, within=DRAIN_SECONDS + 10, what="it stops listening"
            )
            assert api.running()  # still finishing what it holds
            await holder.execute("ROLLBACK")
            await holder.close()

            answers = await asyncio.gather(*in_flight, late)

    assert [answer.status_code for answer in answers] == [201] * (IN_FLIGHT + 1)
    assert api.wait(timeout=30) in (0, -signal.SIGTERM)

    acknowledged = {uuid.UUID(answer.json()["id"]) for answer in [first, *answers]}
    assert acknowledged <= await stored_ids(fault_database, "acme")
    count = await assert_seq_gap_free(fault_database, "acme")
    assert count == IN_FLIGHT + 2
    api.start()
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        await assert_chain_verifies(http, acme, count)
