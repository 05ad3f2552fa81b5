"""The dependencies every route may receive: the lifespan's `State`, one session.

Every shared object comes from `request.state` (the lifespan's typed `State`), never from a
global. The caller and the tenant it acts on are `auth`'s (`src/auth/dependencies.py`), and a
package's own objects its own (`audits.dependencies`, `log.dependencies`): this module sits
below them all and knows none of them.
"""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from src.config import Settings
from src.lifecycle import Lifecycle
from src.metrics import Metrics
from src.pagination import CursorCodec
from src.state import app_state

# Dependencies like these are `async def` though they never await: FastAPI runs a plain `def`
# dependency in a thread pool, and those hand-offs, several per request, took a measurable
# share of the event loop under load (see docs/performance.md).


async def get_settings(request: Request) -> Settings:
    return app_state(request)["settings"]


async def get_engine(request: Request) -> AsyncEngine:
    return app_state(request)["engine"]


async def get_sessionmaker(request: Request) -> async_sessionmaker[AsyncSession]:
    return app_state(request)["sessionmaker"]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request. Services own its transactions (`async with session.begin()`)."""
    async with app_state(request)["sessionmaker"]() as session:
        yield session


async def get_openai_client(request: Request) -> AsyncOpenAI | None:
    """The lifespan's client, or None when no OPENAI_API_KEY is set."""
    return app_state(request)["openai"]


async def get_lifecycle(request: Request) -> Lifecycle:
    return app_state(request)["lifecycle"]


async def get_metrics(request: Request) -> Metrics:
    return app_state(request)["metrics"]


async def get_cursor_codec(request: Request) -> CursorCodec:
    return app_state(request)["cursor_codec"]


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
OpenAIClientDep = Annotated[AsyncOpenAI | None, Depends(get_openai_client)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]
