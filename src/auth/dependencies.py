"""Who is calling, what they may do, and which tenant they act on."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from src.auth import service
from src.auth.constants import Scope
from src.auth.exceptions import TenantRequired
from src.auth.schemas import Principal, TenantSlug
from src.config import Settings
from src.database import SessionmakerDep
from src.exceptions import Forbidden, Unauthorized
from src.pagination import CursorCodec

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    bearerFormat="tm_<public id>_<secret>",
    description="An API key: `Authorization: Bearer tm_...`.",
)


async def get_settings_from_app(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_cursor_codec(request: Request) -> CursorCodec:
    codec: CursorCodec = request.app.state.cursor_codec
    return codec


SettingsDep = Annotated[Settings, Depends(get_settings_from_app)]
CursorCodecDep = Annotated[CursorCodec, Depends(get_cursor_codec)]


async def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
) -> Principal:
    """The authenticated caller; 401 (with `WWW-Authenticate: Bearer`) for no or a bad key."""
    if credentials is None:
        raise Unauthorized()
    return await service.authenticate(
        sessionmaker=sessionmaker,
        pepper=settings.api_key_pepper.get_secret_value().encode(),
        secret_key=credentials.credentials,
    )


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require(scope: Scope) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through principals holding `scope` (admin holds every scope)."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.allows(scope):
            raise Forbidden(f"This action needs the `{scope.value}` scope.")
        return principal

    return check


AdminDep = Annotated[Principal, Depends(require(Scope.ADMIN))]


@dataclass(frozen=True, slots=True)
class TenantAccess:
    """The tenant a request acts on, and whether its key may see that tenant at all.

    A tenant key that names another tenant is not told so: services treat `visible=False`
    exactly like an empty tenant (lists are empty, single resources are 404).
    """

    tenant: str
    visible: bool


def resolve_tenant(principal: Principal, named: str | None) -> TenantAccess:
    """Which tenant a request acts on: an admin must name it; a tenant key has its own."""
    if principal.tenant is None:  # admin
        if named is None:
            raise TenantRequired()
        return TenantAccess(tenant=named, visible=True)
    if named is None or named == principal.tenant:
        return TenantAccess(tenant=principal.tenant, visible=True)
    return TenantAccess(tenant=named, visible=False)


def tenant_access(scope: Scope) -> Callable[..., Awaitable[TenantAccess]]:
    """A dependency for tenant-scoped routes needing `scope`: authorizes, then resolves."""

    async def resolve(
        principal: Annotated[Principal, Depends(require(scope))],
        tenant: Annotated[
            TenantSlug | None,
            Query(description="The tenant to act on: required for admin keys, optional otherwise."),
        ] = None,
    ) -> TenantAccess:
        return resolve_tenant(principal, tenant)

    return resolve
