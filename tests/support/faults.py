"""What fault tests look at: the database directly, and outcomes of many requests."""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from src.devdb import connect
from tests.support.paths import api_path
from tests.support.problems import assert_problem

# A request that gets no answer in this long counts as hung (the contract promises an answer).
ANSWER_WITHIN_SECONDS = 20.0


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float, what: str, every: float = 0.05
) -> None:
    """Poll `check` until it holds; fail naming `what` if it does not within `within` s."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(every)


async def stored_ids(database_url: str, tenant: str) -> set[uuid.UUID]:
    connection = await connect(database_url)
    try:
        rows = await connection.fetch("SELECT id FROM audit_event WHERE tenant = $1", tenant)
    finally:
        await connection.close()
    return {row["id"] for row in rows}


async def assert_seq_gap_free(database_url: str, tenant: str) -> int:
    """`seq` runs 1..n without a gap or a duplicate, and the head says n; returns n."""
    connection = await connect(database_url)
    try:
        count, distinct, highest = await connection.fetchrow(
            "SELECT count(*), count(DISTINCT seq), coalesce(max(seq), 0) "
            "FROM audit_event WHERE tenant = $1",
            tenant,
        )
        head = await connection.fetchval(
            "SELECT head_seq FROM chain_head WHERE tenant = $1", tenant
        )
    finally:
        await connection.close()
    assert count == distinct == highest == (head or 0), (count, distinct, highest, head)
    return int(count)


async def assert_chain_verifies(http: httpx.AsyncClient, headers: dict[str, str], n: int) -> None:
    verification = await http.get(api_path("verify_chain"), headers=headers)
    assert verification.status_code == 200, verification.text
    body = verification.json()
    assert body["valid"] is True, body
    assert body["checked"] == body["head_seq"] == n


async def writing_backends(database_url: str, *, waiting_on_lock: bool = False) -> int:
    """The API's backends inside a transaction that has written (or waits for a lock)."""
    connection = await connect(database_url)
    try:
        condition = "wait_event_type = 'Lock'" if waiting_on_lock else "backend_xid IS NOT NULL"
        count: int = await connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            f"WHERE application_name = 'trailmark' AND datname = current_database() AND {condition}"
        )
    finally:
        await connection.close()
    return count


@dataclass
class Outcomes:
    """Every answer a load got (status and body), and the requests that got none."""

    created: list[str] = field(default_factory=list)  # ids of acknowledged events
    unavailable: int = 0
    unanswered: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    last_created_at: float = 0.0

    def record(self, response: httpx.Response) -> None:
        """Count a 201 or a well-formed 503; anything else is unexpected."""
        if response.status_code == 201:
            body = response.json()
            if "items" in body:
                self.created.extend(item["id"] for item in body["items"])
            else:
                self.created.append(body["id"])
            self.last_created_at = time.monotonic()
            return
        try:
            assert_problem(response, 503, "database_unavailable")
            assert int(response.headers["retry-after"]) >= 1
        except (AssertionError, KeyError, ValueError):
            self.unexpected.append(f"{response.status_code} {response.text[:300]}")
            return
        self.unavailable += 1
