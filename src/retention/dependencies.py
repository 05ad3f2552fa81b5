"""The path's tenant for retention routes: an admin's choice, or a reading key's own."""

from typing import Annotated

from fastapi import Depends

from src.auth.constants import Scope
from src.auth.dependencies import PrincipalDep, tenant_in_path
from src.auth.schemas import TenantAccess

# Reading the policy and the holds: an admin, or the tenant's own key with `audits:read`.
ReadAccess = Annotated[TenantAccess, Depends(tenant_in_path(Scope.AUDITS_READ, whose="retention"))]
# Changing them: an admin only.
AdminAccess = Annotated[TenantAccess, Depends(tenant_in_path(Scope.ADMIN, whose="retention"))]
# Who changes them (the request's principal, authenticated once; `AdminAccess` checked it).
AdminPrincipal = PrincipalDep
