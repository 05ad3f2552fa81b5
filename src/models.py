"""Imports every domain's tables, so Alembic and the tests see the whole metadata."""

from src.audits.models import AuditEvent, ChainHead, IdempotencyRecord
from src.auth.models import ApiKey, Tenant

__all__ = ["ApiKey", "AuditEvent", "ChainHead", "IdempotencyRecord", "Tenant"]
