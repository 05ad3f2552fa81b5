"""Group commit's queueing rules, with a stand-in for the database write."""

import asyncio
import uuid
from collections.abc import Sequence

import pytest

from src.audits.group_commit import MAX_GROUP, GroupCommitter
from src.audits.schemas import EventIn
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

    results = await asyncio.gather(
        *(committer.append("acme", make_event(name)) for name in ("a", "poison", "b")),
        return_exceptions=True,
    )

    assert results[0] == (results[0][0], "acme:a")  # type: ignore[index]
    assert isinstance(results[1], ValueError)
    assert results[2][1] == "acme:b"  # type: ignore[index]
    assert ["poison"] in recorder.groups  # retried on its own


async def test_a_database_outage_fails_the_whole_group_at_once() -> None:
    async def unreachable(items: Sequence[tuple[str, EventIn]]) -> list[tuple[uuid.UUID, str]]:
        raise ConnectionRefusedError("database down")

    committer = GroupCommitter(unreachable)

    with pytest.raises(ConnectionRefusedError):
        await asyncio.gather(*(committer.append("acme", make_event(f"e{n}")) for n in range(5)))
