"""The errors the service raises on purpose: one `DomainError` hierarchy.

Each class carries its HTTP status, stable `code`, title and default detail, given as class
keywords (`class EventErased(Gone, code="event_erased", detail=...)`); `src/http/problems.py`
renders any of them as RFC 9457 problem+json, and `src/http/openapi.py` documents them per
route. Domain packages subclass these in their own `exceptions.py`.
"""

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, ClassVar


class DomainError(Exception):
    """Base of every error the service raises on purpose; one handler renders them all."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad Request"
    default_detail: ClassVar[str] = "The request could not be processed."

    def __init_subclass__(
        cls,
        *,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        **kwargs: Any,  # whatever `Exception` subclasses may take
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
            cls.title = HTTPStatus(status).phrase
        cls.code = code or cls.code
        cls.title = title or cls.title
        cls.default_detail = detail or cls.default_detail

    def __init__(self, detail: str | None = None, *, headers: Mapping[str, str] | None = None):
        self.detail = detail or self.default_detail
        self.headers = dict(headers or {})
        super().__init__(self.detail)


class NotFound(DomainError, status=404, code="not_found", detail="The resource does not exist."):
    pass


class Unauthorized(
    DomainError,
    status=401,
    code="unauthorized",
    detail="A valid API key is required: send `Authorization: Bearer <key>`.",
):
    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(
    DomainError,
    status=403,
    code="forbidden",
    detail="The API key lacks the scope this action needs.",
):
    pass


class Conflict(
    DomainError,
    status=409,
    code="conflict",
    detail="The request conflicts with the current state of the resource.",
):
    pass


class Gone(
    DomainError, status=410, code="gone", detail="The resource existed but is no longer available."
):
    pass


class UnprocessableRequest(
    DomainError,
    status=422,
    code="validation_error",
    title="Unprocessable Content",
    detail="The request is well-formed but cannot be processed.",
):
    pass


class ServiceUnavailable(
    DomainError,
    status=503,
    code="service_unavailable",
    detail="The service cannot answer right now; try again later.",
):
    pass


class DatabaseUnavailable(
    ServiceUnavailable,
    code="database_unavailable",
    detail="The database is unreachable; try again shortly.",
):
    pass


class ShuttingDown(
    ServiceUnavailable,
    code="shutting_down",
    detail="This server process is shutting down; retry, and another will answer.",
):
    pass


class GatewayTimeout(DomainError, status=504, code="gateway_timeout"):
    """Something Trailmark waited on (the database, the AI provider) took too long."""


class QueryTimeout(
    GatewayTimeout,
    code="query_timeout",
    detail="The query ran past the database's statement timeout and was cancelled; "
    "narrow the filters or the time range.",
):
    pass


# What any route that takes a credential can answer besides its own errors (OpenAPI).
AUTH_ERRORS = (Unauthorized, Forbidden)
