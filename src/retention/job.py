"""The retention job: apply a tenant's policy, sparing what its legal holds hold.

One run is one transaction per tenant, under a per-tenant advisory lock (a second process
skips the tenant): killed at any point, by SIGKILL or a PostgreSQL crash, it leaves nothing
half done, and the next run does all of it. A dry run is the same run, rolled back.

An event has expired when it was received (`received_at`, the server's clock) more than
`days` before the run's time. In `erase` mode every expired, unheld event is erased. In
`prune` mode the log's minimum index moves up to the end of the newest closed range of
events (partitions.py: a month, on a tile boundary) at or below the oldest leaf to keep
(held or unexpired), and never beyond the latest checkpoint; the ranges below it are
dropped, under a signed anchor the database checks; expired, unheld events at or above it
are erased, since the log still serves their leaves. A run that changed
anything is recorded in the tenant's trail as a `retention.run` event.
"""

import contextlib
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, not_, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.audits import ingest
from src.audits import service as audits_service
from src.audits.schemas import ActorIn, EventIn
from src.auth.models import Tenant
from src.events.constants import ActionType, ActorType
from src.events.models import ChainHead, events
from src.log import checkpoints, pruning
from src.log.signing import LogIdentity
from src.retention import holds, partitions
from src.retention.constants import POLICY_ENTITY, RETENTION_ACTOR, RETENTION_RUN, RetentionMode
from src.retention.exceptions import TenantBusy
from src.retention.models import RetentionPolicy
from src.retention.schemas import RunReport

_TENANT_LOCK = text(
    "SELECT pg_try_advisory_xact_lock(hashtext('trailmark.retention'), hashtext(:tenant))"
)


async def tenants_with_policies(session: AsyncSession) -> list[str]:
    async with session.begin():
        rows = await session.scalars(
            select(col(RetentionPolicy.tenant))
            .where(col(RetentionPolicy.days).is_not(None))
            .order_by(col(RetentionPolicy.tenant))
        )
        return list(rows)


async def all_tenants(session: AsyncSession) -> list[str]:
    """Every tenant: the worker visits those without a policy too, to close their months
    (a policy set later then finds the trail already in monthly ranges)."""
    async with session.begin():
        return list(await session.scalars(select(col(Tenant.slug)).order_by(col(Tenant.slug))))


async def run_tenant(
    session: AsyncSession,
    identity: LogIdentity,
    tenant: str,
    *,
    as_of: datetime,
    dry_run: bool = False,
    min_interval: timedelta | None = None,
) -> RunReport | None:
    """Apply the tenant's policy as of `as_of`; None when another process holds the tenant,
    its events table stayed locked too long, or (with `min_interval`) it ran less than that
    long ago.

    A due monthly close of the tenant's open range commits first, on its own (it removes
    nothing, and the tenant's writers wait while it is open; if its table stays locked, the
    run goes on without it). A dry run takes no table lock: it counts the close it would
    make, and drops nothing."""
    if not dry_run:
        with contextlib.suppress(TenantBusy):
            async with session.begin():
                if await session.scalar(_TENANT_LOCK, {"tenant": tenant}):
                    await partitions.close_if_due(session, tenant, as_of)
    try:
        transaction = await session.begin()
        try:
            report = await _run(session, identity, tenant, as_of, dry_run, min_interval)
        except BaseException:
            await transaction.rollback()
            raise
    except TenantBusy:  # its table stayed locked: like a tenant another process holds
        return None
    if dry_run or report is None:
        await transaction.rollback()
    else:
        await transaction.commit()
    return report


