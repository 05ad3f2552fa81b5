"""The path's tenant for retention routes: an admin's choice, or a reading key's own."""

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Path

from src.auth import service as auth_service
from src.auth.constants import Scope
from src.auth.dependencies import PrincipalDep, require
from src.auth.schemas import Principal, TenantAccess, TenantSlug

TenantPath = Annotated[TenantSlug, Path(description="The tenant whose retention this is.")]


def tenant_in_path(scope: Scope) -> Callable[..., Awaitable[TenantAccess]]:
    """The path's tenant, for a principal holding `scope` (another tenant's is a 404)."""

    async def resolve(
        principal: Annotated[Principal, Depends(require(scope))], tenant: TenantPath
    ) -> TenantAccess:
        return auth_service.resolve_tenant(principal, tenant)

    return resolve


# Reading the policy and the holds: an admin, or the tenant's own key with `audits:read`.
ReadAccess = Annotated[TenantAccess, Depends(tenant_in_path(Scope.AUDITS_READ))]
# Changing them: an admin only.
AdminAccess = Annotated[TenantAccess, Depends(tenant_in_path(Scope.ADMIN))]
# Who changes them (the request's principal, authenticated once; `AdminAccess` checked it).
AdminPrincipal = PrincipalDep
