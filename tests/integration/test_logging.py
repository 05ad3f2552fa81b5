"""Logs are JSON lines with the request id, and never carry a secret."""

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from src.logging import json_handler
from tests.support.routes import add_probe_routes


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_access_log_line_per_request(
    client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    await client.get("/healthz", headers={"X-Request-ID": "log-me-1"})
    access = [r for r in _records(log_lines) if r["logger"] == "trailmark.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "log-me-1"
    assert line["method"] == "GET"
    assert line["route"] == "/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["level"] == "INFO"
    assert str(line["timestamp"]).endswith("Z")


async def test_every_line_of_a_request_has_its_id(
    app: FastAPI, client: httpx.AsyncClient, log_lines: io.StringIO
) -> None:
    add_probe_routes(app)
    await client.get("/_probe/crash", headers={"X-Request-ID": "crash-log-2"})
    lines = _records(log_lines)
    assert {line["logger"] for line in lines} >= {"src.http.middleware", "trailmark.access"}
    assert all(line["request_id"] == "crash-log-2" for line in lines)
    crash = next(line for line in lines if line["logger"] == "src.http.middleware")
    assert "RuntimeError" in str(crash["exc_info"])


async def test_secrets_are_redacted_whatever_logs_them(log_lines: io.StringIO) -> None:
    logger = logging.getLogger("trailmark.test")
    logger.warning("key tm_ab12cd34_Zm9vYmFyYmF6cXV4 and Authorization: Bearer abc.def.ghi")
    logger.warning("url postgresql://user:s3cret@db:5432/x")
    text = log_lines.getvalue()
    assert "Zm9vYmFyYmF6cXV4" not in text
    assert "abc.def.ghi" not in text
    assert "s3cret" not in text
    assert "tm_[REDACTED]" in text
