"""`/api/v1/logs/{tenant}/...`: a C2SP tlog-tiles URL prefix, with the log's checkpoints and
proofs (an event's own proof is an audits route, `/audits/{id}/proof`)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.responses import PlainTextResponse

from src.auth.constants import Scope
from src.auth.dependencies import tenant_in_path
from src.auth.schemas import TenantAccess
from src.dependencies import CursorCodecDep, SessionDep
from src.exceptions import AUTH_ERRORS
from src.http.openapi import problem_responses
from src.http.params import PageCursor, PageLimit
from src.http.responses import json_response
from src.log import exceptions as errors
from src.log import service
from src.log.dependencies import LogIdentityDep
from src.log.schemas import (
    EXAMPLE_CHECKPOINT,
    CheckpointPage,
    ConsistencyProof,
    LogKey,
    TreeSize,
)
from src.pagination import DEFAULT_PAGE_SIZE, InvalidCursor

router = APIRouter(tags=["log"])

NO_STORE = {"Cache-Control": "no-store"}
IMMUTABLE = {"Cache-Control": "private, max-age=31536000, immutable"}
# A partial tile of a given width never changes either, but a client should come back for
# the wider one: let it revalidate rather than keep it for a year.
PARTIAL = {"Cache-Control": "private, no-cache"}
# The log's minimum index beside its checkpoint (the key route has it too, with its anchor).
MIN_INDEX_HEADER = "Trailmark-Min-Index"


LogAccess = Annotated[TenantAccess, Depends(tenant_in_path(Scope.AUDITS_READ, whose="log"))]
# With a viewer token too: the key and the latest checkpoint, which the viewer page verifies
# with (they say nothing about any event).
ViewerLogAccess = Annotated[
    TenantAccess, Depends(tenant_in_path(Scope.AUDITS_READ, whose="log", viewers=True))
]


@router.get(
    "/logs/{tenant}/checkpoint",
    summary="The latest signed checkpoint",
    description=(
        "The newest C2SP checkpoint of the tenant's log, a signed note: origin, tree size, "
        "base64 root hash, a blank line, then the Ed25519 signature line. Verify it with the key "
        "from `/key`. An empty log has a signed checkpoint of size 0. The "
        "`Trailmark-Min-Index` header is the first leaf the log still serves (0 until pruned). "
        "Needs `audits:read`."
    ),
    response_class=PlainTextResponse,
    responses={
        200: {
            "description": "The signed checkpoint.",
            "headers": {
                MIN_INDEX_HEADER: {
                    "description": "The log's minimum index.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
            "content": {
                "text/plain": {"schema": {"type": "string"}, "example": EXAMPLE_CHECKPOINT}
            },
        },
        **problem_responses(*AUTH_ERRORS, errors.LogNotFound),
    },
)
async def get_checkpoint(
    access: ViewerLogAccess, session: SessionDep, identity: LogIdentityDep
) -> PlainTextResponse:
    latest, min_index = await service.latest_checkpoint(
        session=session, identity=identity, access=access
    )
    return PlainTextResponse(latest.note, headers={**NO_STORE, MIN_INDEX_HEADER: str(min_index)})


@router.get(
    "/logs/{tenant}/key",
    summary="The log's verifier key",
    description=(
        "The tenant log's origin and the C2SP signed-note verifier key its checkpoints are "
        "signed with. Pin it once, out of band; everything else can then be checked offline. "
        "Needs `audits:read`."
    ),
    response_model=LogKey,
    responses=problem_responses(*AUTH_ERRORS, errors.LogNotFound),
)
async def get_key(access: ViewerLogAccess, session: SessionDep, identity: LogIdentityDep) -> LogKey:
    return await service.key(session=session, identity=identity, access=access)


@router.get(
    "/logs/{tenant}/checkpoints",
    summary="Every signed checkpoint",
    description=(
        "Every checkpoint the log ever signed (size 0 included), newest first, paged with "
        "`cursor` like `/audits`. Needs `audits:read`."
    ),
    response_model=CheckpointPage,
    responses=problem_responses(*AUTH_ERRORS, errors.LogNotFound, InvalidCursor),
)
async def list_checkpoints(
    access: LogAccess,
    session: SessionDep,
    identity: LogIdentityDep,
    codec: CursorCodecDep,
    limit: PageLimit = DEFAULT_PAGE_SIZE,
    cursor: PageCursor = None,
) -> CheckpointPage:
    items, next_cursor = await service.list_checkpoints(
        session=session, identity=identity, access=access, codec=codec, limit=limit, cursor=cursor
    )
    return CheckpointPage(items=items, next_cursor=next_cursor, limit=limit)


@router.get(
    "/logs/{tenant}/consistency",
    summary="A consistency proof between two checkpoints",
    description=(
        "RFC 9162 (section 2.1.4) proof that the signed tree of size `to` (default: the latest) "
        "extends the signed tree of size `from`: the log only grew. Both must be signed sizes "
        "(else 404 `checkpoint_not_found`); `from` greater than `to` is a 422. "
        "Needs `audits:read`."
    ),
    response_model=ConsistencyProof,
    responses=problem_responses(*AUTH_ERRORS, errors.LogNotFound, errors.CheckpointNotFound),
)
async def get_consistency(
    access: LogAccess,
    session: SessionDep,
    identity: LogIdentityDep,
    from_: Annotated[TreeSize, Query(alias="from", description="The older size.")],
    to: Annotated[
        TreeSize | None, Query(description="The newer size (default: the latest).")
    ] = None,
) -> Response:
    proof = await service.consistency(
        session=session, identity=identity, access=access, old_size=from_, new_size=to
    )
    return json_response(proof.model_dump_json(by_alias=True))


@router.get(
    "/logs/{tenant}/tile/{tile_path:path}",
    summary="A hash tile or an entry bundle",
    description=(
        "C2SP tlog-tiles: `tile/<L>/<N>` (256 hashes of 32 bytes) or `tile/<L>/<N>.p/<W>` (the "
        "first W), and `tile/entries/<N>[.p/<W>]` (each leaf as a big-endian uint16 length and "
        "its bytes), N in the `x001/x234/067` form. Only tiles within the latest checkpoint are "
        "served (404 beyond it), and none wholly below the minimum index of a pruned log (404 "
        "`pruned`). Full tiles never change and are cached for a year. "
        "Needs `audits:read`."
    ),
    response_class=Response,
    responses={
        200: {
            "description": "The tile's bytes.",
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        **problem_responses(
            *AUTH_ERRORS, errors.LogNotFound, errors.TileNotFound, errors.TilePruned
        ),
    },
)
async def get_tile(
    access: LogAccess,
    session: SessionDep,
    identity: LogIdentityDep,
    tile_path: Annotated[str, Path(description="`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`.")],
) -> Response:
    data, ref = await service.tile(
        session=session, identity=identity, access=access, path=tile_path
    )
    headers = IMMUTABLE if ref.width == 256 else PARTIAL
    return Response(data, media_type="application/octet-stream", headers=headers)
