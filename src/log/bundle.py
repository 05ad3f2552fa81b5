"""The offline proof bundle: NDJSON of a signed checkpoint, then each event with its leaf,
salt and inclusion proof against that checkpoint (`GET /audits/export?format=bundle`).

The events come as a query from the audits package (what the export selects: the event's
JSON, then its stored columns); they are read in keyset batches of the log's order (`seq`),
each in a short transaction;
the proofs of a batch read their tiles in one query through a bounded cache, so memory stays
constant however many events match, and consecutive events share almost every tile.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any, TypeAlias

from sqlalchemy import Row, Select
from sqlalchemy.ext.asyncio import AsyncSession

from src.auth import service as auth_service
from src.auth.schemas import TenantAccess
from src.events.models import events
from src.events.stored import StoredEvent
from src.exceptions import UnprocessableRequest
from src.log import checkpoints, entries, pruning
from src.log.exceptions import CheckpointNotFound, LogNotFound
from src.log.proofs import NodeReader, consistency_proof, nodes_of
from src.log.signing import LogIdentity
from src.pagination import read_ahead
from src.verifier import merkle
from src.verifier.note import b64encode

BUNDLE_FORMAT = "trailmark-bundle/v1"
BUNDLE_BATCH = 1000
Rows = Sequence[Row[*tuple[Any, ...]]]  # the event's JSON, then StoredEvent's columns
# What `lines` is given to read: the event's JSON (`event`), then StoredEvent's columns.
EventsQuery: TypeAlias = Select[Any]


async def header(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    access: TenantAccess,
    complete: bool,
    since_size: int | None,
) -> tuple[dict[str, object], int]:
    """The bundle's first line, and the size of the checkpoint it proves against. A
    `complete` bundle holds every leaf in order (no filter, erased events too, ascending)."""
    if not access.visible:
        raise LogNotFound()
    tenant = access.tenant
    async with session.begin():
        latest = await checkpoints.latest(session, tenant)
        if latest is None:
            if not await auth_service.tenant_exists(session=session, slug=tenant):
                raise LogNotFound()
            await checkpoints.start_log(session, identity, tenant)
            latest = await checkpoints.latest(session, tenant)
            assert latest is not None  # just stored
        line: dict[str, object] = {
            "format": BUNDLE_FORMAT,
            "origin": identity.origin(tenant),
            "verifier_key": str(identity.verifier_key(tenant)),
            "checkpoint": latest.note,
            "complete": complete,
        }
        # A pruned log's bundle starts at its minimum index, its chain at the signed anchor.
        anchor = await pruning.latest_anchor(session, tenant)
        if anchor is not None:
            line["min_index"] = anchor.min_index
            line["prune_anchor"] = anchor.note
        if since_size is not None:
            if since_size > latest.size:
                raise UnprocessableRequest(
                    f"`since_size` ({since_size}) is beyond the latest checkpoint ({latest.size})."
                )
            if await checkpoints.of_size(session, tenant, since_size) is None:
                raise CheckpointNotFound()
            proof = await consistency_proof(
                session, NodeReader(tenant), old_size=since_size, new_size=latest.size
            )
            line["consistency"] = {"from": since_size, "proof": [b64encode(node) for node in proof]}
    return line, latest.size


async def lines(
    *,
    session: AsyncSession,
    tenant: str,
    selected: EventsQuery,
    descending: bool,
    tree_size: int,
) -> AsyncIterator[str]:
    """The lines of the events `selected`, a batch of them per chunk of text."""
    seq = events.c.seq
    reader = NodeReader(tenant)

    async def fetch(after: int | None) -> Rows:
        """The next batch, and the tiles its proofs need, read in one short transaction."""
        query = selected.where(seq <= tree_size)
        if after is not None:
            query = query.where(seq < after if descending else seq > after)
        query = query.order_by(seq.desc() if descending else seq.asc()).limit(BUNDLE_BATCH)
        async with session.begin():
            rows = (await session.execute(query)).all()
            ranges = [
                leaf_range
                for row in rows
                for leaf_range in merkle.inclusion_ranges(int(row.seq) - 1, tree_size)
            ]
            await reader.load(session, nodes_of(ranges))
        return rows

    # The next batch (and its tiles) is read while this one is written out.
    batches = read_ahead(fetch, lambda row: int(row.seq), BUNDLE_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            indexes = [int(row.seq) - 1 for row in rows]
            chunk = []
            # Consecutive leaves share all but the lowest elements of their proofs.
            encoded: dict[tuple[int, int], str] = {}
            for row, index in zip(rows, indexes, strict=True):
                stored = StoredEvent(*row[1:])
                leaf = entries.leaf_of(stored)
                proof = []
                for lo, hi in merkle.inclusion_ranges(index, tree_size):
                    text = encoded.get((lo, hi))
                    if text is None:
                        text = encoded[(lo, hi)] = '"' + b64encode(reader.range_hash(lo, hi)) + '"'
                    proof.append(text)
                salt = stored.field_salt
                salt_json = "null" if salt is None else f'"{bytes(salt).hex()}"'
                chunk.append(
                    f'{{"event":{row.event},"leaf_data":"{b64encode(leaf)}","salt":{salt_json},'
                    f'"leaf_index":{index},"inclusion":[{",".join(proof)}]}}\n'
                )
            reader.trim()
            yield "".join(chunk)
