"""`Idempotency-Key` (IETF draft semantics): claim, finish, release, replay.

A claim is committed on its own before the write starts, so a concurrent request with the
same key finds it and gets a 409 instead of writing twice; the write marks it done in its
own transaction, so a claim is done exactly when its events exist.
"""

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from src.audits.constants import IDEMPOTENCY_ABANDONED_SECONDS, IDEMPOTENCY_TTL_HOURS
from src.audits.exceptions import IdempotencyKeyInFlight, IdempotencyKeyReused
from src.audits.integrity import canonical_json
from src.audits.models import IdempotencyRecord
from src.auth import service as auth_service


def request_fingerprint(kind: str, tenant: str, body: object) -> bytes:
    """What makes two requests "the same": route, tenant and the body's canonical JSON."""
    return hashlib.sha256(canonical_json({"kind": kind, "tenant": tenant, "body": body})).digest()


@dataclass(frozen=True, slots=True)
class Replay:
    """A finished request with this key: the events that answered it."""

    event_ids: list[uuid.UUID]
    batch: bool


async def claim(
    *,
    sessionmaker: async_sessionmaker[AsyncSession],
    tenant: str,
    key: str,
    fingerprint: bytes,
    batch: bool,
) -> Replay | None:
    """Claim `key` for this request (None), or say how an earlier one ended (a `Replay`).

    Raises `IdempotencyKeyReused` for another body under the key, `IdempotencyKeyInFlight`
    while the first request with it is still running.
    """
    now = datetime.now(UTC)
    fresh = {
        "request_hash": fingerprint,
        "state": "in_flight",
        "response_status": None,
        "event_ids": None,
        "batch": batch,
        "created_at": now,
        "expires_at": now + timedelta(hours=IDEMPOTENCY_TTL_HOURS),
    }
    record = IdempotencyRecord.__table__.c  # type: ignore[attr-defined]
    async with sessionmaker() as session, session.begin():
        await auth_service.ensure_tenant(session=session, slug=tenant)
        statement = (
            insert(IdempotencyRecord)
            .values(tenant=tenant, key=key, **fresh)
            .on_conflict_do_update(
                index_elements=["tenant", "key"],
                set_=fresh,
                # Expired keys are free again, and so are claims a crashed process left behind.
                where=or_(
                    record.expires_at < now,
                    (record.state == "in_flight")
                    & (record.created_at < now - timedelta(seconds=IDEMPOTENCY_ABANDONED_SECONDS)),
                ),
            )
            .returning(record.key)
        )
        if (await session.execute(statement)).first() is not None:
            return None
        existing = await session.get(IdempotencyRecord, (tenant, key))
    assert existing is not None
    if existing.request_hash != fingerprint:
        raise IdempotencyKeyReused()
    if existing.state != "done" or existing.event_ids is None:
        raise IdempotencyKeyInFlight()
    return Replay(event_ids=list(existing.event_ids), batch=existing.batch)


async def finish(
    *, session: AsyncSession, tenant: str, key: str, event_ids: list[uuid.UUID]
) -> None:
    """Mark the claim done, inside the transaction that wrote its events."""
    await session.execute(
        update(IdempotencyRecord)
        .where(col(IdempotencyRecord.tenant) == tenant, col(IdempotencyRecord.key) == key)
        .values(state="done", response_status=201, event_ids=event_ids)
    )


async def release(*, sessionmaker: async_sessionmaker[AsyncSession], tenant: str, key: str) -> None:
    """Give the key back after a failed write, so the client may retry with it."""
    async with sessionmaker() as session, session.begin():
        await session.execute(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.tenant) == tenant,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.state) == "in_flight",
            )
        )
