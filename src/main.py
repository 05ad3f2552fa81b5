"""The application factory and its lifespan."""

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field
from starlette.responses import Response

from src.audits.assistant_router import router as assistant_router
from src.audits.dependencies import AuditsState
from src.audits.ingest import create_committer
from src.audits.router import batch_router as audits_batch_router
from src.audits.router import router as audits_router
from src.auth.router import router as keys_router
from src.config import Settings, get_settings
from src.database import create_engine, create_sessionmaker
from src.health.router import router as health_router
from src.http import docs
from src.http.docs import add_offline_docs
from src.http.middleware import (
    AccessLogMiddleware,
    ContentLengthGuardMiddleware,
    SecurityHeadersMiddleware,
    UnhandledErrorMiddleware,
)
from src.http.openapi import openapi_document
from src.http.params import check_query_parameters
from src.http.problems import register_exception_handlers
from src.lifecycle import Lifecycle
from src.log import signing
from src.log.dependencies import LogState
from src.log.router import router as log_router
from src.log.worker import LogWorker
from src.logging import configure_logging
from src.metrics import Metrics
from src.migrations import head_revision
from src.openai.client import create_client as create_openai_client
from src.openai.router import router as openai_router
from src.pagination import CursorCodec
from src.retention.router import router as retention_router
from src.retention.worker import RetentionWorker
from src.state import State
from src.viewer import constants as viewer
from src.viewer import page as viewer_page
from src.viewer.page import add_viewer
from src.viewer.router import router as viewer_router

API_VERSION = "1.0.0"
API_PREFIX = "/api/v1"

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")

DESCRIPTION = """
Trailmark records audit events sent by your services, chains each tenant's events with
SHA-256 so any later edit is detectable, and serves them back through filters, a search
language, streaming export, statistics and integrity verification.

Authenticate with `Authorization: Bearer <api key>`. Every error is
`application/problem+json` (RFC 9457) with a stable `code` and the `request_id`.
"""

TAGS = [
    {
        "name": "audits",
        "description": (
            "Audit events: record (one or a batch, idempotently), list and search, export, "
            "count, settle pending ones, erase personal data, and verify the hash chain."
        ),
    },
    {
        "name": "log",
        "description": (
            "The transparency log: each tenant's events as an RFC 9162 Merkle tree published as "
            "C2SP tiles and Ed25519-signed checkpoints, with inclusion and consistency proofs, "
            "so anyone holding the log's public key can verify the trail without trusting the "
            "server."
        ),
    },
    {
        "name": "keys",
        "description": (
            "API keys (admin only). Keys are `tm_<public id>_<secret>`, shown once, stored as a "
            "keyed hash; each is bound to one tenant, or to none for `admin`."
        ),
    },
    {
        "name": "openai",
        "description": (
            "The model calls behind `/audits/ask` and `/audits/summarize`: a ledger of every "
            "call and a usage report with token counts, latency and estimated cost."
        ),
    },
    {
        "name": "retention",
        "description": (
            "Per-tenant retention policies (erase or prune events after N days) and legal holds "
            "that stop anything matching them from being removed; every change and every run "
            "is recorded in the tenant's own trail, and every remaining proof stays valid."
        ),
    },
    {
        "name": "viewer",
        "description": "Read-only, tenant-bound tokens for the viewer page, with a fixed filter.",
    },
    {"name": "operations", "description": "Liveness, readiness and Prometheus metrics."},
    {"name": "meta", "description": "What this service is and where its documentation lives."},
]


class ServiceInfo(BaseModel):
    name: str = Field(description="The service name.", examples=["Trailmark"])
    version: str = Field(description="The API version.", examples=[API_VERSION])
    docs: str | None = Field(description="Swagger UI, when enabled.", examples=["/docs"])
    openapi: str | None = Field(description="The OpenAPI document.", examples=["/openapi.json"])
    ai: bool = Field(
        description="Whether `/audits/ask` and `/audits/summarize` are configured (the viewer "
        "shows its Ask box only then).",
        examples=[False],
    )


def body_limits_by_path(settings: Settings) -> dict[str, int]:
    """Routes whose body limit differs from `max_body_bytes` (their routers declare it too)."""
    return {f"{API_PREFIX}/audits/batch": settings.max_batch_body_bytes}


def _is_sane_request_id(value: str) -> bool:
    return _REQUEST_ID.fullmatch(value) is not None


