"""Request parsing for the audits routes: tenant access, list filters, shared parameters."""

from dataclasses import dataclass
from typing import Annotated, Literal, TypedDict, cast

from fastapi import Depends, Header, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import StringConvertor, register_url_convertor

from src.audits import ingest
from src.audits.assistant import Asking
from src.audits.filters import EventFilter, ListFilters
from src.audits.group_commit import GroupCommitter
from src.audits.query import Selection
from src.audits.schemas import EventBatchCreate, EventCreate
from src.auth.constants import Scope
from src.auth.dependencies import TenantQuery, require, tenant_access
from src.auth.schemas import Principal, TenantAccess
from src.database import BIGINT_MAX
from src.dependencies import CursorCodecDep, MetricsDep, SessionDep
from src.exceptions import Forbidden
from src.metrics import Metrics
from src.openai.dependencies import GatewayDep


class AuditsState(TypedDict):
    """What the audits package keeps in the lifespan's state (`src/state.py`)."""

    group_committer: GroupCommitter  # single-event writes share transactions


async def get_group_committer(request: Request) -> GroupCommitter:
    return cast(AuditsState, request.scope["state"])["group_committer"]


GroupCommitterDep = Annotated[GroupCommitter, Depends(get_group_committer)]

ReadAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_READ))]
# The reads the viewer page makes: a viewer token passes, its fixed filter in the access.
ViewerReadAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_READ, viewers=True))]
WriteAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_WRITE))]
EraseAccess = Annotated[TenantAccess, Depends(tenant_access(Scope.AUDITS_ERASE))]


async def event_filters(filters: Annotated[ListFilters, Query()]) -> tuple[EventFilter, ...]:
    """The list filters of the query string, and `q`, as filters that must all hold."""
    return filters.filters()


EventFilters = Annotated[tuple[EventFilter, ...], Depends(event_filters)]
IncludeErased = Annotated[bool, Query(description="Also list events whose payload was erased.")]


async def selection(
    access: ViewerReadAccess, filters: EventFilters, include_erased: IncludeErased = False
) -> Selection:
    """The events a read route covers: the tenant, the list filters, erased ones or not."""
    return Selection(access, filters, include_erased)


SelectionDep = Annotated[Selection, Depends(selection)]


async def export_selection(
    principal: Annotated[Principal, Depends(require(Scope.AUDITS_READ, viewers=True))],
    selection: SelectionDep,
) -> Selection:
    """What an export covers; a viewer token exports only if it was minted `can_export`."""
    if principal.viewer is not None and not principal.viewer.can_export:
        raise Forbidden("This viewer token may not export.")
    return selection


ExportSelectionDep = Annotated[Selection, Depends(export_selection)]


async def asking(
    access: ViewerReadAccess, gateway: GatewayDep, session: SessionDep, codec: CursorCodecDep
) -> Asking:
    """What the model's routes work with (a viewer token's fixed filter bounds them too)."""
    return Asking(gateway, session, codec, access)


AskingDep = Annotated[Asking, Depends(asking)]


class _EventIdSegment(StringConvertor):
    """A path segment that is not one of the collection's own words (`batch`, `export`, ...).

    So `PATCH /audits/batch` is a 405 like any unsupported method, while `/audits/not-a-uuid`
    still reaches the route and gets a 422 from the `uuid.UUID` parameter.
    """

    regex = r"(?!(?:batch|export|stats|integrity|ask|summarize)(?:/|$))[^/]+"


register_url_convertor("event_id", _EventIdSegment())


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Makes the request safe to retry: the same key and body within 24 h "
        "replay the first response and write nothing.",
    ),
]


OrderParam = Annotated[
    Literal["asc", "desc"], Query(description="By `occurred_at` then `id`; `desc` is newest first.")
]

MAX_SEQ = BIGINT_MAX
FromSeq = Annotated[
    int | None, Query(ge=1, le=MAX_SEQ, description="First `seq` to check (default 1).")
]
ToSeq = Annotated[
    int | None, Query(ge=1, le=MAX_SEQ, description="Last `seq` to check (default: the head).")
]


@dataclass(frozen=True, slots=True)
class Ingestion:
    """What a write needs besides its body: the caller, the tenant and key it names, and the
    session, group committer and metrics it writes with."""

    principal: Principal
    tenant: str | None
    idempotency_key: str | None
    session: AsyncSession
    committer: GroupCommitter
    metrics: Metrics

    async def record(self, body: EventCreate | EventBatchCreate) -> ingest.RecordedEvents:
        return await ingest.ingest(
            session=self.session,
            committer=self.committer,
            metrics=self.metrics,
            principal=self.principal,
            query_tenant=self.tenant,
            body=body,
            idempotency_key=self.idempotency_key,
        )


async def ingestion(
    # Ingest resolves the tenant itself: an admin may name it in the body or the query.
    principal: Annotated[Principal, Depends(require(Scope.AUDITS_WRITE))],
    session: SessionDep,
    committer: GroupCommitterDep,
    metrics: MetricsDep,
    tenant: TenantQuery = None,
    idempotency_key: IdempotencyKey = None,
) -> Ingestion:
    return Ingestion(principal, tenant, idempotency_key, session, committer, metrics)


IngestionDep = Annotated[Ingestion, Depends(ingestion)]
