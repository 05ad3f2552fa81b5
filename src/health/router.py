"""`/healthz` (is the process up) and `/readyz` (can it serve: database and schema)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from src.exceptions import DatabaseUnavailable, ShuttingDown, problem_response, problem_responses
from src.health import service
from src.health.schemas import Health, Readiness
from src.lifecycle import Lifecycle

router = APIRouter(tags=["operations"])


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


def _lifecycle(request: Request) -> Lifecycle:
    lifecycle: Lifecycle = request.state.lifecycle
    return lifecycle


@router.get(
    "/healthz",
    summary="Liveness probe",
    description="Answers 200 while the process serves requests. Checks no dependency.",
    response_model=Health,
)
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    summary="Readiness probe",
    description=(
        "Answers 200 when the database answers and its schema is at the Alembic head this "
        "build ships; otherwise a 503 problem whose `checks` names each failing check. "
        "After SIGTERM the process drains: this answers 503 `shutting_down` while every other "
        "route still serves, so a load balancer stops routing to it before it stops listening."
    ),
    response_model=Readiness,
    responses=problem_responses(DatabaseUnavailable, ShuttingDown),
)
async def readyz(
    request: Request,
    engine: Annotated[AsyncEngine, Depends(_engine)],
    lifecycle: Annotated[Lifecycle, Depends(_lifecycle)],
) -> Readiness | JSONResponse:
    report = await service.check_readiness(
        engine=engine,
        expected_revision=request.app.state.expected_revision,
        draining=lifecycle.draining,
    )
    if report.ready:
        return Readiness(status="ready", checks=report.checks)
    if lifecycle.draining:
        code = ShuttingDown.code
    elif report.checks.get("database") != "ok":
        code = DatabaseUnavailable.code
    else:
        code = "schema_out_of_date"
    retry_after: int = request.app.state.settings.database_retry_after_seconds
    return problem_response(
        request,
        status=503,
        code=code,
        detail="Not ready: "
        + "; ".join(f"{name} {report.checks[name]}" for name in report.failing),
        headers={"Retry-After": str(retry_after)},
        extra={"checks": report.checks},
    )
