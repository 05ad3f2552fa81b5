"""Reports on the model calls: the ledger, page by page, and usage per model or day."""

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Float,
    Numeric,
    Text,
    and_,
    case,
    cast,
    column,
    false,
    func,
    literal,
    select,
    true,
    values,
)
from sqlalchemy.ext.asyncio import AsyncSession

from src.openai.constants import CALLS_CURSOR, CallPurpose, CallStatus
from src.openai.schemas import CallOut, LedgerScope, Period, UsageGroup, UsageReport
from src.openai.service import calls
from src.pagination import CursorCodec, Keyset, keyset_page

DEFAULT_USAGE_DAYS = 30
CALLS_PAGES = Keyset(CALLS_CURSOR, (calls.c.created_at, calls.c.id))


def _scope_conditions(scope: LedgerScope) -> list[Any]:  # SQL conditions
    return [] if scope.tenant is None else [calls.c.tenant == scope.tenant]


async def list_calls(
    *,
    session: AsyncSession,
    codec: CursorCodec,
    scope: LedgerScope,
    period: Period,
    purpose: CallPurpose | None,
    status: CallStatus | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[CallOut], str | None]:
    """Recorded calls, newest first, one keyset page at a time."""
    where = _scope_conditions(scope)
    if not scope.visible:
        where.append(false())
    if period.since is not None:
        where.append(calls.c.created_at >= period.since)
    if period.until is not None:
        where.append(calls.c.created_at < period.until)
    if purpose is not None:
        where.append(calls.c.purpose == purpose.value)
    if status is not None:
        where.append(calls.c.status == status.value)
    rows, next_cursor = await keyset_page(
        session,
        select(calls).where(and_(true(), *where)),
        keyset=CALLS_PAGES,
        codec=codec,
        limit=limit,
        cursor=cursor,
        bound_to={"tenant": scope.tenant},
    )
    return [CallOut.model_validate(dict(row._mapping)) for row in rows], next_cursor


async def usage(
    *,
    session: AsyncSession,
    scope: LedgerScope,
    period: Period,
    group_by: Literal["model", "day"],
    prices: dict[str, tuple[float, float]],
) -> UsageReport:
    """Calls, errors, tokens, latency percentiles and estimated cost per model or UTC day, in
    the period (by default the last 30 days). An empty or reversed period reports nothing, as
    a filter on `GET /audits` would."""
    until = period.until or datetime.now(UTC)
    since = period.since or until - timedelta(days=DEFAULT_USAGE_DAYS)
    groups = await _usage_groups(session, scope, since, until, group_by, prices)
    return UsageReport(since=since, until=until, group_by=group_by, groups=groups)


async def _usage_groups(
    session: AsyncSession,
    scope: LedgerScope,
    since: datetime,
    until: datetime,
    group_by: Literal["model", "day"],
    prices: dict[str, tuple[float, float]],
) -> list[UsageGroup]:
    if not scope.visible:
        return []
    c = calls.c
    prompt_tokens = func.coalesce(c.prompt_tokens, 0)
    completion_tokens = func.coalesce(c.completion_tokens, 0)
    key = (
        c.model
        if group_by == "model"
        else func.to_char(func.timezone("UTC", c.created_at), "YYYY-MM-DD")
    )
    source: Any = calls  # a FROM clause: the ledger, joined to the price list when there is one
    if prices:
        price = values(
            column("model", Text),
            column("prompt", Float),
            column("completion", Float),
            name="price",
        ).data([(model, prompt, completion) for model, (prompt, completion) in prices.items()])
        source = calls.outerjoin(price, price.c.model == c.model)
        tokens_priced = func.bool_and(
            price.c.model.is_not(None) | (prompt_tokens + completion_tokens == 0)
        )
        cost = func.sum(
            prompt_tokens * func.coalesce(price.c.prompt, 0)
            + completion_tokens * func.coalesce(price.c.completion, 0)
        ) / literal(1_000_000.0)
        # Unknown when any call with tokens used a model without a price.
        estimated_cost: Any = func.round(cast(case((tokens_priced, cost)), Numeric), 6)
    else:
        estimated_cost = literal(None, Float)
    latency = c.latency_ms
    query = (
        select(
            key.label("key"),
            func.count().label("calls"),
            func.count().filter(c.status != CallStatus.OK.value).label("errors"),
            func.sum(prompt_tokens).label("prompt_tokens"),
            func.sum(completion_tokens).label("completion_tokens"),
            func.percentile_cont(0.5).within_group(latency).label("latency_p50_ms"),
            func.percentile_cont(0.95).within_group(latency).label("latency_p95_ms"),
            estimated_cost.label("estimated_cost_usd"),
        )
        .select_from(source)
        .where(and_(c.created_at >= since, c.created_at < until, *_scope_conditions(scope)))
        .group_by(key)
        .order_by(key)
    )
    async with session.begin():
        rows = (await session.execute(query)).mappings().all()
    return [UsageGroup.model_validate(dict(row)) for row in rows]
