"""Types shared by every domain's schemas."""

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Unpack

from pydantic import AwareDatetime, BeforeValidator, ConfigDict, PlainSerializer


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Responses always show UTC with a `Z` suffix; requests must carry an explicit offset.
UtcDatetime = Annotated[AwareDatetime, PlainSerializer(_utc_z, return_type=str, when_used="json")]

# PostgreSQL text cannot hold NUL characters: refuse them as invalid input (422), not at the
# database (500). Lone surrogates are already refused by pydantic's `str`.
NO_NUL_PATTERN = r"^[^\x00]*$"

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339_text(value: object) -> object:
    # pydantic would also take numbers (Unix time) and offset-less text; the API takes
    # RFC 3339 with an explicit offset only. Naive text still reaches AwareDatetime's own error.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and (_RFC3339.fullmatch(value) or _NAIVE.fullmatch(value)):
        return value
    raise ValueError("expected an RFC 3339 timestamp with an offset, e.g. 2026-11-21T09:30:00Z")


_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?")

# A timestamp in a request: RFC 3339 text with an explicit offset (a naive one is a 422).
Rfc3339 = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]


def with_examples(*examples: Any, **config: Unpack[ConfigDict]) -> ConfigDict:  # JSON values
    """A model config whose published JSON schema shows these examples (OpenAPI, /docs)."""
    return ConfigDict(json_schema_extra={"examples": list(examples)}, **config)
