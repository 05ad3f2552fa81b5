"""Interoperability: our log, checked by Go's reference implementation (golang.org/x/mod/sumdb).

The contract says the checkpoints, notes, tiles and proofs verify with an independent
implementation. A real server process records events in steps (several full level-0 tiles and a
partial one, a level-1 tile, checkpoints of several sizes, an erased event); the Go program in
`gocheck/` then opens every checkpoint with `note.Open`, rebuilds every tile from the entry
bundles and compares it with the served one, recomputes the roots through
`tlog.TileHashReader`, and checks our inclusion and consistency proofs with `tlog.CheckRecord`
and `tlog.CheckTree`, requiring them equal to the proofs Go computes itself. It must also
fail on a wrong key, a tampered proof or checkpoint, and a tampered tile, so the test cannot
pass vacuously.

A second log, of another tenant, is then pruned by its retention policy (minimum index 512)
and the Go program, told the minimum index (`-min-index`), checks everything at or above it:
the latest checkpoint and the prune anchor open with the verifier key, the entry bundles and
tiles from the minimum index on match, Go's own record proofs of leaves from it (the first and
the last included) check against every signed tree, and the consistency proofs across the
prune verify, from checkpoints signed before it. It refuses to request any tile wholly below
the minimum index, for itself or for x/mod, so passing proves x/mod needs none.

Go is built offline in GOPATH mode against Debian's `golang-golang-x-mod-dev` sources; without
`go` or those sources the test is skipped, except in CI (`CI=true`), where it fails.
"""

import asyncio
import base64
import copy
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from src.auth.constants import Scope
from src.config import Settings, to_async_url
from tests.support.api_process import PEPPER, ApiProcess
from tests.support.database import truncate_all
from tests.support.events import event
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.problems import assert_problem
from tests.support.retention import close_range, days_after, now, run_retention
from tests.support.tlog import TEST_LOG_SIGNING_KEY, sign_now

pytestmark = pytest.mark.slow  # it starts a server process and builds a Go program

GOCODE = Path("/usr/share/gocode")  # Debian's GOPATH tree of Go library sources
X_MOD = GOCODE / "src" / "golang.org" / "x" / "mod"
GOCHECK = Path(__file__).resolve().parent / "gocheck"

TENANT = "acme"
ORIGIN = f"trailmark.localhost/{TENANT}"
CHECKPOINT_WITHIN_SECONDS = 20
GO_RUN_SECONDS = 60

# The log is grown in these steps (an erasure, itself an event, between the second and third).
FIRST, SECOND, THIRD = 300, 212, 487  # signed sizes 300, 512 (whole tiles only), 1000
ERASED = 150  # index into the first step's events

# The pruned log: two steps that expire (signed sizes 300, below the minimum index, and 600),
# then the events kept (700); pruning moves the minimum index to the last whole tile at or
# below leaf 600, the first kept, and records a `retention.run` event (701, signed after).
PRUNED_TENANT = "globex"
PRUNED_ORIGIN = f"trailmark.localhost/{PRUNED_TENANT}"
EARLY, LATER, KEPT = 300, 300, 100
MIN_INDEX = 512
PRUNED_SIZE = EARLY + LATER + KEPT + 1
# Leaves Go proves itself from the entry bundles: the minimum index, each side of the signed
# sizes 600 and 700 and of a level-7 subtree boundary, and the last.
PRUNED_LEAVES = [MIN_INDEX, MIN_INDEX + 1, 599, 600, 639, 640, 699, PRUNED_SIZE - 1]


# --- The Go program --------------------------------------------------------------------------


def missing_go() -> str | None:
    """Why the Go check cannot run here, or None."""
    if shutil.which("go") is None:
        return "the Go toolchain (`go`, Debian package golang-go) is not installed"
    for package in ("sumdb/note", "sumdb/tlog"):
        if not (X_MOD / package).is_dir():
            return f"{X_MOD / package} is missing (Debian package golang-golang-x-mod-dev)"
    return None


def go_environment(work: Path) -> dict[str, str]:
    """Offline GOPATH mode: nothing is looked up on the module proxy or anywhere else."""
    return {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{work / 'gopath'}{os.pathsep}{GOCODE}",
        "GOCACHE": str(work / "cache"),
        "GOENV": "off",
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOSUMDB": "off",
        "GOTOOLCHAIN": "local",
    }


