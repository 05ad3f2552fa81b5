"""Checking an offline proof bundle (`GET /audits/export?format=bundle`) with a pinned key.

A bundle is NDJSON: a header `{"format", "origin", "verifier_key", "checkpoint", "complete"
[, "consistency"] [, "min_index", "prune_anchor"]}`, then one line per event `{"event",
"leaf_data", "salt", "leaf_index", "inclusion"}`. Checked, in one pass with constant memory:

- the checkpoint is signed by the pinned key, and names that key's log;
- with a checkpoint saved earlier, the header's consistency proof shows the log only grew;
- each event's visible fields, rehashed with its salt, are exactly its leaf data (an erased
  event shows none of its personal fields), its `hash` is SHA-256(prev_hash || SHA-256(leaf
  data)), and its inclusion proof puts that leaf at `seq - 1` under the checkpoint's root;
- when the bundle says it is complete, its events are leaves 0 .. size-1, in order, and
  each `prev_hash` is the previous event's `hash` (zeros for the first); a pruned log's
  complete bundle starts at its minimum index instead, its first `prev_hash` the one its
  prune anchor (signed by the same key) names.
"""

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from src.verifier import anchor, merkle, note, workers
from src.verifier.content import EventMismatch, leaf_of_event
from src.verifier.inclusion import InclusionVerifier

BUNDLE_FORMAT = "trailmark-bundle/v1"
GENESIS_HASH = bytes(32)  # the `prev_hash` of every log's first event


class BundleError(ValueError):
    """The bundle does not verify: `where` names the event (or the header) and `reason` why."""

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class BundleSummary:
    origin: str
    size: int
    root_hash: bytes
    events: int
    complete: bool
    since_size: int | None
    min_index: int = 0


def _b64(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"{what} is not valid base64") from None


class _Hashes:
    """Base64 proof hashes, decoded once: a proof repeats most of the previous proof's
    elements, at the same positions, so only the ones that changed are decoded."""

    def __init__(self) -> None:
        self._texts: list[object] = []
        self._decoded: list[bytes] = []

    def decode(self, items: object) -> list[bytes]:
        if not isinstance(items, list):
            raise ValueError("the proof is not a list")
        texts, decoded = self._texts, self._decoded
        if len(items) != len(texts):
            texts, decoded = [None] * len(items), [b""] * len(items)
        out = [
            known if item == text else _b64(item, "a proof hash")
            for item, text, known in zip(items, texts, decoded, strict=True)
        ]
        self._texts, self._decoded = items, out
        return out


def open_checkpoint(text: str, key: note.VerifierKey) -> note.Checkpoint:
    """A checkpoint signed by `key` for `key`'s log (its origin is the key's name)."""
    checkpoint = note.parse_checkpoint(note.open_note(text, key))
    if checkpoint.origin != key.name:
        raise ValueError(f"the checkpoint is for log {checkpoint.origin!r}, not {key.name!r}")
    return checkpoint


class _Start(NamedTuple):
    """Where a complete bundle's events start: the leaf, and the hash it links to."""

    min_index: int
    prev_hash: bytes


def _start(header: dict[str, object], key: note.VerifierKey, size: int) -> _Start:
    """The bundle's start: leaf 0 from the genesis hash, or a pruned log's signed anchor."""
    text = header.get("prune_anchor")
    if text is None:
        if header.get("min_index", 0) != 0:
            raise BundleError("header", "a pruned log's bundle needs its signed `prune_anchor`")
        return _Start(0, GENESIS_HASH)
    if not isinstance(text, str):
        raise BundleError("prune anchor", "it is not a signed note")
    try:
        signed = anchor.parse_anchor(note.open_note(text, key))
    except ValueError as error:
        raise BundleError("prune anchor", str(error)) from None
    if signed.origin != key.name:
        raise BundleError("prune anchor", f"it is for log {signed.origin!r}, not {key.name!r}")
    if header.get("min_index") != signed.min_index:
        raise BundleError("prune anchor", "the header's `min_index` is not the anchor's")
    if signed.min_index > size:
        raise BundleError("prune anchor", "its minimum index is beyond the bundle's checkpoint")
    return _Start(signed.min_index, signed.prev_hash)


