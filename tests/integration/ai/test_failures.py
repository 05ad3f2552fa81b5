"""Upstream failures: retries, and the problems they map to when retries run out."""

from typing import Any

import httpx
import pytest

from src.config import Settings
from tests.support.ai import variant_client
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.logs import captured_logs
from tests.support.paths import api_path
from tests.support.problems import assert_problem

ASK = api_path("ask")
QUESTION = {"question": "who deleted repositories last week?"}
UPSTREAM_SECRET = "sk-proj-SECRET-upstream-detail-7f3a"


async def calls(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get(api_path("list_calls"), headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


class TestRetries:
    @pytest.mark.parametrize("status", [429, 500, 502, 503])
    async def test_a_transient_failure_is_retried(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        status: int,
    ) -> None:
        fake_openai.script(Reply(status=status), Reply(status=status))

        response = await client.post(ASK, headers=acme, json=QUESTION)

        assert response.status_code == 200, response.text
        assert len(fake_openai.completions()) == 3
        [call] = await calls(client, acme)
        assert (call["status"], call["attempts"], call["upstream_status"]) == ("ok", 3, 200)

    async def test_retry_after_is_honoured(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.script(Reply(status=429, headers={"Retry-After": "1"}))

        response = await client.post(ASK, headers=acme, json=QUESTION)

        assert response.status_code == 200
        first, second = fake_openai.completions()
        assert second.at - first.at >= 0.9  # the wait the upstream asked for, not the backoff

    async def test_a_timeout_is_retried(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
    ) -> None:
        fake_openai.script(Reply(delay=1.0))
        async with variant_client(settings, openai_timeout_seconds=0.3) as short:
            response = await short.post(ASK, headers=acme, json=QUESTION)

        assert response.status_code == 200, response.text
        assert len(fake_openai.completions()) == 2


class TestFailureMapping:
    async def test_bad_upstream_credentials_are_a_502(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
    ) -> None:
        async with variant_client(settings, openai_api_key=UPSTREAM_SECRET) as wrong_key:
            response = await wrong_key.post(ASK, headers=acme, json=QUESTION)

        problem = assert_problem(response, 502, "ai_upstream_error")
        assert "credentials" in str(problem["detail"])
        assert len(fake_openai.completions()) == 1  # not retried
        [call] = await calls(client, acme)
        assert (call["status"], call["upstream_status"]) == ("upstream_error", 401)

    async def test_403_is_a_502(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.script(Reply(status=403))

        assert_problem(
            await client.post(ASK, headers=acme, json=QUESTION), 502, "ai_upstream_error"
        )

    async def test_rate_limited_after_retries_is_a_503_with_retry_after(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.script(*[Reply(status=429, headers={"retry-after-ms": "20"})] * 3)

        response = await client.post(ASK, headers=acme, json=QUESTION)

        assert_problem(response, 503, "ai_rate_limited")
        assert response.headers["retry-after"] == "1"
        assert len(fake_openai.completions()) == 3
        [call] = await calls(client, acme)
        assert (call["status"], call["attempts"]) == ("rate_limited", 3)

    async def test_a_long_retry_after_is_passed_on_at_once(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.script(Reply(status=429, headers={"Retry-After": "120"}))

        response = await client.post(ASK, headers=acme, json=QUESTION)

        assert_problem(response, 503, "ai_rate_limited")
        assert response.headers["retry-after"] == "120"
        assert len(fake_openai.completions()) == 1  # no waiting past the retry budget

    async def test_server_errors_after_retries_are_a_502(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.script(*[Reply(status=500)] * 3)

        response = await client.post(ASK, headers=acme, json=QUESTION)

        assert_problem(response, 502, "ai_upstream_error")
        assert len(fake_openai.completions()) == 3

    async def test_a_timeout_after_retries_is_a_504(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
    ) -> None:
        fake_openai.script(*[Reply(delay=1.0)] * 2)
        async with variant_client(
            settings, openai_timeout_seconds=0.2, openai_max_retries=1
        ) as short:
            response = await short.post(ASK, headers=acme, json=QUESTION)

        assert_problem(response, 504, "ai_upstream_timeout")
        [call] = await calls(client, acme)
        assert (call["status"], call["attempts"], call["upstream_status"]) == ("timeout", 2, None)

    async def test_an_unreachable_upstream_is_a_502(
        self, client: httpx.AsyncClient, acme: dict[str, str], settings: Settings
    ) -> None:
        async with variant_client(
            settings, openai_base_url="http://127.0.0.1:9/v1", openai_max_retries=0
        ) as unreachable:
            response = await unreachable.post(ASK, headers=acme, json=QUESTION)

        problem = assert_problem(response, 502, "ai_upstream_error")
        assert "could not be reached" in str(problem["detail"])

    @pytest.mark.parametrize(
        "reply",
        [
            Reply(content="this is not JSON"),
            Reply(content={"mappable": True}),  # no filter
            Reply(refusal="I can't help with that."),
            Reply(status=400),
        ],
        ids=["not-json", "wrong-shape", "refusal", "bad-request"],
    )
    async def test_a_reply_that_is_not_the_structure_asked_for_is_a_502(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        reply: Reply,
    ) -> None:
        fake_openai.script(reply)

        response = await client.post(ASK, headers=acme, json=QUESTION)

        assert_problem(response, 502, "ai_upstream_error")
        assert len(fake_openai.completions()) == 1
        [call] = await calls(client, acme)
        expected = ("upstream_error", 400) if reply.status == 400 else ("invalid_output", 200)
        assert (call["status"], call["upstream_status"]) == expected

    async def test_a_timeout_after_a_server_error_records_no_status(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
    ) -> None:
        # The 500 must come back within the timeout even on a loaded machine (the fake shares
        # this process's GIL): a second's margin, where 0.2 s once timed the 500 out too.
        fake_openai.script(Reply(status=500), Reply(delay=3.0))
        async with variant_client(
            settings, openai_timeout_seconds=1.0, openai_max_retries=1
        ) as short:
            response = await short.post(ASK, headers=acme, json=QUESTION)

        assert_problem(response, 504, "ai_upstream_timeout")
        [call] = await calls(client, acme)
        assert (call["status"], call["attempts"], call["upstream_status"]) == ("timeout", 2, None)

    async def test_upstream_error_text_reaches_neither_client_nor_logs(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
    ) -> None:
        fake_openai.script(
            *[Reply(status=500, body={"error": {"message": f"boom {UPSTREAM_SECRET}"}})] * 3
        )
        with captured_logs() as stream:
            failed = await client.post(ASK, headers=acme, json=QUESTION)
            async with variant_client(settings, openai_api_key=UPSTREAM_SECRET) as wrong_key:
                refused = await wrong_key.post(ASK, headers=acme, json=QUESTION)

        assert failed.status_code == refused.status_code == 502
        for response in (failed, refused):
            assert UPSTREAM_SECRET not in response.text
            assert "Incorrect API key" not in response.text
        logged = stream.getvalue()
        assert "model call failed" in logged
        assert UPSTREAM_SECRET not in logged
        assert "SECRET" not in logged
        assert "Incorrect API key" not in logged


class TestNotConfigured:
    async def test_without_a_key_ai_is_a_503_and_the_rest_works(
        self, client: httpx.AsyncClient, acme: dict[str, str], settings: Settings
    ) -> None:
        async with variant_client(settings, openai_api_key=None) as plain:
            asked = await plain.post(ASK, headers=acme, json=QUESTION)
            summarized = await plain.post(api_path("summarize"), headers=acme, json={})
            ready = await plain.get("/readyz")
            listed = await plain.get(api_path("list_events"), headers=acme)
            usage = await plain.get(api_path("usage_report"), headers=acme)

        problem = assert_problem(asked, 503, "ai_not_configured")
        assert "OPENAI_API_KEY" in str(problem["detail"])
        assert_problem(summarized, 503, "ai_not_configured")
        assert ready.status_code == listed.status_code == usage.status_code == 200

    async def test_auth_comes_before_configuration(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> None:
        async with variant_client(settings, openai_api_key=None) as plain:
            response = await plain.post(ASK, json=QUESTION)

        assert_problem(response, 401, "unauthorized")
