from typing import Literal

from pydantic import BaseModel, Field

from src.schemas import with_examples


class Health(BaseModel):
    model_config = with_examples({"status": "ok"})

    status: Literal["ok"] = Field(description="Always `ok` while the process serves requests.")


class Readiness(BaseModel):
    model_config = with_examples({"status": "ready", "checks": {"database": "ok", "schema": "ok"}})

    status: Literal["ready"] = Field(description="`ready` when every check passed.")
    checks: dict[str, str] = Field(description="Each check by name, with `ok` or why it failed.")
