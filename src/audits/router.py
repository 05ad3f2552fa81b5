"""`/api/v1/audits`: record, read, change, erase, export, count and verify audit events."""

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.convertors import StringConvertor, register_url_convertor

from src.audits import assistant, export, service
from src.audits.constants import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from src.audits.dependencies import (
    EraseAccess,
    EventFilters,
    GroupCommitterDep,
    ReadAccess,
    WriteAccess,
    Writer,
)
from src.audits.exceptions import (
    EventErased,
    EventNotFound,
    IdempotencyKeyInFlight,
    IdempotencyKeyReused,
    InvalidSearchQuery,
    InvalidStatusTransition,
    QuestionNotMappable,
    TenantNotFound,
)
from src.audits.group_commit import GroupCommitter
from src.audits.idempotency import request_fingerprint
from src.audits.schemas import (
    AskRequest,
    AskResponse,
    EventBatchCreate,
    EventBatchOut,
    EventCreate,
    EventIn,
    EventOut,
    EventPage,
    Stats,
    StatusChange,
    SummarizeRequest,
    SummaryOut,
    Verification,
)
from src.auth.dependencies import CursorCodecDep, PrincipalDep, TenantAccess, resolve_tenant
from src.auth.schemas import Principal
from src.database import SessionDep, SessionmakerDep
from src.exceptions import (
    Forbidden,
    ShuttingDown,
    Unauthorized,
    UnprocessableRequest,
    problem_responses,
)
from src.metrics import Metrics, MetricsDep
from src.openai.dependencies import GatewayDep
from src.openai.exceptions import (
    AiNotConfigured,
    AiRateLimited,
    AiUpstreamError,
    AiUpstreamTimeout,
)
from src.pagination import InvalidCursor


class _EventIdSegment(StringConvertor):
    """A path segment that is not one of the collection's own words (`batch`, `export`, ...).

    So `PATCH /audits/batch` is a 405 like any unsupported method, while `/audits/not-a-uuid`
    still reaches the route and gets a 422 from the `uuid.UUID` parameter.
    """

    regex = r"(?!(?:batch|export|stats|integrity|ask|summarize)(?:/|$))[^/]+"


register_url_convertor("event_id", _EventIdSegment())

router = APIRouter(prefix="/audits", tags=["audits"])
# Batch ingest has its own, larger body limit: main.py includes this router with it.
batch_router = APIRouter(prefix="/audits", tags=["audits"])

AUTH = (Unauthorized, Forbidden)
MAX_SEQ = 2**63 - 1  # PostgreSQL bigint
JSON = "application/json"

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
TenantParam = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="The tenant to act on: required for admin keys, optional otherwise.",
    ),
]


