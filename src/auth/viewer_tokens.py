"""Viewer tokens as credentials: minted like API keys, stored only as a keyed hash, and the
read-only principal each stands for. Who may mint one, and for what, is the viewer's
(`src/viewer/service.py`); that a request carrying one is let in is decided here, beside the
API keys, so the request's caller is known without asking the viewer."""

import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import JsonValue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.auth import service as auth_service
from src.auth.constants import VIEWER_TOKEN_PREFIX, Scope
from src.auth.models import ApiKey, ViewerToken
from src.auth.schemas import Principal, ViewerGrant
from src.database import standalone
from src.exceptions import Unauthorized


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str  # the whole `tmv_<public id>_<secret>` string, shown once
    expires_at: datetime


def parse_public_id(token: str) -> str | None:
    """The public id inside a well-formed viewer token, or None."""
    return auth_service.parse_public_id(token, prefix=VIEWER_TOKEN_PREFIX)


def add(
    *,
    session: AsyncSession,
    pepper: bytes,
    tenant: str,
    fixed_filter: Mapping[str, JsonValue],
    can_export: bool,
    minted_by: uuid.UUID,
    ttl_seconds: int,
) -> MintedToken:
    """A new token, added to the caller's transaction (which decided it may be minted)."""
    minted = auth_service.mint_key(prefix=VIEWER_TOKEN_PREFIX)
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_seconds)
    session.add(
        ViewerToken(
            id=uuid.uuid4(),
            public_id=minted.public_id,
            secret_hash=auth_service.hash_key(minted.secret_key, pepper),
            tenant=tenant,
            filter=dict(fixed_filter),
            can_export=can_export,
            created_by=minted_by,
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