@pytest.fixture(scope="session")
def gocheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Go checker, built once per session."""
    reason = missing_go()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(
                f"{reason}; CI installs it, so the interop test may not skip", pytrace=False
            )
        pytest.skip(reason)
    work = tmp_path_factory.mktemp("gocheck")
    binary = work / "gocheck"
    build = subprocess.run(
        ["go", "build", "-o", str(binary), "."],
        cwd=GOCHECK,
        env=go_environment(work),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"building {GOCHECK} failed:\n{build.stdout}{build.stderr}", pytrace=False)
    return binary


@dataclass(frozen=True)
class GoResult:
    returncode: int
    stdout: str
    stderr: str


# --- The log under test ----------------------------------------------------------------------


@dataclass(frozen=True)
class InteropLog:
    origin: str
    base_url: str  # the log's C2SP URL prefix
    token: str
    verifier_key: str
    public_key: str  # pinned out of band: from the test signing key, not from the server
    proofs: dict[str, Any]  # the Go program's input: checkpoints, inclusion, consistency
    sizes: list[int]  # every signed size


def pinned_public_key() -> str:
    seed = base64.b64decode(TEST_LOG_SIGNING_KEY)
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return base64.b64encode(public).decode()


def verifier_key_of(name: str, public_key: bytes) -> str:
    """A C2SP signed-note Ed25519 verifier key, as the contract defines it."""
    encoded = b"\x01" + public_key
    key_id = hashlib.sha256(name.encode() + b"\n" + encoded).digest()[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(encoded).decode()}"


T = TypeVar("T")


def in_database(database_url: str, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """Run `work` on an engine of its own (the fixtures here are synchronous)."""

    async def run() -> T:
        engine = create_async_engine(to_async_url(database_url))
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def tenant_key(database_url: str, tenant: str = TENANT) -> str:
    engine = create_async_engine(to_async_url(database_url))
    try:
        key = await make_key(
            engine,
            SecretStr(PEPPER),
            tenant=tenant,
            scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ, Scope.AUDITS_ERASE],
        )
    finally:
        await engine.dispose()
    return key.key


def log_url(api: ApiProcess, tenant: str) -> str:
    """The tenant log's C2SP URL prefix (`.../logs/<tenant>/`)."""
    return f"{api.base_url}{api_path('get_checkpoint', tenant=tenant)}".removesuffix("checkpoint")


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def record(http: httpx.Client, count: int, name: str) -> list[dict[str, Any]]:
    events = [event(entity_id=f"{name}-{i}") for i in range(count)]
    items: list[dict[str, Any]] = ok(
        http.post(api_path("record_batch"), json={"events": events}), 201
    )["items"]
    return items


def latest_size(http: httpx.Client, tenant: str = TENANT) -> int:
    response = http.get(api_path("get_checkpoint", tenant=tenant))
    assert response.status_code == 200, response.text
    return int(response.text.split("\n")[1])


def wait_for_checkpoint(http: httpx.Client, size: int) -> None:
    """Poll until the log worker has signed a checkpoint of exactly `size`."""
    deadline = time.monotonic() + CHECKPOINT_WITHIN_SECONDS
    while True:
        response = http.get(api_path("get_checkpoint", tenant=TENANT))
        assert response.status_code == 200, response.text
        signed = int(response.text.split("\n")[1])
        if signed == size:
            return
        assert signed < size, f"a checkpoint of {signed}, but only {size} events were recorded"
        assert time.monotonic() < deadline, f"no checkpoint of size {size} in time (at {signed})"
        time.sleep(0.05)


def proof(http: httpx.Client, item: dict[str, Any], tree_size: int | None = None) -> Any:
    params = {} if tree_size is None else {"tree_size": tree_size}
    return ok(http.get(api_path("get_proof", event_id=item["id"]), params=params))


def consistency(
    http: httpx.Client, old: int, new: int | None = None, *, tenant: str = TENANT
) -> Any:
    params = {"from": old} if new is None else {"from": old, "to": new}
    return ok(http.get(api_path("get_consistency", tenant=tenant), params=params))


def signed_checkpoints(http: httpx.Client, tenant: str = TENANT) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 50}
    while True:
        page = ok(http.get(api_path("list_checkpoints", tenant=tenant), params=params))
        items.extend(page["items"])
        if page["next_cursor"] is None:
            return items
        params["cursor"] = page["next_cursor"]