def _json(content: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(content=content, status_code=status_code, media_type=JSON, headers=headers)


def _write_access(
    principal: Principal, query_tenant: str | None, body_tenant: str | None
) -> TenantAccess:
    if query_tenant and body_tenant and query_tenant != body_tenant:
        if principal.tenant is not None:
            raise TenantNotFound()  # one of the two is another tenant's: as if it did not exist
        raise UnprocessableRequest("The `tenant` query parameter and body field disagree.")
    access = resolve_tenant(principal, query_tenant or body_tenant)
    if not access.visible:
        raise TenantNotFound()
    return access


async def _record(
    sessionmaker: async_sessionmaker[AsyncSession],
    committer: GroupCommitter,
    metrics: Metrics,
    principal: Principal,
    query_tenant: str | None,
    body: EventCreate | EventBatchCreate,
    events: Sequence[EventIn],
    idempotency_key: str | None,
) -> service.RecordedEvents:
    """Both ingest routes: resolve the tenant, fingerprint the request, append, count."""
    access = _write_access(principal, query_tenant, body.tenant)
    is_batch = isinstance(body, EventBatchCreate)
    if not is_batch and idempotency_key is None:
        # A plain single event: it shares a transaction with concurrent ones (group commit).
        event_id, item = await committer.append(access.tenant, events[0])
        metrics.events_ingested.labels("single").inc()
        return service.RecordedEvents(ids=[event_id], items=[item], replayed=False)
    content = json.loads(body.model_dump_json(exclude={"tenant"}))
    recorded = await service.record(
        sessionmaker=sessionmaker,
        tenant=access.tenant,
        batch=events,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint("batch" if is_batch else "event", access.tenant, content),
    )
    if not recorded.replayed:
        metrics.events_ingested.labels("batch" if is_batch else "single").inc(len(recorded.ids))
    return recorded


WRITE_ERRORS = (*AUTH, TenantNotFound, IdempotencyKeyReused, IdempotencyKeyInFlight, ShuttingDown)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Record an audit event",
    description=(
        "Append one event to the tenant's hash chain. Answers 201 with the stored event and its "
        "`Location`. With an `Idempotency-Key`, a retry with the same body within 24 h replays "
        "the first answer (`Idempotent-Replayed: true`) and writes nothing; another body under "
        "the same key is a 422, and a retry while the first is still running is a 409. "
        "Needs `audits:write`; an admin key names the tenant (query or body `tenant`)."
    ),
    response_model=EventOut,
    responses=problem_responses(*WRITE_ERRORS),
)
async def record_event(
    body: EventCreate,
    principal: Writer,
    sessionmaker: SessionmakerDep,
    committer: GroupCommitterDep,
    metrics: MetricsDep,
    tenant: TenantParam = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    recorded = await _record(
        sessionmaker, committer, metrics, principal, tenant, body, [body], idempotency_key
    )
    headers = {"Location": f"/api/v1/audits/{recorded.ids[0]}"}
    if recorded.replayed:
        headers["Idempotent-Replayed"] = "true"
    return _json(recorded.items[0], status.HTTP_201_CREATED, headers)


@batch_router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    summary="Record up to 1000 audit events",
    description=(
        "Append 1 to 1000 events, in order, all or nothing: one invalid event rejects the batch "
        "with a 422 whose `errors[].loc` names its index, and nothing is written. "
        "`Idempotency-Key` works as for one event. Needs `audits:write`."
    ),
    response_model=EventBatchOut,
    responses=problem_responses(*WRITE_ERRORS),
)
async def record_batch(
    body: EventBatchCreate,
    principal: Writer,
    sessionmaker: SessionmakerDep,
    committer: GroupCommitterDep,
    metrics: MetricsDep,
    tenant: TenantParam = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    recorded = await _record(
        sessionmaker, committer, metrics, principal, tenant, body, body.events, idempotency_key
    )
    content = (
        '{"items":[' + ",".join(recorded.items) + '],"count":' + str(len(recorded.items)) + "}"
    )
    headers = {"Idempotent-Replayed": "true"} if recorded.replayed else None
    return _json(content, status.HTTP_201_CREATED, headers)


OrderParam = Annotated[
    Literal["asc", "desc"], Query(description="By `occurred_at` then `id`; `desc` is newest first.")
]
IncludeErased = Annotated[bool, Query(description="Also list events whose payload was erased.")]


@router.get(
    "",
    summary="List audit events",
    description=(
        "Events matching every filter given, newest first by default, paged by an opaque cursor "
        "that never repeats or skips an event, even while new events arrive. `q` takes the "
        "search language. Needs `audits:read`."
    ),
    response_model=EventPage,
    responses=problem_responses(*AUTH, InvalidCursor, InvalidSearchQuery),
)
async def list_events(
    access: ReadAccess,
    filters: EventFilters,
    session: SessionDep,
    codec: CursorCodecDep,
    order: OrderParam = "desc",
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=2048, description="`next_cursor` of the last page.")
    ] = None,
    include_erased: IncludeErased = False,
) -> Response:
    items, next_cursor = await service.list_page(
        session=session,
        codec=codec,
        access=access,
        filters=filters,
        order=order,
        limit=limit,
        cursor=cursor,
        include_erased=include_erased,
    )
    content = (
        '{"items":['
        + ",".join(items)
        + '],"next_cursor":'
        + json.dumps(next_cursor)
        + ',"limit":'
        + str(limit)
        + "}"
    )
    return _json(content)


