"""Imports every domain's tables, so Alembic and the tests see the whole metadata."""

from src.audits.models import IdempotencyRecord
from src.auth.models import ApiKey, Tenant, ViewerToken
from src.events.models import ChainHead, events
from src.log.models import LogCheckpoint, LogHead, LogPruneAnchor, LogTile
from src.openai.models import OpenAICall
from src.retention.models import LegalHold, LegalHoldEvent, RetentionPolicy

__all__ = [
    "ApiKey",
    "ChainHead",
    "IdempotencyRecord",
    "LegalHold",
    "LegalHoldEvent",
    "LogCheckpoint",
    "LogHead",
    "LogPruneAnchor",
    "LogTile",
    "OpenAICall",
    "RetentionPolicy",
    "Tenant",
    "ViewerToken",
    "events",
]
