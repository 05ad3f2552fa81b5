"""The retention job killed (SIGKILL, and twice by a PostgreSQL crash) at random points of its
work, run after run: each tenant is always exactly as before a run or as after it, nothing
held or unexpired is ever gone, verification passes throughout, and a last run to completion
leaves every expired, unheld event gone (pruned or erased) and every other one intact.

Two tenants, one with a `prune` policy and one with an `erase` policy (30 days), record their
oldest events in rounds a few milliseconds apart, then events that never expire. Each run
judges age as of the end of a later round (`--as-of` 30 days after it), so every run has work
to do even when the one before it committed. A legal hold (by actor) holds a handful of the
oldest events of each tenant.

Each run is `python -m src.cli retention run`, forked from a process that has imported the
command line already (`tests.support.forked_cli`: the imports take seconds, the work a tenth
of one). A dry run of the same work shows when a run works on the tenants (before every third
run); each run is killed at a seeded random point of that span (every fourth anywhere from its
start to its exit), then checked: a tenant it did not commit is exactly as before it.
"""

import asyncio
import json
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from src.auth.constants import Scope
from src.config import to_async_url
from src.devdb import connect
from src.verifier.anchor import TILE_LEAVES
from tests.support.api_process import PEPPER, ApiProcess
from tests.support.cluster import Cluster
from tests.support.events import event
from tests.support.faults import ANSWER_WITHIN_SECONDS, eventually
from tests.support.forked_cli import ForkingCli, Run
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.problems import assert_problem
from tests.support.retention import close_range

SEED = 20261203
DAYS = 30
ROUNDS = 24  # of expiring events; run n judges age as of the end of round min(n + 1, ROUNDS)
KEPT = 100  # events per tenant recorded after the rounds: they never expire
HELD_ACTOR = "user_3"
KILLS = 20  # runs killed (SIGKILL) while running (the issue asks for at least 20)
MAX_RUNS = 34  # a run that ended before its kill does not count; this bounds the loop
CRASHES = {4, 11}  # the runs during which PostgreSQL crashes instead (while they work)
MEASURE_EVERY = 3  # runs: a dry run before one of them shows when they work
OUTAGE_SECONDS = 0.5
BACK_WITHIN_SECONDS = 15  # the API answers again after PostgreSQL is back

INTACT, ERASED, PRUNED = "intact", "erased", "pruned"
# pg_try_advisory_xact_lock(hashtext('trailmark.retention'), hashtext(tenant)) in pg_locks
RETENTION_LOCKS = (
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 "
    "AND classid = ((hashtext('trailmark.retention')::bigint + 4294967296) % 4294967296)::oid"
)


@dataclass(frozen=True)
class Tenant:
    slug: str
    mode: str
    batch: int  # events per round
    held: frozenset[tuple[int, int]]  # (round, index) of the events the hold holds


ERASE = Tenant("retain-erase", "erase", 32, frozenset({(2, 10), (10, 0), (19, 31), (23, 5)}))
PRUNE = Tenant(
    "retain-prune", "prune", 96, frozenset({(19, 5), (19, 40), (19, 90), (21, 0), (23, 95)})
)
TENANTS = (ERASE, PRUNE)  # in the order the job runs them (by slug)
TENANT_SLUGS = tuple(tenant.slug for tenant in TENANTS)

State = tuple[int, dict[int, str]]  # a tenant's minimum index, and its events' states by seq


@dataclass(frozen=True)
class Recorded:
    item: dict[str, Any]  # the event as the API answered its batch
    seq: int
    received_at: datetime
    held: bool


@dataclass
class Trail:
    tenant: Tenant
    headers: dict[str, str]
    events: list[Recorded]

    @property
    def held(self) -> list[Recorded]:
        return [e for e in self.events if e.held]

    @property
    def kept(self) -> list[Recorded]:
        return self.events[-KEPT:]

    def expected(self, cutoff: datetime | None) -> State:
        """The tenant after a run whose cutoff (its time minus the policy's days) was
        `cutoff`, and any runs before it with earlier ones (None: before any run)."""

        def expired(e: Recorded) -> bool:
            return cutoff is not None and e.received_at < cutoff

        minimum = 0
        if self.tenant.mode == "prune" and cutoff is not None:
            # Whole tiles, up to the oldest kept event: every tile boundary ends a range here
            # (one closes each round), and a checkpoint covers every event.
            first_kept = min(e.seq for e in self.events if e.held or not expired(e))
            minimum = (first_kept - 1) // TILE_LEAVES * TILE_LEAVES
        states = {
            e.seq: PRUNED if e.seq <= minimum else ERASED if expired(e) and not e.held else INTACT
            for e in self.events
        }
        return minimum, states


