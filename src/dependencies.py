"""The dependencies routes receive: the lifespan's `State`, one session, the caller.

Every shared object comes from `request.state` (the lifespan's typed `State`), never from a
global. The principal and tenant resolution live here too: every domain's routes receive
them, so they belong to no one domain.
"""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from openai import AsyncOpenAI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from src.audits.group_commit import GroupCommitter
from src.auth import service as auth_service
from src.auth.constants import Scope
from src.auth.schemas import Principal, TenantAccess, TenantSlug
from src.config import Settings
from src.exceptions import Forbidden, Unauthorized
from src.lifecycle import Lifecycle
from src.log.signing import LogIdentity
from src.metrics import Metrics
from src.pagination import CursorCodec
from src.state import app_state
from src.viewer import service as viewer_service
from src.viewer.constants import TOKEN_PREFIX as VIEWER_TOKEN_PREFIX

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


async def get_group_committer(request: Request) -> GroupCommitter:
    return app_state(request)["group_committer"]


async def get_lifecycle(request: Request) -> Lifecycle:
    return app_state(request)["lifecycle"]


async def get_metrics(request: Request) -> Metrics:
    return app_state(request)["metrics"]


async def get_cursor_codec(request: Request) -> CursorCodec:
    return app_state(request)["cursor_codec"]


async def get_log_identity(request: Request) -> LogIdentity:
    return app_state(request)["log_identity"]


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
OpenAIClientDep = Annotated[AsyncOpenAI | None, Depends(get_openai_client)]
GroupCommitterDep = Annotated[GroupCommitter, Depends(get_group_committer)]
LifecycleDep = Annotated[Lifecycle, Depends(get_lifecycle)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]
LogIdentityDep = Annotated[LogIdentity, Depends(get_log_identity)]


# ---------------------------------------------------------------------------------------------
# The caller
# ---------------------------------------------------------------------------------------------

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="tm_<public id>_<secret>",
    description="An API key: `Authorization: Bearer tm_...`.",
)


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    session: SessionDep,
    settings: SettingsDep,
) -> Principal:
    """The authenticated caller; 401 (with `WWW-Authenticate: Bearer`) for no or a bad key."""
    if credentials is None:
        raise Unauthorized()
    pepper = settings.api_key_pepper.get_secret_value().encode()
    if credentials.credentials.startswith(VIEWER_TOKEN_PREFIX):
        return await viewer_service.authenticate(
            session=session, pepper=pepper, token=credentials.credentials
        )
    return await auth_service.authenticate(
        session=session, pepper=pepper, secret_key=credentials.credentials
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(scope: Scope, *, viewers: bool = False) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through principals holding `scope` (admin holds every scope).

    Viewer tokens only pass where `viewers` is set: the reads the viewer page makes.
    """

    async def check(principal: PrincipalDep) -> Principal:
        if principal.viewer is not None and not viewers:
            raise Forbidden("A viewer token cannot use this endpoint.")
        if not principal.allows(scope):
            raise Forbidden(f"This action needs the `{scope.value}` scope.")
        return principal

    return check


AdminDep = Annotated[Principal, Depends(require(Scope.ADMIN))]

# How every tenant-scoped route lets an admin name the tenant (a body `tenant` may too).
TenantQuery = Annotated[
    TenantSlug | None,
    Query(description="The tenant to act on: required for admin keys, optional otherwise."),
]


def tenant_access(scope: Scope, *, viewers: bool = False) -> Callable[..., Awaitable[TenantAccess]]:
    """A dependency for tenant-scoped routes needing `scope`: authorizes, then resolves (a
    viewer token's access carries its fixed filter)."""

    async def resolve(
        principal: Annotated[Principal, Depends(require(scope, viewers=viewers))],
        tenant: TenantQuery = None,
    ) -> TenantAccess:
        return auth_service.resolve_tenant(principal, tenant)

    return resolve