async def _run(
    session: AsyncSession,
    identity: LogIdentity,
    tenant: str,
    as_of: datetime,
    dry_run: bool,
    min_interval: timedelta | None,
) -> RunReport | None:
    if not await session.scalar(_TENANT_LOCK, {"tenant": tenant}):
        return None
    policy = await session.get(RetentionPolicy, tenant, populate_existing=True)
    if (
        min_interval is not None
        and policy is not None
        and policy.last_run_at is not None
        and policy.last_run_at > as_of - min_interval
    ):
        return None
    minimum = await pruning.min_index(session, tenant)
    report = RunReport(
        tenant=tenant,
        dry_run=dry_run,
        mode=None if policy is None else RetentionMode(policy.mode),
        days=None if policy is None else policy.days,
        as_of=as_of,
        cutoff=None,
        held=0,
        erased=0,
        pruned=0,
        first_seq=None,
        last_seq=None,
        min_index=minimum,
    )
    if policy is None or policy.days is None:
        return report
    report.cutoff = cutoff = as_of - timedelta(days=policy.days)
    expired = and_(events.c.tenant == tenant, events.c.seq > minimum, events.c.received_at < cutoff)
    # First list what the holds hold among the expired (events that matched since the hold
    # was made), so the database itself refuses to remove any of them.
    active = await holds.active(session, tenant)
    for hold in active:
        await holds.list_matches(session, tenant, hold, among=expired)
    held = or_(holds.listed(), holds.any_matches(tenant, active))
    report.held = int(
        await session.scalar(select(func.count()).select_from(events).where(expired, held)) or 0
    )
    touched: list[int] = []
    ranges: list[partitions.Range] = []
    if policy.mode == RetentionMode.PRUNE:
        would_close = await partitions.due_close(session, tenant, as_of) if dry_run else None
        ranges = await _prunable(session, tenant, minimum, cutoff, held, would_close)
        if ranges and ranges[-1].min_index_after > minimum:
            report.min_index = ranges[-1].min_index_after
            # Every seq has its row (the chain has no gaps): the rows removed are the leaves.
            report.pruned = report.min_index - minimum
            touched = [minimum + 1, report.min_index]
    # Erase before the ranges go: the drop holds the tenant's table until the commit.
    erased = await audits_service.erase_matching(
        session, tenant, and_(expired, events.c.seq > report.min_index, not_(held))
    )
    report.erased = len(erased)
    touched += erased[:1] + erased[-1:]
    if ranges and not dry_run:
        await _prune(session, identity, tenant, minimum, ranges)
    if touched:
        report.first_seq, report.last_seq = min(touched), max(touched)
        recorded = await ingest.append(session, tenant, [_run_event(report)])
        report.recorded_seq = recorded.seq
    await session.execute(
        update(RetentionPolicy)
        .where(col(RetentionPolicy.tenant) == tenant)
        .values(last_run_at=as_of)
    )
    return report


async def _prunable(
    session: AsyncSession,
    tenant: str,
    minimum: int,
    cutoff: datetime,
    held: ColumnElement[bool],
    would_close: partitions.Range | None = None,
) -> list[partitions.Range]:
    """The closed ranges a prune removes: all of them up to the oldest leaf to keep (held or
    unexpired) and the latest checkpoint (C2SP), so the new minimum index is the last one's
    end; `would_close` (a dry run's) counts as closed."""
    kept = or_(events.c.received_at >= cutoff, held)
    first_kept = await session.scalar(
        select(func.min(events.c.seq)).where(
            events.c.tenant == tenant, events.c.seq > minimum, kept
        )
    )
    if first_kept is None:  # everything is expired: as far as the chain goes
        first_kept = 1 + int(
            await session.scalar(
                select(col(ChainHead.head_seq)).where(col(ChainHead.tenant) == tenant)
            )
            or 0
        )
    latest = await checkpoints.latest(session, tenant)
    signed_size = 0 if latest is None else latest.size
    # The oldest kept event is leaf `first_kept - 1`.
    allowed = min(int(first_kept) - 1, signed_size)
    ranges = await partitions.closed_up_to(session, tenant, allowed)
    if would_close is not None and would_close.min_index_after <= allowed:
        ranges.append(would_close)
    return ranges


async def _prune(
    session: AsyncSession,
    identity: LogIdentity,
    tenant: str,
    minimum: int,
    ranges: list[partitions.Range],
) -> None:
    """Sign the anchor at the ranges' end, then drop them (the database checks both)."""
    new_minimum = ranges[-1].min_index_after
    if new_minimum > minimum:  # not when 0008's row-by-row prune already emptied them
        last_removed_hash = await session.scalar(
            select(events.c.hash).where(events.c.tenant == tenant, events.c.seq == new_minimum)
        )
        if last_removed_hash is None:
            raise RuntimeError(
                f"event {new_minimum} of {tenant} is missing; run integrity verification"
            )
        await pruning.record_anchor(
            session,
            identity,
            tenant,
            new_min_index=new_minimum,
            prev_hash=bytes(last_removed_hash),
        )
    await partitions.drop(session, tenant, ranges)


def _run_event(report: RunReport) -> EventIn:
    details: dict[str, object] = report.model_dump(
        mode="json",
        include={
            "mode",
            "days",
            "as_of",
            "cutoff",
            "held",
            "erased",
            "pruned",
            "first_seq",
            "last_seq",
            "min_index",
        },
    )
    return EventIn(
        action_type=ActionType.DELETE,
        action=RETENTION_RUN,
        entity_type=POLICY_ENTITY,
        entity_id=report.tenant,
        actor=ActorIn(id=RETENTION_ACTOR, type=ActorType.SYSTEM, name=None),
        details=details,
    )
