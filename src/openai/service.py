"""The gateway: the only code that talks to the model (the ledger's reports: `ledger.py`).

`complete` sends one structured-output request (the reply must parse as a pydantic model),
retries 429s, 5xx, timeouts and connection failures with backoff (honouring `Retry-After`
within a time budget), maps what still fails to the contract's problems, and writes one
ledger row per call whatever the outcome.
"""

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import openai
import uuid6
from asgi_correlation_id import correlation_id
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam, ParsedChatCompletion
from pydantic import BaseModel, ValidationError
from sqlalchemy import (
    insert,
)
from sqlalchemy.ext.asyncio import AsyncSession
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from src.config import Settings
from src.exceptions import DomainError
from src.metrics import Metrics
from src.openai.constants import CallPurpose, CallStatus
from src.openai.exceptions import AiRateLimited, AiUpstreamError, AiUpstreamTimeout
from src.openai.models import OpenAICall

logger = logging.getLogger(__name__)

OutputT = TypeVar("OutputT", bound=BaseModel)

# When an upstream 429 does not say how long to wait.
DEFAULT_RETRY_AFTER_SECONDS = 5
MAX_RETRY_AFTER_SECONDS = 3600

calls = OpenAICall.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy


@dataclass(frozen=True, slots=True)
class Gateway:
    """What a model call needs: the client, the ledger's database, settings and metrics."""

    client: AsyncOpenAI
    session: AsyncSession  # the request's: each ledger row is written in a transaction of its own
    settings: Settings
    metrics: Metrics


@dataclass(frozen=True, slots=True)
class Completion(Generic[OutputT]):
    """A model's reply, parsed, and which model wrote it."""

    output: OutputT
    model: str


class InvalidModelOutput(Exception):
    """The reply was a refusal, cut short, or empty instead of the structure asked for."""


# ---------------------------------------------------------------------------------------------
# Calling the model
# ---------------------------------------------------------------------------------------------


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The wait an upstream error response asks for (`retry-after-ms` or `Retry-After`)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def is_retryable(exc: BaseException) -> bool:
    """Rate limits, server errors, timeouts and connection failures may pass; others won't."""
    if isinstance(exc, openai.APIConnectionError):  # includes timeouts
        return True
    return isinstance(exc, openai.APIStatusError) and (
        exc.status_code == 429 or exc.status_code >= 500
    )


class RetryAfterOrBackoff:
    """Wait what the upstream asked for, else exponential backoff with jitter."""

    def __init__(self, initial_seconds: float) -> None:
        self._backoff = wait_exponential_jitter(
            multiplier=initial_seconds, max=30 * initial_seconds, jitter=initial_seconds
        )

    def __call__(self, state: RetryCallState) -> float:
        hinted = retry_after_seconds(state.outcome.exception() if state.outcome else None)
        return hinted if hinted is not None else self._backoff(state)


def _failure(exc: Exception) -> tuple[CallStatus, DomainError]:
    """The ledger status and the problem for a call that failed for good."""
    if isinstance(exc, openai.APITimeoutError):
        return CallStatus.TIMEOUT, AiUpstreamTimeout()
    if isinstance(exc, openai.APIConnectionError):
        return CallStatus.UPSTREAM_ERROR, AiUpstreamError("The AI provider could not be reached.")
    if isinstance(exc, openai.RateLimitError):
        hinted = retry_after_seconds(exc)
        wait = DEFAULT_RETRY_AFTER_SECONDS if hinted is None else math.ceil(hinted)
        return CallStatus.RATE_LIMITED, AiRateLimited(min(max(wait, 1), MAX_RETRY_AFTER_SECONDS))
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return CallStatus.UPSTREAM_ERROR, AiUpstreamError(
            f"The AI provider refused Trailmark's credentials (HTTP {exc.status_code}); "
            "check OPENAI_API_KEY."
        )
    if isinstance(exc, openai.APIStatusError):
        return CallStatus.UPSTREAM_ERROR, AiUpstreamError(
            f"The AI provider answered HTTP {exc.status_code}."
        )
    # A reply that does not parse, a refusal, one cut short (length) or withheld (content
    # filter): the upstream answered, but not with what was asked for.
    return CallStatus.INVALID_OUTPUT, AiUpstreamError(
        "The model's reply was not the structured answer asked for."
    )


