"""API keys: minting, hashing, authenticating, listing and revoking. Tenants come with keys."""

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.auth.constants import KEY_PREFIX, LAST_USED_RESOLUTION_SECONDS, Scope
from src.auth.exceptions import KeyNotFound, TenantNotFound, TenantRequired, TenantsDisagree
from src.auth.models import ApiKey, Tenant
from src.auth.schemas import KeyCreate, KeyCreated, KeyOut, Principal, TenantAccess
from src.database import standalone
from src.exceptions import Unauthorized
from src.pagination import CursorCodec, Keyset, Page, keyset_page

PUBLIC_ID_BYTES = 8  # 16 hex chars: only for lookup, not secret
SECRET_BYTES = 32  # 256 bits of secret
_keys = ApiKey.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy
KEYS_PAGES = Keyset("keys", (_keys.c.created_at, _keys.c.id))


@dataclass(frozen=True, slots=True)
class MintedKey:
    public_id: str
    secret_key: str  # the whole `tm_<public id>_<secret>` string


def mint_key(prefix: str = KEY_PREFIX) -> MintedKey:
    """A fresh random key: `<prefix><public id>_<secret>` (`tm_` for API keys), the secret
    256 bits from `secrets`."""
    public_id = secrets.token_hex(PUBLIC_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return MintedKey(public_id=public_id, secret_key=f"{prefix}{public_id}_{secret}")


def hash_key(secret_key: str, pepper: bytes) -> bytes:
    """HMAC-SHA-256 of the whole key under the server's pepper.

    A fast keyed hash is right for long random keys (nothing to brute-force); the pepper means a
    stolen database alone cannot even check a guess.
    """
    return hmac.new(pepper, secret_key.encode(), hashlib.sha256).digest()


def parse_public_id(secret_key: str, prefix: str = KEY_PREFIX) -> str | None:
    """The public id inside a well-formed key (of this prefix), or None."""
    if not secret_key.startswith(prefix):
        return None
    public_id, sep, secret = secret_key.removeprefix(prefix).partition("_")
    if not sep or not secret or len(public_id) != 2 * PUBLIC_ID_BYTES:
        return None
    if any(c not in "0123456789abcdef" for c in public_id):
        return None
    return public_id


def prefix_of(key: ApiKey) -> str:
    return f"{KEY_PREFIX}{key.public_id}"


def key_out(key: ApiKey) -> KeyOut:
    return KeyOut(
        id=key.id,
        prefix=prefix_of(key),
        tenant=key.tenant,
        scopes=[Scope(scope) for scope in key.scopes],
        name=key.name,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


async def ensure_tenant(*, session: AsyncSession, slug: str) -> None:
    """Create the tenant if it does not exist yet (inside the caller's transaction)."""
    await ensure_tenants(session=session, slugs=[slug])


async def ensure_tenants(*, session: AsyncSession, slugs: Sequence[str]) -> None:
    """Create those of the tenants that do not exist yet (inside the caller's transaction)."""
    rows = [{"slug": slug} for slug in slugs]
    await session.execute(insert(Tenant).values(rows).on_conflict_do_nothing())


async def tenant_exists(*, session: AsyncSession, slug: str) -> bool:
    """Whether the tenant exists (inside the caller's transaction)."""
    found = await session.scalar(select(col(Tenant.slug)).where(col(Tenant.slug) == slug))
    return found is not None


async def create_key(*, session: AsyncSession, pepper: bytes, request: KeyCreate) -> KeyCreated:
    """Store a new key (and its tenant, if new); return it with its secret, shown this once."""
    minted = mint_key()
    async with session.begin():
        if request.tenant is not None:
            await ensure_tenant(session=session, slug=request.tenant)
        key = ApiKey(
            id=uuid.uuid4(),
            public_id=minted.public_id,
            secret_hash=hash_key(minted.secret_key, pepper),
            tenant=request.tenant,
            scopes=[scope.value for scope in request.scopes],
            name=request.name,
            created_at=datetime.now(UTC),
        )
        session.add(key)
    return KeyCreated(
        id=key.id,
        key=minted.secret_key,
        prefix=prefix_of(key),
        tenant=key.tenant,
        scopes=request.scopes,
        name=key.name,
        created_at=key.created_at,
    )


async def list_keys(
    *,
    session: AsyncSession,
    codec: CursorCodec,
    limit: int,
    cursor: str | None,
    tenant: str | None,
) -> Page[KeyOut]:
    """Keys newest first, paged by (created_at, id); secrets are never part of it."""
    query = select(_keys)
    if tenant is not None:
        query = query.where(_keys.c.tenant == tenant)
    rows, next_cursor = await keyset_page(
        session, query, keyset=KEYS_PAGES, codec=codec, limit=limit, cursor=cursor
    )
    return Page[KeyOut](
        items=[key_out(ApiKey(**row._mapping)) for row in rows],
        next_cursor=next_cursor,
        limit=limit,
    )


async def revoke_key(*, session: AsyncSession, key_id: uuid.UUID) -> None:
    """Revoke at once (idempotent): the next request with the key is a 401, in every process."""
    async with session.begin():
        key = await session.get(ApiKey, key_id, with_for_update=True)
        if key is None:
            raise KeyNotFound()
        if key.revoked_at is None:
            key.revoked_at = datetime.now(UTC)


# The hottest query of the service (every request): built once, run with a bound public id.
_KEY_BY_PUBLIC_ID = select(
    col(ApiKey.id),
    col(ApiKey.secret_hash),
    col(ApiKey.tenant),
    col(ApiKey.scopes),
    col(ApiKey.revoked_at),
    col(ApiKey.last_used_at),
).where(col(ApiKey.public_id) == bindparam("public_id"))


def resolve_tenant(principal: Principal, named: str | None) -> TenantAccess:
    """Which tenant a request acts on: an admin must name it; a tenant key has its own."""
    if principal.tenant is None:  # admin
        if named is None:
            raise TenantRequired()
        return TenantAccess(tenant=named, visible=True)
    fixed = principal.viewer.filter if principal.viewer is not None else None
    if named is None or named == principal.tenant:
        return TenantAccess(tenant=principal.tenant, visible=True, fixed=fixed)
    return TenantAccess(tenant=named, visible=False, fixed=fixed)


def resolve_named_tenant(
    principal: Principal, *, query: str | None, body: str | None
) -> TenantAccess:
    """The tenant a request with a body acts on, named by the `tenant` query parameter or
    body field (both: they must agree), or the key's own; another tenant's is a 404."""
    if query and body and query != body:
        if principal.tenant is not None:
            raise TenantNotFound()  # one of the two is another tenant's: as if it did not exist
        raise TenantsDisagree()
    access = resolve_tenant(principal, query or body)
    if not access.visible:
        raise TenantNotFound()
    return access


async def authenticate(*, session: AsyncSession, pepper: bytes, secret_key: str) -> Principal:
    """The principal a bearer key stands for; `Unauthorized` for anything else.

    Looked up in the database on every request (by its public id, then compared in constant
    time), so a revocation is seen at once by every server process.
    """
    public_id = parse_public_id(secret_key)
    if public_id is None:
        raise Unauthorized("The API key is malformed.")
    async with session.begin():
        # A read and at most one idempotent write: each stands alone.
        connection = await standalone(session)
        key = (await connection.execute(_KEY_BY_PUBLIC_ID, {"public_id": public_id})).first()
        if key is None or not hmac.compare_digest(key.secret_hash, hash_key(secret_key, pepper)):
            raise Unauthorized("The API key is not valid.")
        if key.revoked_at is not None:
            raise Unauthorized("The API key has been revoked.")
        now = datetime.now(UTC)
        stale_before = now - timedelta(seconds=LAST_USED_RESOLUTION_SECONDS)
        if key.last_used_at is None or key.last_used_at < stale_before:
            # At most one write per key per minute, and only by the request that sees it stale.
            await connection.execute(
                update(ApiKey)
                .where(
                    col(ApiKey.id) == key.id,
                    or_(
                        col(ApiKey.last_used_at).is_(None), col(ApiKey.last_used_at) < stale_before
                    ),
                )
                .values(last_used_at=now)
            )
    return Principal(
        key_id=key.id, tenant=key.tenant, scopes=frozenset(Scope(scope) for scope in key.scopes)
    )