def _header(
    line: str | bytes, key: note.VerifierKey, since: str | None
) -> tuple[note.Checkpoint, bool, int | None, _Start]:
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise BundleError("header", "the first line is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != BUNDLE_FORMAT:
        raise BundleError("header", f"not a {BUNDLE_FORMAT} bundle")
    text = header.get("checkpoint")
    if not isinstance(text, str):
        raise BundleError("header", "the checkpoint is missing")
    try:
        checkpoint = open_checkpoint(text, key)
    except ValueError as error:
        raise BundleError("checkpoint", str(error)) from None
    complete = header.get("complete") is True
    since_size = None
    if since is not None:
        try:
            saved = open_checkpoint(since, key)
        except ValueError as error:
            raise BundleError("saved checkpoint", str(error)) from None
        since_size = saved.size
        _check_consistency(saved, checkpoint, header.get("consistency"))
    return checkpoint, complete, since_size, _start(header, key, checkpoint.size)


def _check_consistency(
    saved: note.Checkpoint, checkpoint: note.Checkpoint, consistency: object
) -> None:
    """The bundle's checkpoint extends the saved one: the log was only appended to."""
    where = "consistency"
    if saved.size > checkpoint.size:
        raise BundleError(where, f"the log shrank from {saved.size} to {checkpoint.size} leaves")
    if saved.size == checkpoint.size:
        if saved.root_hash != checkpoint.root_hash:
            raise BundleError(where, f"two different trees of size {saved.size} were signed")
        return
    if saved.size == 0:
        return  # every tree extends the empty one
    if not isinstance(consistency, dict) or consistency.get("from") != saved.size:
        raise BundleError(
            where,
            f"the bundle has no consistency proof from size {saved.size} "
            f"(export it with since_size={saved.size})",
        )
    try:
        proof = _Hashes().decode(consistency.get("proof"))
    except ValueError as error:
        raise BundleError(where, str(error)) from None
    if not merkle.verify_consistency(
        old_size=saved.size,
        new_size=checkpoint.size,
        proof=proof,
        old_root=saved.root_hash,
        new_root=checkpoint.root_hash,
    ):
        raise BundleError(
            where,
            f"the tree of size {checkpoint.size} does not extend the saved one of size "
            f"{saved.size}: history was rewritten",
        )


def _printable(value: object) -> str:
    """A value from the bundle as it may be printed: control characters (a forged id could
    redraw the terminal's line) are escaped."""
    text = value if type(value) is str else str(value)
    return text if text.isprintable() else ascii(text)


def _name(item: object, number: int) -> str:
    if isinstance(item, dict):
        event = item.get("event")
        if isinstance(event, dict):
            return f"event {_printable(event.get('id'))} (seq {_printable(event.get('seq'))})"
    return f"line {number}"


class _Line(NamedTuple):
    """What one event line showed."""

    where: str  # names the event (or the line) in errors
    leaf_index: int | None  # None when the line failed before showing one
    error: str | None  # the first thing about the line itself that does not hold
    prev_hash: bytes
    hash: bytes


class _Failure(NamedTuple):
    where: str
    reason: str


class _Checked(NamedTuple):
    """A run of consecutive event lines, checked: all but how its first line follows the
    lines before it, which only the results of those can tell."""

    first: _Line
    lines: int  # lines checked, the first included
    last_hash: bytes
    failure: _Failure | None  # the first line after the first that fails, and why


@dataclass(frozen=True, slots=True)
class _Log:
    """What every line is checked against (sent to each worker process)."""

    tenant: str
    size: int
    root_hash: bytes
    complete: bool  # then lines are leaves in order, each linked to the one before


def _expected_leaf(expected: int, found: int) -> str:
    return (
        f"expected leaf {expected} here (a complete bundle lists every leaf in order), "
        f"found leaf {found}: events were removed or reordered"
    )


_NOT_LINKED = "its `prev_hash` is not the previous event's `hash`"


def _check_lines(log: _Log, numbered: list[tuple[int, str | bytes]]) -> list[_Checked]:
    """Check a run of event lines, up to the first that fails. A pure function of its input,
    so it may run in a worker process (see `workers`)."""
    inclusion = InclusionVerifier(size=log.size, root=log.root_hash)
    hashes = _Hashes()
    first: _Line | None = None
    previous = b""
    count = 0
    failure = None
    for number, line in numbered:
        try:
            item = json.loads(line)
        except (ValueError, RecursionError):
            checked = _Line(f"line {number}", None, "not JSON", b"", b"")
        else:
            checked = _check_event(item, _name(item, number), log.tenant, inclusion, hashes)
        count += 1
        if first is None:
            first = checked
            if checked.error is not None:
                break
        else:
            assert first.leaf_index is not None  # a first line without one ended the run
            failure = _follows(log, checked, first.leaf_index + count - 1, previous)
            if failure is not None:
                break
        previous = checked.hash
    if first is None:
        return []
    return [_Checked(first, count, previous, failure)]


def _follows(log: _Log, line: _Line, expected: int, previous: bytes) -> _Failure | None:
    """What is wrong with a line that should be leaf `expected` (in a complete bundle) and
    link to the hash `previous`, in bundle order: first its own failures before it showed a
    leaf index, then its place, then its other failures, then its link."""
    if line.leaf_index is None:
        return _Failure(line.where, line.error or "")
    if log.complete and line.leaf_index != expected:
        return _Failure(line.where, _expected_leaf(expected, line.leaf_index))
    if line.error is not None:
        return _Failure(line.where, line.error)
    if log.complete and line.prev_hash != previous:
        return _Failure(line.where, _NOT_LINKED)
    return None


def verify_bundle(
    lines: Iterable[str | bytes],
    key: note.VerifierKey,
    *,
    since: str | None = None,
    jobs: int = 1,
) -> BundleSummary:
    """Check a bundle; raise BundleError at the first thing that does not hold, in bundle
    order. With `jobs` > 1 the lines are checked in that many processes (memory stays flat)."""
    iterator = iter(lines)
    first = next(iterator, None)
    if first is None:
        raise BundleError("header", "the bundle is empty")
    checkpoint, complete, since_size, start = _header(first, key, since)
    tenant = checkpoint.origin.rpartition("/")[2]  # origins are `<LOG_ORIGIN>/<tenant>`
    log = _Log(tenant, checkpoint.size, checkpoint.root_hash, complete)
    numbered = ((n, line) for n, line in enumerate(iterator, start=2) if line.strip())
    count = 0
    chain_end = start.prev_hash  # the hash the next event must link to (complete bundles)
    for run in workers.in_order(_check_lines, log, numbered, jobs=jobs):
        # A run's first line follows the runs before it: only their results can tell how.
        failure = _follows(log, run.first, start.min_index + count, chain_end) or run.failure
        if failure is not None:
            raise BundleError(*failure)
        count += run.lines
        chain_end = run.last_hash
    if complete and count != checkpoint.size - start.min_index:
        raise BundleError(
            "bundle",
            f"a complete bundle must hold all {checkpoint.size - start.min_index} leaves "
            f"from leaf {start.min_index}; it holds {count}",
        )
    return BundleSummary(
        origin=checkpoint.origin,
        size=checkpoint.size,
        root_hash=checkpoint.root_hash,
        events=count,
        complete=complete,
        since_size=since_size,
        min_index=start.min_index,
    )


def _check_event(
    item: object, where: str, tenant: str, inclusion: InclusionVerifier, hashes: _Hashes
) -> _Line:
    """Check one event line on its own."""
    if not isinstance(item, dict):
        return _Line(where, None, "the line is not an object", b"", b"")
    event = item.get("event")
    if not isinstance(event, dict):
        return _Line(where, None, "`event` is missing", b"", b"")
    index = item.get("leaf_index")
    if type(index) is not int:
        return _Line(where, None, "`leaf_index` is not an integer", b"", b"")
    try:
        prev_hash, event_hash = _check_leaf(item, event, index, tenant, inclusion, hashes)
    except (ValueError, TypeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        return _Line(where, index, reason, b"", b"")
    return _Line(where, index, None, prev_hash, event_hash)


def _check_leaf(
    item: dict[str, object],
    event: dict[str, object],
    index: int,
    tenant: str,
    inclusion: InclusionVerifier,
    hashes: _Hashes,
) -> tuple[bytes, bytes]:
    """The event is its leaf, its hash is the chain's, its proof leads to the root; its
    (prev_hash, hash) in the chain."""
    if event.get("seq") != index + 1:
        raise ValueError(f"leaf {index} is not seq {_printable(event.get('seq'))}")
    if event.get("tenant") != tenant:
        raise ValueError(f"the event is tenant {event.get('tenant')!r}'s, not this log's")
    leaf = _b64(item.get("leaf_data"), "`leaf_data`")
    salt_text = item.get("salt")
    if salt_text is not None and not isinstance(salt_text, str):
        raise ValueError("`salt` is not a hex string")
    try:
        salt = None if salt_text is None else bytes.fromhex(salt_text)
    except ValueError:
        raise ValueError("`salt` is not hex") from None
    try:
        rebuilt = leaf_of_event(event, salt, leaf)
    except EventMismatch as error:
        raise ValueError(f"the event cannot be matched to its leaf: {error}") from None
    if rebuilt != leaf:
        raise ValueError("the event's fields do not match its leaf data (the event was edited)")
    prev_hash, event_hash = _hex_hash(event, "prev_hash"), _hex_hash(event, "hash")
    if hashlib.sha256(prev_hash + hashlib.sha256(leaf).digest()).digest() != event_hash:
        raise ValueError("its `hash` is not SHA-256(prev_hash || SHA-256(leaf data))")
    proof = hashes.decode(item.get("inclusion"))
    if not inclusion.check(merkle.leaf_hash(leaf), index, proof):
        raise ValueError("its inclusion proof does not lead to the checkpoint's root")
    return prev_hash, event_hash


def _hex_hash(event: dict[str, object], name: str) -> bytes:
    value = event.get(name)
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError(f"`{name}` is not a SHA-256 in hex")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"`{name}` is not a SHA-256 in hex") from None
