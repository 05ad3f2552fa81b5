"""The offline proof bundle: NDJSON of a signed checkpoint, then each event with its leaf,
salt and inclusion proof against that checkpoint (`GET /audits/export?format=bundle`).

Events are read in keyset batches of the log's order (`seq`), each in a short transaction;
the proofs of a batch read their tiles in one query through a bounded cache, so memory stays
constant however many events match, and consecutive events share almost every tile.
"""

import base64
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession

from src.audits.filters import EventFilter
from src.audits.integrity import StoredEvent
from src.audits.query import STORED_COLUMNS, Selection, events
from src.audits.rendering import EVENT_JSON, render_selected
from src.exceptions import UnprocessableRequest
from src.log import checkpoints, entries
from src.log.exceptions import CheckpointNotFound, LogNotFound
from src.log.proofs import NodeReader, consistency_proof
from src.log.signing import LogIdentity
from src.pagination import read_ahead
from src.verifier import merkle

BUNDLE_FORMAT = "trailmark-bundle/v1"
BUNDLE_BATCH = 1000
Rows = Sequence[Row[*tuple[Any, ...]]]  # EVENT_JSON, then STORED_COLUMNS


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def is_complete(selection: Selection, descending: bool) -> bool:
    """Whether the bundle holds every leaf in order: no filter, erased events, ascending."""
    unfiltered = all(f == EventFilter() for f in selection.filters)
    return unfiltered and selection.include_erased and not descending


async def header(
    *,
    session: AsyncSession,
    identity: LogIdentity,
    selection: Selection,
    descending: bool,
    since_size: int | None,
) -> tuple[dict[str, object], int]:
    """The bundle's first line, and the size of the checkpoint it proves against."""
    if not selection.access.visible:
        raise LogNotFound()
    tenant = selection.access.tenant
    async with session.begin():
        latest = await checkpoints.latest(session, tenant)
        if latest is None:
            await checkpoints.start_log(session, identity, tenant)
            latest = await checkpoints.latest(session, tenant)
            assert latest is not None  # just stored
        line: dict[str, object] = {
            "format": BUNDLE_FORMAT,
            "origin": identity.origin(tenant),
            "verifier_key": str(identity.verifier_key(tenant)),
            "checkpoint": latest.note,
            "complete": is_complete(selection, descending),
        }
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
            line["consistency"] = {"from": since_size, "proof": [_b64(node) for node in proof]}
    return line, latest.size


async def lines(
    *,
    session: AsyncSession,
    selection: Selection,
    descending: bool,
    tree_size: int,
) -> AsyncIterator[str]:
    """The event lines, a batch of them per chunk of text."""
    tenant = selection.access.tenant
    seq = events.c.seq
    reader = NodeReader(tenant)

    async def fetch(after: int | None) -> Rows:
        query = select(*EVENT_JSON, *STORED_COLUMNS).where(selection.where(), seq <= tree_size)
        if after is not None:
            query = query.where(seq < after if descending else seq > after)
        query = query.order_by(seq.desc() if descending else seq.asc()).limit(BUNDLE_BATCH)
        async with session.begin():
            return (await session.execute(query)).all()

    width = len(EVENT_JSON)
    batches = read_ahead(fetch, lambda row: int(row.seq), BUNDLE_BATCH)
    async with aclosing(batches):
        async for rows in batches:
            indexes = [int(row.seq) - 1 for row in rows]
            wanted = [
                node
                for index in indexes
                for lo, hi in merkle.inclusion_ranges(index, tree_size)
                for node in merkle.perfect_nodes(lo, hi)
            ]
            async with session.begin():
                await reader.load(session, wanted)
            chunk = []
            for row, index in zip(rows, indexes, strict=True):
                stored = StoredEvent(*row[width:])
                leaf = entries.leaf_of(stored)
                proof = [
                    _b64(reader.range_hash(lo, hi))
                    for lo, hi in merkle.inclusion_ranges(index, tree_size)
                ]
                salt = None if stored.field_salt is None else bytes(stored.field_salt).hex()
                chunk.append(
                    '{"event":'
                    + render_selected(row)
                    + ',"leaf_data":"'
                    + _b64(leaf)
                    + '","salt":'
                    + json.dumps(salt)
                    + ',"leaf_index":'
                    + str(index)
                    + ',"inclusion":'
                    + json.dumps(proof)
                    + "}\n"
                )
            yield "".join(chunk)
