"""Small pure pieces: redaction, outage detection, route labels, readiness reports."""

import asyncpg
import pytest
from sqlalchemy import exc as sa_exc

from src.database import is_database_unavailable
from src.health.service import ReadinessReport
from src.http.middleware import UNMATCHED_ROUTE, route_template
from src.logging import redact


@pytest.mark.parametrize(
    ("raw", "hidden"),
    [
        ("tm_k1a2b3c4_c2VjcmV0c2VjcmV0", "c2VjcmV0c2VjcmV0"),
        ("Authorization: Bearer eyJhbGciOi.abc", "eyJhbGciOi.abc"),
        ("postgresql://app:pa55word@db/x", "pa55word"),
    ],
)
def test_redact_hides_secrets(raw: str, hidden: str) -> None:
    assert hidden not in redact(raw)


def test_redact_leaves_ordinary_text() -> None:
    assert redact("GET /api/v1/keys 200") == "GET /api/v1/keys 200"


def _wrapped(orig: BaseException, *, invalidated: bool = False) -> sa_exc.DBAPIError:
    return sa_exc.DBAPIError("SELECT 1", None, orig, connection_invalidated=invalidated)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),
        sa_exc.TimeoutError("pool exhausted"),
        _wrapped(asyncpg.exceptions.CannotConnectNowError("starting up")),
        _wrapped(Exception("closed"), invalidated=True),
        _wrapped(asyncpg.exceptions.ConnectionDoesNotExistError("gone")),
    ],
)
def test_outages_are_recognised(error: BaseException) -> None:
    assert is_database_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bug"),
        _wrapped(asyncpg.exceptions.UndefinedTableError("no such table")),
        sa_exc.ProgrammingError("SELECT", None, Exception("syntax")),  # type: ignore[arg-type]
    ],
)
def test_bugs_are_not_outages(error: BaseException) -> None:
    assert not is_database_unavailable(error)


class _Route:
    path = "/api/v1/keys/{key_id}"


def test_route_template_prefers_the_matched_route() -> None:
    assert (
        route_template({"route": _Route(), "path": "/api/v1/keys/123"}) == "/api/v1/keys/{key_id}"
    )


def test_route_template_never_uses_an_unknown_raw_path() -> None:
    assert route_template({"path": "/wp-admin.php"}) == UNMATCHED_ROUTE
    assert route_template({"path": "/docs"}) == "/docs"


def test_readiness_report_names_failing_checks() -> None:
    report = ReadinessReport(checks={"database": "ok", "schema": "failing: behind"})
    assert not report.ready
    assert report.failing == ["schema"]
    assert ReadinessReport(checks={"database": "ok"}).ready
