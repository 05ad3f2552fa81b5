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
from typing import Any, TypeVar

from openai.types.chat import ChatCompletionMessageParam
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


OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Asking:
    """What the model's routes work with: the gateway to the model, and the session, cursor
    codec and tenant access the events are read with."""

    gateway: openai_service.Gateway
    session: AsyncSession
    codec: CursorCodec
    access: TenantAccess

    async def newest(
        self, filters: Sequence[EventFilter], limit: int
    ) -> tuple[list[str], str | None]:
        """The first page of matching events, newest first, as `GET /audits` lists them."""
        return await audits_service.list_page(
            session=self.session,
            codec=self.codec,
            selection=Selection(self.access, tuple(filters)),
            order="desc",
            limit=limit,
            cursor=None,
        )

    async def complete(
        self,
        purpose: CallPurpose,
        messages: Sequence[ChatCompletionMessageParam],
        output_type: type[OutputT],
    ) -> openai_service.Completion[OutputT]:
        """A model call on this tenant's account."""
        return await openai_service.complete(
            gateway=self.gateway,
            purpose=purpose,
            tenant=self.access.tenant,
            messages=messages,
            output_type=output_type,
        )


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


async def ask(asking: Asking, *, question: str, limit: int, now: datetime) -> Answer:
    """Translate the question, run it like `GET /audits?q=...`, answer from the first page."""
    if not asking.access.visible:
        raise TenantNotFound()
    translation = await asking.complete(
        CallPurpose.ASK_TRANSLATE,
        prompts.translate_messages(question, now),
        prompts.AskTranslation,
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
    items, next_cursor = await asking.newest((filter_,), limit)
    if not items:
        return Answer(filter_, q, [], None, NO_EVENTS_ANSWER, translation.model)
    reply = await asking.complete(
        CallPurpose.ASK_ANSWER,
        prompts.answer_messages(question, q, items, more=next_cursor is not None),
        prompts.AskReply,
    )
    return Answer(filter_, q, items, next_cursor, reply.output.answer.strip(), reply.model)


async def summarize(
    asking: Asking, *, filters: Sequence[EventFilter], max_events: int | None
) -> Summary:
    """Summarize the newest `max_events` matching events; cite only ids among them."""
    settings = asking.gateway.settings
    cap = settings.ai_summary_max_events
    if max_events is not None and max_events > cap:
        raise UnprocessableRequest(f"`max_events` is at most {cap} (AI_SUMMARY_MAX_EVENTS).")
    if not asking.access.visible:
        raise TenantNotFound()
    sample_size = max_events or cap
    items, next_cursor = await asking.newest(filters, sample_size)
    if not items:
        return Summary(NO_EVENTS_SUMMARY, [], 0, sample_size, False, settings.openai_model)
    truncated = next_cursor is not None
    reply = await asking.complete(
        CallPurpose.SUMMARIZE, prompts.summary_messages(items, truncated), prompts.EventSummary
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
