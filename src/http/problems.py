"""Every error as RFC 9457 problem+json: the shape, and the handlers that render it."""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from src.database import is_database_unavailable, is_query_timeout
from src.exceptions import DatabaseUnavailable, DomainError, QueryTimeout
from src.schemas import with_examples
from src.state import app_state

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:trailmark:problem:"


class ValidationIssue(BaseModel):
    """One reason a request was invalid."""

    loc: list[str | int] = Field(
        description="Where: `body`, `query`, `path` or `header`, then the field path."
    )
    msg: str = Field(description="What is wrong, for people.")
    type: str = Field(description="A stable machine code for the kind of problem.")


class Problem(BaseModel):
    """An error, as RFC 9457 problem details with Trailmark's `code` and `request_id`."""

    model_config = with_examples(
        {
            "type": "urn:trailmark:problem:not_found",
            "title": "Not Found",
            "status": 404,
            "detail": "No audit event with that id.",
            "instance": "/api/v1/audits/0193a1c2-0000-7000-8000-000000000000",
            "code": "not_found",
            "request_id": "4f1c2d3e5a6b7c8d9e0f1a2b3c4d5e6f",
        }
    )

    type: str = Field(description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong with this request.")
    instance: str = Field(description="The request path.")
    code: str = Field(description="A stable snake_case machine code.")
    request_id: str | None = Field(description="The request's `X-Request-ID`.")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="Each invalid input, for validation errors."
    )


# Codes for errors raised by the framework itself rather than by our code.
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    410: "gone",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}

_HTTP_DETAILS: dict[int, str] = {
    404: "No route matches this path.",
    405: "This path does not accept that method.",
    413: "The request body is larger than this endpoint accepts.",
}


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    detail: str,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    errors: Sequence[ValidationIssue] | None = None,
    extra: Mapping[str, object] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    """Build the one error shape Trailmark returns."""
    body: dict[str, object] = {
        "type": PROBLEM_TYPE_PREFIX + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": instance if instance is not None else (request.url.path if request else ""),
        "code": code,
        "request_id": correlation_id.get(),
    }
    if errors is not None:
        body["errors"] = [issue.model_dump() for issue in errors]
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _validation_issues(raw_errors: Sequence[Any]) -> list[ValidationIssue]:
    # Pydantic's error dicts are loosely typed; keep only what is safe to echo back
    # (never `input`, which may hold a secret the client sent by mistake).
    issues = []
    for error in raw_errors:
        loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
        issues.append(
            ValidationIssue(loc=loc, msg=str(error.get("msg", "")), type=str(error.get("type", "")))
        )
    return issues


def domain_error_response(
    request: Request | None, error: DomainError, retry_after: int
) -> JSONResponse:
    """`error` as a problem; every 503 tells the client when to retry."""
    headers = error.headers
    if error.status == 503 and "Retry-After" not in headers:
        headers = {**headers, "Retry-After": str(retry_after)}
    return problem_response(
        request,
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        headers=headers,
    )


def internal_error_response(request: Request | None, instance: str | None = None) -> JSONResponse:
    return problem_response(
        request,
        status=500,
        code="internal_error",
        detail="An unexpected error occurred. It has been logged with this request's id.",
        instance=instance,
    )


async def _domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    retry_after: int = app_state(request)["settings"].database_retry_after_seconds
    return domain_error_response(request, exc, retry_after)


async def _validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = _validation_issues(exc.errors())
    bad_json = any(issue.type == "json_invalid" for issue in issues)
    detail = (
        "The request body is not valid JSON."
        if bad_json
        else "The request has invalid fields; see `errors`."
    )
    return problem_response(
        request, status=422, code="validation_error", detail=detail, errors=issues
    )


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at this path (Starlette names only the first route's)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
        # FastAPI answers a body that is not UTF-8 with a bare 400; it is just as much "not
        # JSON" as a syntax error, so it gets the same 422 as one.
        issue = ValidationIssue(
            loc=["body"], msg="The body is not UTF-8 JSON.", type="json_invalid"
        )
        return problem_response(
            request,
            status=422,
            code="validation_error",
            detail="The request body is not valid JSON.",
            errors=[issue],
        )
    headers = dict(exc.headers or {})
    if status == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    code = _HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    detail = _HTTP_DETAILS.get(status) or (exc.detail if isinstance(exc.detail, str) else None)
    return problem_response(
        request,
        status=status,
        code=code,
        detail=detail or HTTPStatus(status).phrase,
        headers=headers,
    )


def database_error_response(
    request: Request | None, exc: BaseException, retry_after: int
) -> JSONResponse | None:
    """The problem for a database failure that is not a bug: unreachable, or a query timeout."""
    error: DomainError
    if isinstance(exc, sa_exc.TimeoutError):
        error = DatabaseUnavailable("Every database connection is busy; try again shortly.")
    elif is_database_unavailable(exc):
        error = DatabaseUnavailable()
    elif is_query_timeout(exc):
        error = QueryTimeout()
    else:
        return None
    logger.warning("%s: %s", error.code, type(exc).__name__)
    return domain_error_response(request, error, retry_after)


async def _database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    retry_after: int = app_state(request)["settings"].database_retry_after_seconds
    response = database_error_response(request, exc, retry_after)
    if response is not None:
        return response
    logger.error("unhandled database error", exc_info=exc)
    return internal_error_response(request)


def register_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(sa_exc.SQLAlchemyError, _database_error_handler)
    app.add_exception_handler(OSError, _database_error_handler)