def _parsed(completion: ParsedChatCompletion[OutputT]) -> OutputT:
    message = completion.choices[0].message if completion.choices else None
    if message is None or message.parsed is None:  # a refusal, or no content at all
        raise InvalidModelOutput()
    return message.parsed


async def complete(
    *,
    gateway: Gateway,
    purpose: CallPurpose,
    tenant: str,
    messages: Sequence[ChatCompletionMessageParam],
    output_type: type[OutputT],
) -> Completion[OutputT]:
    """Ask the model for an `output_type`; raises the contract's AI problems when it fails."""
    settings = gateway.settings
    attempts = 0
    last_status: int | None = None

    async def attempt() -> ParsedChatCompletion[OutputT]:
        nonlocal attempts, last_status
        attempts += 1
        last_status = None  # of this try: a timeout after a 500 has none
        try:
            return await gateway.client.chat.completions.parse(
                model=settings.openai_model, messages=list(messages), response_format=output_type
            )
        except openai.APIStatusError as exc:
            last_status = exc.status_code
            raise

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        stop=(
            stop_after_attempt(settings.openai_max_retries + 1)
            | stop_before_delay(settings.openai_retry_budget_seconds)
        ),
        wait=RetryAfterOrBackoff(settings.openai_retry_backoff_seconds),
        reraise=True,
    )
    started = time.perf_counter()
    record = _CallRecord(gateway, purpose, tenant, messages)
    try:
        completion: ParsedChatCompletion[OutputT] = await retrying(attempt)
        output = _parsed(completion)
    except (openai.OpenAIError, ValidationError, InvalidModelOutput) as exc:
        status, problem = _failure(exc)
        if status is CallStatus.INVALID_OUTPUT and last_status is None:
            last_status = 200  # the upstream answered; its answer was unusable
        await record.save(status, last_status, attempts, started)
        logger.warning(
            "model call failed",
            extra={
                "purpose": purpose.value,
                "status": status.value,
                "upstream_status": last_status,
                "attempts": attempts,
                "error": type(exc).__name__,  # never str(exc): it may echo a key or a prompt
            },
        )
        raise problem from None
    await record.save(CallStatus.OK, 200, attempts, started, completion)
    return Completion(output=output, model=completion.model or settings.openai_model)


@dataclass(slots=True)
class _CallRecord:
    gateway: Gateway
    purpose: CallPurpose
    tenant: str
    messages: Sequence[ChatCompletionMessageParam]

    async def save(
        self,
        status: CallStatus,
        upstream_status: int | None,
        attempts: int,
        started: float,
        completion: ParsedChatCompletion[Any] | None = None,  # any output type
    ) -> None:
        """Write the ledger row (in its own transaction) and count the call in the metrics."""
        settings, metrics = self.gateway.settings, self.gateway.metrics
        usage = completion.usage if completion is not None else None
        model = completion.model if completion is not None and completion.model else None
        model = model or settings.openai_model
        store = settings.openai_store_content
        response = None
        if store and completion is not None and completion.choices:
            response = completion.choices[0].message.content
        row = {
            "id": uuid6.uuid7(),
            "tenant": self.tenant,
            "purpose": self.purpose.value,
            "model": model,
            "status": status.value,
            "upstream_status": upstream_status,
            "attempts": max(attempts, 1),
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "request_id": correlation_id.get(),
            "prompt": [dict(message) for message in self.messages] if store else None,
            "response": response,
        }
        session = self.gateway.session
        async with session.begin():
            await session.execute(insert(calls).values(row))
        metrics.ai_calls.labels(self.purpose.value, model, status.value).inc()
        if usage is not None:
            metrics.ai_tokens.labels(model, "prompt").inc(usage.prompt_tokens)
            metrics.ai_tokens.labels(model, "completion").inc(usage.completion_tokens)
