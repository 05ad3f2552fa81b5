"""ASGI middleware: unhandled errors as problems, access log and metrics, security headers."""

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from src.http import docs
from src.http.problems import database_error_response, internal_error_response, problem_response
from src.metrics import Metrics

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("trailmark.access")

UNMATCHED_ROUTE = "<unmatched>"

_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
# Swagger UI and ReDoc start with an inline script and style; their bundles are the app's own
# (src/http/docs.py), so no other host is named.
_DOCS_CSP = (
    "default-src 'none'; "
    "script-src 'self' 'unsafe-inline'; "
    "style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; "
    "worker-src blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def route_template(scope: Scope, asset_paths: tuple[str, ...] = (docs.ASSETS_PATH,)) -> str:
    """The matched route's full path template (`/api/v1/keys/{key_id}`), never the raw path.

    FastAPI (0.16x) records a route of an included router in `scope["route"]` without the
    router's prefix; the full template sits in its route context, which is read when present
    (a test pins this, so an upgrade that moves it fails loudly instead of mislabelling).
    Plain documentation routes are not recorded at all: those few fixed paths are named as
    they are, and their files by their folder (bounded, unlike arbitrary unknown paths).
    """
    context = scope.get("fastapi", {}).get("effective_route_context")
    full_path = getattr(context, "path", None)
    if isinstance(full_path, str):
        return full_path
    route_path = getattr(scope.get("route"), "path", None)
    if isinstance(route_path, str):
        return route_path
    path = str(scope["path"])
    if path in docs.PAGE_PATHS or path == "/openapi.json":
        return path
    for assets in asset_paths:
        if path.startswith(assets + "/"):
            return assets  # one label for the files of one page (the documentation, ...)
    return UNMATCHED_ROUTE


class AccessLogMiddleware:
    """One JSON log line and one metrics observation per HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        log_requests: bool,
        asset_paths: tuple[str, ...] = (docs.ASSETS_PATH,),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests
        self.asset_paths = asset_paths  # folders of static files, each one label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_capturing_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_capturing_status)
        finally:
            duration = time.perf_counter() - started
            method = scope["method"]
            route = route_template(scope, self.asset_paths)
            self.metrics.observe_request(method, route, status, duration)
            if self.log_requests:
                access_logger.info(
                    "%s %s %s",
                    method,
                    route,
                    status,
                    extra={
                        "method": method,
                        "route": route,
                        "status": status,
                        "duration_ms": round(duration * 1000, 3),
                    },
                )


@dataclass(frozen=True, slots=True)
class PagePolicy:
    """What one path may load and who may frame it. A `framed` page gets no X-Frame-Options
    (which could only say DENY): its CSP's `frame-ancestors` decides alone."""

    csp: str
    framed: bool = False


_API_POLICY = PagePolicy(_API_CSP)


class SecurityHeadersMiddleware:
    """Headers that make the API safe to expose: no sniffing, no framing, a strict CSP (the
    documentation's, or a page's own from `pages`, where the path is one)."""

    def __init__(self, app: ASGIApp, pages: Mapping[str, PagePolicy] | None = None) -> None:
        self.app = app
        self.pages = {
            **{path: PagePolicy(_DOCS_CSP) for path in docs.PAGE_PATHS},
            **(pages or {}),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.pages.get(scope["path"], _API_POLICY)
        csp = policy.csp
        frame_options = not policy.framed
        is_https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if frame_options:
                    headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Content-Security-Policy", csp)
                if is_https:
                    headers.setdefault(
                        "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)


class ContentLengthGuardMiddleware:
    """Answer a declared oversize body with a 413 problem before reading a byte of it.

    FastAPI's own limit (`max_body_size`) counts streamed bytes, but it answers a declared
    oversize `Content-Length` from outside our middleware, as plain text without the request
    id or security headers; this guard answers those first, in the house format.
    """

    def __init__(self, app: ASGIApp, default_limit: int, limits_by_path: dict[str, int]) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits_by_path = limits_by_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = _declared_length(scope)
            limit = self.limits_by_path.get(scope["path"], self.default_limit)
            if declared is not None and declared > limit:
                response = problem_response(
                    None,
                    status=413,
                    code="payload_too_large",
                    detail=f"The request body is larger than this endpoint accepts: {limit} bytes.",
                    instance=scope["path"],
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class UnhandledErrorMiddleware:
    """Turn any other exception into a 500 problem *inside* the middleware stack.

    Starlette answers unhandled errors in its outermost middleware, past our request-id and
    security-header middleware; catching them here keeps those headers on every 500.
    """

    def __init__(self, app: ASGIApp, retry_after_seconds: int) -> None:
        self.app = app
        self.retry_after_seconds = retry_after_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if response_started:
                logger.exception("error after the response started")
                raise
            response = database_error_response(None, exc, self.retry_after_seconds)
            if response is None:
                logger.exception("unhandled error")
                response = internal_error_response(None, instance=scope.get("path", ""))
            await response(scope, receive, send)
