"""What the lifespan shares with every request: one typed `State`.

The lifespan (`src/main.py`) builds it once per process and Starlette hands it to each
request as `request.state`; `src/dependencies.py` reads it for routes, one typed dependency
per entry. A package that keeps objects of its own there declares them beside its own
dependencies (`audits.dependencies.AuditsState`, `log.dependencies.LogState`), so this
module knows no domain. Nothing here is created at import time, so tests never patch
globals: they build an app with other `Settings` instead.
"""

from typing import TypedDict, cast

from fastapi import Request
from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from src.config import Settings
from src.lifecycle import Lifecycle
from src.metrics import Metrics
from src.pagination import CursorCodec


class State(TypedDict):
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    openai: AsyncOpenAI | None  # None: no OPENAI_API_KEY, the AI endpoints answer 503
    lifecycle: Lifecycle  # draining after SIGTERM: /readyz answers 503
    metrics: Metrics
    cursor_codec: CursorCodec
    expected_revision: str | None  # the Alembic head this build ships


def app_state(request: Request) -> State:
    """The lifespan's state, typed (Starlette gives each request a copy of it)."""
    return cast(State, request.scope["state"])
