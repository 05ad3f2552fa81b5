"""The rules of reading a tenant's log: checkpoints, tiles, proofs. Each function owns its
transaction and serves only what the latest signed checkpoint covers."""

import json
from collections.abc import AsyncIterator

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from src.auth import service as auth_service
from src.auth.schemas import TenantAccess
from src.database import standalone
from src.events.stored import StoredEvent
from src.exceptions import UnprocessableRequest
from src.log import bundle, checkpoints, entries, pruning
from src.log.checkpoints import SignedCheckpoint
from src.log.exceptions import (
    CheckpointNotFound,
    LogNotFound,
    NotIntegrated,
    TileNotFound,
    TilePruned,
)
from src.log.models import LogCheckpoint
from src.log.proofs import NodeReader, consistency_proof, inclusion_proof
from src.log.schemas import MAX_TREE_SIZE, CheckpointOut, ConsistencyProof, InclusionProof, LogKey
from src.log.signing import LogIdentity
from src.pagination import CursorCodec, Keyset, keyset_page
from src.verifier import merkle
from src.verifier.note import b64encode
from src.verifier.tiles import TILE_HEIGHT, TILE_WIDTH, TileRef, parse_tile_path

CHECKPOINTS_CURSOR = "checkpoints"
_checkpoints = LogCheckpoint.__table__  # type: ignore[attr-defined]  # SQLModel hides it from mypy
CHECKPOINT_PAGES = Keyset(CHECKPOINTS_CURSOR, (_checkpoints.c.size,))


_SIZE_AND_TILE = text(
    "SELECT (SELECT size FROM log_checkpoint WHERE tenant = :tenant ORDER BY size DESC LIMIT 1), "
    "(SELECT hashes FROM log_tile WHERE tenant = :tenant AND level = :level AND index = :index), "
    "(SELECT coalesce(max(min_index), 0) FROM log_prune_anchor WHERE tenant = :tenant)"
)


async def _latest(session: AsyncSession, identity: LogIdentity, tenant: str) -> SignedCheckpoint:
    """The newest checkpoint; a tenant without one gets its empty tree signed now."""
    latest = await checkpoints.latest(session, tenant)
    if latest is not None:
        return latest
    if not await auth_service.tenant_exists(session=session, slug=tenant):
        raise LogNotFound()
    await checkpoints.start_log(session, identity, tenant)
    started = await checkpoints.latest(session, tenant)
    assert started is not None  # just stored (or by a concurrent request)
    return started


def _visible(access: TenantAccess) -> str:
    if not access.visible:
        raise LogNotFound()
    return access.tenant


async def latest_checkpoint(
    *, session: AsyncSession, identity: LogIdentity, access: TenantAccess
) -> tuple[SignedCheckpoint, int]:
    """The newest checkpoint, and the log's minimum index beside it."""
    tenant = _visible(access)
    async with session.begin():
        return await _latest(session, identity, tenant), await pruning.min_index(session, tenant)


async def key(*, session: AsyncSession, identity: LogIdentity, access: TenantAccess) -> LogKey:
    tenant = _visible(access)
    async with session.begin():
        if not await auth_service.tenant_exists(session=session, slug=tenant):
            raise LogNotFound()
        anchor = await pruning.latest_anchor(session, tenant)
    return LogKey(
        origin=identity.origin(tenant),
        verifier_key=str(identity.verifier_key(tenant)),
        algorithm="ed25519",
        min_index=0 if anchor is None else anchor.min_index,
        prune_anchor=None if anchor is None else anchor.note,
    )


async def tile(
    *, session: AsyncSession, identity: LogIdentity, access: TenantAccess, path: str
) -> tuple[bytes, TileRef]:
    """A hash tile or an entry bundle by its C2SP path (after `tile/`), within the latest
    checkpoint."""
    tenant = _visible(access)
    try:
        ref = parse_tile_path(path)
    except ValueError:
        raise TileNotFound() from None
    first = ref.index * TILE_WIDTH
    if first + ref.width > MAX_TREE_SIZE >> (TILE_HEIGHT * (ref.level or 0)):
        raise TileNotFound()  # beyond any tree PostgreSQL's bigint can count
    if ref.level is None:
        async with session.begin():
            size = (await _latest(session, identity, tenant)).size
            if first + ref.width > size:
                raise TileNotFound()
            if pruning.is_pruned(None, ref.index, await pruning.min_index(session, tenant)):
                raise TilePruned()
            leaves = await entries.leaf_data(session, tenant, first + 1, first + ref.width)
        return entries.bundle(leaves), ref
    async with session.begin():
        # The hot path of a tiles client: the latest size and the tile in one statement, which
        # stands alone (both only grow).
        connection = await standalone(session)
        size, stored, minimum = (
            await connection.execute(
                _SIZE_AND_TILE, {"tenant": tenant, "level": ref.level, "index": ref.index}
            )
        ).one()
    if size is None:  # no checkpoint yet: start the log (or 404 for no such tenant)
        async with session.begin():
            size = (await _latest(session, identity, tenant)).size
    if first + ref.width > int(size) >> (TILE_HEIGHT * ref.level):
        raise TileNotFound()
    if pruning.is_pruned(ref.level, ref.index, int(minimum)):
        raise TilePruned()
    wanted = ref.width * merkle.HASH_SIZE
    if stored is None or len(stored) < wanted:
        raise TileNotFound()  # the checkpoint covers it, the store does not: damaged
    return bytes(stored[:wanted]), ref


