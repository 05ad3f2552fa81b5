"""`/api/v1/viewer/tokens`: minting the read-only tokens the viewer page runs on."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from src.audits.exceptions import InvalidSearchQuery
from src.auth import service as auth_service
from src.auth.constants import Scope
from src.auth.dependencies import TenantQuery, require
from src.auth.exceptions import TenantNotFound, TenantRequired, TenantsDisagree
from src.auth.schemas import Principal
from src.dependencies import SessionDep, SettingsDep
from src.exceptions import AUTH_ERRORS
from src.http.openapi import problem_responses
from src.viewer import service
from src.viewer.schemas import ViewerTokenCreate, ViewerTokenCreated

router = APIRouter(prefix="/viewer", tags=["viewer"])


@router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Mint a viewer token",
    description=(
        "A read-only token for one tenant's viewer page, for `ttl_seconds` (60-86400). Every "
        "read it makes (list, get, export, stats, proofs, ask, summarize) sees only events "
        "matching its fixed `filter`, which the viewer can narrow but never widen; it cannot "
        "write, mint tokens or manage keys, and exports only with `can_export`. Send it to the "
        "page in the URL fragment (`url`), never in a query. Stored only as a keyed hash. "
        "Needs `audits:read` (a tenant key, for its own tenant) or an admin key (naming the "
        "tenant with the `tenant` query parameter or body field; both must agree)."
    ),
    response_model=ViewerTokenCreated,
    responses=problem_responses(
        *AUTH_ERRORS, TenantRequired, TenantsDisagree, TenantNotFound, InvalidSearchQuery
    ),
)
async def create_token(
    body: ViewerTokenCreate,
    principal: Annotated[Principal, Depends(require(Scope.AUDITS_READ))],
    session: SessionDep,
    settings: SettingsDep,
    request: Request,
    tenant: TenantQuery = None,
) -> ViewerTokenCreated:
    minted = await service.mint(
        session=session,
        pepper=settings.api_key_pepper.get_secret_value().encode(),
        principal=principal,
        access=auth_service.resolve_named_tenant(principal, query=tenant, body=body.tenant),
        request=body,
    )
    return ViewerTokenCreated(
        token=minted.token,
        expires_at=minted.expires_at,
        url=service.page_url(str(request.base_url), minted.token),
    )
