"""Viewer tokens: minted by a key, read-only, bound to one tenant and a fixed filter that
every read honours (narrowed, never widened), expiring, stored only as a keyed hash."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.auth.constants import Scope
from src.config import Settings
from tests.support.api import post_many
from tests.support.events import event
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.problems import assert_problem
from tests.support.tlog import sign_now


async def mint(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post(api_path("create_token"), headers=headers, json=body)


async def viewer(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, str]:
    response = await mint(client, headers, **body)
    assert response.status_code == 201, response.text
    return bearer(response.json()["token"])


@pytest.fixture
async def events(client: httpx.AsyncClient, acme: dict[str, str]) -> list[dict[str, Any]]:
    """Acme's events: three by user_7 (one a failure), two by user_9."""
    return await post_many(
        client,
        acme,
        [
            event(actor={"id": "user_7", "type": "user"}, entity_id="a"),
            event(actor={"id": "user_9", "type": "user"}, entity_id="b"),
            event(actor={"id": "user_7", "type": "user"}, entity_id="c", status="failure"),
            event(actor={"id": "user_9", "type": "user"}, entity_id="d"),
            event(actor={"id": "user_7", "type": "user"}, entity_id="e"),
        ],
    )


def entity_ids(response: httpx.Response) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["entity_id"] for item in response.json()["items"]}


