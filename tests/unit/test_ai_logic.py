"""Pure pieces of the AI features: retry decisions, filter validation, prompt shaping."""

import json
from datetime import UTC, datetime
from typing import Any

import httpx2
import openai
import pytest
from tenacity import RetryCallState

from src.audits import prompts
from src.audits.assistant import to_event_filter
from src.audits.exceptions import QuestionNotMappable
from src.openai.service import RetryAfterOrBackoff, is_retryable, retry_after_seconds
from tests.support.ai import EMPTY_FILTER

REQUEST = httpx2.Request("POST", "http://upstream.test/v1/chat/completions")


def status_error(status: int, headers: dict[str, str] | None = None) -> openai.APIStatusError:
    response = httpx2.Response(status, headers=headers or {}, request=REQUEST)
    classes: dict[int, type[openai.APIStatusError]] = {
        401: openai.AuthenticationError,
        429: openai.RateLimitError,
        500: openai.InternalServerError,
    }
    return classes.get(status, openai.APIStatusError)("upstream", response=response, body=None)


class TestRetryAfter:
    @pytest.mark.parametrize(
        ("headers", "seconds"),
        [
            ({"retry-after": "7"}, 7.0),
            ({"retry-after": "0.5"}, 0.5),
            ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
            ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, None),  # dates: use backoff
            ({"retry-after": "-3"}, None),
            ({"retry-after": "inf"}, None),
            ({}, None),
        ],
    )
    def test_reads_the_upstream_hint(self, headers: dict[str, str], seconds: float | None) -> None:
        assert retry_after_seconds(status_error(429, headers)) == seconds

    def test_other_errors_carry_no_hint(self) -> None:
        assert retry_after_seconds(openai.APITimeoutError(request=REQUEST)) is None
        assert retry_after_seconds(None) is None

    def test_wait_prefers_the_hint_and_falls_back_to_backoff(self) -> None:
        wait = RetryAfterOrBackoff(initial_seconds=0.1)

        def state(exc: BaseException) -> RetryCallState:
            retry_state = RetryCallState(None, None, (), {})
            retry_state.set_exception((type(exc), exc, None))
            return retry_state

        assert wait(state(status_error(429, {"retry-after": "3"}))) == 3.0
        assert 0.1 <= wait(state(status_error(500))) <= 0.2


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (status_error(429), True),
        (status_error(500), True),
        (status_error(503), True),
        (status_error(401), False),
        (status_error(400), False),
        (openai.APITimeoutError(request=REQUEST), True),
        (openai.APIConnectionError(request=REQUEST), True),
        (ValueError("bug"), False),
    ],
)
def test_only_transient_failures_are_retried(error: BaseException, retryable: bool) -> None:
    assert is_retryable(error) is retryable


def model_filter(**fields: Any) -> prompts.ModelFilter:
    return prompts.ModelFilter.model_validate({**EMPTY_FILTER, **fields})


class TestToEventFilter:
    def test_empty_strings_mean_absent_and_times_become_utc(self) -> None:
        result = to_event_filter(
            model_filter(
                entity_type="", actor_id="user_7", occurred_after="2026-11-01T02:00:00+02:00"
            )
        )

        assert result.entity_type is None
        assert result.actor_id == "user_7"
        assert result.occurred_after == datetime(2026, 11, 1, tzinfo=UTC)
        assert result.occurred_after is not None
        assert result.occurred_after.tzinfo == UTC

    @pytest.mark.parametrize(
        "fields",
        [
            {"occurred_before": "tomorrow"},
            {"status": None, "action": "Has Spaces"},
            {"details": [{"path": [], "value": 1}]},
        ],
    )
    def test_invalid_fields_are_not_mappable(self, fields: dict[str, Any]) -> None:
        with pytest.raises(QuestionNotMappable):
            to_event_filter(model_filter(**fields))


class TestPrompts:
    def test_events_are_compact_and_long_details_are_cut(self) -> None:
        event = {
            "id": "e1",
            "occurred_at": "2026-11-21T09:30:00Z",
            "action_type": "delete",
            "action": "repository.deleted",
            "entity_type": "repository",
            "entity_id": "repo_42",
            "actor": {"id": "user_7", "type": "user", "name": "Ada"},
            "status": "success",
            "ip_address": "203.0.113.9",
            "user_agent": "curl/8",
            "details": {"blob": "x" * 5000},
        }

        block = prompts.events_block([json.dumps(event)])

        assert block.startswith("<events>\n")
        assert block.endswith("\n</events>")
        line = json.loads(block.splitlines()[1])
        assert line["entity"] == "repository/repo_42"
        assert line["actor"] == "user_7"
        assert "ip_address" not in line
        assert "user_agent" not in line
        assert len(line["details"]) == prompts.DETAILS_PROMPT_CHARS + 1

    def test_the_translation_prompt_names_the_time_and_holds_only_the_question(self) -> None:
        messages = prompts.translate_messages("who?", datetime(2026, 11, 21, 9, 30, tzinfo=UTC))

        assert "2026-11-21T09:30:00Z" in str(messages[0]["content"])  # type: ignore[typeddict-item]
        assert messages[1] == {"role": "user", "content": "who?"}
