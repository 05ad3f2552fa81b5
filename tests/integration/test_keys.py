"""API keys: authentication, scopes, the keys API and its safety properties."""

import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.auth import service as auth_service
from src.auth.constants import Scope
from src.auth.schemas import KeyCreated
from src.config import Settings
from src.main import API_PREFIX, create_app
from tests.support.clients import app_client
from tests.support.keys import bearer, make_key
from tests.support.logs import captured_logs
from tests.support.paths import api_path
from tests.support.problems import assert_problem

KEY_FORMAT = re.compile(r"tm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}")


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every (method, concrete path) under /api/v1 in the OpenAPI document, ids made up."""
    found = []
    for template, operations in app.openapi()["paths"].items():
        if template.startswith(API_PREFIX):
            path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), template)
            found.extend((method.upper(), path) for method in sorted(operations))
    return found


class TestAuthentication:
    async def test_every_api_route_needs_a_key(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        routes = api_routes(app)
        assert len(routes) >= 3
        for method, path in routes:
            response = await client.request(method, path)
            assert_problem(response, 401, "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer", (method, path)

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer not-a-trailmark-key",
            "Bearer tm_",
            "Bearer tm_0123456789abcdef",
            "Bearer tm_0123456789abcdef_" + "A" * 43,  # well-formed, unknown
            "Bearer tm_XYZ3456789abcdef_" + "A" * 43,  # public id not hex
            "Basic dXNlcjpwYXNz",
            "Bearer",
        ],
    )
    async def test_bad_keys_are_401(
        self, app: FastAPI, client: httpx.AsyncClient, authorization: str
    ) -> None:
        response = await client.get(api_path("list_keys"), headers={"Authorization": authorization})
        assert_problem(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_right_id_wrong_secret_is_401(
        self, client: httpx.AsyncClient, admin_key: KeyCreated
    ) -> None:
        forged = admin_key.key[:-4] + ("AAAA" if not admin_key.key.endswith("AAAA") else "BBBB")
        assert_problem(
            await client.get(api_path("list_keys"), headers=bearer(forged)), 401, "unauthorized"
        )

    async def test_secret_is_compared_in_constant_time(
        self, client: httpx.AsyncClient, admin: dict[str, str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[tuple[bytes, bytes]] = []
        real = auth_service.hmac.compare_digest

        def spy(a: bytes, b: bytes) -> bool:
            calls.append((a, b))
            return real(a, b)

        monkeypatch.setattr(auth_service.hmac, "compare_digest", spy)
        assert (await client.get(api_path("list_keys"), headers=admin)).status_code == 200
        assert len(calls) == 1
        assert len(calls[0][0]) == len(calls[0][1]) == 32

    @pytest.mark.parametrize(
        "scopes", [[Scope.AUDITS_READ], [Scope.AUDITS_WRITE, Scope.AUDITS_ERASE]]
    )
    async def test_tenant_keys_cannot_manage_keys(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        scopes: list[Scope],
    ) -> None:
        key = await make_key(engine, settings.api_key_pepper, tenant="acme", scopes=scopes)
        for method, path in api_routes(app):
            if "/keys" in path:
                response = await client.request(method, path, headers=bearer(key), json={})
                body = assert_problem(response, 403, "forbidden")
                assert "`admin`" in str(body["detail"])

    async def test_last_used_at_is_recorded_but_throttled(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        admin_key: KeyCreated,
        engine: AsyncEngine,
    ) -> None:
        async def last_used() -> datetime | None:
            async with engine.connect() as connection:
                value: datetime | None = await connection.scalar(
                    text("SELECT last_used_at FROM api_key WHERE id = :id"), {"id": admin_key.id}
                )
                return value

        assert await last_used() is None
        await client.get(api_path("list_keys"), headers=admin)
        first = await last_used()
        assert first is not None
        await client.get(api_path("list_keys"), headers=admin)
        assert await last_used() == first  # within the minute: no write

        long_ago = datetime.now(UTC) - timedelta(hours=1)
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE api_key SET last_used_at = :t WHERE id = :id"),
                {"t": long_ago, "id": admin_key.id},
            )
        await client.get(api_path("list_keys"), headers=admin)
        refreshed = await last_used()
        assert refreshed is not None
        assert refreshed > long_ago + timedelta(minutes=59)


class TestCreateKey:
    async def test_admin_creates_a_tenant_key(
        self, client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
    ) -> None:
        response = await client.post(
            api_path("list_keys"),
            headers=admin,
            json={"tenant": "acme", "scopes": ["audits:write", "audits:read"], "name": "billing"},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert set(body) == {"id", "key", "prefix", "tenant", "scopes", "name", "created_at"}
        assert KEY_FORMAT.fullmatch(body["key"])
        assert body["key"].startswith(body["prefix"] + "_")
        assert body["tenant"] == "acme"
        assert body["scopes"] == ["audits:read", "audits:write"]
        assert body["created_at"].endswith("Z")
        async with engine.connect() as connection:
            assert (
                await connection.scalar(text("SELECT count(*) FROM tenant WHERE slug = 'acme'"))
                == 1
            )
        # The new key authenticates (403 on an admin route, not 401).
        assert (
            await client.get(api_path("list_keys"), headers=bearer(body["key"]))
        ).status_code == 403

    async def test_admin_creates_another_admin_key(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await client.post(
            api_path("list_keys"), headers=admin, json={"scopes": ["admin"]}
        )
        assert response.status_code == 201
        assert response.json()["tenant"] is None
        assert (
            await client.get(api_path("list_keys"), headers=bearer(response.json()["key"]))
        ).status_code == 200

    async def test_two_keys_for_one_tenant_share_it(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        for _ in range(2):
            response = await client.post(
                api_path("list_keys"),
                headers=admin,
                json={"tenant": "acme", "scopes": ["audits:read"]},
            )
            assert response.status_code == 201

    @pytest.mark.parametrize(
        ("body", "loc"),
        [
            ({"tenant": "acme", "scopes": ["admin"]}, ["body"]),
            ({"scopes": ["audits:read"]}, ["body"]),
            ({"tenant": "acme", "scopes": ["audits:delete"]}, ["body", "scopes", 0]),
            ({"tenant": "acme", "scopes": []}, ["body", "scopes"]),
            ({"tenant": "acme", "scopes": ["audits:read", "audits:read"]}, ["body", "scopes"]),
            ({"tenant": "Acme Corp", "scopes": ["audits:read"]}, ["body", "tenant"]),
            ({"tenant": "-acme", "scopes": ["audits:read"]}, ["body", "tenant"]),
            ({"tenant": "a" * 64, "scopes": ["audits:read"]}, ["body", "tenant"]),
            ({"tenant": "acme", "scopes": ["audits:read"], "role": "x"}, ["body", "role"]),
            ({"tenant": "acme", "scopes": ["audits:read"], "name": ""}, ["body", "name"]),
            (
                {"tenant": "acme", "scopes": ["audits:read"], "name": "nul\u0000byte"},
                ["body", "name"],
            ),
            ({"scopes": ["admin", "audits:read"]}, ["body"]),
        ],
    )
    async def test_bad_requests_are_422_and_write_nothing(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        engine: AsyncEngine,
        body: dict[str, object],
        loc: list[object],
    ) -> None:
        response = await client.post(api_path("list_keys"), headers=admin, json=body)
        problem = assert_problem(response, 422, "validation_error")
        assert any(error["loc"] == loc for error in problem["errors"]), problem["errors"]
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM api_key")) == 1  # the admin's
            assert await connection.scalar(text("SELECT count(*) FROM tenant")) == 0


class TestListKeys:
    async def test_lists_without_secrets(
        self, client: httpx.AsyncClient, admin: dict[str, str], admin_key: KeyCreated
    ) -> None:
        response = await client.get(api_path("list_keys"), headers=admin)
        assert response.status_code == 200
        page = response.json()
        assert page["limit"] == 50
        assert page["next_cursor"] is None
        [item] = page["items"]
        assert item["id"] == str(admin_key.id)
        assert item["prefix"] == admin_key.prefix
        assert "key" not in item
        assert "secret_hash" not in item
        assert admin_key.key.split("_", 2)[2] not in response.text

    async def test_pages_never_repeat_or_skip(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        made = {
            str(
                (
                    await make_key(
                        engine, settings.api_key_pepper, tenant="acme", scopes=[Scope.AUDITS_READ]
                    )
                ).id
            )
            for _ in range(6)
        }
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, str | int] = {"limit": 2, "tenant": "acme"}
            if cursor:
                params["cursor"] = cursor
            page = (await client.get(api_path("list_keys"), headers=admin, params=params)).json()
            seen.extend(item["id"] for item in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 6
        assert set(seen) == made

    async def test_tenant_filter(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await make_key(engine, settings.api_key_pepper, tenant="acme", scopes=[Scope.AUDITS_READ])
        await make_key(engine, settings.api_key_pepper, tenant="globex", scopes=[Scope.AUDITS_READ])
        page = (
            await client.get(api_path("list_keys"), headers=admin, params={"tenant": "globex"})
        ).json()
        assert [item["tenant"] for item in page["items"]] == ["globex"]

    @pytest.mark.parametrize("cursor", ["garbage", "eyJrIjoia2V5cyJ9.AAAA", "a.b.c", "%%%"])
    async def test_forged_cursor_is_400(
        self, client: httpx.AsyncClient, admin: dict[str, str], cursor: str
    ) -> None:
        response = await client.get(api_path("list_keys"), headers=admin, params={"cursor": cursor})
        assert_problem(response, 400, "invalid_cursor")

    @pytest.mark.parametrize("limit", [0, 101, -1])
    async def test_limit_out_of_range_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], limit: int
    ) -> None:
        response = await client.get(api_path("list_keys"), headers=admin, params={"limit": limit})
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["query", "limit"]


class TestRevokeKey:
    async def test_revoked_key_fails_on_the_very_next_request(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        other = await make_key(engine, settings.api_key_pepper, name="to revoke")
        assert (await client.get(api_path("list_keys"), headers=bearer(other))).status_code == 200
        response = await client.delete(api_path("revoke_key", key_id=other.id), headers=admin)
        assert response.status_code == 204
        assert response.content == b""
        revoked = await client.get(api_path("list_keys"), headers=bearer(other))
        body = assert_problem(revoked, 401, "unauthorized")
        assert "revoked" in str(body["detail"])
        listed = (await client.get(api_path("list_keys"), headers=admin)).json()["items"]
        assert (
            next(item for item in listed if item["id"] == str(other.id))["revoked_at"] is not None
        )

    async def test_revocation_reaches_every_server_process(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        other = await make_key(engine, settings.api_key_pepper)
        second_process = create_app(settings)  # another app on the same database, as another worker
        async with app_client(second_process, "http://worker-2") as worker:
            assert (
                await worker.get(api_path("list_keys"), headers=bearer(other))
            ).status_code == 200
            revoked = await client.delete(api_path("revoke_key", key_id=other.id), headers=admin)
            assert revoked.status_code == 204
            assert_problem(
                await worker.get(api_path("list_keys"), headers=bearer(other)), 401, "unauthorized"
            )

    async def test_revoking_twice_is_harmless(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        other = await make_key(engine, settings.api_key_pepper)
        assert (
            await client.delete(api_path("revoke_key", key_id=other.id), headers=admin)
        ).status_code == 204
        assert (
            await client.delete(api_path("revoke_key", key_id=other.id), headers=admin)
        ).status_code == 204

    async def test_unknown_key_is_404(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        assert_problem(
            await client.delete(api_path("revoke_key", key_id=uuid.uuid4()), headers=admin),
            404,
            "not_found",
        )

    async def test_malformed_id_is_422(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        body = assert_problem(
            await client.delete("/api/v1/keys/not-a-uuid", headers=admin), 422, "validation_error"
        )
        assert body["errors"][0]["loc"] == ["path", "key_id"]


class TestSecretsStaySecret:
    async def test_no_plaintext_key_anywhere_in_the_database(
        self, client: httpx.AsyncClient, admin: dict[str, str], engine: AsyncEngine
    ) -> None:
        created = (
            await client.post(
                api_path("list_keys"),
                headers=admin,
                json={"tenant": "acme", "scopes": ["audits:read"]},
            )
        ).json()
        secret = created["key"].split("_", 2)[2]
        await client.get(api_path("list_keys"), headers=bearer(created["key"]))  # used once, too
        async with engine.connect() as connection:
            tables = (
                (
                    await connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                )
                .scalars()
                .all()
            )
            assert {"api_key", "tenant"} <= set(tables)
            for table in tables:
                rows = (
                    (await connection.execute(text(f'SELECT t::text FROM "{table}" t')))
                    .scalars()
                    .all()
                )
                for row in rows:
                    assert secret not in row, table
                    assert created["key"] not in row, table

    async def test_keys_never_reach_the_logs(
        self, client: httpx.AsyncClient, admin: dict[str, str], admin_key: KeyCreated
    ) -> None:
        with captured_logs() as stream:
            created = (
                await client.post(
                    api_path("list_keys"),
                    headers=admin,
                    json={"tenant": "acme", "scopes": ["audits:read"]},
                )
            ).json()
            await client.get(api_path("list_keys"), headers=bearer(created["key"]))
            await client.get(api_path("list_keys"), headers=bearer(created["key"] + "x"))
        logged = stream.getvalue()
        assert "trailmark.access" in logged
        for secret in (
            created["key"],
            created["key"].split("_", 2)[2],
            admin_key.key.split("_", 2)[2],
        ):
            assert secret not in logged


async def test_405_lists_every_allowed_method(client: httpx.AsyncClient) -> None:
    response = await client.put(api_path("list_keys"))
    assert_problem(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].split(", ")) == {"GET", "POST"}
