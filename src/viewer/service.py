"""Minting viewer tokens, and the principal a token stands for."""

import hmac
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.auth import service as auth_service
from src.auth.constants import Scope
from src.auth.exceptions import TenantNotFound
from src.auth.models import ApiKey
from src.auth.schemas import Principal, TenantAccess, ViewerGrant
from src.database import standalone
from src.exceptions import Unauthorized
from src.viewer.constants import PAGE_PATH, TOKEN_PREFIX
from src.viewer.models import ViewerToken
from src.viewer.schemas import ViewerTokenCreate


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str  # the whole `tmv_<public id>_<secret>` string, shown once
    expires_at: datetime


def page_url(origin: str, token: str) -> str:
    """The viewer page at `origin` (`http://host:port`), with the token in the URL fragment:
    a fragment is never sent to a server, so the token stays out of access logs."""
    return f"{origin.rstrip('/')}{PAGE_PATH}#token={token}"


def parse_public_id(token: str) -> str | None:
    """The public id inside a well-formed viewer token, or None."""
    return auth_service.parse_public_id(token, prefix=TOKEN_PREFIX)


async def mint(
    *,
    session: AsyncSession,
    pepper: bytes,
    principal: Principal,
    access: TenantAccess,
    request: ViewerTokenCreate,
) -> MintedToken:
    """Store a token for the tenant; a tenant the key may not see, or none, is a 404."""
    request.filter.filters()  # a `q` that does not parse is refused now, not at every use
    minted = auth_service.mint_key(prefix=TOKEN_PREFIX)
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=request.ttl_seconds)
    async with session.begin():
        if not access.visible or not await auth_service.tenant_exists(
            session=session, slug=access.tenant
        ):
            raise TenantNotFound()
        session.add(
            ViewerToken(
                id=uuid.uuid4(),
                public_id=minted.public_id,
                secret_hash=auth_service.hash_key(minted.secret_key, pepper),
                tenant=access.tenant,
                filter=request.filter.model_dump(mode="json", exclude_defaults=True),
                can_export=request.can_export,
                created_by=principal.key_id,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return MintedToken(token=minted.secret_key, expires_at=expires_at)


_COLUMNS = (
    col(ViewerToken.id),
    col(ViewerToken.secret_hash),
    col(ViewerToken.tenant),
    col(ViewerToken.filter),
    col(ViewerToken.can_export),
    col(ViewerToken.expires_at),
)


async def authenticate(*, session: AsyncSession, pepper: bytes, token: str) -> Principal:
    """The read-only principal a viewer token stands for; `Unauthorized` for anything else.

    Looked up on every request, like API keys: an expired token, or one minted by a key since
    revoked, fails at once everywhere.
    """
    public_id = parse_public_id(token)
    if public_id is None:
        raise Unauthorized("The viewer token is malformed.")
    async with session.begin():
        connection = await standalone(session)  # one read that stands alone
        row = (
            await connection.execute(
                select(*_COLUMNS, col(ApiKey.revoked_at).label("minted_by_revoked_at"))
                .join(ApiKey, col(ApiKey.id) == col(ViewerToken.created_by))
                .where(col(ViewerToken.public_id) == public_id)
            )
        ).first()
    expected = auth_service.hash_key(token, pepper)
    if row is None or not hmac.compare_digest(row.secret_hash, expected):
        raise Unauthorized("The viewer token is not valid.")
    if row.expires_at <= datetime.now(UTC):
        raise Unauthorized("The viewer token has expired.")
    if row.minted_by_revoked_at is not None:
        # A revoked key's tokens die with it: it cannot have handed out lasting access.
        raise Unauthorized("The key that minted this viewer token has been revoked.")
    return Principal(
        key_id=row.id,
        tenant=row.tenant,
        scopes=frozenset({Scope.AUDITS_READ}),
        viewer=ViewerGrant(
            filter=row.filter,
            can_export=row.can_export,
        ),
    )
