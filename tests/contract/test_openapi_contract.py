"""Schemathesis over our own OpenAPI document, against a real server on a real database.

Every documented operation is fuzzed with valid and invalid input; responses must match the
documented status codes, content types and schemas, and nothing may be a 500.
"""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from pydantic import SecretStr
from schemathesis.config import SchemathesisConfig
from sqlalchemy.ext.asyncio import create_async_engine

from src.config import Settings, to_async_url
from src.main import create_app
from tests.conftest import truncate_all
from tests.support.keys import bearer, make_key

PEPPER = SecretStr("contract-pepper")


def _settings(database_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=SecretStr(database_url),
        api_key_pepper=PEPPER,
        access_log=False,
        log_level="WARNING",
    )


# The document comes from the app itself (building it touches no database).
DOCUMENT = create_app(_settings("postgresql://unused/x")).openapi()
PAGED_OPERATIONS = [
    f"{method.upper()} {path}"
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if any(parameter["name"] == "cursor" for parameter in operation.get("parameters", []))
]
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                # Any string fits the schema of `cursor`, but only the server's own signed
                # cursors are accepted: a made-up one is a 400 `invalid_cursor`, by contract.
                "include-name": PAGED_OPERATIONS,
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "400", "401", "403", "404"]
                    }
                },
            }
        ]
    }
)
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_server(database_url: str) -> Iterator[str]:
    """The real app under uvicorn in a background thread (its own event loop and lifespan)."""
    port = _free_port()
    app = create_app(_settings(database_url))
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
        asyncio.run(truncate_all(database_url))


@pytest.fixture(scope="module")
def admin_headers(live_server: str, database_url: str) -> dict[str, str]:
    async def create() -> str:
        engine = create_async_engine(to_async_url(database_url))
        try:
            return (await make_key(engine, PEPPER, name="contract")).key
        finally:
            await engine.dispose()

    return bearer(asyncio.run(create()))


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_operations_honour_the_contract(
    case: schemathesis.Case, live_server: str, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(base_url=live_server, headers=admin_headers)


@schema.parametrize()
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
def test_operations_without_a_key_honour_the_contract(
    case: schemathesis.Case, live_server: str
) -> None:
    case.call_and_validate(base_url=live_server)
