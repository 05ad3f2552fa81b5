"""The baseline for the log's cost: the same app with the transparency log switched off.

Only the benchmark uses it (`uvicorn --factory bench.nolog:create_app`), to measure ingest
with and without the log in the same run: writes skip the tree (no leaf hashing, no tile
writes, the head's right edge untouched) and no log worker runs.
"""

from fastapi import FastAPI

from src.audits import ingest
from src.config import Settings
from src.log.tree import TreeGrowth
from src.log.worker import LogWorker
from src.main import create_app as create_app_with_log
from src.periodic import PeriodicWorker


def _skip_tree(
    self: ingest.Head, seq: int, head_hash: bytes, leaf_hashes: object
) -> TreeGrowth | None:
    self.seq, self.hash = seq, head_hash
    return None


def _no_worker(self: PeriodicWorker) -> None:
    return None


def create_app(settings: Settings | None = None) -> FastAPI:
    ingest.Head.grow = _skip_tree  # type: ignore[method-assign]  # the baseline
    LogWorker.start = _no_worker  # type: ignore[method-assign]
    return create_app_with_log(settings)
