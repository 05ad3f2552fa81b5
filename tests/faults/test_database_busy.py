"""A busy database: a full pool and slow queries get prompt problems, never a hang."""

import asyncio
from collections.abc import Callable

import httpx

from src.devdb import connect
from tests.support.api_process import ApiProcess
from tests.support.events import event
from tests.support.faults import ANSWER_WITHIN_SECONDS, eventually, writing_backends
from tests.support.paths import api_path
from tests.support.problems import assert_problem

LOCK_EVENTS = "BEGIN; LOCK TABLE audit_event IN ACCESS EXCLUSIVE MODE"


async def test_a_full_pool_is_a_prompt_503_and_healthz_stays_up(
    fault_database: str, start_api: Callable[..., ApiProcess], acme: dict[str, str]
) -> None:
    api = start_api(
        database_pool_size="2", database_max_overflow="0", database_pool_timeout_seconds="1"
    )
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        assert (
            await http.post(api_path("list_events"), headers=acme, json=event())
        ).status_code == 201
        # Slow queries: two lists wait on a lock, each holding one of the pool's connections.
        holder = await connect(fault_database)
        await holder.execute(LOCK_EVENTS)
        slow = [
            asyncio.create_task(http.get(api_path("list_events"), headers=acme)) for _ in range(2)
        ]

        async def pool_held() -> bool:
            return await writing_backends(fault_database, waiting_on_lock=True) == 2

        await eventually(pool_held, within=10, what="two queries hold the pool's connections")

        busy = await http.get(api_path("list_events"), headers=acme)
        body = assert_problem(busy, 503, "database_unavailable")
        assert "busy" in str(body["detail"])
        assert int(busy.headers["retry-after"]) >= 1
        write = await http.post(api_path("list_events"), headers=acme, json=event())
        assert_problem(write, 503, "database_unavailable")
        async with httpx.AsyncClient(base_url=api.base_url, timeout=2) as impatient:
            assert (await impatient.get("/healthz")).status_code == 200

        await holder.execute("ROLLBACK")
        await holder.close()
        assert [response.status_code for response in await asyncio.gather(*slow)] == [200, 200]
        assert (
            await http.post(api_path("list_events"), headers=acme, json=event())
        ).status_code == 201


SLOW_READS = [
    api_path("list_events"),
    api_path("list_events") + "?q=details.reason:cleanup",
    api_path("export_events") + "?format=ndjson",
    api_path("export_events") + "?format=csv",
    api_path("event_stats") + "?group_by=status",
]


async def test_a_query_past_the_statement_timeout_is_a_504_and_frees_its_connection(
    fault_database: str, start_api: Callable[..., ApiProcess], acme: dict[str, str]
) -> None:
    api = start_api(
        database_statement_timeout_ms="300", database_pool_size="2", database_max_overflow="0"
    )
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        assert (
            await http.post(api_path("list_events"), headers=acme, json=event())
        ).status_code == 201
        holder = await connect(fault_database)
        await holder.execute(LOCK_EVENTS)  # every read of events now waits past the timeout
        # Twice as many slow requests as the pool has connections: each one's is given back.
        for path in SLOW_READS:
            for _ in range(2):
                response = await http.get(path, headers=acme)
                body = assert_problem(response, 504, "query_timeout")
                assert "statement timeout" in str(body["detail"])
        await holder.execute("ROLLBACK")
        await holder.close()

        for path in SLOW_READS:
            response = await http.get(path, headers=acme)
            assert response.status_code == 200, response.text
            assert "cleanup" in response.text or "buckets" in response.text