def grow_log(http: httpx.Client) -> tuple[dict[str, Any], list[int]]:
    """Record the events in steps, erase one; the Go program's input and the signed sizes."""
    first = record(http, FIRST, "interop-1")
    wait_for_checkpoint(http, first[-1]["seq"])
    erased = first[ERASED]
    before_erasure = proof(http, erased)
    second = record(http, SECOND, "interop-2")
    wait_for_checkpoint(http, second[-1]["seq"])
    ok(http.delete(api_path("get_event", event_id=erased["id"])), 204)  # records an erasure too
    third = record(http, THIRD, "interop-3")
    latest = third[-1]["seq"]
    wait_for_checkpoint(http, latest)
    assert http.get(api_path("get_event", event_id=erased["id"])).status_code == 410

    old, middle = first[-1]["seq"], second[-1]["seq"]
    assert (old, middle, latest) == (300, 512, 1000)
    checkpoints = signed_checkpoints(http)
    sizes = sorted(item["size"] for item in checkpoints)
    assert {old, middle, latest} <= set(sizes)

    events = first + second + third
    after_erasure = proof(http, erased, old)
    assert after_erasure["leaf_data"] == before_erasure["leaf_data"]  # erasure changes no leaf
    inclusion = [
        proof(http, first[0]),  # the first leaf
        proof(http, events[len(events) // 2]),  # the middle
        proof(http, third[-1]),  # the last
        proof(http, erased),  # erased, in the latest tree
        before_erasure,
        after_erasure,
        proof(http, first[0], old),
        proof(http, first[-1], old),  # the last leaf of a partial tile
        proof(http, events[255], middle),  # the last leaf of the first full tile
        proof(http, events[256], middle),  # the first leaf of the second
        proof(http, second[-1], middle),  # the last leaf of a tree of whole tiles
    ]
    assert [item["tree_size"] for item in inclusion[:4]] == [latest] * 4
    pairs = {(old, middle), (old, latest), (middle, latest), (latest, latest)}
    nonzero = [size for size in sizes if size > 0]
    pairs |= set(itertools.pairwise(nonzero))  # any size the worker signed between
    proofs = [consistency(http, a, b) for a, b in sorted(pairs)] + [consistency(http, old)]
    return {
        "checkpoints": [item["checkpoint"] for item in checkpoints],
        "inclusion": inclusion,
        "consistency": proofs,
    }, sizes


@pytest.fixture(scope="module")
def interop_log(
    gocheck: Path, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[InteropLog]:
    """A real server process (checkpoints every 0.2 s) holding the grown log of `acme`."""
    api = ApiProcess(
        database_url,
        tmp_path_factory.mktemp("interop-api") / "api.log",
        log_checkpoint_interval="0.2",
        retention_interval_seconds="0",  # the pruned log's retention runs when its test says
    )
    api.start()
    try:
        token = asyncio.run(tenant_key(database_url))
        with httpx.Client(base_url=api.base_url, headers=bearer(token), timeout=60) as http:
            published = ok(http.get(api_path("get_key", tenant=TENANT)))
            assert published["origin"] == ORIGIN
            proofs, sizes = grow_log(http)
        yield InteropLog(
            origin=ORIGIN,
            base_url=log_url(api, TENANT),
            token=token,
            verifier_key=published["verifier_key"],
            public_key=pinned_public_key(),
            proofs=proofs,
            sizes=sizes,
        )
    finally:
        api.kill()
        asyncio.run(truncate_all(database_url))  # the next tests expect empty tables


async def run_go(
    gocheck: Path,
    log: InteropLog,
    work: Path,
    *,
    proofs: dict[str, Any] | None = None,
    key: str | None = None,
    pin_public_key: bool = True,
    flags: Sequence[str] = (),
) -> GoResult:
    path = work / "proofs.json"
    path.write_text(json.dumps(log.proofs if proofs is None else proofs))
    args = [
        str(gocheck),
        f"-base={log.base_url}",
        f"-token={log.token}",
        f"-key={log.verifier_key if key is None else key}",
        f"-origin={log.origin}",
        f"-input={path}",
        *flags,
    ]
    if pin_public_key:
        args.append(f"-public-key={log.public_key}")
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), GO_RUN_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return GoResult(process.returncode, stdout.decode(), stderr.decode())


# --- The checks ------------------------------------------------------------------------------


async def test_go_verifies_checkpoints_tiles_and_proofs(
    gocheck: Path, interop_log: InteropLog, tmp_path: Path
) -> None:
    result = await run_go(gocheck, interop_log, tmp_path)
    assert result.returncode == 0, result.stderr + result.stdout
    inclusion = len(interop_log.proofs["inclusion"])
    consistent = len(interop_log.proofs["consistency"])
    assert result.stdout.startswith(f"ok: {ORIGIN} size 1000 "), result.stdout
    assert f"{len(interop_log.sizes)} signed sizes" in result.stdout, result.stdout
    assert f"{inclusion} inclusion and {consistent} consistency proofs verify" in result.stdout


async def test_go_rejects_a_wrong_verifier_key(
    gocheck: Path, interop_log: InteropLog, tmp_path: Path
) -> None:
    other = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"not the log key").digest())
    wrong = verifier_key_of(ORIGIN, other.public_key().public_bytes_raw())
    result = await run_go(gocheck, interop_log, tmp_path, key=wrong, pin_public_key=False)
    assert result.returncode == 1, result.stdout
    assert "signature not verified" in result.stderr, result.stderr
    # The same key, pinned: Go derives another verifier key from the real public key.
    pinned = await run_go(gocheck, interop_log, tmp_path, key=wrong)
    assert pinned.returncode == 1, pinned.stdout
    assert "note.NewEd25519VerifierKey gives" in pinned.stderr, pinned.stderr


