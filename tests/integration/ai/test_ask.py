"""`POST /audits/ask`: the model writes a filter, Trailmark runs it like `GET /audits?q=`."""

import json
from typing import Any

import httpx
import pytest

from src.audits.filters import parse_search
from tests.support.ai import scripted_filter
from tests.support.api import ago, record
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.paths import api_path
from tests.support.problems import assert_problem

ASK = api_path("ask")


class TestAsk:
    async def test_question_becomes_a_filter_run_like_the_list(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        fake_openai: FakeOpenAI,
    ) -> None:
        recent = await record(client, acme, occurred_at=ago(days=2))
        older = await record(client, acme, occurred_at=ago(days=3), entity_id="repo_7")
        await record(client, acme, occurred_at=ago(days=20))  # before last week
        await record(client, acme, occurred_at=ago(days=1), action_type="create")
        await record(client, acme, occurred_at=ago(days=1), entity_type="project")
        await record(client, globex, occurred_at=ago(days=1))  # another tenant's

        response = await client.post(
            ASK, headers=acme, json={"question": "Who deleted repositories last week?"}
        )

        assert response.status_code == 200, response.text
        body = response.json()
        assert body["question"] == "Who deleted repositories last week?"
        assert body["filter"]["action_types"] == ["delete"]
        assert body["filter"]["entity_type"] == "repository"
        assert body["filter"]["occurred_after"].endswith("Z")
        assert [item["id"] for item in body["items"]] == [recent, older]
        assert {item["tenant"] for item in body["items"]} == {"acme"}
        assert body["next_cursor"] is None
        assert body["answer"].startswith("2 matching events")
        assert body["model"] == "gpt-4o-mini"
        # `q` is the same filter in the search language: the list route returns the same page.
        assert parse_search(body["q"]).model_dump(mode="json") == body["filter"]
        listed = await client.get(api_path("list_events"), headers=acme, params={"q": body["q"]})
        assert listed.json()["items"] == body["items"]

    async def test_translation_sees_only_the_question_and_the_time(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        await record(client, acme, occurred_at=ago(days=1), details={"note": "secret-marker"})

        await client.post(
            ASK, headers=acme, json={"question": "what was deleted in the last 2 days?"}
        )

        [translation] = fake_openai.completions("AskTranslation")
        assert "what was deleted in the last 2 days?" in translation.text
        assert "current time is" in translation.text
        assert "secret-marker" not in translation.text
        assert "acme" not in translation.text
        schema = translation.body["response_format"]["json_schema"]
        assert schema["strict"] is True
        assert "tenant" not in json.dumps(schema["schema"])

    async def test_next_cursor_continues_with_the_list_route(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        ids = [await record(client, acme, occurred_at=ago(hours=n + 1)) for n in range(5)]
        fake_openai.script(Reply(content=scripted_filter(action_types=["delete"])))

        body = (
            await client.post(ASK, headers=acme, json={"question": "deletions?", "limit": 2})
        ).json()

        assert [item["id"] for item in body["items"]] == ids[:2]
        rest = await client.get(
            api_path("list_events"),
            headers=acme,
            params={"q": body["q"], "cursor": body["next_cursor"], "limit": 10},
        )
        assert [item["id"] for item in rest.json()["items"]] == ids[2:]

    async def test_every_filter_field_round_trips_through_q(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        match = await record(
            client,
            acme,
            occurred_at=ago(hours=1),
            ip_address="203.0.113.9",
            details={"reason": "cleanup: old", "count": 3},
        )
        fake_openai.script(
            Reply(
                content=scripted_filter(
                    action_types=["delete", "update"],
                    action="repository.deleted",
                    entity_type="repository",
                    entity_id="repo_42",
                    actor_id="user_7",
                    status="success",
                    occurred_after="2026-01-01T00:00:00+02:00",
                    occurred_before=ago(seconds=-60),
                    ip="203.0.113.0/24",
                    details=[
                        {"path": ["reason"], "value": "cleanup: old"},
                        {"path": ["count"], "value": 3},
                    ],
                    text=["Ada Lovelace"],
                )
            )
        )

        response = await client.post(ASK, headers=acme, json={"question": "everything?"})

        body = response.json()
        assert [item["id"] for item in body["items"]] == [match], body
        assert body["filter"]["occurred_after"] == "2025-12-31T22:00:00Z"  # shown in UTC
        assert body["filter"]["ip"] == "203.0.113.0/24"
        assert parse_search(body["q"]).model_dump(mode="json") == body["filter"]

    async def test_no_match_answers_without_a_second_call(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        response = await client.post(ASK, headers=acme, json={"question": "who logged in today?"})

        body = response.json()
        assert body["items"] == []
        assert body["answer"] == "No events match."
        assert len(fake_openai.completions()) == 1

    async def test_admin_names_the_tenant(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
    ) -> None:
        event_id = await record(client, acme, occurred_at=ago(hours=1))
        question = {"question": "what was deleted in the last 2 days?"}

        missing = await client.post(ASK, headers=admin, json=question)
        named = await client.post(ASK, headers=admin, params={"tenant": "acme"}, json=question)

        assert_problem(missing, 422, "validation_error")
        assert [item["id"] for item in named.json()["items"]] == [event_id]

    async def test_a_tenant_key_naming_another_tenant_is_a_404_and_costs_nothing(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        response = await client.post(
            ASK, headers=acme, params={"tenant": "globex"}, json={"question": "anything deleted?"}
        )

        assert_problem(response, 404, "not_found")
        assert fake_openai.requests == []


class TestAskRejects:
    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({}, ["body", "question"]),
            ({"question": "x" * 501}, ["body", "question"]),
            ({"question": "ab"}, ["body", "question"]),
            ({"question": "who?\u0000"}, ["body", "question"]),
            ({"question": "who deleted?", "limit": 51}, ["body", "limit"]),
            ({"question": "who deleted?", "tenant": "globex"}, ["body", "tenant"]),
        ],
    )
    async def test_bad_input_is_a_422_before_any_model_call(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        body: dict[str, Any],
        loc: list[str],
    ) -> None:
        response = await client.post(ASK, headers=acme, json=body)

        problem = assert_problem(response, 422, "validation_error")
        assert [error["loc"] for error in problem["errors"]] == [loc]  # type: ignore[union-attr]
        assert fake_openai.requests == []

    async def test_a_question_the_model_cannot_map_is_a_422(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        response = await client.post(
            ASK, headers=acme, json={"question": "What is the weather like in Paris?"}
        )

        problem = assert_problem(response, 422, "question_not_mappable")
        assert "rephrase" in str(problem["detail"])

    @pytest.mark.parametrize(
        "fields",
        [
            {"occurred_after": "last tuesday"},
            {"occurred_after": "2026-11-01T00:00:00"},  # no offset
            {"action": "Not An Action"},
            {"ip": "not-an-ip"},
            {"text": ["nul\u0000word"]},
            {"details": [{"path": ["a.b"], "value": 1}]},
        ],
    )
    async def test_an_invalid_filter_from_the_model_is_a_422(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        fields: dict[str, Any],
    ) -> None:
        fake_openai.script(Reply(content=scripted_filter(**fields)))

        response = await client.post(ASK, headers=acme, json={"question": "anything?"})

        assert_problem(response, 422, "question_not_mappable")


@pytest.mark.parametrize("path", [ASK, api_path("summarize")])
async def test_other_methods_are_405_not_an_event_lookup(
    client: httpx.AsyncClient, acme: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=acme)

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"
