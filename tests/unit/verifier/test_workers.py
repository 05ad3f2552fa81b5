"""Checking in worker processes: results in input order, input read only a few runs ahead."""

import os
from collections.abc import Iterator

import pytest

from src.verifier import workers


def squares_and_pids(offset: int, chunk: list[int]) -> list[tuple[int, int]]:
    return [(offset + n * n, os.getpid()) for n in chunk]


@pytest.fixture(autouse=True)
def runs_of_ten(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "CHUNK", 10)


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_results_come_in_input_order(jobs: int) -> None:
    results = list(workers.in_order(squares_and_pids, 1, range(95), jobs=jobs))
    assert [value for value, _ in results] == [1 + n * n for n in range(95)]
    pids = {pid for _, pid in results}
    assert (os.getpid() in pids) == (jobs == 1)  # more than one job: only workers check


def test_a_short_input_is_checked_here() -> None:
    results = list(workers.in_order(squares_and_pids, 0, range(7), jobs=4))
    assert {pid for _, pid in results} == {os.getpid()}
    assert list(workers.in_order(squares_and_pids, 0, [], jobs=4)) == []


def test_the_input_is_read_only_a_few_runs_ahead() -> None:
    read = 0

    def items() -> Iterator[int]:
        nonlocal read
        for n in range(10_000):
            read += 1
            yield n

    results = workers.in_order(squares_and_pids, 0, items(), jobs=2)
    assert next(results)[0] == 0
    # The first result waited for at most jobs * AHEAD runs to be handed out, plus one read.
    assert read <= (2 * workers.AHEAD + 1) * workers.CHUNK
    results.close()  # stopping early: the runs not started are cancelled, the pool is gone
    assert read < 10_000
