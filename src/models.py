"""Imports every domain's tables, so Alembic and the tests see the whole metadata."""

from src.audits.models import AuditEvent, ChainHead, IdempotencyRecord
from src.auth.models import ApiKey, Tenant, ViewerToken
from src.log.models import LogCheckpoint, LogHead, LogTile
from src.openai.models import OpenAICall

__all__ = [
    "ApiKey",
    "AuditEvent",
    "ChainHead",
    "IdempotencyRecord",
    "LogCheckpoint",
    "LogHead",
    "LogTile",
    "OpenAICall",
    "Tenant",
    "ViewerToken",
]
