"""Types shared by every domain's schemas."""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AwareDatetime, PlainSerializer


def _utc_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# Responses always show UTC with a `Z` suffix; requests must carry an explicit offset.
UtcDatetime = Annotated[AwareDatetime, PlainSerializer(_utc_z, return_type=str, when_used="json")]

# PostgreSQL text cannot hold NUL characters: refuse them as invalid input (422), not at the
# database (500). Lone surrogates are already refused by pydantic's `str`.
NO_NUL_PATTERN = r"^[^\x00]*$"