@router.get(
    "/export",
    summary="Export audit events",
    description=(
        "Every matching event, streamed with constant memory however many there are: NDJSON "
        "(one event object per line, as the API returns it) or CSV (a header row; `actor.*` "
        "flattened, `details` as JSON). Same filters as the list; no limit. Needs `audits:read`."
    ),
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The events, as an attachment.",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **problem_responses(*AUTH, InvalidSearchQuery),
    },
)
async def export_events(
    access: ReadAccess,
    filters: EventFilters,
    sessionmaker: SessionmakerDep,
    format: Annotated[export.ExportFormat, Query(description="The file format.")] = "ndjson",
    order: OrderParam = "desc",
    include_erased: IncludeErased = False,
) -> StreamingResponse:
    batches = service.stream(
        sessionmaker=sessionmaker,
        access=access,
        filters=filters,
        order=order,
        include_erased=include_erased,
    )
    # The first batch is read before the response starts: a database failure or a statement
    # timeout there is still a problem response, not a 200 with a broken body.
    body = export.encode(format, await export.started(batches))
    filename = f"audit-events-{access.tenant}.{format}"
    return StreamingResponse(
        body,
        media_type=export.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/stats",
    summary="Count audit events",
    description=(
        "Counts of matching events per time bucket (`interval`) and per value of `group_by`, "
        "computed by PostgreSQL. Same filters as the list. Needs `audits:read`."
    ),
    response_model=Stats,
    responses=problem_responses(*AUTH, InvalidSearchQuery),
)
async def event_stats(
    access: ReadAccess,
    filters: EventFilters,
    session: SessionDep,
    group_by: Annotated[
        Literal["action_type", "status", "entity_type", "actor_id"],
        Query(description="What to count by."),
    ],
    interval: Annotated[Literal["hour", "day"], Query(description="Bucket size (UTC).")] = "day",
    include_erased: IncludeErased = False,
) -> Stats:
    buckets = await service.stats(
        session=session,
        access=access,
        filters=filters,
        group_by=group_by,
        interval=interval,
        include_erased=include_erased,
    )
    return Stats.model_validate(
        {"buckets": [{"start": s, "key": k, "count": c} for s, k, c in buckets]}
    )


@router.get(
    "/integrity/verify",
    summary="Verify the hash chain",
    description=(
        "Recompute every hash in the `seq` range from the stored content and check every link "
        "and that no `seq` is missing. Any edit, reordering or deletion made directly in the "
        "database makes it `valid: false` and names the first bad `seq`. Needs `audits:read`."
    ),
    response_model=Verification,
    responses=problem_responses(*AUTH),
)
async def verify_chain(
    access: ReadAccess,
    sessionmaker: SessionmakerDep,
    from_seq: Annotated[
        int | None, Query(ge=1, le=MAX_SEQ, description="First `seq` to check (default 1).")
    ] = None,
    to_seq: Annotated[
        int | None, Query(ge=1, le=MAX_SEQ, description="Last `seq` to check (default: the head).")
    ] = None,
) -> Verification:
    return await service.verify(
        sessionmaker=sessionmaker, access=access, from_seq=from_seq, to_seq=to_seq
    )


AI_ERRORS = (AiNotConfigured, AiRateLimited, AiUpstreamError, AiUpstreamTimeout)


@router.post(
    "/ask",
    summary="Ask the audit log a question",
    description=(
        "The model turns the question into the structured filter of `GET /audits` (never SQL, "
        "never a tenant: the tenant is the key's), which runs exactly as `GET /audits?q=<q>` "
        "would; the answer gives the filter, `q`, the first page of events and one sentence "
        "written by the model from that page. A question that cannot be mapped to a filter is a "
        "422 `question_not_mappable`. Upstream failures: 502 `ai_upstream_error`, 503 "
        "`ai_rate_limited` (with `Retry-After`), 504 `ai_upstream_timeout`; without "
        "`OPENAI_API_KEY`, 503 `ai_not_configured`. Needs `audits:read`."
    ),
    response_model=AskResponse,
    responses=problem_responses(*AUTH, TenantNotFound, QuestionNotMappable, *AI_ERRORS),
)
async def ask(
    body: AskRequest,
    access: ReadAccess,
    gateway: GatewayDep,
    session: SessionDep,
    codec: CursorCodecDep,
) -> Response:
    answer = await assistant.ask(
        gateway=gateway,
        session=session,
        codec=codec,
        access=access,
        question=body.question,
        limit=body.limit,
        now=datetime.now(UTC),
    )
    head = {
        "question": body.question,
        "filter": answer.filter.model_dump(mode="json"),
        "q": answer.q,
    }
    tail = {"next_cursor": answer.next_cursor, "answer": answer.answer, "model": answer.model}
    # Events arrive as JSON text shaped by PostgreSQL: spliced in, not parsed and re-encoded.
    content = (
        json.dumps(head)[:-1] + ',"items":[' + ",".join(answer.items) + "]," + json.dumps(tail)[1:]
    )
    return _json(content)


