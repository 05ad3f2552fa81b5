"""The API process is killed (SIGKILL) mid-batch: batches are whole or absent, retries work."""

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from src.devdb import connect
from tests.support.api_process import ApiProcess
from tests.support.events import event
from tests.support.faults import (
    ANSWER_WITHIN_SECONDS,
    assert_chain_verifies,
    assert_seq_gap_free,
    eventually,
    writing_backends,
)
from tests.support.paths import api_path
from tests.support.problems import assert_problem

BATCH_SIZE = 1000
RETRY_WITHIN_SECONDS = 10  # the dead process's claim must not block the key for minutes


def batch(name: str) -> dict[str, Any]:  # a request body
    return {"events": [event(entity_id=f"{name}-{i}") for i in range(BATCH_SIZE)]}


async def stored_of(database_url: str, name: str) -> list[str]:
    """Ids of the stored events of batch `name`."""
    connection = await connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT id FROM audit_event WHERE entity_id LIKE $1 ORDER BY seq", f"{name}-%"
        )
    finally:
        await connection.close()
    return [str(row["id"]) for row in rows]


async def retry_until_answered(
    api: ApiProcess, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    """Retry like a client would: a 409 (key still in flight) is retried, briefly."""
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        deadline = asyncio.get_running_loop().time() + RETRY_WITHIN_SECONDS
        while True:
            response = await http.post(api_path("record_batch"), headers=headers, json=body)
            if response.status_code != 409:
                return response
            assert_problem(response, 409, "idempotency_key_in_flight")
            assert asyncio.get_running_loop().time() < deadline, "the key stayed blocked"
            await asyncio.sleep(0.2)


async def test_a_killed_worker_leaves_whole_batches_and_free_keys(
    fault_database: str, start_api: Callable[..., ApiProcess], acme: dict[str, str]
) -> None:
    api = start_api()
    for attempt in range(2):
        name = f"killed-{attempt}-{uuid.uuid4().hex[:8]}"
        headers = {**acme, "Idempotency-Key": name}
        body = batch(name)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
            sent = asyncio.create_task(
                http.post(api_path("record_batch"), headers=headers, json=body)
            )

            async def writing() -> bool:
                return await writing_backends(fault_database) > 0

            await eventually(writing, within=15, what="the batch's transaction is writing")
            api.kill()
            try:
                answer: httpx.Response | None = await sent
            except httpx.HTTPError:
                answer = None  # the connection died with the process
        stored = await stored_of(fault_database, name)
        assert len(stored) in (0, BATCH_SIZE), f"a partial batch: {len(stored)} events"

        api.start()
        retried = await retry_until_answered(api, headers, body)
        assert retried.status_code == 201, retried.text
        items = retried.json()["items"]
        assert len(items) == BATCH_SIZE
        if stored:  # it had committed: the retry is the original result
            assert retried.headers["idempotent-replayed"] == "true"
            assert [item["id"] for item in items] == stored
        else:  # it had not: the retry is a clean write
            assert "idempotent-replayed" not in retried.headers
            if answer is not None:
                assert answer.status_code != 201, "acknowledged but not stored"
        assert len(await stored_of(fault_database, name)) == BATCH_SIZE

    # A batch that completed before the kill replays its original result after the restart.
    name = f"finished-{uuid.uuid4().hex[:8]}"
    headers = {**acme, "Idempotency-Key": name}
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        first = await http.post(api_path("record_batch"), headers=headers, json=batch(name))
    assert first.status_code == 201
    api.kill()
    api.start()
    replayed = await retry_until_answered(api, headers, batch(name))
    assert replayed.status_code == 201
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.json() == first.json()

    count = await assert_seq_gap_free(fault_database, "acme")
    assert count == 3 * BATCH_SIZE
    async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
        await assert_chain_verifies(http, acme, count)
