"""`/api/v1/tenants/{tenant}/retention` and `/holds`: the retention policy and legal holds."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from src.audits.exceptions import InvalidSearchQuery
from src.auth.exceptions import TenantNotFound
from src.dependencies import CursorCodecDep, SessionDep
from src.exceptions import AUTH_ERRORS
from src.http.openapi import problem_responses
from src.http.params import PageCursor, PageLimit
from src.pagination import InvalidCursor, Page
from src.retention import service
from src.retention.dependencies import AdminAccess, AdminPrincipal, ReadAccess
from src.retention.exceptions import HoldNotFound
from src.retention.schemas import HoldCreate, HoldOut, PolicyIn, PolicyOut

router = APIRouter(prefix="/tenants/{tenant}", tags=["retention"])


@router.get(
    "/retention",
    summary="The tenant's retention policy",
    response_model=PolicyOut,
    responses=problem_responses(*AUTH_ERRORS, TenantNotFound),
)
async def get_policy(access: ReadAccess, session: SessionDep) -> PolicyOut:
    """How long the tenant's events are kept, and what happens to older ones. Without a
    policy, events are kept forever (`days` null). Needs an admin key, or the tenant's own
    key with `audits:read`."""
    return await service.get_policy(session=session, access=access)


@router.put(
    "/retention",
    summary="Set the tenant's retention policy",
    response_model=PolicyOut,
    responses=problem_responses(*AUTH_ERRORS, TenantNotFound),
)
async def put_policy(body: PolicyIn, access: AdminAccess, session: SessionDep) -> PolicyOut:
    """Keep events `days` (30-3650) after they were received, or forever (`days` null).
    `erase`: older events lose their personal payload, as `DELETE /audits/{id}` does.
    `prune`: they are erased too, and their rows go a month at a time: the log's minimum
    index moves up to the end of the newest whole month of events (stored apart, on a tile
    boundary) at or below the oldest kept leaf; every proof of a kept event stays valid.
    Events matching an active legal hold are never touched. The retention job applies it
    within a minute (`RETENTION_INTERVAL_SECONDS`), or at once with `python -m src.cli
    retention run`. Needs an admin key."""
    return await service.set_policy(session=session, access=access, policy=body)


@router.post(
    "/holds",
    status_code=status.HTTP_201_CREATED,
    summary="Place a legal hold",
    response_model=HoldOut,
    responses=problem_responses(*AUTH_ERRORS, TenantNotFound, InvalidSearchQuery),
)
async def create_hold(
    body: HoldCreate, access: AdminAccess, principal: AdminPrincipal, session: SessionDep
) -> HoldOut:
    """Events matching `filter` (the list filters and `q` of `GET /audits`), now or later,
    are neither erased nor pruned while the hold stands, whatever the policy, and the log's
    minimum index never passes them; the database itself refuses to delete them. The hold is
    recorded in the tenant's trail (`legal_hold.created`, actor type `system`). Needs an
    admin key."""
    return await service.create_hold(session=session, access=access, principal=principal, hold=body)


@router.get(
    "/holds",
    summary="List legal holds",
    response_model=Page[HoldOut],
    responses=problem_responses(*AUTH_ERRORS, TenantNotFound, InvalidCursor),
)
async def list_holds(
    access: ReadAccess,
    session: SessionDep,
    codec: CursorCodecDep,
    limit: PageLimit = 20,
    cursor: PageCursor = None,
) -> Page[HoldOut]:
    """The tenant's holds, newest first, released ones included (with `released_at`); page
    with `cursor`. Needs an admin key, or the tenant's own key with `audits:read`."""
    items, next_cursor = await service.list_holds(
        session=session, codec=codec, access=access, limit=limit, cursor=cursor
    )
    return Page[HoldOut](items=items, next_cursor=next_cursor, limit=limit)


@router.delete(
    "/holds/{hold_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Release a legal hold",
    response_class=Response,
    responses=problem_responses(*AUTH_ERRORS, TenantNotFound, HoldNotFound),
)
async def release_hold(
    hold_id: Annotated[uuid.UUID, Path(description="The hold's id.")],
    access: AdminAccess,
    principal: AdminPrincipal,
    session: SessionDep,
) -> Response:
    """Release the hold: the events it held follow the policy again from the next run
    (unless another hold holds them). Recorded in the tenant's trail
    (`legal_hold.released`). Releasing a released hold is a no-op. Needs an admin key."""
    await service.release_hold(session=session, access=access, principal=principal, hold_id=hold_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
