"""`Idempotency-Key` (IETF draft semantics): claim, replay, remember.

Everything happens inside the transaction that writes the events. The claim is a
transaction-scoped PostgreSQL advisory lock on (tenant, key): a concurrent request with the
same key cannot take it and gets a 409 at once, and it is released by the commit, the
rollback, or PostgreSQL itself when the connection dies with its process. So a crashed
server never leaves a key blocked, and a key is remembered exactly when its events exist.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from src.audits.constants import IDEMPOTENCY_TTL_HOURS
from src.audits.exceptions import IdempotencyKeyInFlight, IdempotencyKeyReused
from src.audits.models import IdempotencyRecord
from src.verifier.content import canonical_json

# Advisory locks share one namespace per database: keys are hashed under this label.
_LOCK_LABEL = b"trailmark.idempotency\x00"


def request_fingerprint(kind: str, tenant: str, body: object) -> bytes:
    """What makes two requests "the same": route, tenant and the body's canonical JSON."""
    return hashlib.sha256(canonical_json({"kind": kind, "tenant": tenant, "body": body})).digest()


def lock_id(tenant: str, key: str) -> int:
    """The advisory lock (a signed 64-bit number) that stands for (tenant, key)."""
    digest = hashlib.sha256(_LOCK_LABEL + tenant.encode() + b"\x00" + key.encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True, slots=True)
class Replay:
    """A finished request with this key: the events that answered it."""

    event_ids: list[uuid.UUID]


async def claim(
    *, session: AsyncSession, tenant: str, key: str, fingerprint: bytes
) -> Replay | None:
    """Claim `key` for this transaction (None), or say how an earlier request ended (a `Replay`).

    Raises `IdempotencyKeyReused` for another body under the key, `IdempotencyKeyInFlight`
    while another transaction holds it.
    """
    taken = await session.scalar(select(func.pg_try_advisory_xact_lock(lock_id(tenant, key))))
    if not taken:
        raise IdempotencyKeyInFlight()
    existing = (
        await session.execute(
            select(col(IdempotencyRecord.request_hash), col(IdempotencyRecord.event_ids)).where(
                col(IdempotencyRecord.tenant) == tenant,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.expires_at) > func.now(),
            )
        )
    ).first()
    if existing is None:
        return None
    if bytes(existing.request_hash) != fingerprint:
        raise IdempotencyKeyReused()
    return Replay(event_ids=list(existing.event_ids))


async def remember(
    *,
    session: AsyncSession,
    tenant: str,
    key: str,
    fingerprint: bytes,
    event_ids: list[uuid.UUID],
) -> None:
    """Record which events answered the claimed key, in the transaction that wrote them."""
    now = datetime.now(UTC)
    record = {
        "request_hash": fingerprint,
        "event_ids": event_ids,
        "created_at": now,
        "expires_at": now + timedelta(hours=IDEMPOTENCY_TTL_HOURS),
    }
    # A row can only exist here if it expired (`claim` replays live ones): reuse it.
    await session.execute(
        insert(IdempotencyRecord)
        .values(tenant=tenant, key=key, **record)
        .on_conflict_do_update(index_elements=["tenant", "key"], set_=record)
    )
