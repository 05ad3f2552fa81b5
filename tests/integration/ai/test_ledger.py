"""`/openai/calls` and `/openai/usage`: every call is recorded, and reported per tenant."""

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.auth.constants import Scope
from src.config import Settings
from tests.support.ai import variant_client
from tests.support.fake_openai import FakeOpenAI, Reply
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.problems import assert_problem

ASK = api_path("ask")
CALLS = api_path("list_calls")
USAGE = api_path("usage_report")
QUESTION = {"question": "who deleted repositories last week?"}


async def ask(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> httpx.Response:
    return await client.post(ASK, headers=headers, params=params, json=QUESTION)


async def seed_event(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    occurred = (datetime.now(UTC) - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    body = {
        "action_type": "delete",
        "entity_type": "repository",
        "entity_id": "repo_1",
        "occurred_at": occurred,
    }
    assert (
        await client.post(api_path("list_events"), headers=headers, json=body)
    ).status_code == 201


class TestCalls:
    async def test_each_call_is_recorded_with_tokens_and_request_id(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        await seed_event(client, acme)

        asked = await ask(client, acme)

        page = (await client.get(CALLS, headers=acme)).json()
        answer, translate = page["items"]  # newest first
        assert (translate["purpose"], answer["purpose"]) == ("ask.translate", "ask.answer")
        translation_usage = fake_openai.completions("AskTranslation")[0]
        for call in (translate, answer):
            assert call["tenant"] == "acme"
            assert call["model"] == "gpt-4o-mini"
            assert call["status"] == "ok"
            assert call["attempts"] == 1
            assert call["latency_ms"] > 0
            assert call["request_id"] == asked.headers["x-request-id"]
            assert call["prompt"] is None
            assert call["response"] is None
        assert translate["prompt_tokens"] == len(translation_usage.text) // 4
        assert translate["completion_tokens"] > 0

    async def test_prompts_are_kept_only_when_the_setting_says_so(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
        engine: AsyncEngine,
    ) -> None:
        await ask(client, acme)  # default: not kept
        async with variant_client(settings, openai_store_content=True) as storing:
            await ask(storing, acme)

        stored, plain = (await client.get(CALLS, headers=acme)).json()["items"]
        assert plain["prompt"] is None
        assert plain["response"] is None
        assert stored["prompt"][1] == {"role": "user", "content": QUESTION["question"]}
        assert '"mappable": true' in stored["response"]
        async with engine.connect() as connection:
            rows = (await connection.execute(text("SELECT count(*) FROM openai_call"))).scalar()
        assert rows == 2

    async def test_each_tenant_sees_its_own_calls_and_admin_sees_all(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        admin: dict[str, str],
        fake_openai: FakeOpenAI,
    ) -> None:
        await ask(client, acme)
        await ask(client, globex)

        def tenants(response: httpx.Response) -> list[str]:
            return [item["tenant"] for item in response.json()["items"]]

        assert tenants(await client.get(CALLS, headers=acme)) == ["acme"]
        assert tenants(await client.get(CALLS, headers=globex)) == ["globex"]
        assert tenants(await client.get(CALLS, headers=acme, params={"tenant": "globex"})) == []
        assert tenants(await client.get(CALLS, headers=admin)) == ["globex", "acme"]
        assert tenants(await client.get(CALLS, headers=admin, params={"tenant": "acme"})) == [
            "acme"
        ]

    async def test_pages_and_filters(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        fake_openai.script(Reply(status=400))
        for _ in range(5):
            await ask(client, acme)

        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await client.get(CALLS, headers=acme, params=params)).json()
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        failed = (await client.get(CALLS, headers=acme, params={"status": "upstream_error"})).json()
        translations = (
            await client.get(CALLS, headers=acme, params={"purpose": "ask.translate"})
        ).json()

        assert len(seen) == len(set(seen)) == 5
        assert len(failed["items"]) == 1
        assert len(translations["items"]) == 5

    @pytest.mark.parametrize(
        "params",
        [
            {"cursor": "forged.cursor"},
            {"purpose": "chat"},
            {"limit": "101"},
            {"since": "yesterday"},
        ],
    )
    async def test_bad_parameters(
        self, client: httpx.AsyncClient, acme: dict[str, str], params: dict[str, str]
    ) -> None:
        response = await client.get(CALLS, headers=acme, params=params)

        assert response.status_code in (400, 422)
        assert_problem(
            response,
            response.status_code,
            "invalid_cursor" if "cursor" in params else "validation_error",
        )

    async def test_a_cursor_of_another_listing_is_refused(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        admin: dict[str, str],
        fake_openai: FakeOpenAI,
    ) -> None:
        for _ in range(2):
            await ask(client, acme)
        cursor = (await client.get(CALLS, headers=admin, params={"limit": "1"})).json()[
            "next_cursor"
        ]

        response = await client.get(CALLS, headers=acme, params={"cursor": cursor})

        assert_problem(response, 400, "invalid_cursor")

    async def test_needs_read_scope(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        writer = await make_key(
            engine, settings.api_key_pepper, tenant="acme", scopes=[Scope.AUDITS_WRITE]
        )

        assert_problem(await client.get(CALLS, headers=bearer(writer)), 403, "forbidden")
        assert_problem(await client.get(USAGE), 401, "unauthorized")


class TestUsage:
    async def test_groups_by_model_with_tokens_latency_and_cost(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        await seed_event(client, acme)
        await ask(client, acme)  # translate + answer
        fake_openai.script(*[Reply(status=500)] * 3)
        await ask(client, acme)  # one failed call

        report = (await client.get(USAGE, headers=acme)).json()
        listed = (await client.get(CALLS, headers=acme)).json()["items"]

        [group] = report["groups"]
        assert report["group_by"] == "model"
        assert group["key"] == "gpt-4o-mini"
        assert (group["calls"], group["errors"]) == (3, 1)
        prompt = sum(call["prompt_tokens"] or 0 for call in listed)
        completion = sum(call["completion_tokens"] or 0 for call in listed)
        assert (group["prompt_tokens"], group["completion_tokens"]) == (prompt, completion)
        assert group["estimated_cost_usd"] == pytest.approx(
            (prompt * 0.15 + completion * 0.6) / 1_000_000, abs=1e-6
        )
        latencies = sorted(call["latency_ms"] for call in listed)
        assert group["latency_p50_ms"] == pytest.approx(latencies[1])
        assert latencies[0] <= group["latency_p95_ms"] <= latencies[2]

    async def test_groups_by_day_and_respects_the_period(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        engine: AsyncEngine,
    ) -> None:
        await ask(client, acme)
        await ask(client, acme)
        async with engine.begin() as connection:  # one call made ten days ago
            await connection.execute(
                text(
                    "UPDATE openai_call SET created_at = now() - interval '10 days' "
                    "WHERE id = (SELECT min(id::text)::uuid FROM openai_call)"
                )
            )
        today = datetime.now(UTC).strftime("%Y-%m-%d")

        by_day = (await client.get(USAGE, headers=acme, params={"group_by": "day"})).json()
        recent = (
            await client.get(
                USAGE,
                headers=acme,
                params={"since": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
            )
        ).json()

        assert [group["calls"] for group in by_day["groups"]] == [1, 1]
        assert by_day["groups"][-1]["key"] == today
        assert [group["calls"] for group in recent["groups"]] == [1]

    async def test_a_model_without_a_price_has_no_cost(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        fake_openai: FakeOpenAI,
        settings: Settings,
    ) -> None:
        async with variant_client(settings, openai_model="local-llama") as local:
            await ask(local, acme)
        async with variant_client(settings, openai_prices_per_million_tokens={}) as unpriced:
            report = (await unpriced.get(USAGE, headers=acme)).json()
        priced = (await client.get(USAGE, headers=acme)).json()

        assert [g["key"] for g in priced["groups"]] == ["local-llama"]
        assert priced["groups"][0]["estimated_cost_usd"] is None
        assert report["groups"][0]["estimated_cost_usd"] is None

    async def test_a_tenant_sees_only_its_own_usage(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        admin: dict[str, str],
        fake_openai: FakeOpenAI,
    ) -> None:
        await ask(client, acme)
        await ask(client, globex)
        await ask(client, globex)

        def total(response: httpx.Response) -> int:
            return sum(group["calls"] for group in response.json()["groups"])

        assert total(await client.get(USAGE, headers=acme)) == 1
        assert total(await client.get(USAGE, headers=acme, params={"tenant": "globex"})) == 0
        assert total(await client.get(USAGE, headers=admin)) == 3
        assert total(await client.get(USAGE, headers=admin, params={"tenant": "globex"})) == 2

    async def test_an_empty_or_reversed_period_reports_nothing(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        await ask(client, acme)
        now = datetime.now(UTC)
        for since, until in ((now, now), (now + timedelta(days=1), now - timedelta(days=1))):
            period = {"since": since.isoformat(), "until": until.isoformat()}

            usage = await client.get(USAGE, headers=acme, params=period)
            listed = await client.get(CALLS, headers=acme, params=period)

            assert usage.json()["groups"] == []
            assert listed.json()["items"] == []

    async def test_metrics_count_calls_and_tokens(
        self, client: httpx.AsyncClient, acme: dict[str, str], fake_openai: FakeOpenAI
    ) -> None:
        await ask(client, acme)
        fake_openai.script(Reply(status=401))
        await ask(client, acme)

        metrics = (await client.get("/metrics")).text

        assert (
            'trailmark_ai_calls_total{model="gpt-4o-mini",purpose="ask.translate",status="ok"} 1.0'
            in metrics
        )
        assert 'status="upstream_error"} 1.0' in metrics
        assert 'trailmark_ai_tokens_total{kind="prompt",model="gpt-4o-mini"}' in metrics
