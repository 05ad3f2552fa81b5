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
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from src.auth.constants import Scope
from src.config import to_async_url
from tests.support.api_process import PEPPER, ApiProcess
from tests.support.database import truncate_all
from tests.support.events import event
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.tlog import TEST_LOG_SIGNING_KEY

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


async def tenant_key(database_url: str) -> str:
    engine = create_async_engine(to_async_url(database_url))
    try:
        key = await make_key(
            engine,
            SecretStr(PEPPER),
            tenant=TENANT,
            scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ, Scope.AUDITS_ERASE],
        )
    finally:
        await engine.dispose()
    return key.key


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json() if response.content else None


def record(http: httpx.Client, count: int, name: str) -> list[dict[str, Any]]:
    events = [event(entity_id=f"{name}-{i}") for i in range(count)]
    items: list[dict[str, Any]] = ok(
        http.post(api_path("record_batch"), json={"events": events}), 201
    )["items"]
    return items


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


def consistency(http: httpx.Client, old: int, new: int | None = None) -> Any:
    params = {"from": old} if new is None else {"from": old, "to": new}
    return ok(http.get(api_path("get_consistency", tenant=TENANT), params=params))


def signed_checkpoints(http: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 50}
    while True:
        page = ok(http.get(api_path("list_checkpoints", tenant=TENANT), params=params))
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
    )
    api.start()
    try:
        token = asyncio.run(tenant_key(database_url))
        with httpx.Client(base_url=api.base_url, headers=bearer(token), timeout=60) as http:
            published = ok(http.get(api_path("get_key", tenant=TENANT)))
            assert published["origin"] == ORIGIN
            proofs, sizes = grow_log(http)
        yield InteropLog(
            base_url=f"{api.base_url}{api_path('get_checkpoint', tenant=TENANT)}".removesuffix(
                "checkpoint"
            ),
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
) -> GoResult:
    path = work / "proofs.json"
    path.write_text(json.dumps(log.proofs if proofs is None else proofs))
    args = [
        str(gocheck),
        f"-base={log.base_url}",
        f"-token={log.token}",
        f"-key={log.verifier_key if key is None else key}",
        f"-origin={ORIGIN}",
        f"-input={path}",
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
