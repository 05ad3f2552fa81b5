"""OpenAPI helpers: each route's documented problems, and the published document."""

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from src.exceptions import DatabaseUnavailable, DomainError, QueryTimeout, UnprocessableRequest
from src.http.problems import PROBLEM_MEDIA_TYPE, Problem


def problem_responses(*errors: type[DomainError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` for a route: each status it can return, as a problem."""
    by_status: dict[int, list[type[DomainError]]] = {}
    every_route: list[type[DomainError]] = [UnprocessableRequest, DatabaseUnavailable, QueryTimeout]
    for error in [*errors, *every_route]:
        by_status.setdefault(error.status, []).append(error)
    responses: dict[int | str, dict[str, Any]] = {}
    for status, classes in sorted(by_status.items()):
        codes = ", ".join(sorted({f"`{cls.code}`" for cls in classes}))
        responses[status] = {
            "model": Problem,
            "description": f"{HTTPStatus(status).phrase} ({codes})",
            "content": {PROBLEM_MEDIA_TYPE: {}},
        }
    return responses


def openapi_document(app: FastAPI) -> dict[str, Any]:  # the OpenAPI JSON document
    """FastAPI's document, with optional query and header parameters published without `null`.

    FastAPI renders `str | None = None` as `anyOf: [string, null]`, but a query string cannot
    carry a null: absence, already said by `required: false`, is how a client leaves one out.
    """
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        for operations in document.get("paths", {}).values():
            for operation in operations.values():
                for parameter in operation.get("parameters", []):
                    schema = parameter.get("schema", {})
                    variants = schema.get("anyOf")
                    if parameter.get("in") in ("query", "header") and variants:
                        kept = [variant for variant in variants if variant.get("type") != "null"]
                        if len(kept) == 1:
                            del schema["anyOf"]
                            schema.update(kept[0])
        app.openapi_schema = document
    return app.openapi_schema
