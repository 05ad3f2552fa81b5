"""What the log keeps in the lifespan's state, and the dependency routes read it with."""

from typing import Annotated, TypedDict, cast

from fastapi import Depends, Request

from src.log.signing import LogIdentity
from src.log.worker import LogWorker


class LogState(TypedDict):
    log_identity: LogIdentity  # who signs the transparency log's checkpoints
    log_worker: LogWorker  # integrates backlogs and signs checkpoints in the background


def log_state(request: Request) -> LogState:
    """The log's part of the lifespan's state (`src/state.py`), typed."""
    return cast(LogState, request.scope["state"])


async def get_log_identity(request: Request) -> LogIdentity:
    return log_state(request)["log_identity"]


LogIdentityDep = Annotated[LogIdentity, Depends(get_log_identity)]
