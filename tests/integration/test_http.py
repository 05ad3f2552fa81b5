"""Request ids, security headers, CORS, compression, the body limit, docs switch."""

import re

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from src.config import Settings
from src.main import create_app
from tests.support.problems import assert_problem
from tests.support.routes import add_probe_routes

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


class TestRequestId:
    async def test_sane_request_id_is_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "req-123_A.b"})
        assert response.headers["x-request-id"] == "req-123_A.b"

    async def test_missing_request_id_is_generated(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"])

    @pytest.mark.parametrize(
        "bad",
        ["x" * 129, "has space", "semi;colon", "tab\tinside", "<script>", "ünïcode"],
    )
    async def test_insane_request_id_is_replaced(self, client: httpx.AsyncClient, bad: str) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": bad.encode()})
        assert GENERATED_ID.fullmatch(response.headers["x-request-id"])

    async def test_128_chars_is_still_sane(self, client: httpx.AsyncClient) -> None:
        token = "a" * 128
        response = await client.get("/healthz", headers={"X-Request-ID": token})
        assert response.headers["x-request-id"] == token

    async def test_error_body_carries_the_request_id(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/missing", headers={"X-Request-ID": "trace-42"})
        assert response.json()["request_id"] == "trace-42"


class TestSecurityHeaders:
    async def test_api_responses_are_locked_down(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert "strict-transport-security" not in response.headers

    async def test_error_responses_carry_them_too(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/missing")
        assert response.headers["x-frame-options"] == "DENY"

    @pytest.mark.parametrize("path", ["/docs", "/redoc"])
    async def test_the_docs_need_no_other_host(self, client: httpx.AsyncClient, path: str) -> None:
        response = await client.get(path)
        assert response.status_code == 200
        csp = response.headers["content-security-policy"]
        assert "script-src 'self' 'unsafe-inline';" in csp
        assert "frame-ancestors 'none'" in csp
        assert "http" not in csp  # no CDN, no font host: works in a closed network
        # Every script and style the page names is the app's own, and it serves them.
        assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert assets
        for asset in assets:
            assert asset.startswith("/docs/assets/"), asset
            served = await client.get(asset)
            assert served.status_code == 200, asset
            assert len(served.content) > 1000
            assert b"cdn.redoc.ly" not in served.content, asset  # ReDoc's logo: see docs.py

    async def test_hsts_only_over_https(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        secure = httpx.AsyncClient(transport=client._transport, base_url="https://trailmark.test")
        async with secure:
            response = await secure.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")


class TestCors:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=SecretStr(database_url),
            cors_allow_origins=["http://localhost:5173"],
        )

    async def test_allowed_origin_gets_a_preflight_answer(self, client: httpx.AsyncClient) -> None:
        response = await client.options(
            "/healthz",
            headers={"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET"},
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == "http://localhost:5173"

    async def test_other_origins_get_no_cors_headers(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in response.headers

    def test_wildcard_origin_is_refused(self) -> None:
        with pytest.raises(ValueError, match="explicit origins"):
            Settings(_env_file=None, cors_allow_origins=["*"])  # type: ignore[call-arg]

    async def test_cors_is_off_by_default(self, database_url: str) -> None:
        app = create_app(Settings(_env_file=None, database_url=SecretStr(database_url)))  # type: ignore[call-arg]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as plain:
            response = await plain.get("/healthz", headers={"Origin": "http://localhost:5173"})
        assert "access-control-allow-origin" not in response.headers


class TestCompression:
    async def test_large_responses_are_gzipped(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        add_probe_routes(app)
        response = await client.get("/_probe/big", headers={"Accept-Encoding": "gzip"})
        assert response.headers["content-encoding"] == "gzip"
        assert response.json()["padding"] == "x" * 10_000

    async def test_small_responses_are_not(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in response.headers


class TestBodyLimit:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=SecretStr(database_url),
            max_body_bytes=64,
        )

    async def test_body_over_the_limit_is_413_problem(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        add_probe_routes(app, max_body_bytes=64)
        response = await client.post("/_probe/echo", json={"text": "x" * 100})
        assert_problem(response, 413, "payload_too_large")

    async def test_streamed_body_without_length_is_counted(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        add_probe_routes(app, max_body_bytes=64)

        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(10):
                yield b'{"text": "' + b"y" * 20

        response = await client.post(
            "/_probe/echo", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_problem(response, 413, "payload_too_large")

    async def test_body_within_the_limit_passes(
        self, app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        add_probe_routes(app, max_body_bytes=64)
        response = await client.post("/_probe/echo", json={"text": "short"})
        assert response.status_code == 200
        assert response.json() == {"text": "short", "count": 1}


class TestDocsSwitch:
    @pytest.fixture
    def settings(self, database_url: str) -> Settings:
        return Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=SecretStr(database_url),
            docs_enabled=False,
        )

    @pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
    async def test_docs_can_be_turned_off(self, client: httpx.AsyncClient, path: str) -> None:
        assert_problem(await client.get(path), 404, "not_found")

    async def test_root_says_docs_are_off(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/")).json()["docs"] is None
