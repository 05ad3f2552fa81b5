"""What fault tests look at: the database directly, and outcomes of many requests."""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from src.devdb import connect
from src.http.middleware import access_logger
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
    answered: set[str] = field(default_factory=set)  # request ids that got a response
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


# A request sent on a reused keep-alive connection just as the server's idle timer closes it
# is never read, and gets no response at all (a reset or a bare close). RFC 9112 section 9.3.1
# lets a client send such a request again; the load below does, once, as real clients do.
NO_RESPONSE = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


class Writer:
    """The fault tests' client: POSTs under an `Idempotency-Key`, each attempt with its own
    `X-Request-ID`, retrying once what got no response byte, and recording every outcome.

    The retry goes on a new connection (`fresh`), so another idle connection the server
    closes at the same instant cannot swallow it too. The request ids are what the server's
    access log is checked against (`assert_every_read_request_answered`): a request the server
    read and did not answer fails the test whether or not it was retried.
    """

    def __init__(self, http: httpx.AsyncClient, fresh: httpx.AsyncClient, seen: Outcomes) -> None:
        self.http = http
        self.fresh = fresh
        self.seen = seen

    async def post(
        self, path: str, *, headers: dict[str, str], body: object, key: str, what: str
    ) -> httpx.Response | None:
        """The answer, or None when there was none (recorded in `seen.unanswered`)."""
        for client in (self.http, self.fresh):
            request_id = uuid.uuid4().hex
            head = _ResponseHead()
            try:
                response = await client.post(
                    path,
                    headers={**headers, "Idempotency-Key": key, "X-Request-ID": request_id},
                    json=body,
                    extensions={"trace": head.trace},
                )
            except NO_RESPONSE as error:
                if head.received or client is self.fresh:
                    self.seen.unanswered.append(f"{what} ({request_id}): {error!r}")
                    return None
                continue  # no response byte: sent again, on a new connection
            except httpx.HTTPError as error:  # a timeout: the request hung
                self.seen.unanswered.append(f"{what} ({request_id}): {error!r}")
                return None
            self.seen.answered.add(request_id)
            self.seen.record(response)
            return response
        raise AssertionError("unreachable: the retry's outcome returns")


class _ResponseHead:
    """Whether a response's status line and headers arrived (httpcore's trace events)."""

    def __init__(self) -> None:
        self.received = False

    async def trace(self, event: str, info: dict[str, object]) -> None:
        if event == "http11.receive_response_headers.complete":
            self.received = True


def access_logged_request_ids(log_file: Path, routes: set[str]) -> set[str]:
    """The request ids of the API's access-log lines for `routes`: the requests it read."""
    ids = set()
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # not one of the app's JSON lines (a traceback, coverage's warnings)
        if record.get("logger") == access_logger.name and record.get("route") in routes:
            ids.add(record["request_id"])
    return ids


async def assert_every_read_request_answered(
    log_file: Path, routes: set[str], seen: Outcomes
) -> None:
    """The requests the server read (its access log) are exactly the ones the load had
    answered: none was read and dropped, and the log is complete (else the check is void)."""

    async def logged() -> bool:  # a line is written just after its response is sent
        return seen.answered <= access_logged_request_ids(log_file, routes)

    await eventually(logged, within=5, what="every answered request is in the access log")
    read = access_logged_request_ids(log_file, routes)
    dropped = read - seen.answered
    assert not dropped, f"{len(dropped)} requests read and not answered: {sorted(dropped)[:5]}"
