from enum import StrEnum


class CallPurpose(StrEnum):
    """Why Trailmark called the model."""

    ASK_TRANSLATE = "ask.translate"  # a question -> a structured filter
    ASK_ANSWER = "ask.answer"  # the first page of results -> a one-sentence answer
    SUMMARIZE = "summarize"  # a sample of events -> a summary with citations


class CallStatus(StrEnum):
    """How a call ended, after any retries."""

    OK = "ok"
    UPSTREAM_ERROR = "upstream_error"  # credentials, 4xx, 5xx after retries, unreachable
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    INVALID_OUTPUT = "invalid_output"  # a reply that is not the structure asked for


CALLS_CURSOR = "openai_calls"
