"""Schemathesis over our own OpenAPI document, against a real server on a real database.

Every documented operation is fuzzed with valid and invalid input; responses must match the
documented status codes, content types and schemas, and nothing may be a 500.
"""

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from sqlalchemy.ext.asyncio import create_async_engine

from src.auth.constants import Scope
from src.config import Settings, to_async_url
from src.main import create_app
from tests.support.database import truncate_all
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.tlog import TEST_LOG_SIGNING_KEY

PEPPER = SecretStr("contract-pepper")


def _settings(database_url: str, openai_url: str | None = None) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=SecretStr(database_url),
        api_key_pepper=PEPPER,
        log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY),
        log_checkpoint_interval=0.2,  # checkpoints come and go while the fuzzer writes
        access_log=False,
        log_level="WARNING",
        openai_api_key=SecretStr("sk-fake-test-key") if openai_url else None,
        openai_base_url=openai_url,
    )


# The document comes from the app itself (building it touches no database).
DOCUMENT = create_app(_settings("postgresql://unused/x")).openapi()


def _is_text(parameter: dict[str, Any]) -> bool:
    schema = parameter.get("schema", {})
    variants = schema.get("anyOf", [schema])
    return parameter.get("in") == "query" and any(v.get("type") == "string" for v in variants)


def _expected_for_valid_data(operation: dict[str, Any]) -> list[str]:
    """What a schema-valid request may get, beyond success, by contract."""
    names = {parameter["name"] for parameter in operation.get("parameters", [])}
    expected = {"2xx", "401", "403", "404", "409"}
    if "cursor" in names:
        expected.add("400")  # any string fits `cursor`'s schema; only signed ones are accepted
    if any(_is_text(parameter) for parameter in operation.get("parameters", [])):
        expected.add("422")  # a NUL character fits a string's schema; PostgreSQL refuses it
    if operation["operationId"].startswith(("ask_", "summarize_", "create_token_")):
        # A question the model cannot map; more events than AI_SUMMARY_MAX_EVENTS; a bad `q`
        # (in a viewer token's filter too); an admin key that names no tenant.
        expected.add("422")
    if "q" in names or "Idempotency-Key" in names:
        # A malformed search query; an Idempotency-Key reused with another body, or an
        # `occurred_at` over 5 minutes ahead: all valid by the schema, refused by the contract.
        expected.add("422")
    if names & {"from", "tree_size", "since_size"}:
        # Tree sizes must be signed sizes that fit together (`from` <= `to`, an event inside
        # `tree_size`, `since_size` within the latest): the schema cannot say so.
        expected.add("422")
    return sorted(expected)


CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-name": [f"{method.upper()} {path}"],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": _expected_for_valid_data(operation)
                    },
                    # A query string has no types: a "wrong-typed" value such as the integer 0
                    # is sent as the text "0", which may well be valid. Bodies keep the check.
                    "negative_data_rejection": {"enabled": method != "get"},
                },
            }
            for path, operations in DOCUMENT["paths"].items()
            for method, operation in operations.items()
        ]
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module", autouse=True)
def _not_under_xdist() -> None:
    """Under a pytest-xdist worker schemathesis's per-operation tests collapse into one test
    that checks nothing; fail rather than pass empty (`tasks.py test` runs them alone)."""
    if "PYTEST_XDIST_WORKER" in os.environ:
        pytest.fail("run tests/contract without pytest-xdist (-n)", pytrace=False)


@pytest.fixture(scope="module")
def live_server(database_url: str) -> Iterator[str]:
    """The real app under uvicorn in a background thread (its own event loop and lifespan),
    its AI endpoints answered by the fake OpenAI server."""
    fake = FakeOpenAI().start()
    port = _free_port()
    app = create_app(_settings(database_url, fake.url))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "server thread died"
        assert time.monotonic() < deadline, "server did not start in 20 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        fake.stop()
        asyncio.run(truncate_all(database_url))


@pytest.fixture(scope="module")
def keys(live_server: str, database_url: str) -> dict[str, dict[str, str]]:
    """An admin key (for /keys) and a key of tenant `acme` with every audits scope."""

    async def create() -> dict[str, dict[str, str]]:
        engine = create_async_engine(to_async_url(database_url))
        try:
            admin = await make_key(engine, PEPPER, name="contract admin")
            tenant = await make_key(
                engine,
                PEPPER,
                tenant="acme",
                scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ, Scope.AUDITS_ERASE],
            )
            return {"admin": bearer(admin), "tenant": bearer(tenant)}
        finally:
            await engine.dispose()

    return asyncio.run(create())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_operations_honour_the_contract(
    case: schemathesis.Case, live_server: str, keys: dict[str, dict[str, str]]
) -> None:
    # Tenant-scoped routes with a tenant key: an admin key must also name the tenant, which
    # the schema cannot say (it is a documented 422).
    headers = keys["admin"] if case.path.startswith(api_path("list_keys")) else keys["tenant"]
    case.call_and_validate(base_url=live_server, headers=headers)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_operations_without_a_key_honour_the_contract(
    case: schemathesis.Case, live_server: str
) -> None:
    case.call_and_validate(base_url=live_server)
