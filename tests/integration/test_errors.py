"""Every error is RFC 9457 problem+json with Trailmark's `code` and `request_id`."""

import logging

import httpx
import pytest
from fastapi import FastAPI

from tests.support.problems import assert_problem
from tests.support.routes import RAISABLE, add_probe_routes


@pytest.fixture
def probed_app(app: FastAPI) -> FastAPI:
    add_probe_routes(app)
    return app


class TestFrameworkErrors:
    async def test_unknown_route_is_404_problem(self, client: httpx.AsyncClient) -> None:
        body = assert_problem(await client.get("/no/such/route"), 404, "not_found")
        assert body["instance"] == "/no/such/route"

    async def test_wrong_method_is_405_problem_with_allow(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/healthz")
        assert_problem(response, 405, "method_not_allowed")
        assert "GET" in response.headers["allow"]

    async def test_body_that_is_not_json_is_422(
        self, probed_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/_probe/echo", content=b"{not json", headers={"content-type": "application/json"}
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["detail"] == "The request body is not valid JSON."

    async def test_validation_error_lists_each_bad_field(
        self, probed_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        response = await client.post("/_probe/echo", json={"count": "many"})
        body = assert_problem(response, 422, "validation_error")
        errors = body["errors"]
        assert isinstance(errors, list)
        by_loc = {tuple(error["loc"]): error for error in errors}
        assert set(by_loc) == {("body", "text"), ("body", "count")}
        assert by_loc[("body", "text")]["type"] == "missing"
        assert all(error.keys() == {"loc", "msg", "type"} for error in errors)

    async def test_validation_error_never_echoes_the_input(
        self, probed_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        response = await client.post(
            "/_probe/echo", json={"text": "ok", "count": "tm_secret_value"}
        )
        assert_problem(response, 422, "validation_error")
        assert "tm_secret_value" not in response.text


class TestDomainErrors:
    @pytest.mark.parametrize("status", sorted(RAISABLE))
    async def test_each_domain_error_renders_as_problem(
        self, probed_app: FastAPI, client: httpx.AsyncClient, status: int
    ) -> None:
        response = await client.get(f"/_probe/raise/{status}")
        body = assert_problem(response, status, RAISABLE[status].code)
        assert body["detail"] == f"probe {status}"
        assert body["title"] == RAISABLE[status].title

    async def test_unauthorized_asks_for_a_bearer_token(
        self, probed_app: FastAPI, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/_probe/raise/401")
        assert response.headers["www-authenticate"] == "Bearer"


class TestUnhandledErrors:
    async def test_crash_is_500_without_internals_and_is_logged(
        self, probed_app: FastAPI, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR):
            response = await client.get("/_probe/crash", headers={"X-Request-ID": "crash-1"})
        body = assert_problem(response, 500, "internal_error")
        assert body["request_id"] == "crash-1"
        assert "hunter2" not in response.text
        assert "Traceback" not in response.text
        assert "RuntimeError" not in response.text
        # Security headers survive the crash too.
        assert response.headers["x-content-type-options"] == "nosniff"
        crash_logs = [record for record in caplog.records if record.exc_info]
        assert crash_logs, "the traceback must be logged"
        assert crash_logs[0].exc_info is not None
        assert crash_logs[0].exc_info[0] is RuntimeError


async def test_body_that_is_not_utf8_is_422_like_any_bad_json(
    probed_app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        "/_probe/echo",
        content=b'{"text": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"] == [
        {"loc": ["body"], "msg": "The body is not UTF-8 JSON.", "type": "json_invalid"}
    ]
