"""Reading what the app logs, as the JSON lines it writes."""

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from src.logging import json_handler


@contextmanager
def captured_logs(level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Every log line written meanwhile (root logger at `level`), as the JSON handler formats it."""
    stream = io.StringIO()
    handler = json_handler(stream)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
