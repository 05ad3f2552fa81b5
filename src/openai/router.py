"""`/api/v1/openai`: what the model calls cost and how they went."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from src.dependencies import CursorCodecDep, SessionDep, SettingsDep
from src.exceptions import AUTH_ERRORS
from src.http.openapi import problem_responses
from src.http.params import PageCursor
from src.openai import ledger
from src.openai.constants import CallPurpose, CallStatus
from src.openai.dependencies import LedgerScopeDep, PeriodDep
from src.openai.schemas import CallOut, UsageReport
from src.pagination import InvalidCursor, Page

router = APIRouter(prefix="/openai", tags=["openai"])

MAX_CALLS_PAGE = 100


@router.get(
    "/usage",
    summary="Report model usage",
    description=(
        "Calls, errors, prompt and completion tokens, p50/p95 latency and estimated cost "
        "(from `OPENAI_PRICES_PER_MILLION_TOKENS`), per model or per UTC day, computed by "
        "PostgreSQL. The period defaults to the last 30 days. An admin key sees every tenant "
        "unless it names one; a tenant key sees its own. Needs `audits:read`."
    ),
    response_model=UsageReport,
    responses=problem_responses(*AUTH_ERRORS),
)
async def usage_report(
    scope: LedgerScopeDep,
    period: PeriodDep,
    session: SessionDep,
    settings: SettingsDep,
    group_by: Annotated[
        Literal["model", "day"], Query(description="One group per model or per UTC day.")
    ] = "model",
) -> UsageReport:
    return await ledger.usage(
        session=session,
        scope=scope,
        period=period,
        group_by=group_by,
        prices=settings.openai_prices_per_million_tokens,
    )


@router.get(
    "/calls",
    summary="List model calls",
    description=(
        "The call ledger, newest first, paged by an opaque cursor: purpose, model, outcome, "
        "attempts, latency, tokens and the `request_id` that made each call. Prompts and "
        "answers are only kept when `OPENAI_STORE_CONTENT` is on. Needs `audits:read`."
    ),
    response_model=Page[CallOut],
    responses=problem_responses(*AUTH_ERRORS, InvalidCursor),
)
async def list_calls(
    scope: LedgerScopeDep,
    period: PeriodDep,
    session: SessionDep,
    codec: CursorCodecDep,
    purpose: Annotated[CallPurpose | None, Query(description="Only calls made for this.")] = None,
    status: Annotated[CallStatus | None, Query(description="Only calls that ended so.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_CALLS_PAGE, description="Page size.")] = 20,
    cursor: PageCursor = None,
) -> Page[CallOut]:
    items, next_cursor = await ledger.list_calls(
        session=session,
        codec=codec,
        scope=scope,
        period=period,
        purpose=purpose,
        status=status,
        limit=limit,
        cursor=cursor,
    )
    return Page[CallOut](items=items, next_cursor=next_cursor, limit=limit)
