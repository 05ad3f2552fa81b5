"""Dependencies and parameters every API route shares."""

from typing import Annotated

from fastapi import Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from src.pagination import MAX_PAGE_SIZE

# A list's page: `limit` items after the one `cursor` names (src/pagination.py).
PageLimit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")]
PageCursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the last page.")
]


def _declared_query_parameters(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            # A query-parameter model (`Annotated[ListFilters, Query()]`): its fields are the
            # parameters.
            names |= {field.alias or name for name, field in annotation.model_fields.items()}
        else:
            names.add(param.alias)
    for sub in dependant.dependencies:
        names |= _declared_query_parameters(sub)
    return names


async def check_query_parameters(request: Request) -> None:
    """A query parameter the route does not declare, or one holding a NUL, is a 422.

    For an audit log a typo must not widen a search: `?actr_id=u7` would otherwise list
    every event instead of u7's. And PostgreSQL text cannot hold NUL characters.
    """
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if not isinstance(dependant, Dependant):
        return
    declared = _declared_query_parameters(dependant)
    errors = [
        {"loc": ("query", name), "msg": "Unknown query parameter", "type": "extra_forbidden"}
        for name in sorted({name for name in request.query_params if name not in declared})
    ]
    errors.extend(
        {
            "loc": ("query", name),
            "msg": "NUL characters are not allowed",
            "type": "string_pattern_mismatch",
        }
        for name, value in request.query_params.multi_items()
        if "\x00" in value and name in declared
    )
    if errors:
        raise RequestValidationError(errors)
