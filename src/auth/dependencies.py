"""The caller of a request, and the tenant it acts on: what every tenant-scoped route needs.

Both credential kinds are `auth`'s: API keys (`service.authenticate`) and the viewer page's
read-only tokens (`viewer_tokens.authenticate`), told apart by their prefix.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path, Query, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from src.auth import service as auth_service
from src.auth import viewer_tokens
from src.auth.constants import VIEWER_TOKEN_PREFIX, Scope
from src.auth.schemas import Principal, TenantAccess, TenantSlug
from src.dependencies import SessionDep, SettingsDep
from src.exceptions import Forbidden, Unauthorized

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
        return await viewer_tokens.authenticate(
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


def tenant_in_path(
    scope: Scope, *, whose: str, viewers: bool = False
) -> Callable[..., Awaitable[TenantAccess]]:
    """As `tenant_access`, for routes whose path names the tenant (`/logs/{tenant}/...`,
    `/tenants/{tenant}/...`): an admin's choice, or a key's own (another tenant's is a 404).
    `whose` completes the parameter's description: "The tenant whose <whose> this is."."""

    async def resolve(
        principal: Annotated[Principal, Depends(require(scope, viewers=viewers))],
        tenant: Annotated[TenantSlug, Path(description=f"The tenant whose {whose} this is.")],
    ) -> TenantAccess:
        return auth_service.resolve_tenant(principal, tenant)

    return resolve
