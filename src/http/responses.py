"""JSON responses whose items arrive already rendered, and conditional GETs (ETag).

Events are rendered once, as compact JSON text (`src/audits/rendering.py`); the envelopes
around them are spliced here rather than parsed and encoded again.
"""

import hashlib
import json
from collections.abc import Mapping

from fastapi import Response

JSON_MEDIA_TYPE = "application/json"


def json_response(
    content: str, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=content, status_code=status_code, media_type=JSON_MEDIA_TYPE, headers=headers
    )


def json_object(fields: Mapping[str, object], **rendered: str) -> str:
    """`fields` as a compact JSON object, followed by `rendered` members given as JSON text."""
    head = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    if not rendered:
        return head
    tail = ",".join(f"{json.dumps(name)}:{text}" for name, text in rendered.items())
    return head[:-1] + ("," if fields else "") + tail + "}"


def json_array(items: list[str]) -> str:
    """Rendered JSON texts as one JSON array."""
    return "[" + ",".join(items) + "]"


def page_json(items: list[str], next_cursor: str | None, limit: int) -> str:
    """A `Page`: `{"items": [...], "next_cursor": ..., "limit": n}` with rendered items."""
    return (
        '{"items":'
        + json_array(items)
        + ',"next_cursor":'
        + json.dumps(next_cursor)
        + ',"limit":'
        + str(limit)
        + "}"
    )


def etag(content: str) -> str:
    """A strong validator of a representation."""
    return '"' + hashlib.sha256(content.encode()).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, current: str) -> bool:
    """Whether `If-None-Match` names the current ETag (weak tags and `*` included)."""
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or current in candidates
