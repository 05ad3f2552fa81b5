"""`/healthz` (is the process up) and `/readyz` (can it serve: database and schema)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from src.dependencies import EngineDep, LifecycleDep, SettingsDep
from src.exceptions import DatabaseUnavailable, ShuttingDown
from src.health import service
from src.health.schemas import Health, Readiness
from src.http.openapi import problem_responses
from src.http.problems import problem_response
from src.state import app_state

router = APIRouter(tags=["operations"])


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
    request: Request, engine: EngineDep, lifecycle: LifecycleDep, settings: SettingsDep
) -> Readiness | JSONResponse:
    report = await service.check_readiness(
        engine=engine,
        expected_revision=app_state(request)["expected_revision"],
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
    retry_after = settings.database_retry_after_seconds
    return problem_response(
        request,
        status=503,
        code=code,
        detail="Not ready: "
        + "; ".join(f"{name} {report.checks[name]}" for name in report.failing),
        headers={"Retry-After": str(retry_after)},
        extra={"checks": report.checks},
    )
