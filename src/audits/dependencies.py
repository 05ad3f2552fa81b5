"""Shared request parsing for the audits routes: list filters and tenant access."""

from typing import Annotated

from fastapi import Depends, Query, Request

from src.audits.constants import ACTION_PATTERN, ActionType, EventStatus
from src.audits.group_commit import GroupCommitter
from src.audits.query import EventFilter, parse_search
from src.auth.constants import Scope
from src.auth.dependencies import TenantAccess, require, tenant_access
from src.auth.schemas import Principal
from src.schemas import Rfc3339

ReadAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_READ))]
WriteAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_WRITE))]
EraseAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_ERASE))]
# Ingest resolves the tenant itself: an admin may name it in the body as well as the query.
Writer = Annotated[Principal, Depends(require(Scope.AUDITS_WRITE))]


async def event_filters(
    action_type: Annotated[
        list[ActionType] | None, Query(description="Any of these action types (repeatable).")
    ] = None,
    action: Annotated[
        str | None,
        Query(max_length=100, pattern=ACTION_PATTERN, description="Exactly this action."),
    ] = None,
    entity_type: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    entity_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    actor_id: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
    status: Annotated[EventStatus | None, Query()] = None,
    occurred_after: Annotated[
        Rfc3339 | None, Query(description="Inclusive lower bound of `occurred_at`.")
    ] = None,
    occurred_before: Annotated[
        Rfc3339 | None, Query(description="Exclusive upper bound of `occurred_at`.")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=2000,
            description='The search language, e.g. `action:user.login actor:user_7 "bulk export"`.',
            examples=["action_type:delete entity:repository/repo_42 details.reason:cleanup"],
        ),
    ] = None,
) -> tuple[EventFilter, ...]:
    """The query parameters and `q`, as filters that must all hold."""
    filters = [
        EventFilter(
            action_types=tuple(action_type or ()),
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=actor_id,
            status=status,
            occurred_after=occurred_after,
            occurred_before=occurred_before,
        )
    ]
    if q:
        filters.append(parse_search(q))
    return tuple(filters)


EventFilters = Annotated[tuple[EventFilter, ...], Depends(event_filters)]


async def get_group_committer(request: Request) -> GroupCommitter:
    """The lifespan's group committer for single-event writes."""
    committer: GroupCommitter = request.state.group_committer
    return committer


GroupCommitterDep = Annotated[GroupCommitter, Depends(get_group_committer)]
