"""`/healthz` (is the process up) and `/readyz` (can it serve: database and schema)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from src.exceptions import DatabaseUnavailable, problem_response, problem_responses
from src.health import service
from src.health.schemas import Health, Readiness

router = APIRouter(tags=["operations"])


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.state.engine
    return engine


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
        "build ships; otherwise a 503 problem whose `checks` names each failing check."
    ),
    response_model=Readiness,
    responses=problem_responses(DatabaseUnavailable),
)
async def readyz(
    request: Request, engine: Annotated[AsyncEngine, Depends(_engine)]
) -> Readiness | JSONResponse:
    report = await service.check_readiness(
        engine=engine, expected_revision=request.app.state.expected_revision
    )
    if report.ready:
        return Readiness(status="ready", checks=report.checks)
    database_down = report.checks.get("database") != "ok"
    retry_after: int = request.app.state.settings.database_retry_after_seconds
    return problem_response(
        request,
        status=503,
        code="database_unavailable" if database_down else "schema_out_of_date",
        detail="Not ready: "
        + "; ".join(f"{name} {report.checks[name]}" for name in report.failing),
        headers={"Retry-After": str(retry_after)},
        extra={"checks": report.checks},
    )