async def answer(
    http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """The API's answer; a 503 (PostgreSQL has just come back) is retried for a while."""
    deadline = time.monotonic() + BACK_WITHIN_SECONDS
    while True:
        response = await http.request(method, path, headers=headers, **kwargs)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.1)


async def record_batch(
    http: httpx.AsyncClient, trail: Trail, bodies: list[dict[str, Any]], held: Iterable[bool]
) -> None:
    response = await answer(
        http, "POST", api_path("record_batch"), trail.headers, json={"events": bodies}
    )
    assert response.status_code == 201, response.text
    for item, is_held in zip(response.json()["items"], held, strict=True):
        received_at = datetime.fromisoformat(item["received_at"])
        trail.events.append(Recorded(item, item["seq"], received_at, is_held))


async def record(
    http: httpx.AsyncClient, engine: AsyncEngine, trails: list[Trail]
) -> list[datetime]:
    """Record the rounds, then the kept events; the end of each round (a cutoff). Each round
    ends a month: its tenants' open ranges close (at the last tile boundary, which a round of
    fewer than 256 events never skips), so a prune can reach every tile boundary."""
    cutoffs = []
    for n in range(ROUNDS):
        batches = []
        for trail in trails:
            held = [(n, i) in trail.tenant.held for i in range(trail.tenant.batch)]
            actors = [HELD_ACTOR if is_held else "user_7" for is_held in held]
            bodies = [
                event(entity_id=f"{trail.tenant.slug}-{n}-{i}", actor={"id": a, "type": "user"})
                for i, a in enumerate(actors)
            ]
            batches.append(record_batch(http, trail, bodies, held))
        await asyncio.gather(*batches)
        cutoffs.append(datetime.now(UTC))
        for trail in trails:
            await close_range(engine, trail.tenant.slug)
        await asyncio.sleep(0.002)
    for trail in trails:
        bodies = [event(entity_id=f"{trail.tenant.slug}-kept-{i}") for i in range(KEPT)]
        await record_batch(http, trail, bodies, [False] * KEPT)
    for trail in trails:  # the API's clock is the test's: each cutoff parts the rounds
        size = trail.tenant.batch
        for n, cutoff in enumerate(cutoffs):
            before, after = trail.events[: (n + 1) * size], trail.events[(n + 1) * size :]
            assert max(e.received_at for e in before) < cutoff <= after[0].received_at
        assert len(trail.held) == len(trail.tenant.held)
    return cutoffs


async def observed(database_url: str, http: httpx.AsyncClient, trail: Trail) -> State:
    """The tenant's minimum index (as its log's key says) and its events' states (as stored)."""
    key = await answer(http, "GET", api_path("get_key", tenant=trail.tenant.slug), trail.headers)
    assert key.status_code == 200, key.text
    connection = await connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT seq, erased_at IS NOT NULL AS erased FROM audit_event "
            "WHERE tenant = $1 AND seq = ANY($2::bigint[])",
            trail.tenant.slug,
            [e.seq for e in trail.events],
        )
    finally:
        await connection.close()
    states = dict.fromkeys((e.seq for e in trail.events), PRUNED)
    states.update({row["seq"]: ERASED if row["erased"] else INTACT for row in rows})
    return int(key.json()["min_index"]), states


async def assert_served(http: httpx.AsyncClient, trail: Trail, e: Recorded, state: str) -> None:
    """`GET /audits/{id}` of an event in that state."""
    path = api_path("get_event", event_id=e.item["id"])
    response = await answer(http, "GET", path, trail.headers)
    if state == INTACT:
        assert response.status_code == 200, (trail.tenant.slug, e.seq, response.text)
        assert response.json() == e.item, (trail.tenant.slug, e.seq)
    elif state == ERASED:
        assert_problem(response, 410, "event_erased")
    else:
        assert_problem(response, 404, "not_found")


