from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = Field(description="Always `ok` while the process serves requests.")


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"status": "ready", "checks": {"database": "ok", "schema": "ok"}}]
        }
    )

    status: Literal["ready"] = Field(description="`ready` when every check passed.")
    checks: dict[str, str] = Field(description="Each check by name, with `ok` or why it failed.")
