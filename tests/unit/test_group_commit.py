"""Group commit's queueing rules, with a stand-in for the database write."""

import asyncio
import uuid
from collections.abc import Awaitable, Iterable, Sequence

import asyncpg

from src.audits.group_commit import MAX_GROUP, GroupCommitter
from src.audits.schemas import EventIn
from src.exceptions import ShuttingDown
from tests.support.events import event


def make_event(entity_id: str) -> EventIn:
    return EventIn.model_validate(event(entity_id=entity_id))


class Recorder:
    """Writes nothing; remembers each group and fails any group holding a `poison` event."""

    def __init__(self) -> None:
        self.groups: list[list[str]] = []

    async def __call__(self, items: Sequence[tuple[str, EventIn]]) -> list[tuple[uuid.UUID, str]]:
        await asyncio.sleep(0.01)  # a commit takes a while: requests queue up meanwhile
        names = [item.entity_id for _, item in items]
        self.groups.append(names)
        if "poison" in names:
            raise ValueError("this group cannot be written")
        return [(uuid.uuid4(), f"{tenant}:{item.entity_id}") for tenant, item in items]


async def answered(
    appends: Iterable[Awaitable[tuple[uuid.UUID, str]]],
) -> list[tuple[uuid.UUID, str] | BaseException]:
    """Every append's outcome; a waiter left without an answer fails the test, not hangs it."""
    return await asyncio.wait_for(asyncio.gather(*appends, return_exceptions=True), timeout=10)


async def test_a_lone_event_is_written_at_once_and_concurrent_ones_share_a_commit() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder)

    first = await committer.append("acme", make_event("e0"))
    rest = await asyncio.gather(
        *(
            committer.append("acme" if n % 2 else "globex", make_event(f"e{n}"))
            for n in range(1, 41)
        )
    )

    assert first[1] == "acme:e0"
    assert [item for _, item in rest] == [
        f"{'acme' if n % 2 else 'globex'}:e{n}" for n in range(1, 41)
    ]
    assert recorder.groups[0] == ["e0"]
    assert len(recorder.groups) < 41  # fewer transactions than events
    assert sorted(name for group in recorder.groups[1:] for name in group) == sorted(
        f"e{n}" for n in range(1, 41)
    )


async def test_groups_are_capped() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder)

    await asyncio.gather(*(committer.append("acme", make_event(f"e{n}")) for n in range(600)))

    assert max(len(group) for group in recorder.groups) == MAX_GROUP
    assert sum(len(group) for group in recorder.groups) == 600


async def test_a_failing_event_fails_only_its_own_request() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder)
    names = [f"e{n}" for n in range(64)]
    names[37] = "poison"

    await committer.append("acme", make_event("first"))  # the next ones queue behind a commit
    results = await asyncio.gather(
        *(committer.append("acme", make_event(name)) for name in names),
        return_exceptions=True,
    )

    for name, result in zip(names, results, strict=True):
        if name == "poison":
            assert isinstance(result, ValueError)
        else:
            assert isinstance(result, tuple), f"{name} failed with its neighbour: {result!r}"
            assert result[1] == f"acme:{name}"
    assert ["poison"] in recorder.groups  # isolated in the end
    # Halving finds it in about 2 * log2(64) tries, not 64 single-event transactions.
    assert len(recorder.groups) <= 1 + 1 + 2 * 6


async def test_a_database_outage_answers_every_waiter_at_once() -> None:
    calls = 0

    async def unreachable(items: Sequence[tuple[str, EventIn]]) -> list[tuple[uuid.UUID, str]]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise ConnectionRefusedError("database down")

    committer = GroupCommitter(unreachable)

    results = await answered(committer.append("acme", make_event(f"e{n}")) for n in range(40))

    assert all(isinstance(result, ConnectionRefusedError) for result in results), results
    assert calls == 1  # one shared transaction, no event-by-event retries


async def test_a_statement_timeout_fails_the_group_without_splitting_it() -> None:
    calls = 0

    async def too_slow(items: Sequence[tuple[str, EventIn]]) -> list[tuple[uuid.UUID, str]]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout")

    committer = GroupCommitter(too_slow)

    results = await answered(committer.append("acme", make_event(f"e{n}")) for n in range(10))

    assert all(isinstance(r, asyncpg.exceptions.QueryCanceledError) for r in results), results
    assert calls == 1


async def test_a_cancelled_writer_answers_every_waiter() -> None:
    started = asyncio.Event()

    async def hangs(items: Sequence[tuple[str, EventIn]]) -> list[tuple[uuid.UUID, str]]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    committer = GroupCommitter(hangs)
    waiters = [
        asyncio.ensure_future(committer.append("acme", make_event(f"e{n}"))) for n in range(5)
    ]
    await started.wait()
    assert committer._writer is not None
    committer._writer.cancel()

    results = await answered(waiters)

    assert all(isinstance(result, ShuttingDown) for result in results), results


async def test_close_waits_until_every_queued_event_is_committed() -> None:
    recorder = Recorder()
    committer = GroupCommitter(recorder)
    waiters = [
        asyncio.ensure_future(committer.append("acme", make_event(f"e{n}"))) for n in range(300)
    ]
    await asyncio.sleep(0)  # every append has queued its event

    await committer.close()

    assert all(waiter.done() and not waiter.exception() for waiter in waiters)
    assert sum(len(group) for group in recorder.groups) == 300
