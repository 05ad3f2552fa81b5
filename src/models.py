"""Imports every domain's tables, so Alembic and the tests see the whole metadata."""

from src.audits.models import IdempotencyRecord
from src.auth.models import ApiKey, Tenant, ViewerToken
from src.events.models import ChainHead, events
from src.log.models import LogCheckpoint, LogHead, LogTile
from src.openai.models import OpenAICall

__all__ = [
    "ApiKey",
    "ChainHead",
    "IdempotencyRecord",
    "LogCheckpoint",
    "LogHead",
    "LogTile",
    "OpenAICall",
    "Tenant",
    "ViewerToken",
    "events",
]