class TestMinting:
    async def test_a_tenant_key_mints_for_its_tenant(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        before = datetime.now(UTC)
        response = await mint(client, acme, ttl_seconds=600, filter={"actor_id": "user_7"})
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["token"].startswith("tmv_")
        assert (
            body["url"] == f"http://trailmark.test/viewer#token={body['token']}"
        )  # never in a query
        expires = datetime.fromisoformat(body["expires_at"])
        assert before + timedelta(seconds=599) < expires < before + timedelta(seconds=601)
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text("SELECT tenant, filter, can_export, secret_hash FROM viewer_token")
                )
            ).one()
        assert (row.tenant, row.filter, row.can_export) == ("acme", {"actor_id": "user_7"}, False)
        assert body["token"].encode() not in bytes(row.secret_hash)  # only a keyed hash
        assert len(row.secret_hash) == 32

    async def test_the_defaults(self, client: httpx.AsyncClient, acme: dict[str, str]) -> None:
        response = await mint(client, acme)
        assert response.status_code == 201
        expires = datetime.fromisoformat(response.json()["expires_at"])
        assert abs((expires - datetime.now(UTC)).total_seconds() - 3600) < 60

    @pytest.mark.parametrize(
        "body",
        [
            {"ttl_seconds": 59},
            {"ttl_seconds": 86_401},
            {"filter": {"actor": "user_7"}},  # not a list filter
            {"can_export": "yes"},
            {"scopes": ["audits:write"]},  # a token's powers are not chosen
        ],
    )
    async def test_bad_requests_are_422(
        self, client: httpx.AsyncClient, acme: dict[str, str], body: dict[str, Any]
    ) -> None:
        assert_problem(await mint(client, acme, **body), 422, "validation_error")

    async def test_a_search_that_does_not_parse_is_refused(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        refused = await mint(client, acme, filter={"q": "actor:"})
        assert_problem(refused, 422, "validation_error")
        assert "'actor:'" in refused.json()["detail"]

    async def test_an_admin_names_an_existing_tenant(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        assert_problem(await mint(client, admin), 422, "validation_error")
        assert_problem(await mint(client, admin, tenant="nobody"), 404, "not_found")
        assert (await mint(client, admin, tenant="acme")).status_code == 201

    async def test_a_tenant_key_cannot_mint_for_another(
        self, client: httpx.AsyncClient, acme: dict[str, str], globex: dict[str, str]
    ) -> None:
        assert_problem(await mint(client, acme, tenant="globex"), 404, "not_found")

    async def test_minting_needs_the_read_scope(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Settings
    ) -> None:
        writer = await make_key(
            engine, settings.api_key_pepper, tenant="acme", scopes=[Scope.AUDITS_WRITE]
        )
        assert_problem(await mint(client, bearer(writer)), 403, "forbidden")
        assert_problem(await mint(client, {}), 401, "unauthorized")


class TestReads:
    async def test_every_read_sees_only_the_fixed_filter(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        events: list[dict[str, Any]],
    ) -> None:
        token = await viewer(client, acme, filter={"actor_id": "user_7"}, can_export=True)
        assert entity_ids(await client.get(api_path("list_events"), headers=token)) == {
            "a",
            "c",
            "e",
        }
        # Narrowed by the viewer's own filters...
        narrowed = await client.get(
            api_path("list_events"), headers=token, params={"status": "failure"}
        )
        assert entity_ids(narrowed) == {"c"}
        # ...never widened: asking for another actor finds nothing, and so does `q`.
        for params in ({"actor_id": "user_9"}, {"q": "actor:user_9"}):
            assert (
                entity_ids(await client.get(api_path("list_events"), headers=token, params=params))
                == set()
            )
        stats = await client.get(
            api_path("event_stats"), headers=token, params={"group_by": "status"}
        )
        assert stats.status_code == 200, stats.text
        assert sum(bucket["count"] for bucket in stats.json()["buckets"]) == 3
        exported = await client.get(api_path("export_events"), headers=token)
        assert exported.status_code == 200
        assert len(exported.text.strip().splitlines()) == 3

    async def test_an_event_outside_the_filter_is_a_404(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        events: list[dict[str, Any]],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        token = await viewer(client, acme, filter={"actor_id": "user_7"})
        inside, outside = events[0]["id"], events[1]["id"]
        assert (
            await client.get(api_path("get_event", event_id=inside), headers=token)
        ).status_code == 200
        assert_problem(
            await client.get(api_path("get_event", event_id=outside), headers=token),
            404,
            "not_found",
        )
        await sign_now(engine, settings)
        proof = await client.get(api_path("get_proof", event_id=inside), headers=token)
        assert proof.status_code == 200, proof.text
        assert_problem(
            await client.get(api_path("get_proof", event_id=outside), headers=token),
            404,
            "not_found",
        )
        # What Verify needs besides the proof: the log's key and checkpoint.
        for name in ("get_key", "get_checkpoint"):
            answer = await client.get(api_path(name, tenant="acme"), headers=token)
            assert answer.status_code == 200, (name, answer.text)

    async def test_export_needs_can_export(
        self, client: httpx.AsyncClient, acme: dict[str, str], events: list[dict[str, Any]]
    ) -> None:
        token = await viewer(client, acme)
        assert_problem(await client.get(api_path("export_events"), headers=token), 403, "forbidden")

    async def test_a_bundle_under_a_fixed_filter_is_not_complete(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        events: list[dict[str, Any]],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await sign_now(engine, settings)
        token = await viewer(client, acme, filter={"actor_id": "user_7"}, can_export=True)
        bundle = await client.get(
            api_path("export_events"),
            headers=token,
            params={"format": "bundle", "order": "asc", "include_erased": "true"},
        )
        assert bundle.status_code == 200, bundle.text
        header, *lines = bundle.text.strip().splitlines()
        assert '"complete":false' in header
        assert len(lines) == 3

    async def test_another_tenant_stays_invisible(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        events: list[dict[str, Any]],
    ) -> None:
        await post_many(client, globex, [event(actor={"id": "user_7", "type": "user"})])
        token = await viewer(client, acme, filter={"actor_id": "user_7"})
        listed = await client.get(
            api_path("list_events"), headers=token, params={"tenant": "globex"}
        )
        assert entity_ids(listed) == set()


class TestLimits:
    @pytest.mark.parametrize(
        ("method", "name", "params", "body"),
        [
            ("POST", "list_events", {}, event()),  # record an event
            ("POST", "record_batch", {}, {"events": [event()]}),
            ("GET", "verify_chain", {}, None),
            ("GET", "list_keys", {}, None),
            ("POST", "create_token", {}, {}),
            ("GET", "get_tile", {"tenant": "acme", "tile_path": "0/000.p/1"}, None),
            ("GET", "list_checkpoints", {"tenant": "acme"}, None),
        ],
    )
    async def test_a_viewer_cannot_write_mint_or_manage(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        events: list[dict[str, Any]],
        method: str,
        name: str,
        params: dict[str, str],
        body: dict[str, Any] | None,
    ) -> None:
        token = await viewer(client, acme)
        response = await client.request(method, api_path(name, **params), headers=token, json=body)
        assert_problem(response, 403, "forbidden")

    async def test_settle_and_erase_are_refused(
        self, client: httpx.AsyncClient, acme: dict[str, str], events: list[dict[str, Any]]
    ) -> None:
        token = await viewer(client, acme)
        path = api_path("get_event", event_id=events[0]["id"])
        assert_problem(
            await client.patch(path, headers=token, json={"status": "failure"}), 403, "forbidden"
        )
        assert_problem(await client.delete(path, headers=token), 403, "forbidden")

    async def test_an_expired_or_unknown_token_is_a_401(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        events: list[dict[str, Any]],
    ) -> None:
        token = await viewer(client, acme)
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE viewer_token SET expires_at = now() - interval '1 second'")
            )
        expired = await client.get(api_path("list_events"), headers=token)
        assert_problem(expired, 401, "unauthorized")
        assert "expired" in expired.json()["detail"]
        secret = token["Authorization"].removeprefix("Bearer ")
        forged = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
        for bad in (forged, "tmv_", "tmv_zz_yy", "tmv_0123456789abcdef_nope"):
            assert_problem(
                await client.get(api_path("list_events"), headers=bearer(bad)), 401, "unauthorized"
            )


async def test_revoking_the_minting_key_revokes_its_tokens(
    client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine, settings: Settings
) -> None:
    minter = await make_key(
        engine, settings.api_key_pepper, tenant="acme", scopes=[Scope.AUDITS_READ]
    )
    token = await viewer(client, bearer(minter), can_export=True)
    assert (await client.get(api_path("list_events"), headers=token)).status_code == 200
    revoked = await client.delete(api_path("revoke_key", key_id=minter.id), headers=admin)
    assert revoked.status_code == 204, revoked.text
    refused = await client.get(api_path("list_events"), headers=token)
    assert_problem(refused, 401, "unauthorized")
    assert "revoked" in refused.json()["detail"]
