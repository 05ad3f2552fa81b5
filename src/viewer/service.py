"""Minting viewer tokens: who may mint one, for which tenant and what it may see.

The token itself is a credential (`auth.viewer_tokens`): stored and checked beside API keys.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from src.auth import service as auth_service
from src.auth import viewer_tokens
from src.auth.exceptions import TenantNotFound
from src.auth.schemas import Principal, TenantAccess
from src.viewer.constants import PAGE_PATH
from src.viewer.schemas import ViewerTokenCreate


def page_url(origin: str, token: str) -> str:
    """The viewer page at `origin` (`http://host:port`), with the token in the URL fragment:
    a fragment is never sent to a server, so the token stays out of access logs."""
    return f"{origin.rstrip('/')}{PAGE_PATH}#token={token}"


async def mint(
    *,
    session: AsyncSession,
    pepper: bytes,
    principal: Principal,
    access: TenantAccess,
    request: ViewerTokenCreate,
) -> viewer_tokens.MintedToken:
    """Store a token for the tenant; a tenant the key may not see, or none, is a 404."""
    request.filter.filters()  # a `q` that does not parse is refused now, not at every use
    async with session.begin():
        if not access.visible or not await auth_service.tenant_exists(
            session=session, slug=access.tenant
        ):
            raise TenantNotFound()
        return viewer_tokens.add(
            session=session,
            pepper=pepper,
            tenant=access.tenant,
            fixed_filter=request.filter.model_dump(mode="json", exclude_defaults=True),
            can_export=request.can_export,
            minted_by=principal.key_id,
            ttl_seconds=request.ttl_seconds,
        )
