"""Liveness, readiness, and how the service behaves while the database is away."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from src.config import Settings
from src.devdb import create_database, drop_database
from src.main import create_app
from tests.support.clients import app_client
from tests.support.problems import assert_problem
from tests.support.proxy import OutageProxy
from tests.support.routes import add_probe_routes


class TestHealthz:
    async def test_healthz_is_ok(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}


class TestReadyz:
    async def test_ready_when_database_answers_at_head(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}

    async def test_not_ready_when_schema_is_behind(self, database_server_url: str) -> None:
        name = f"trailmark_unmigrated_{uuid.uuid4().hex[:8]}"
        url = await create_database(database_server_url, name)
        try:
            app = create_app(Settings(_env_file=None, database_url=SecretStr(url)))  # type: ignore[call-arg]
            async with app_client(app) as http:
                response = await http.get("/readyz")
        finally:
            await drop_database(database_server_url, name)
        body = assert_problem(response, 503, "schema_out_of_date")
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["schema"].startswith("failing: schema at revision none")
        assert "schema" in str(body["detail"])


def _through(proxy_port: int, database_url: str) -> str:
    database = urlsplit(database_url).path.lstrip("/")
    return f"postgresql://postgres@127.0.0.1:{proxy_port}/{database}"


class TestDatabaseOutage:
    @pytest.fixture
    async def proxy(self, database_url: str) -> AsyncIterator[OutageProxy]:
        outage = OutageProxy(database_url)
        await outage.start()
        yield outage
        if outage._server is not None:
            await outage.cut()

    @pytest.fixture
    async def outage_client(
        self, proxy: OutageProxy, database_url: str
    ) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=SecretStr(_through(proxy.port, database_url)),
            database_connect_timeout_seconds=2,
            database_retry_after_seconds=7,
        )
        app = create_app(settings)
        add_probe_routes(app)
        async with app_client(app) as http:
            yield app, http

    async def test_outage_is_503_and_recovery_is_automatic(
        self, proxy: OutageProxy, outage_client: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, http = outage_client
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/_probe/db")).json() == {"value": 1}

        await proxy.cut()

        ready = await http.get("/readyz")
        body = assert_problem(ready, 503, "database_unavailable")
        assert body["checks"]["database"] == "failing: database unreachable"
        assert ready.headers["retry-after"] == "7"

        query = await http.get("/_probe/db")
        assert_problem(query, 503, "database_unavailable")
        assert query.headers["retry-after"] == "7"
        assert "127.0.0.1" not in query.text  # no connection details leak

        assert (await http.get("/healthz")).status_code == 200  # liveness does not depend on it

        await proxy.start()  # same port: the database is back

        for _ in range(20):
            if (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        assert (await http.get("/readyz")).status_code == 200
        assert (await http.get("/_probe/db")).json() == {"value": 1}