@router.post(
    "/summarize",
    summary="Summarize audit events",
    description=(
        "The newest matching events (the list filters of `GET /audits`, as JSON; at most "
        "`max_events`, capped by `AI_SUMMARY_MAX_EVENTS`) go to the model, which summarizes them "
        "and cites the events it relies on. Every id in `cited_event_ids` is one of the events "
        "summarized: others the model names are dropped. `truncated` says whether more events "
        "matched. Errors as for `/audits/ask`. Needs `audits:read`."
    ),
    response_model=SummaryOut,
    responses=problem_responses(*AUTH, TenantNotFound, InvalidSearchQuery, *AI_ERRORS),
)
async def summarize(
    body: SummarizeRequest,
    access: ReadAccess,
    gateway: GatewayDep,
    session: SessionDep,
    codec: CursorCodecDep,
) -> SummaryOut:
    summary = await assistant.summarize(
        gateway=gateway,
        session=session,
        codec=codec,
        access=access,
        filters=body.filters(),
        max_events=body.max_events,
    )
    return SummaryOut.model_validate(summary, from_attributes=True)


def _etag(content: str) -> str:
    return '"' + hashlib.sha256(content.encode()).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


@router.get(
    "/{event_id:event_id}",
    summary="Get an audit event",
    description=(
        "One event, with an `ETag`; `If-None-Match` with it answers 304. An unknown id, or "
        "another tenant's, is a 404; an erased event is a 410. Needs `audits:read`."
    ),
    response_model=EventOut,
    responses={
        304: {"description": "Not modified since the `ETag` you sent."},
        **problem_responses(*AUTH, EventNotFound, EventErased),
    },
)
async def get_event(
    event_id: uuid.UUID,
    access: ReadAccess,
    session: SessionDep,
    request: Request,
) -> Response:
    content = await service.get(session=session, access=access, event_id=event_id)
    etag = _etag(content)
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
    return _json(content, headers={"ETag": etag})


@router.patch(
    "/{event_id:event_id}",
    summary="Settle a pending audit event",
    description=(
        "Move a `pending` event to `success` or `failure`, once. Any other change is a 409 "
        "`invalid_status_transition`. The change is itself recorded as a new event; the "
        "original event's `hash` does not change. Needs `audits:write`."
    ),
    response_model=EventOut,
    responses=problem_responses(*AUTH, EventNotFound, EventErased, InvalidStatusTransition),
)
async def settle_event(
    event_id: uuid.UUID,
    body: StatusChange,
    access: WriteAccess,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    content = await service.change_status(
        session=session, access=access, event_id=event_id, status=body.status, principal=principal
    )
    return _json(content)


@router.delete(
    "/{event_id:event_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase an audit event's personal data",
    description=(
        "For privacy-law requests: destroy `actor.name`, `ip_address`, `user_agent` and "
        "`details`, keeping `id`, `seq` and the hashes, so the chain still verifies. Afterwards "
        "the event is a 410 and is left out of lists and exports unless `include_erased=true`. "
        "The erasure is itself recorded as an event. Needs `audits:erase`."
    ),
    response_class=Response,
    responses=problem_responses(*AUTH, EventNotFound, EventErased),
)
async def erase_event(
    event_id: uuid.UUID,
    access: EraseAccess,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    await service.erase(session=session, access=access, event_id=event_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
