"""The OpenAPI document describes every route fully."""

import httpx

from src.main import API_VERSION

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


async def test_document_identifies_the_service(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["title"] == "Trailmark"
    assert document["info"]["version"] == API_VERSION
    assert "tamper-evident" in document["info"]["summary"]
    assert "problem+json" in document["info"]["description"]
    assert {tag["name"] for tag in document["tags"]} >= {"operations", "meta"}
    assert all(tag["description"] for tag in document["tags"])


async def test_every_operation_is_documented(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    declared_tags = {tag["name"] for tag in document["tags"]}
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]
    assert operations
    for path, method, operation in operations:
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        assert operation.get("tags"), where
        assert set(operation["tags"]) <= declared_tags, where
        assert (
            "200" in operation["responses"]
            or "201" in operation["responses"]
            or "204" in operation["responses"]
        ), where
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert "application/problem+json" in response["content"], where


async def test_problem_schema_is_published(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    problem = schemas["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "instance", "code"}
    assert problem["examples"]


async def test_root_points_at_the_docs(client: httpx.AsyncClient) -> None:
    body = (await client.get("/")).json()
    assert body == {
        "name": "Trailmark",
        "version": API_VERSION,
        "docs": "/docs",
        "openapi": "/openapi.json",
        "ai": False,  # no OPENAI_API_KEY in the tests' settings
    }