async def list_checkpoints(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    access: TenantAccess,
    codec: CursorCodec,
    limit: int,
    cursor: str | None,
) -> tuple[list[CheckpointOut], str | None]:
    tenant = _visible(access)
    async with session.begin():
        await _latest(session, identity, tenant)  # a log that never had one starts now
    query = select(_checkpoints.c.root_hash, _checkpoints.c.signed_at, _checkpoints.c.note).where(
        _checkpoints.c.tenant == tenant
    )
    rows, next_cursor = await keyset_page(
        session,
        query,
        keyset=CHECKPOINT_PAGES,
        codec=codec,
        limit=limit,
        cursor=cursor,
        bound_to={"tenant": tenant},
    )
    items = [
        CheckpointOut(
            size=int(size), root_hash=b64encode(bytes(root)), signed_at=at, checkpoint=text
        )
        for root, at, text, size in rows
    ]
    return items, next_cursor


async def _signed(session: AsyncSession, tenant: str, size: int) -> SignedCheckpoint:
    found = await checkpoints.of_size(session, tenant, size)
    if found is None:
        raise CheckpointNotFound()
    return found


async def consistency(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    access: TenantAccess,
    old_size: int,
    new_size: int | None,
) -> ConsistencyProof:
    tenant = _visible(access)
    async with session.begin():
        latest = await _latest(session, identity, tenant)
        new = latest if new_size is None else await _signed(session, tenant, new_size)
        if old_size > new.size:
            raise UnprocessableRequest(
                f"`from` ({old_size}) must not be greater than `to` ({new.size})."
            )
        await _signed(session, tenant, old_size)
        proof = await consistency_proof(
            session, NodeReader(tenant), old_size=old_size, new_size=new.size
        )
    return ConsistencyProof.model_validate(
        {"from": old_size, "to": new.size, "proof": [b64encode(node) for node in proof]}
    )


async def inclusion(
    *, session: AsyncSession, identity: LogIdentity, event: StoredEvent, tree_size: int | None
) -> InclusionProof:
    """The event's leaf and its inclusion proof in a signed tree, the latest by default
    (inside the caller's transaction, which read the event)."""
    tenant, seq = event.tenant, event.seq
    if tree_size is None:
        signed = await _latest(session, identity, tenant)
        if signed.size < seq:
            raise NotIntegrated()
    else:
        signed = await _signed(session, tenant, tree_size)
        if signed.size < seq:
            raise UnprocessableRequest(
                f"The tree of size {tree_size} does not contain this event (seq {seq})."
            )
    proof = await inclusion_proof(session, NodeReader(tenant), index=seq - 1, size=signed.size)
    leaf = entries.leaf_of(event)
    return InclusionProof(
        id=event.id,
        seq=seq,
        leaf_index=seq - 1,
        tree_size=signed.size,
        leaf_data=b64encode(leaf),
        leaf_hash=merkle.leaf_hash(leaf).hex(),
        inclusion=[b64encode(node) for node in proof],
        checkpoint=signed.note,
    )


async def export_bundle(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    access: TenantAccess,
    selected: bundle.EventsQuery,
    complete: bool,
    descending: bool,
    since_size: int | None,
) -> AsyncIterator[str]:
    """The proof bundle's text for the events `selected`: its header is read (and any error
    raised) before returning."""
    first, tree_size = await bundle.header(
        session=session, identity=identity, access=access, complete=complete, since_size=since_size
    )

    async def text() -> AsyncIterator[str]:
        yield json.dumps(first, separators=(",", ":")) + "\n"
        async for chunk in bundle.lines(
            session=session,
            tenant=access.tenant,
            selected=selected,
            descending=descending,
            tree_size=tree_size,
        ):
            yield chunk

    return text()