async def assert_exported(http: httpx.AsyncClient, trail: Trail, states: dict[int, str]) -> None:
    """Every event, as the export has it (erased ones included): intact ones as recorded,
    erased ones without their payload, pruned ones absent."""
    response = await answer(
        http,
        "GET",
        api_path("export_events"),
        trail.headers,
        params={"include_erased": "true", "order": "asc"},
    )
    assert response.status_code == 200, response.text
    exported = {item["seq"]: item for item in map(json.loads, response.text.splitlines())}
    for e in trail.events:
        state = states[e.seq]
        if state == PRUNED:
            assert e.seq not in exported, (trail.tenant.slug, e.seq)
        elif state == ERASED:  # the personal payload is gone, the rest is as recorded
            item = exported[e.seq]
            assert item["erased_at"] is not None
            assert item["actor"]["name"] is item["ip_address"] is item["details"] is None
            kept = ("id", "seq", "hash", "prev_hash", "action", "entity_id", "received_at")
            assert [item[key] for key in kept] == [e.item[key] for key in kept]
            assert item["actor"]["id"] == e.item["actor"]["id"]
        else:
            assert exported[e.seq] == e.item, (trail.tenant.slug, e.seq)


async def assert_verifies(http: httpx.AsyncClient, trail: Trail, minimum: int) -> None:
    response = await answer(http, "GET", api_path("verify_chain"), trail.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["valid"] is True, (trail.tenant.slug, body)
    assert body["min_index"] == minimum, (trail.tenant.slug, body)
    assert body["checked"] == body["head_seq"] - minimum, (trail.tenant.slug, body)


async def retention_locks(database_url: str) -> int:
    connection = await connect(database_url)
    try:
        count: int = await connection.fetchval(RETENTION_LOCKS)
    finally:
        await connection.close()
    return count


def reports(run: Run) -> dict[str, dict[str, Any]]:
    """The run's reports by tenant (a JSON line each, printed once its tenant committed)."""
    parsed = [json.loads(line) for line in run.lines()]
    assert all(not report.get("skipped") for report in parsed), parsed
    return {report["tenant"]: report for report in parsed}


def as_of(cutoff: datetime) -> str:
    """The `--as-of` of a run whose cutoff is `cutoff`."""
    return (cutoff + timedelta(days=DAYS)).isoformat()


@dataclass(frozen=True)
class Span:
    """A run's times, in seconds from its start: the first and the last moment it was seen
    working on a tenant (holding its lock), and its end."""

    first: float
    last: float
    end: float

    def point(self, chosen: random.Random, *, anywhere: bool) -> float:
        """A random point while the run works (from a little before to a little after), or
        `anywhere` in it, its start and its exit included."""
        if anywhere:
            return chosen.uniform(0, self.end)
        margin = 0.1 * (self.last - self.first) + 0.01
        return chosen.uniform(max(0, self.first - margin), self.last + margin)


@dataclass
class Runs:
    """The retention runs of the test, and what each tenant looks like after them."""

    cli: ForkingCli
    http: httpx.AsyncClient
    database_url: str
    trails: list[Trail]
    chosen: random.Random
    done: dict[str, datetime | None]  # the cutoff of each tenant's last committed run

    async def run(self, cutoff: datetime) -> Run:
        """A run with that cutoff, to its end, which must succeed."""
        run = self.cli.run("retention", "run", "--as-of", as_of(cutoff))
        assert await asyncio.to_thread(self.cli.wait, run, 60) == 0, self.cli.log()
        return run

    async def measure(self, cutoff: datetime) -> Span:
        """When a run with that cutoff works on the tenants, and how long it takes, as a dry
        run shows (the same work, rolled back); it reports what the run would do."""
        run = self.cli.run("retention", "run", "--dry-run", "--as-of", as_of(cutoff))
        ended = asyncio.create_task(asyncio.to_thread(self.cli.wait, run, 60))
        held: list[float] = []  # when a tenant's lock, so its transaction, was seen
        connection = await connect(self.database_url)
        try:
            while not ended.done():
                if await connection.fetchval(RETENTION_LOCKS):
                    held.append(time.monotonic() - run.started_at)
                await asyncio.sleep(0.002)
        finally:
            await connection.close()
        assert await ended == 0, self.cli.log()
        end = time.monotonic() - run.started_at
        span = Span(held[0], held[-1], end) if held else Span(0, end, end)  # or too short to see
        printed = reports(run)
        for trail in self.trails:
            _, before = trail.expected(self.done[trail.tenant.slug])
            minimum, after = trail.expected(cutoff)
            changes = [(before[seq], after[seq]) for seq in before]
            report = printed[trail.tenant.slug]
            assert report["dry_run"] is True
            assert report["held"] == sum(e.received_at < cutoff for e in trail.held)
            assert report["min_index"] == minimum
            assert report["pruned"] == sum(old != new == PRUNED for old, new in changes)
            assert report["erased"] == changes.count((INTACT, ERASED))
        return span

    async def check(self, cutoff: datetime, run: Run) -> None:
        """After a run with that cutoff, killed or not: each tenant exactly as after its last
        run that committed, or as after this one; what must stay is served as recorded, the
        rest as gone; the chain verifies."""

        async def ended() -> bool:  # a killed run's transaction may outlive it a moment
            return await retention_locks(self.database_url) == 0

        await eventually(ended, within=10, what="the killed run's transaction ends")
        printed = reports(run)
        served: list[tuple[Trail, Recorded, str]] = []  # what to ask the API, once all is seen
        minimums: list[tuple[Trail, int]] = []
        for trail in self.trails:
            slug = trail.tenant.slug
            seen = await observed(self.database_url, self.http, trail)
            before, after = trail.expected(self.done[slug]), trail.expected(cutoff)
            assert seen in (before, after), f"{slug}: a run left part of its work"
            if slug in printed:
                assert seen == after, f"{slug}: reported, but not committed"
                assert printed[slug]["min_index"] == after[0]
            if seen == after:
                self.done[slug] = cutoff
            minimum, states = seen
            assert minimum % TILE_LEAVES == 0
            assert minimum <= trail.held[0].seq - 1  # the first held event's leaf index
            assert all(states[e.seq] == INTACT for e in trail.held + trail.kept)
            sample = [(e, INTACT) for e in trail.held + trail.kept[:: KEPT // 2]]
            for state in (INTACT, ERASED, PRUNED):
                some = [e for e in trail.events if states[e.seq] == state]
                sample += [(e, state) for e in self.chosen.sample(some, min(2, len(some)))]
            served += [(trail, e, state) for e, state in sample]
            minimums.append((trail, minimum))
        await asyncio.gather(
            *(assert_served(self.http, trail, e, state) for trail, e, state in served),
            *(assert_verifies(self.http, trail, minimum) for trail, minimum in minimums),
        )


async def arrange(database_url: str, http: httpx.AsyncClient) -> tuple[list[Trail], list[datetime]]:
    """The tenants' events, policies and holds, signed: their trails, and the rounds' ends."""
    engine = create_async_engine(to_async_url(database_url))
    try:
        admin = bearer(await make_key(engine, SecretStr(PEPPER), scopes=[Scope.ADMIN]))
        trails = []
        for tenant in TENANTS:
            scopes = [Scope.AUDITS_WRITE, Scope.AUDITS_READ]
            key = await make_key(engine, SecretStr(PEPPER), tenant=tenant.slug, scopes=scopes)
            trails.append(Trail(tenant, bearer(key), []))
        cutoffs = await record(http, engine, trails)
    finally:
        await engine.dispose()
    for trail in trails:
        slug = trail.tenant.slug
        policy = await http.put(
            api_path("put_policy", tenant=slug),
            headers=admin,
            json={"days": DAYS, "mode": trail.tenant.mode},
        )
        assert policy.status_code == 200, policy.text
        hold = await http.post(
            api_path("create_hold", tenant=slug),
            headers=admin,
            json={"reason": "litigation", "filter": {"actor_id": HELD_ACTOR}},
        )
        assert hold.status_code == 201, hold.text

    async def signed() -> bool:  # the minimum index never passes the latest checkpoint
        for trail in trails:
            path = api_path("get_checkpoint", tenant=trail.tenant.slug)
            response = await http.get(path, headers=trail.headers)
            assert response.status_code == 200, response.text
            if int(response.text.splitlines()[1]) < trail.events[-1].seq:
                return False
        return True

    await eventually(signed, within=15, what="a checkpoint covers every event")
    return trails, cutoffs


async def test_a_killed_retention_run_leaves_all_or_nothing(
    cluster: Cluster,
    fault_database: str,
    start_api: Callable[..., ApiProcess],
    tmp_path: Path,
) -> None:
    cli = ForkingCli(fault_database, tmp_path).start()  # it imports while the API starts
    try:
        # Only the runs here apply retention; idle connections outlive the client's (5 s).
        api = start_api(retention_interval_seconds="0", http_keep_alive_seconds="30")
        async with httpx.AsyncClient(base_url=api.base_url, timeout=ANSWER_WITHIN_SECONDS) as http:
            trails, cutoffs = await arrange(fault_database, http)
            await asyncio.to_thread(cli.wait_ready)
            chosen = random.Random(SEED)  # kill points and samples, not secrets
            runs = Runs(cli, http, fault_database, trails, chosen, dict.fromkeys(TENANT_SLUGS))

            # A dry run as of the end would remove all there is, and removes nothing.
            final = cutoffs[-1]
            await runs.measure(final)
            for trail in trails:
                assert await observed(fault_database, http, trail) == trail.expected(None)

            # Runs as of ever later rounds, each killed at a point of its dry run's span.
            kills = crashes = count = 0
            while kills < KILLS:
                assert count < MAX_RUNS, f"only {kills} of {count} runs killed while running"
                cutoff = cutoffs[min(count, ROUNDS - 1)]
                if count % MEASURE_EVERY == 0:
                    span = await runs.measure(cutoff)
                delay = span.point(chosen, anywhere=count % 4 == 3 and count not in CRASHES)
                run = cli.run("retention", "run", "--as-of", as_of(cutoff))
                await asyncio.sleep(delay)
                if count in CRASHES:
                    crashes += cli.running(run)
                    await asyncio.to_thread(cluster.crash)
                    await asyncio.sleep(OUTAGE_SECONDS)
                    await asyncio.to_thread(cluster.start)
                    code = await asyncio.to_thread(cli.wait, run, 30)
                    assert code in (0, 1), cli.log()  # done, or failed on the lost connection
                else:
                    kills += await asyncio.to_thread(cli.kill, run)
                count += 1
                await runs.check(cutoff, run)
            assert crashes, "PostgreSQL never crashed during a run"

            # The last run, to completion, as of the end of the rounds: all expired is gone.
            run = await runs.run(final)
            assert set(reports(run)) == set(TENANT_SLUGS)
            await runs.check(final, run)
            assert runs.done == dict.fromkeys(TENANT_SLUGS, final)
            for trail in trails:
                minimum, states = trail.expected(final)
                assert (minimum > 0) is (trail.tenant.mode == "prune")
                kept = {e.seq for e in trail.held + trail.kept}
                for e in trail.events:  # all the rounds recorded has expired
                    assert (states[e.seq] == INTACT) is (e.seq in kept)
                await assert_exported(http, trail, states)
                sample = [(e, INTACT) for e in trail.held + trail.kept]
                for state in (ERASED, PRUNED):
                    some = [e for e in trail.events if states[e.seq] == state]
                    sample += [(e, state) for e in chosen.sample(some, min(20, len(some)))]
                await asyncio.gather(*(assert_served(http, trail, e, s) for e, s in sample))

            # And then there is nothing left to do.
            run = await runs.run(final)
            for trail in trails:
                report = reports(run)[trail.tenant.slug]
                assert (report["erased"], report["pruned"]) == (0, 0), report
                assert report["held"] == len(trail.held)
                assert report["min_index"] == trail.expected(final)[0]
            await runs.check(final, run)
    finally:
        await asyncio.to_thread(cli.stop)
