"""Routes added to the real app by tests that exercise the cross-cutting machinery."""

from fastapi import APIRouter, FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from src.config import Settings
from src.dependencies import SessionDep
from src.exceptions import (
    Conflict,
    DomainError,
    Forbidden,
    Gone,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
    UnprocessableRequest,
)

RAISABLE: dict[int, type[DomainError]] = {
    400: DomainError,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: UnprocessableRequest,
    503: ServiceUnavailable,
}


class Echo(BaseModel):
    text: str
    count: int = 1


def add_probe_routes(
    app: FastAPI, max_body_bytes: int = Settings.model_fields["max_body_bytes"].default
) -> None:
    router = APIRouter(prefix="/_probe")

    @router.get("/raise/{status}")
    async def raise_status(status: int) -> None:
        raise RAISABLE[status](f"probe {status}")

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @router.post("/echo")
    async def echo(body: Echo) -> Echo:
        return body

    @router.get("/db")
    async def db(session: SessionDep) -> dict[str, int]:
        async with session.begin():
            value = (await session.execute(text("SELECT 1"))).scalar_one()
        return {"value": value}

    @router.get("/big")
    async def big() -> dict[str, str]:
        return {"padding": "x" * 10_000}

    # Like the API router: the configured body limit applies (streamed bodies are counted).
    app.include_router(router, max_body_size=max_body_bytes)
