"""An admin names the tenant with `tenant` in the query on every tenant-scoped route.

Walked from the OpenAPI document, so a route added later is held to it too. Where a route
also takes `tenant` in its body, both work, and both given must agree (else a 422).
"""

import uuid
from typing import Any

import httpx

from src.auth.exceptions import TenantRequired, TenantsDisagree
from src.auth.schemas import KeyCreated

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}
# The keys routes are the admin's, not a tenant's: `tenant` is the new key's own (POST) or a
# filter of the list (GET), never the tenant a request acts on.
NOT_TENANT_SCOPED = {("post", "/api/v1/keys"), ("get", "/api/v1/keys")}
# The model's usage and calls: an admin who names no tenant sees every tenant's.
ADMIN_MAY_OMIT = {("get", "/api/v1/openai/usage"), ("get", "/api/v1/openai/calls")}

Operation = tuple[str, str, dict[str, Any]]  # method, path, the OpenAPI operation


def body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    """The operation's JSON request body schema (its `$ref` resolved), or {}."""
    schema = (
        operation.get("requestBody", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return dict(schema)


def takes_query_tenant(operation: dict[str, Any]) -> bool:
    return any(
        parameter["name"] == "tenant" and parameter["in"] == "query"
        for parameter in operation.get("parameters", [])
    )


async def tenant_routes(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[Operation]]:
    """The document, and every operation that takes `tenant` in its query or its body."""
    document = (await client.get("/openapi.json")).json()
    operations = [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
        and (method, path) not in NOT_TENANT_SCOPED
        and (
            takes_query_tenant(operation)
            or "tenant" in body_schema(document, operation).get("properties", {})
        )
    ]
    return document, operations


def example_request(
    document: dict[str, Any], method: str, path: str, operation: dict[str, Any]
) -> tuple[str, dict[str, Any] | None]:
    """A concrete path (path parameters filled in) and the body example, if any."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            path = path.replace("{" + parameter["name"] + "}", str(uuid.uuid4()))
    schema = body_schema(document, operation)
    if not schema:
        return path, None
    examples = schema.get("examples") or [schema.get("example")]
    body = examples[0]
    assert isinstance(body, dict), f"{method.upper()} {path} has no body example"
    return path, dict(body)


def tenant_complaints(response: httpx.Response) -> list[str]:
    """What a 422 says about the tenant: unknown or malformed, missing, disagreeing."""
    if response.status_code != 422:
        return []
    problem = response.json()
    said = [str(error) for error in problem.get("errors", []) if "tenant" in error.get("loc", [])]
    if problem.get("detail") in {TenantRequired.default_detail, TenantsDisagree.default_detail}:
        said.append(problem["detail"])
    return said


async def test_every_route_with_a_body_tenant_takes_it_in_the_query_too(
    client: httpx.AsyncClient,
) -> None:
    document, operations = await tenant_routes(client)
    with_body = [
        (method, path)
        for method, path, operation in operations
        if "tenant" in body_schema(document, operation).get("properties", {})
    ]
    assert ("post", "/api/v1/viewer/tokens") in with_body  # the walk sees the routes at all
    missing = [
        f"{method.upper()} {path}"
        for method, path, operation in operations
        if not takes_query_tenant(operation)
    ]
    assert missing == []


async def test_an_admin_names_the_tenant_in_the_query_on_every_tenant_scoped_route(
    client: httpx.AsyncClient, admin: dict[str, str], acme_key: KeyCreated
) -> None:
    document, operations = await tenant_routes(client)
    assert len(operations) >= 15
    for method, template, operation in operations:
        where = f"{method.upper()} {template}"
        path, body = example_request(document, method, template, operation)
        if body is not None:
            body.pop("tenant", None)
        named = await client.request(
            method, path, params={"tenant": "acme"}, json=body, headers=admin
        )
        assert tenant_complaints(named) == [], (where, named.text)
        if (method, template) not in ADMIN_MAY_OMIT:
            unnamed = await client.request(method, path, json=body, headers=admin)
            assert TenantRequired.default_detail in tenant_complaints(unnamed), (
                where,
                unnamed.text,
            )
        if body is None or "tenant" not in body_schema(document, operation)["properties"]:
            continue
        both = await client.request(
            method, path, params={"tenant": "acme"}, json={**body, "tenant": "acme"}, headers=admin
        )
        assert tenant_complaints(both) == [], (where, both.text)
        disagreeing = await client.request(
            method,
            path,
            params={"tenant": "acme"},
            json={**body, "tenant": "globex"},
            headers=admin,
        )
        assert tenant_complaints(disagreeing) == [TenantsDisagree.default_detail], (
            where,
            disagreeing.text,
        )
