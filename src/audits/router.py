"""`/api/v1/audits`: record, read, change, erase, export, count and verify audit events."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from src.audits import exceptions as errors
from src.audits import export, schemas, service, verification
from src.audits.dependencies import (
    EraseAccess,
    ExportSelectionDep,
    FromSeq,
    IngestionDep,
    OrderParam,
    ReadAccess,
    SelectionDep,
    ToSeq,
    ViewerReadAccess,
    WriteAccess,
)
from src.auth.dependencies import PrincipalDep
from src.auth.exceptions import TenantNotFound
from src.dependencies import CursorCodecDep, SessionDep
from src.exceptions import AUTH_ERRORS, ShuttingDown, UnprocessableRequest
from src.http.openapi import problem_responses
from src.http.params import PageCursor, PageLimit
from src.http.responses import etag, json_array, json_object, json_response, matches, page_json
from src.log import exceptions as log_errors
from src.log.dependencies import LogIdentityDep
from src.log.schemas import InclusionProof, TreeSize
from src.pagination import DEFAULT_PAGE_SIZE, InvalidCursor

router = APIRouter(prefix="/audits", tags=["audits"])
# Batch ingest has its own, larger body limit: main.py includes this router with it.
batch_router = APIRouter(prefix="/audits", tags=["audits"])


WRITE_ERRORS = (
    *AUTH_ERRORS,
    TenantNotFound,
    errors.IdempotencyKeyReused,
    errors.IdempotencyKeyInFlight,
    ShuttingDown,
)


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
    response_model=schemas.EventOut,
    responses=problem_responses(*WRITE_ERRORS),
)
async def record_event(
    body: schemas.EventCreate, ingestion: IngestionDep, request: Request
) -> Response:
    recorded = await ingestion.record(body)
    # The event's URL is this collection's plus its id. `url_path_for("get_event")` gives the
    # same, but searches the routes raising an exception for each miss: 4% of a request.
    headers = {"Location": f"{request.scope['path']}/{recorded.ids[0]}"}
    if recorded.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(recorded.items[0], status.HTTP_201_CREATED, headers)


@batch_router.post(
    "/batch",
    status_code=status.HTTP_201_CREATED,
    summary="Record up to 1000 audit events",
    description=(
        "Append 1 to 1000 events, in order, all or nothing: one invalid event rejects the batch "
        "with a 422 whose `errors[].loc` names its index, and nothing is written. "
        "`Idempotency-Key` works as for one event. Needs `audits:write`."
    ),
    response_model=schemas.EventBatchOut,
    responses=problem_responses(*WRITE_ERRORS),
)
async def record_batch(body: schemas.EventBatchCreate, ingestion: IngestionDep) -> Response:
    recorded = await ingestion.record(body)
    content = json_object({}, items=json_array(recorded.items), count=str(len(recorded.items)))
    headers = {"Idempotent-Replayed": "true"} if recorded.replayed else None
    return json_response(content, status.HTTP_201_CREATED, headers)


@router.get(
    "",
    summary="List audit events",
    description=(
        "Events matching every filter given, newest first by default, paged by an opaque cursor "
        "that never repeats or skips an event, even while new events arrive. `q` takes the "
        "search language. Needs `audits:read`."
    ),
    response_model=schemas.EventPage,
    responses=problem_responses(*AUTH_ERRORS, InvalidCursor, errors.InvalidSearchQuery),
)
async def list_events(
    selection: SelectionDep,
    session: SessionDep,
    codec: CursorCodecDep,
    order: OrderParam = "desc",
    limit: PageLimit = DEFAULT_PAGE_SIZE,
    cursor: PageCursor = None,
) -> Response:
    items, next_cursor = await service.list_page(
        session=session, codec=codec, selection=selection, order=order, limit=limit, cursor=cursor
    )
    return json_response(page_json(items, next_cursor, limit))


@router.get(
    "/export",
    summary="Export audit events",
    description=(
        "Every matching event, streamed with constant memory however many there are: NDJSON "
        "(one event object per line, as the API returns it), CSV (a header row; `actor.*` "
        "flattened, `details` as JSON), or `bundle`, an offline proof bundle: a header line "
        "with the latest signed checkpoint, then each event with its leaf, salt and inclusion "
        "proof, in the log's order (`seq`; `since_size` adds a consistency proof from an older "
        "checkpoint). Check a bundle with `python -m src.verifier`. Same filters as the list; "
        "no limit. Needs `audits:read`."
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
        **problem_responses(
            *AUTH_ERRORS,
            errors.InvalidSearchQuery,
            log_errors.LogNotFound,
            log_errors.CheckpointNotFound,
        ),
    },
)
async def export_events(
    selection: ExportSelectionDep,
    session: SessionDep,
    identity: LogIdentityDep,
    format: Annotated[export.ExportFormat, Query(description="The file format.")] = "ndjson",
    order: OrderParam = "desc",
    since_size: Annotated[
        TreeSize | None,
        Query(description="Bundles only: a signed tree size to prove consistency from."),
    ] = None,
) -> StreamingResponse:
    descending = order == "desc"
    body: AsyncIterator[str]
    if format == "bundle":
        body = await export.bundle(
            session=session,
            identity=identity,
            selection=selection,
            descending=descending,
            since_size=since_size,
        )
    else:
        if since_size is not None:
            raise UnprocessableRequest("`since_size` applies to `format=bundle` only.")
        chunks = export.stream(
            session=session, selection=selection, format=format, descending=descending
        )
        # The first batch is read before the response starts: a database failure or a
        # statement timeout there is still a problem response, not a 200 with a broken body.
        body = await export.started(chunks)
    filename = f"audit-events-{selection.access.tenant}.{export.EXTENSIONS[format]}"
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
    response_model=schemas.Stats,
    responses=problem_responses(*AUTH_ERRORS, errors.InvalidSearchQuery),
)
async def event_stats(
    selection: SelectionDep,
    session: SessionDep,
    group_by: Annotated[
        Literal["action_type", "status", "entity_type", "actor_id"],
        Query(description="What to count by."),
    ],
    interval: Annotated[Literal["hour", "day"], Query(description="Bucket size (UTC).")] = "day",
) -> schemas.Stats:
    buckets = await service.stats(
        session=session, selection=selection, group_by=group_by, interval=interval
    )
    return schemas.Stats.model_validate(
        {"buckets": [{"start": s, "key": k, "count": c} for s, k, c in buckets]}
    )


@router.get(
    "/integrity/verify",
    summary="Verify the hash chain",
    description=(
        "Recompute every hash in the `seq` range from the stored content and check every link "
        "and that no `seq` is missing; check that each event's committed content is its leaf "
        "in the transparency log's stored tiles, and that the latest signed checkpoint's root "
        "is the root of those tiles (`checkpoint_size`, `root_hash`). Any edit, reordering or "
        "deletion made directly in the database makes it `valid: false` and names the first "
        "bad `seq`. Needs `audits:read`."
    ),
    response_model=schemas.Verification,
    responses=problem_responses(*AUTH_ERRORS),
)
async def verify_chain(
    access: ReadAccess,
    session: SessionDep,
    identity: LogIdentityDep,
    from_seq: FromSeq = None,
    to_seq: ToSeq = None,
) -> schemas.Verification:
    return await verification.verify(
        session=session, identity=identity, access=access, from_seq=from_seq, to_seq=to_seq
    )


@router.get(
    "/{event_id:event_id}",
    summary="Get an audit event",
    description=(
        "One event, with an `ETag`; `If-None-Match` with it answers 304. An unknown id, or "
        "another tenant's, is a 404; an erased event is a 410. Needs `audits:read`."
    ),
    response_model=schemas.EventOut,
    responses={
        304: {"description": "Not modified since the `ETag` you sent."},
        **problem_responses(*AUTH_ERRORS, errors.EventNotFound, errors.EventErased),
    },
)
async def get_event(
    event_id: uuid.UUID,
    access: ViewerReadAccess,
    session: SessionDep,
    request: Request,
) -> Response:
    content = await service.get(session=session, access=access, event_id=event_id)
    tag = etag(content)
    if matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={"ETag": tag})
    return json_response(content, headers={"ETag": tag})


@router.patch(
    "/{event_id:event_id}",
    summary="Settle a pending audit event",
    description=(
        "Move a `pending` event to `success` or `failure`, once. Any other change is a 409 "
        "`invalid_status_transition`. The change is itself recorded as a new event; the "
        "original event's `hash` does not change. Needs `audits:write`."
    ),
    response_model=schemas.EventOut,
    responses=problem_responses(
        *AUTH_ERRORS, errors.EventNotFound, errors.EventErased, errors.InvalidStatusTransition
    ),
)
async def settle_event(
    event_id: uuid.UUID,
    body: schemas.StatusChange,
    access: WriteAccess,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    content = await service.change_status(
        session=session, access=access, event_id=event_id, status=body.status, principal=principal
    )
    return json_response(content)


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
    responses=problem_responses(*AUTH_ERRORS, errors.EventNotFound, errors.EventErased),
)
async def erase_event(
    event_id: uuid.UUID,
    access: EraseAccess,
    principal: PrincipalDep,
    session: SessionDep,
) -> Response:
    await service.erase(session=session, access=access, event_id=event_id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{event_id:event_id}/proof",
    tags=["log"],
    summary="Prove an event is in the log",
    description=(
        "The event's leaf (its committed content, which holds no personal data) and its RFC "
        "9162 inclusion proof in a signed tree: `tree_size` (a signed size containing the "
        "event), by default the latest checkpoint, returned beside it. An event no checkpoint "
        "covers yet is a 409 `not_integrated` with `Retry-After`. Works for erased events too. "
        "Needs `audits:read`."
    ),
    response_model=InclusionProof,
    responses=problem_responses(
        *AUTH_ERRORS, errors.EventNotFound, log_errors.CheckpointNotFound, log_errors.NotIntegrated
    ),
)
async def get_proof(
    event_id: uuid.UUID,
    access: ViewerReadAccess,
    session: SessionDep,
    identity: LogIdentityDep,
    tree_size: Annotated[
        TreeSize | None, Query(description="A signed tree size (default: the latest).")
    ] = None,
) -> InclusionProof:
    return await service.event_proof(
        session=session, identity=identity, access=access, event_id=event_id, tree_size=tree_size
    )