def flip(encoded: str) -> str:
    """A base64 hash with one bit flipped."""
    raw = bytearray(base64.b64decode(encoded))
    raw[len(raw) // 2] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def tamper_inclusion(proofs: dict[str, Any]) -> None:
    target = proofs["inclusion"][1]
    target["inclusion"][-1] = flip(target["inclusion"][-1])


def tamper_consistency(proofs: dict[str, Any]) -> None:
    target = next(item for item in proofs["consistency"] if item["proof"])
    target["proof"][0] = flip(target["proof"][0])


def tamper_leaf(proofs: dict[str, Any]) -> None:
    target = proofs["inclusion"][0]
    leaf = bytearray(base64.b64decode(target["leaf_data"]))
    leaf[-2] ^= 0x01
    target["leaf_data"] = base64.b64encode(bytes(leaf)).decode()


def tamper_checkpoint(proofs: dict[str, Any]) -> None:
    target = proofs["inclusion"][6]  # first leaf, tree of 300
    origin, size, rest = target["checkpoint"].split("\n", 2)
    target["checkpoint"] = f"{origin}\n{int(size) + 1}\n{rest}"


@pytest.mark.parametrize(
    ("tamper", "failure"),
    [
        (tamper_inclusion, "inclusion proof 1 (event"),
        (tamper_consistency, "tlog.CheckTree: invalid transparency proof"),
        (tamper_leaf, "inclusion proof 0 (event"),
        (tamper_checkpoint, "signature not verified"),
    ],
    ids=["inclusion", "consistency", "leaf", "checkpoint"],
)
async def test_go_rejects_a_tampered_proof(
    gocheck: Path,
    interop_log: InteropLog,
    tmp_path: Path,
    tamper: Callable[[dict[str, Any]], None],
    failure: str,
) -> None:
    proofs = copy.deepcopy(interop_log.proofs)
    tamper(proofs)
    result = await run_go(gocheck, interop_log, tmp_path, proofs=proofs)
    assert result.returncode == 1, result.stdout
    assert failure in result.stderr, result.stderr


async def test_go_rejects_a_served_tile_that_is_not_the_leaves(
    gocheck: Path, interop_log: InteropLog, tmp_path: Path, engine: AsyncEngine
) -> None:
    """One hash of a full level-0 tile edited in the store: the tile no longer matches the one
    rebuilt from the entry bundles, which is what catches it whatever TileHashReader reads."""
    where = "tenant = :tenant AND level = 0 AND index = 1"
    async with engine.connect() as connection:
        original = (
            await connection.execute(
                text(f"SELECT hashes FROM log_tile WHERE {where}"), {"tenant": TENANT}
            )
        ).scalar_one()
    edited = bytearray(original)
    edited[7 * 32] ^= 0x01

    async def store(hashes: bytes) -> None:
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(
                text(f"UPDATE log_tile SET hashes = :hashes WHERE {where}"),
                {"hashes": hashes, "tenant": TENANT},
            )

    await store(bytes(edited))
    try:
        result = await run_go(gocheck, interop_log, tmp_path)
    finally:
        await store(bytes(original))
    assert result.returncode == 1, result.stdout
    assert "served tile/0/001 (8192 bytes) differs from the tile rebuilt" in result.stderr
    assert "first at byte 224 (hash 7)" in result.stderr, result.stderr


# --- After a prune ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrunedLog(InteropLog):
    before_prune: list[int]  # the sizes signed before the prune
    http_base: str  # the server, for the test's own requests


def identity_settings(database_url: str) -> Settings:
    """The server's signing identity, for the log worker round and the retention run made
    in-process (the key and origin are what matter)."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]  # pydantic-settings' init-only option
        environment="test",
        database_url=SecretStr(database_url),
        api_key_pepper=SecretStr(PEPPER),
        log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY),
        log_checkpoint_interval=60,
        retention_interval_seconds=0,
    )


def sign(http: httpx.Client, database_url: str, settings: Settings, size: int) -> None:
    """A log worker round, then the latest checkpoint must be of `size`."""
    in_database(database_url, lambda engine: sign_now(engine, settings))
    assert latest_size(http, PRUNED_TENANT) == size


def prune_log(
    http: httpx.Client, admin: httpx.Client, database_url: str, settings: Settings
) -> tuple[dict[str, Any], list[int]]:
    """Grow the log, prune it to MIN_INDEX, sign again; the Go program's input and the sizes
    signed before the prune."""
    policy = {"days": 30, "mode": "prune"}
    ok(admin.put(api_path("put_policy", tenant=PRUNED_TENANT), json=policy))
    early = record(http, EARLY, "early")
    sign(http, database_url, settings, EARLY)
    later = record(http, LATER, "later")
    sign(http, database_url, settings, EARLY + LATER)
    moment = now()
    time.sleep(1.2)  # what follows is received more than 1 s after: days_after keeps it
    kept = record(http, KEPT, "kept")
    sign(http, database_url, settings, EARLY + LATER + KEPT)
    events = early + later + kept
    assert [item["seq"] for item in events] == list(range(1, PRUNED_SIZE))
    first = events[MIN_INDEX]  # leaf MIN_INDEX, the first the pruned log serves
    before = {item["id"]: proof(http, item, 700) for item in (first, kept[0], kept[-1])}
    before_prune = sorted(item["size"] for item in signed_checkpoints(http, PRUNED_TENANT))

    # A month ends ([1, 513) closes), then the run, as of 30 days after `moment`.
    assert in_database(database_url, lambda engine: close_range(engine, PRUNED_TENANT)) == 513
    report = in_database(
        database_url,
        lambda engine: run_retention(engine, settings, PRUNED_TENANT, as_of=days_after(moment, 30)),
    )
    assert (report.min_index, report.pruned, report.erased) == (MIN_INDEX, MIN_INDEX, 88)
    assert report.recorded_seq == PRUNED_SIZE
    sign(http, database_url, settings, PRUNED_SIZE)
    assert http.get(api_path("get_event", event_id=early[0]["id"])).status_code == 404
    assert http.get(api_path("get_event", event_id=first["id"])).status_code == 410
    assert http.get(api_path("get_event", event_id=kept[0]["id"])).status_code == 200
    # The proofs of kept leaves against a checkpoint signed before the prune are unchanged.
    for item in (first, kept[0], kept[-1]):
        assert proof(http, item, 700) == before[item["id"]]

    [run] = ok(http.get(api_path("list_events"), params={"action": "retention.run"}))["items"]
    assert run["seq"] == PRUNED_SIZE
    inclusion = [
        proof(http, first),  # the first leaf served, erased by the run
        proof(http, events[599]),  # the last erased
        proof(http, kept[0]),  # the first kept
        proof(http, kept[-1]),
        proof(http, run),  # the last leaf: recorded by the prune itself
        *before.values(),  # in the tree of 700, signed before the prune
        proof(http, first, 600),
        proof(http, events[599], 600),  # the last leaf of a tree signed before the prune
    ]
    checkpoints = signed_checkpoints(http, PRUNED_TENANT)
    sizes = sorted({item["size"] for item in checkpoints} - {0})
    assert {EARLY, 600, 700, PRUNED_SIZE} <= set(sizes)
    proofs = [
        consistency(http, a, b, tenant=PRUNED_TENANT)
        for a, b in itertools.combinations_with_replacement(sizes, 2)
    ]
    return {
        "checkpoints": [item["checkpoint"] for item in checkpoints],
        "inclusion": inclusion,
        "consistency": proofs,
        "leaves": PRUNED_LEAVES,
    }, before_prune


@pytest.fixture(scope="module")
def pruned_log(
    gocheck: Path, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrunedLog]:
    """A server process (its log worker all but idle: the test signs when it means to) holding
    the log of `globex`, pruned by its retention policy to the minimum index 512."""
    api = ApiProcess(
        database_url,
        tmp_path_factory.mktemp("interop-pruned-api") / "api.log",
        log_checkpoint_interval="60",
        retention_interval_seconds="0",
    )
    api.start()
    settings = identity_settings(database_url)
    try:
        token = asyncio.run(tenant_key(database_url, PRUNED_TENANT))
        admin_key = in_database(database_url, lambda engine: make_key(engine, SecretStr(PEPPER)))
        with (
            httpx.Client(base_url=api.base_url, headers=bearer(token), timeout=60) as http,
            httpx.Client(base_url=api.base_url, headers=bearer(admin_key), timeout=60) as admin,
        ):
            published = ok(http.get(api_path("get_key", tenant=PRUNED_TENANT)))
            assert published["origin"] == PRUNED_ORIGIN
            proofs, before_prune = prune_log(http, admin, database_url, settings)
        yield PrunedLog(
            origin=PRUNED_ORIGIN,
            base_url=log_url(api, PRUNED_TENANT),
            token=token,
            verifier_key=published["verifier_key"],
            public_key=pinned_public_key(),
            proofs=proofs,
            sizes=sorted({item["to"] for item in proofs["consistency"]}),  # all but 0
            before_prune=before_prune,
            http_base=api.base_url,
        )
    finally:
        api.kill()
        asyncio.run(truncate_all(database_url))


def test_the_pruned_log_serves_nothing_below_its_minimum_index(pruned_log: PrunedLog) -> None:
    """What the Go program is not asked to read is indeed gone, and what it reads is there."""
    with httpx.Client(
        base_url=pruned_log.http_base, headers=bearer(pruned_log.token), timeout=60
    ) as http:

        def tile(path: str) -> httpx.Response:
            return http.get(api_path("get_tile", tenant=PRUNED_TENANT, tile_path=path))

        for path in ("0/000", "0/001", "entries/000", "entries/001", "0/001.p/7"):
            body = assert_problem(tile(path), 404, "pruned")
            assert body["code"] == "pruned"
        width = PRUNED_SIZE - MIN_INDEX
        for path in (f"0/002.p/{width}", f"entries/002.p/{width}", "0/002.p/88", "1/000.p/2"):
            response = tile(path)
            assert response.status_code == 200, f"{path}: {response.text}"
        key = ok(http.get(api_path("get_key", tenant=PRUNED_TENANT)))
        assert key["min_index"] == MIN_INDEX
        assert f"\nprune anchor\n{MIN_INDEX}\n" in key["prune_anchor"]
        checkpoint = http.get(api_path("get_checkpoint", tenant=PRUNED_TENANT))
        assert checkpoint.headers["trailmark-min-index"] == str(MIN_INDEX)


TILE_PATH = re.compile(r"tile/(entries|[0-9]+)/([0-9]{3})(\.p/[0-9]+)?")


async def test_go_reads_and_checks_everything_at_or_above_the_minimum_index(
    gocheck: Path, pruned_log: PrunedLog, tmp_path: Path
) -> None:
    result = await run_go(gocheck, pruned_log, tmp_path, flags=[f"-min-index={MIN_INDEX}"])
    assert result.returncode == 0, result.stderr + result.stdout
    summary, pruned = result.stdout.splitlines()
    assert summary.startswith(f"ok: {PRUNED_ORIGIN} size {PRUNED_SIZE} "), summary
    assert {EARLY, 600, 700} <= set(pruned_log.before_prune)
    assert f"minimum index {MIN_INDEX}, prune anchor verified (under size 700)" in pruned
    # Go's own record proofs: each leaf in every signed tree holding it (600, 700, 701).
    above = [size for size in pruned_log.sizes if size >= MIN_INDEX]
    assert above == [600, 700, PRUNED_SIZE]
    proved = sum(1 for leaf in PRUNED_LEAVES for size in above if size > leaf)
    assert f"{proved} record proofs of {len(PRUNED_LEAVES)} leaves" in pruned, pruned
    # 300, signed before the prune below the minimum index: its signature, and the served
    # proofs from it (to 300, 600, 700 and 701) with tlog.CheckTree.
    below = [size for size in pruned_log.sizes if size < MIN_INDEX]
    assert below == [EARLY]
    from_below = sum(1 for item in pruned_log.proofs["consistency"] if item["from"] < MIN_INDEX)
    assert from_below == 4
    assert "1 sizes below it verified by signature only" in pruned, pruned
    assert f"{from_below} consistency proofs from them with tlog.CheckTree" in pruned, pruned
    # Every other served proof verifies and equals Go's own, made over the served tiles.
    inclusion = len(pruned_log.proofs["inclusion"])
    consistent = len(pruned_log.proofs["consistency"]) - from_below
    assert f"{inclusion} inclusion and {consistent} consistency proofs verify" in summary
    assert "0 wholly of pruned leaves" not in pruned  # tile/1/000.p/2: [0, 256), [256, 512)
    read = pruned.split("tiles read: ", 1)[1].split()
    assert "tile/1/000.p/2" in read, pruned
    for path in read:
        match = TILE_PATH.fullmatch(path)
        assert match is not None, path
        if match[1] in ("0", "entries"):
            assert int(match[2]) >= MIN_INDEX // 256, path


async def test_go_without_the_minimum_index_meets_the_pruned_tiles(
    gocheck: Path, pruned_log: PrunedLog, tmp_path: Path
) -> None:
    """The ordinary check reads the log from leaf 0: after the prune it cannot, so the check
    above owes its success to keeping off the pruned tiles, not to a log left whole."""
    proofs = {**pruned_log.proofs, "leaves": []}
    result = await run_go(gocheck, pruned_log, tmp_path, proofs=proofs)
    assert result.returncode == 1, result.stdout
    assert "GET tile/entries/000: status 404" in result.stderr, result.stderr
    assert '{"type":"urn:trailmark:problem:pruned"' in result.stderr, result.stderr


def tamper_consistency_from(size: int) -> Callable[[dict[str, Any]], None]:
    def tamper(proofs: dict[str, Any]) -> None:
        target = next(
            item for item in proofs["consistency"] if (item["from"], item["to"]) == (size, 701)
        )
        target["proof"][-1] = flip(target["proof"][-1])

    return tamper


@pytest.mark.parametrize(
    ("tamper", "failure"),
    [
        (tamper_inclusion, "inclusion proof 1 (event"),
        (tamper_leaf, "inclusion proof 0 (event"),
        # Across the prune, from a size signed before it: above the minimum index...
        (tamper_consistency_from(600), "(from 600 to 701): tlog.CheckTree: invalid"),
        # ... and below it, where Go can only check the served proof, not make its own.
        (tamper_consistency_from(EARLY), f"(from {EARLY} to 701): tlog.CheckTree: invalid"),
    ],
    ids=["inclusion", "leaf", "consistency", "consistency-from-below"],
)
async def test_go_rejects_a_tampered_proof_after_the_prune(
    gocheck: Path,
    pruned_log: PrunedLog,
    tmp_path: Path,
    tamper: Callable[[dict[str, Any]], None],
    failure: str,
) -> None:
    proofs = copy.deepcopy(pruned_log.proofs)
    tamper(proofs)
    result = await run_go(
        gocheck, pruned_log, tmp_path, proofs=proofs, flags=[f"-min-index={MIN_INDEX}"]
    )
    assert result.returncode == 1, result.stdout
    assert failure in result.stderr, result.stderr


async def test_go_refuses_a_minimum_index_the_log_does_not_publish(
    gocheck: Path, pruned_log: PrunedLog, tmp_path: Path
) -> None:
    result = await run_go(gocheck, pruned_log, tmp_path, flags=["-min-index=256"])
    assert result.returncode == 1, result.stdout
    assert 'Trailmark-Min-Index header is "512", want 256' in result.stderr, result.stderr
    assert "/key says min_index 512, want 256" in result.stderr, result.stderr
