"""Questions and summaries answered by the model, over the same queries as `GET /audits`.

The model's filter goes through the search language and back (`to_search`, then
`parse_search`), so what runs is exactly what `GET /audits?q=...` runs, validated by the same
parser; the tenant comes from the API key, never from the model.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits import prompts
from src.audits import service as audits_service
from src.audits.exceptions import InvalidSearchQuery, QuestionNotMappable
from src.audits.filters import EventFilter, parse_search, to_search
from src.audits.query import Selection
from src.auth.exceptions import TenantNotFound
from src.auth.schemas import TenantAccess
from src.exceptions import UnprocessableRequest
from src.openai import service as openai_service
from src.openai.constants import CallPurpose
from src.pagination import CursorCodec

NO_EVENTS_ANSWER = "No events match."
NO_EVENTS_SUMMARY = "No events match these filters."


def _canonical_id(text: str) -> str:
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return text


@dataclass(frozen=True, slots=True)
class Answer:
    filter: EventFilter
    q: str
    items: list[str]  # API JSON text of each event, as the list route serves them
    next_cursor: str | None
    answer: str
    model: str


@dataclass(frozen=True, slots=True)
class Summary:
    summary: str
    cited_event_ids: list[str]
    event_count: int
    max_events: int
    truncated: bool
    model: str


def to_event_filter(proposed: BaseModel) -> EventFilter:
    """The model's filter (a `prompts.ModelFilter`), validated, with times in UTC;
    `QuestionNotMappable` if invalid."""
    fields: dict[str, Any] = {  # EventFilter's fields, validated below
        name: value for name, value in proposed.model_dump().items() if value not in (None, "", [])
    }
    try:
        candidate = EventFilter.model_validate(fields)
    except ValidationError as exc:
        where = ".".join(str(part) for part in exc.errors()[0]["loc"])
        raise QuestionNotMappable(
            f"The question could not be mapped to a valid filter ({where} was invalid); "
            "rephrase it."
        ) from None
    utc = {
        name: value.astimezone(UTC)
        for name in ("occurred_after", "occurred_before")
        if (value := getattr(candidate, name)) is not None
    }
    return candidate.model_copy(update=utc)


async def ask(
    *,
    gateway: openai_service.Gateway,
    session: AsyncSession,
    codec: CursorCodec,
    access: TenantAccess,
    question: str,
    limit: int,
    now: datetime,
) -> Answer:
    """Translate the question, run it like `GET /audits?q=...`, answer from the first page."""
    if not access.visible:
        raise TenantNotFound()
    translation = await openai_service.complete(
        gateway=gateway,
        purpose=CallPurpose.ASK_TRANSLATE,
        tenant=access.tenant,
        messages=prompts.translate_messages(question, now),
        output_type=prompts.AskTranslation,
    )
    if not translation.output.mappable:
        raise QuestionNotMappable()
    q = to_search(to_event_filter(translation.output.filter))
    try:
        filter_ = parse_search(q)
    except InvalidSearchQuery as exc:
        raise QuestionNotMappable(
            f"The question mapped to a search Trailmark cannot run ({exc.detail})"
        ) from None
    items, next_cursor = await audits_service.list_page(
        session=session,
        codec=codec,
        selection=Selection(access, (filter_,)),
        order="desc",
        limit=limit,
        cursor=None,
    )
    if not items:
        return Answer(filter_, q, [], None, NO_EVENTS_ANSWER, translation.model)
    reply = await openai_service.complete(
        gateway=gateway,
        purpose=CallPurpose.ASK_ANSWER,
        tenant=access.tenant,
        messages=prompts.answer_messages(question, q, items, more=next_cursor is not None),
        output_type=prompts.AskReply,
    )
    return Answer(filter_, q, items, next_cursor, reply.output.answer.strip(), reply.model)


async def summarize(
    *,
    gateway: openai_service.Gateway,
    session: AsyncSession,
    codec: CursorCodec,
    access: TenantAccess,
    filters: Sequence[EventFilter],
    max_events: int | None,
) -> Summary:
    """Summarize the newest `max_events` matching events; cite only ids among them."""
    cap = gateway.settings.ai_summary_max_events
    if max_events is not None and max_events > cap:
        raise UnprocessableRequest(f"`max_events` is at most {cap} (AI_SUMMARY_MAX_EVENTS).")
    if not access.visible:
        raise TenantNotFound()
    sample_size = max_events or cap
    items, next_cursor = await audits_service.list_page(
        session=session,
        codec=codec,
        selection=Selection(access, tuple(filters)),
        order="desc",
        limit=sample_size,
        cursor=None,
    )
    model = gateway.settings.openai_model
    if not items:
        return Summary(NO_EVENTS_SUMMARY, [], 0, sample_size, False, model)
    truncated = next_cursor is not None
    reply = await openai_service.complete(
        gateway=gateway,
        purpose=CallPurpose.SUMMARIZE,
        tenant=access.tenant,
        messages=prompts.summary_messages(items, truncated),
        output_type=prompts.EventSummary,
    )
    summarized = {json.loads(item)["id"] for item in items}
    # The model may cite ids it made up or read inside event details: keep only real ones.
    cited = [
        i
        for i in dict.fromkeys(map(_canonical_id, reply.output.cited_event_ids))
        if i in summarized
    ]
    return Summary(
        reply.output.summary.strip(), cited, len(items), sample_size, truncated, reply.model
    )
