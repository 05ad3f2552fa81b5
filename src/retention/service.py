"""The rules of retention policies and legal holds. Each function owns its transaction; the
job that applies them is `job.py`.

Creating and releasing a hold are recorded in the tenant's own trail (actor type `system`,
the admin key named in `details`), in the same transaction as the change.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.audits import ingest
from src.audits.schemas import ActorIn, EventIn
from src.auth import service as auth_service
from src.auth.exceptions import TenantNotFound
from src.auth.schemas import Principal, TenantAccess
from src.events.constants import ActionType, ActorType
from src.pagination import CursorCodec, Keyset, keyset_page
from src.retention import holds
from src.retention.constants import (
    HOLD_CREATED,
    HOLD_ENTITY,
    HOLD_RELEASED,
    RETENTION_ACTOR,
    RetentionMode,
)
from src.retention.exceptions import HoldNotFound
from src.retention.models import LegalHold, RetentionPolicy
from src.retention.schemas import HoldCreate, HoldOut, PolicyIn, PolicyOut, as_hold_out

_holds = LegalHold.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy
HOLD_PAGES = Keyset("legal_holds", (_holds.c.created_at, _holds.c.id))


async def _existing_tenant(session: AsyncSession, access: TenantAccess) -> str:
    if not access.visible or not await auth_service.tenant_exists(
        session=session, slug=access.tenant
    ):
        raise TenantNotFound()
    return access.tenant


def _policy_out(tenant: str, policy: RetentionPolicy | None) -> PolicyOut:
    if policy is None:
        return PolicyOut(
            tenant=tenant, days=None, mode=RetentionMode.ERASE, updated_at=None, last_run_at=None
        )
    return PolicyOut(
        tenant=tenant,
        days=policy.days,
        mode=RetentionMode(policy.mode),
        updated_at=policy.updated_at,
        last_run_at=policy.last_run_at,
    )


async def get_policy(*, session: AsyncSession, access: TenantAccess) -> PolicyOut:
    """The tenant's policy; without one, keep forever."""
    async with session.begin():
        tenant = await _existing_tenant(session, access)
        return _policy_out(tenant, await session.get(RetentionPolicy, tenant))


async def set_policy(*, session: AsyncSession, access: TenantAccess, policy: PolicyIn) -> PolicyOut:
    async with session.begin():
        tenant = await _existing_tenant(session, access)
        values = {"days": policy.days, "mode": policy.mode.value, "updated_at": datetime.now(UTC)}
        await session.execute(
            pg_insert(RetentionPolicy)
            .values(tenant=tenant, **values)
            .on_conflict_do_update(index_elements=["tenant"], set_=values)
        )
        stored = await session.get(RetentionPolicy, tenant, populate_existing=True)
        return _policy_out(tenant, stored)


def _system_event(
    action_type: ActionType, action: str, hold_id: uuid.UUID, details: dict[str, object]
) -> EventIn:
    return EventIn(
        action_type=action_type,
        action=action,
        entity_type=HOLD_ENTITY,
        entity_id=str(hold_id),
        actor=ActorIn(id=RETENTION_ACTOR, type=ActorType.SYSTEM, name=None),
        details=details,
    )


async def create_hold(
    *, session: AsyncSession, access: TenantAccess, principal: Principal, hold: HoldCreate
) -> HoldOut:
    """Store the hold and list the events it holds now (so the database refuses to remove
    them from this moment); record the hold in the tenant's trail."""
    hold.filter.filters()  # a `q` that does not parse is refused now, not at every run
    stored_filter = hold.filter.model_dump(mode="json", exclude_defaults=True)
    async with session.begin():
        tenant = await _existing_tenant(session, access)
        row = LegalHold(
            id=uuid.uuid4(),
            tenant=tenant,
            reason=hold.reason,
            filter=stored_filter,
            created_at=datetime.now(UTC),
        )
        session.add(row)
        await session.flush()
        await holds.list_matches(session, tenant, holds.ActiveHold(row.id, stored_filter))
        details: dict[str, object] = {
            "reason": hold.reason,
            "filter": stored_filter,
            "key_id": str(principal.key_id),
        }
        await ingest.append(
            session, tenant, [_system_event(ActionType.CREATE, HOLD_CREATED, row.id, details)]
        )
        return as_hold_out(row.id, row.reason, row.filter, row.created_at, None)


async def list_holds(
    *,
    session: AsyncSession,
    codec: CursorCodec,
    access: TenantAccess,
    limit: int,
    cursor: str | None,
) -> tuple[list[HoldOut], str | None]:
    """The tenant's holds, newest first, released ones too (with `released_at`)."""
    async with session.begin():
        tenant = await _existing_tenant(session, access)
    query = select(_holds.c.reason, _holds.c.filter, _holds.c.released_at).where(
        _holds.c.tenant == tenant
    )
    rows, next_cursor = await keyset_page(
        session,
        query,
        keyset=HOLD_PAGES,
        codec=codec,
        limit=limit,
        cursor=cursor,
        bound_to={"tenant": tenant},
    )
    items = [
        as_hold_out(hold_id, reason, filter_, created_at, released_at)
        for reason, filter_, released_at, created_at, hold_id in rows
    ]
    return items, next_cursor


async def release_hold(
    *, session: AsyncSession, access: TenantAccess, principal: Principal, hold_id: uuid.UUID
) -> None:
    """Release the hold (a released one: nothing to do); record the release in the trail.
    The events it held are removable again at the next run, unless another hold holds them."""
    async with session.begin():
        tenant = await _existing_tenant(session, access)
        row = (
            await session.execute(
                select(LegalHold)
                .where(col(LegalHold.id) == hold_id, col(LegalHold.tenant) == tenant)
                .with_for_update()
            )
        ).scalar_one_or_none()
        if row is None:
            raise HoldNotFound()
        if row.released_at is not None:
            return
        row.released_at = datetime.now(UTC)
        await holds.unlist(session, hold_id)
        details: dict[str, object] = {"reason": row.reason, "key_id": str(principal.key_id)}
        await ingest.append(
            session, tenant, [_system_event(ActionType.DELETE, HOLD_RELEASED, hold_id, details)]
        )