class AppState(State, AuditsState, LogState):
    """Everything the lifespan shares with requests: each package reads its own part."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. Nothing connects until the lifespan starts."""
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    metrics = Metrics()
    cursor_codec = CursorCodec(settings.api_key_pepper.get_secret_value().encode())
    expected_revision = head_revision()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        log_identity = signing.log_identity(settings)  # a key that cannot be read stops the start
        engine = create_engine(settings)
        metrics.watch_engine(engine)
        openai_client = create_openai_client(settings)
        sessionmaker = create_sessionmaker(engine)
        committer = create_committer(sessionmaker)
        lifecycle = Lifecycle(settings.shutdown_drain_seconds)
        log_worker = LogWorker(
            sessionmaker, log_identity, interval=settings.log_checkpoint_interval
        )
        log_worker.start()
        retention_worker = RetentionWorker(
            sessionmaker, log_identity, interval=settings.retention_interval_seconds
        )
        if settings.retention_interval_seconds > 0:
            retention_worker.start()
        try:
            with lifecycle.drain_on_sigterm():
                yield {
                    "settings": settings,
                    "engine": engine,
                    "sessionmaker": sessionmaker,
                    "openai": openai_client,
                    "group_committer": committer,
                    "lifecycle": lifecycle,
                    "metrics": metrics,
                    "cursor_codec": cursor_codec,
                    "expected_revision": expected_revision,
                    "log_identity": log_identity,
                    "log_worker": log_worker,
                }
        finally:
            await committer.close()  # events still queued are committed before the engine goes
            await log_worker.close()
            await retention_worker.close()
            metrics.watch_engine(None)
            if openai_client is not None:
                await openai_client.close()
            await engine.dispose()

    app = FastAPI(
        title="Trailmark",
        version=API_VERSION,
        summary="A self-hosted, tamper-evident audit trail.",
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # served by add_offline_docs: FastAPI's own pages load a CDN
        redoc_url=None,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
    )
    if settings.docs_enabled:
        add_offline_docs(app, openapi_url="/openapi.json")
    add_viewer(app)

    register_exception_handlers(app)
    # Added innermost first: the last one added is the outermost.
    app.add_middleware(
        UnhandledErrorMiddleware, retry_after_seconds=settings.database_retry_after_seconds
    )
    app.add_middleware(
        ContentLengthGuardMiddleware,
        default_limit=settings.max_body_bytes,
        limits_by_path=body_limits_by_path(settings),
    )
    app.add_middleware(
        GZipMiddleware,
        minimum_size=settings.gzip_minimum_bytes,
        compresslevel=settings.gzip_level,
    )
    if settings.cors_allow_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allow_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "If-None-Match",
                "X-Request-ID",
            ],
            expose_headers=[
                "X-Request-ID",
                "Location",
                "ETag",
                "Idempotent-Replayed",
                "Retry-After",
            ],
        )
    app.add_middleware(
        SecurityHeadersMiddleware,
        pages={viewer.PAGE_PATH: viewer_page.page_policy(settings.viewer_frame_ancestors)},
    )
    app.add_middleware(
        AccessLogMiddleware,
        metrics=metrics,
        log_requests=settings.access_log,
        asset_paths=(docs.ASSETS_PATH, viewer.ASSETS_PATH),
    )
    app.add_middleware(
        CorrelationIdMiddleware,
        header_name="X-Request-ID",
        generator=lambda: uuid.uuid4().hex,
        validator=_is_sane_request_id,
    )

    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    app.include_router(health_router)
    app.include_router(_meta_router(settings, metrics))
    app.include_router(_api_router(settings), max_body_size=settings.max_body_bytes)
    return app


def _api_router(settings: Settings) -> APIRouter:
    """Everything under `/api/v1`: the domains' routers."""
    router = APIRouter(prefix=API_PREFIX, dependencies=[Depends(check_query_parameters)])
    router.include_router(keys_router)
    router.include_router(audits_batch_router, max_body_size=settings.max_batch_body_bytes)
    router.include_router(assistant_router)  # before `/audits/{event_id}`
    router.include_router(audits_router)
    router.include_router(log_router)
    router.include_router(openai_router)
    router.include_router(viewer_router)
    router.include_router(retention_router)
    return router


def _meta_router(settings: Settings, metrics: Metrics) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/",
        tags=["meta"],
        summary="Service information",
        description="The service name, API version, where the documentation is, and whether "
        "the AI endpoints are configured.",
        response_model=ServiceInfo,
    )
    async def root() -> ServiceInfo:
        return ServiceInfo(
            name="Trailmark",
            version=API_VERSION,
            docs="/docs" if settings.docs_enabled else None,
            openapi="/openapi.json" if settings.docs_enabled else None,
            ai=settings.openai_api_key is not None,
        )

    @router.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        description=(
            "Request counts and latency histograms by method, route template and status, "
            "and database pool gauges, in the Prometheus text format."
        ),
        response_class=Response,
        responses={
            200: {
                "content": {CONTENT_TYPE_LATEST: {"example": "trailmark_http_requests_total 1.0"}}
            }
        },
    )
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
