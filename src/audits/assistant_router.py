"""`/api/v1/audits/ask` and `/audits/summarize`: the audit log answered by the model.

The routes of `router.py` under the same prefix, kept apart because they have their own
dependencies (the OpenAI gateway) and errors (the upstream's).
"""

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from src.audits import assistant, schemas
from src.audits import exceptions as errors
from src.audits.dependencies import AskingDep
from src.auth.exceptions import TenantNotFound
from src.exceptions import AUTH_ERRORS
from src.http.openapi import problem_responses
from src.http.responses import json_array, json_object, json_response
from src.openai.exceptions import (
    AiNotConfigured,
    AiRateLimited,
    AiUpstreamError,
    AiUpstreamTimeout,
)

router = APIRouter(prefix="/audits", tags=["audits"])

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
    response_model=schemas.AskResponse,
    responses=problem_responses(
        *AUTH_ERRORS, TenantNotFound, errors.QuestionNotMappable, *AI_ERRORS
    ),
)
async def ask(body: schemas.AskRequest, asking: AskingDep) -> Response:
    answer = await assistant.ask(
        asking, question=body.question, limit=body.limit, now=datetime.now(UTC)
    )
    fields = {
        "question": body.question,
        "filter": answer.filter.model_dump(mode="json"),
        "q": answer.q,
        "next_cursor": answer.next_cursor,
        "answer": answer.answer,
        "model": answer.model,
    }
    return json_response(json_object(fields, items=json_array(answer.items)))


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
    response_model=schemas.SummaryOut,
    responses=problem_responses(
        *AUTH_ERRORS, TenantNotFound, errors.InvalidSearchQuery, *AI_ERRORS
    ),
)
async def summarize(body: schemas.SummarizeRequest, asking: AskingDep) -> schemas.SummaryOut:
    summary = await assistant.summarize(asking, filters=body.filters(), max_events=body.max_events)
    return schemas.SummaryOut.model_validate(summary, from_attributes=True)
