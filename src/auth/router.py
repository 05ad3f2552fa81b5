"""`/api/v1/keys`: admin-only management of API keys."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from src.auth import service
from src.auth.dependencies import AdminDep
from src.auth.exceptions import KeyNotFound
from src.auth.schemas import KeyCreate, KeyCreated, KeyOut, TenantSlug
from src.dependencies import CursorCodecDep, SessionDep, SettingsDep
from src.exceptions import AUTH_ERRORS
from src.http.openapi import problem_responses
from src.http.params import PageCursor
from src.pagination import InvalidCursor, Page

router = APIRouter(prefix="/keys", tags=["keys"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
    description=(
        "Mint a key for one tenant (with any of `audits:write`, `audits:read`, `audits:erase`) "
        "or an admin key (`admin` alone, no tenant). The response holds the secret `key`: it "
        "is shown this once and stored only as a keyed hash. A new tenant slug creates the "
        "tenant. Needs an admin key."
    ),
    response_model=KeyCreated,
    responses=problem_responses(*AUTH_ERRORS),
)
async def create_key(
    body: KeyCreate, _admin: AdminDep, session: SessionDep, settings: SettingsDep
) -> KeyCreated:
    return await service.create_key(
        session=session, pepper=settings.api_key_pepper.get_secret_value().encode(), request=body
    )


@router.get(
    "",
    summary="List API keys",
    description=(
        "Every key, newest first, including revoked ones (with `revoked_at`), never a secret. "
        "Filter by `tenant`; page with `cursor`. Needs an admin key."
    ),
    response_model=Page[KeyOut],
    responses=problem_responses(*AUTH_ERRORS, InvalidCursor),
)
async def list_keys(
    _admin: AdminDep,
    session: SessionDep,
    codec: CursorCodecDep,
    tenant: Annotated[TenantSlug | None, Query(description="Only this tenant's keys.")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size.")] = 50,
    cursor: PageCursor = None,
) -> Page[KeyOut]:
    return await service.list_keys(
        session=session, codec=codec, limit=limit, cursor=cursor, tenant=tenant
    )


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    description=(
        "Revoke at once: the next request made with the key is a 401, in every server process. "
        "Revoking a revoked key is a no-op. Needs an admin key."
    ),
    response_class=Response,
    responses=problem_responses(*AUTH_ERRORS, KeyNotFound),
)
async def revoke_key(key_id: uuid.UUID, _admin: AdminDep, session: SessionDep) -> Response:
    await service.revoke_key(session=session, key_id=key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
