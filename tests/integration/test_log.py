"""The transparency log over HTTP: checkpoints, tiles, proofs, history, isolation."""

import base64
import hashlib
import json
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.verifier import merkle, note
from src.verifier.tiles import decode_entries, format_index
from tests.support.api import post, post_many, record
from tests.support.events import event
from tests.support.logs import captured_logs
from tests.support.paths import api_path
from tests.support.problems import assert_problem
from tests.support.tlog import sign_now

EMPTY_ROOT = hashlib.sha256(b"").digest()


async def key_of(
    client: httpx.AsyncClient, headers: dict[str, str], tenant: str
) -> note.VerifierKey:
    response = await client.get(api_path("get_key", tenant=tenant), headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["algorithm"] == "ed25519"
    assert body["origin"] == f"trailmark.localhost/{tenant}"
    return note.parse_verifier_key(body["verifier_key"])


async def checkpoint(
    client: httpx.AsyncClient, headers: dict[str, str], tenant: str = "acme"
) -> note.Checkpoint:
    """The latest checkpoint, its signature checked with the log's key."""
    response = await client.get(api_path("get_checkpoint", tenant=tenant), headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    key = await key_of(client, headers, tenant)
    return note.parse_checkpoint(note.open_note(response.text, key))


async def tile(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, tenant: str = "acme"
) -> httpx.Response:
    return await client.get(api_path("get_tile", tenant=tenant, tile_path=path), headers=headers)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(items: list[str]) -> list[bytes]:
    return [base64.b64decode(item) for item in items]


async def grow(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    engine: AsyncEngine,
    settings: Settings,
    count: int,
) -> list[dict[str, Any]]:
    """Record `count` events and sign a checkpoint covering them."""
    items = await post_many(client, headers, [event(entity_id=f"e{i}") for i in range(count)])
    await sign_now(engine, settings)
    return items


async def leaves(client: httpx.AsyncClient, headers: dict[str, str], size: int) -> list[bytes]:
    """Every leaf of the first `size`, read from the entry bundles."""
    data: list[bytes] = []
    for index in range((size + 255) // 256):
        width = min(256, size - index * 256)
        path = f"entries/{format_index(index)}" + ("" if width == 256 else f".p/{width}")
        response = await tile(client, headers, path)
        assert response.status_code == 200, response.text
        data.extend(decode_entries(response.content))
    return data


class TestCheckpoint:
    async def test_an_empty_log_has_a_signed_checkpoint_of_size_zero(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        signed = await checkpoint(client, acme)
        assert (signed.origin, signed.size, signed.root_hash) == (
            "trailmark.localhost/acme",
            0,
            EMPTY_ROOT,
        )

    async def test_the_checkpoint_covers_acknowledged_events_and_its_root_is_theirs(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        items = await grow(client, acme, engine, settings, 300)
        signed = await checkpoint(client, acme)
        assert signed.size == 300
        data = await leaves(client, acme, 300)
        assert len(data) == 300
        assert signed.root_hash == merkle.root_of([merkle.leaf_hash(leaf) for leaf in data])
        # Each leaf is the event's committed content, whose SHA-256 is the chain's digest.
        first = items[0]
        digest = hashlib.sha256(data[0]).digest()
        assert hashlib.sha256(bytes(32) + digest).hexdigest() == first["hash"]

    async def test_a_foreign_or_unknown_tenant_is_a_404(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        admin: dict[str, str],
    ) -> None:
        for route in ("get_checkpoint", "get_key", "list_checkpoints"):
            foreign = await client.get(api_path(route, tenant="globex"), headers=acme)
            assert_problem(foreign, 404, "not_found")
            unknown = await client.get(api_path(route, tenant="nobody"), headers=admin)
            assert_problem(unknown, 404, "not_found")
        assert (await tile(client, acme, "0/000.p/1", tenant="globex")).status_code == 404

    async def test_an_admin_reads_any_tenants_log(
        self, client: httpx.AsyncClient, acme: dict[str, str], admin: dict[str, str]
    ) -> None:
        await record(client, acme)
        assert (await checkpoint(client, admin, "acme")).origin == "trailmark.localhost/acme"


class TestTiles:
    async def test_tiles_rebuild_the_signed_root(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await grow(client, acme, engine, settings, 300)
        full = await tile(client, acme, "0/000")
        assert full.status_code == 200
        assert full.headers["content-type"] == "application/octet-stream"
        assert full.headers["cache-control"] == "private, max-age=31536000, immutable"
        partial = await tile(client, acme, "0/001.p/44")
        assert partial.status_code == 200
        assert partial.headers["cache-control"] == "private, no-cache"
        level_one = await tile(client, acme, "1/000.p/1")
        hashes = [full.content[i : i + 32] for i in range(0, 256 * 32, 32)]
        right = [partial.content[i : i + 32] for i in range(0, 44 * 32, 32)]
        assert level_one.content == merkle.root_of(hashes)
        signed = await checkpoint(client, acme)
        assert signed.root_hash == merkle.node_hash(level_one.content, merkle.root_of(right))
        data = await leaves(client, acme, 300)
        assert [merkle.leaf_hash(leaf) for leaf in data] == hashes + right

    @pytest.mark.parametrize(
        "path",
        [
            "0/001",  # full, but the log has 300 leaves
            "0/001.p/45",  # wider than the checkpoint
            "1/000",
            "2/000.p/1",
            "entries/001",
            "entries/001.p/45",
            "0/1",  # not the three-digit form
            "0/x000/001",
            "0/000.p/256",
            "0/000.p/0",
            "64/000",
            "entries",
            "x/000",
            "0/x999/x999/x999/x999/x999/x999/x999/000",  # past any bigint tree
        ],
    )
    async def test_tiles_beyond_the_checkpoint_or_malformed_are_404(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
        path: str,
    ) -> None:
        await grow(client, acme, engine, settings, 300)
        assert_problem(await tile(client, acme, path), 404, "not_found")

    async def test_integrated_but_unsigned_leaves_are_not_served(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await grow(client, acme, engine, settings, 3)
        await record(client, acme)  # integrated at once, signed at the next round
        assert (await tile(client, acme, "0/000.p/3")).status_code == 200
        assert (await tile(client, acme, "0/000.p/4")).status_code == 404
        await sign_now(engine, settings)
        assert (await tile(client, acme, "0/000.p/4")).status_code == 200
        # A width that was checkpointed before stays servable.
        assert (await tile(client, acme, "0/000.p/3")).status_code == 200


class TestProofs:
    async def test_an_inclusion_proof_verifies_against_the_signed_checkpoint(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        items = await grow(client, acme, engine, settings, 70)
        signed = await checkpoint(client, acme)
        for item in (items[0], items[37], items[69]):
            response = await client.get(api_path("get_proof", event_id=item["id"]), headers=acme)
            assert response.status_code == 200, response.text
            proof = response.json()
            assert proof["seq"] == item["seq"]
            assert proof["leaf_index"] == item["seq"] - 1
            assert proof["tree_size"] == 70
            leaf = base64.b64decode(proof["leaf_data"])
            assert proof["leaf_hash"] == merkle.leaf_hash(leaf).hex()
            assert merkle.verify_inclusion(
                leaf_hash=merkle.leaf_hash(leaf),
                index=proof["leaf_index"],
                size=70,
                proof=unb64(proof["inclusion"]),
                root=signed.root_hash,
            )
            key = await key_of(client, acme, "acme")
            assert note.parse_checkpoint(note.open_note(proof["checkpoint"], key)) == signed

    async def test_a_proof_for_an_older_signed_size(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        items = await grow(client, acme, engine, settings, 5)
        old = await checkpoint(client, acme)
        await grow(client, acme, engine, settings, 5)
        response = await client.get(
            api_path("get_proof", event_id=items[2]["id"]), headers=acme, params={"tree_size": 5}
        )
        assert response.status_code == 200, response.text
        proof = response.json()
        assert proof["tree_size"] == 5
        assert merkle.verify_inclusion(
            leaf_hash=bytes.fromhex(proof["leaf_hash"]),
            index=2,
            size=5,
            proof=unb64(proof["inclusion"]),
            root=old.root_hash,
        )

    async def test_unsigned_or_too_small_sizes_and_unintegrated_events(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        items = await grow(client, acme, engine, settings, 5)
        path = api_path("get_proof", event_id=items[4]["id"])
        assert_problem(
            await client.get(path, headers=acme, params={"tree_size": 4}),
            404,
            "checkpoint_not_found",
        )
        await grow(client, acme, engine, settings, 0)
        newest = await record(client, acme)
        response = await client.get(api_path("get_proof", event_id=newest), headers=acme)
        assert_problem(response, 409, "not_integrated")
        assert response.headers["retry-after"] == "1"
        await sign_now(engine, settings)
        too_small = await client.get(
            api_path("get_proof", event_id=newest), headers=acme, params={"tree_size": 5}
        )
        assert_problem(too_small, 422, "validation_error")

    async def test_an_erased_event_is_still_proven(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        items = await grow(client, acme, engine, settings, 3)
        before = await client.get(api_path("get_proof", event_id=items[1]["id"]), headers=acme)
        erased = await client.delete(api_path("get_event", event_id=items[1]["id"]), headers=acme)
        assert erased.status_code == 204
        after = await client.get(
            api_path("get_proof", event_id=items[1]["id"]), headers=acme, params={"tree_size": 3}
        )
        assert after.status_code == 200, after.text
        assert after.json()["leaf_data"] == before.json()["leaf_data"]  # erasure changes no leaf

    async def test_another_tenants_event_is_a_404(
        self, client: httpx.AsyncClient, acme: dict[str, str], globex: dict[str, str]
    ) -> None:
        event_id = await record(client, globex)
        response = await client.get(api_path("get_proof", event_id=event_id), headers=acme)
        assert_problem(response, 404, "not_found")


class TestHistory:
    async def test_every_checkpoint_is_listed_newest_first_and_pages(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        for _ in range(3):
            await grow(client, acme, engine, settings, 2)
        key = await key_of(client, acme, "acme")
        first = await client.get(
            api_path("list_checkpoints", tenant="acme"), headers=acme, params={"limit": 3}
        )
        assert first.status_code == 200, first.text
        page = first.json()
        assert [item["size"] for item in page["items"]] == [6, 4, 2]
        rest = await client.get(
            api_path("list_checkpoints", tenant="acme"),
            headers=acme,
            params={"limit": 3, "cursor": page["next_cursor"]},
        )
        assert [item["size"] for item in rest.json()["items"]] == [0]
        assert rest.json()["next_cursor"] is None
        for item in page["items"]:
            signed = note.parse_checkpoint(note.open_note(item["checkpoint"], key))
            assert b64(signed.root_hash) == item["root_hash"]
            assert signed.size == item["size"]

    async def test_consistency_proofs_between_signed_sizes(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await grow(client, acme, engine, settings, 3)
        old = await checkpoint(client, acme)
        await grow(client, acme, engine, settings, 8)
        new = await checkpoint(client, acme)
        response = await client.get(
            api_path("get_consistency", tenant="acme"), headers=acme, params={"from": 3}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["from"], body["to"]) == (3, 11)
        assert merkle.verify_consistency(
            old_size=3,
            new_size=11,
            proof=unb64(body["proof"]),
            old_root=old.root_hash,
            new_root=new.root_hash,
        )
        same = await client.get(
            api_path("get_consistency", tenant="acme"), headers=acme, params={"from": 11, "to": 11}
        )
        assert same.json()["proof"] == []

    @pytest.mark.parametrize(
        ("params", "status", "code"),
        [
            ({"from": 4}, 404, "checkpoint_not_found"),
            ({"from": 3, "to": 5}, 404, "checkpoint_not_found"),
            ({"from": 11, "to": 3}, 422, "validation_error"),
            ({"from": 0}, 422, "validation_error"),
            ({}, 422, "validation_error"),
        ],
    )
    async def test_bad_consistency_requests(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
        params: dict[str, int],
        status: int,
        code: str,
    ) -> None:
        await grow(client, acme, engine, settings, 3)
        await grow(client, acme, engine, settings, 8)
        response = await client.get(
            api_path("get_consistency", tenant="acme"), headers=acme, params=params
        )
        assert_problem(response, status, code)


class TestIntegration:
    async def test_events_older_than_the_log_are_backfilled_to_the_same_tree(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await grow(client, acme, engine, settings, 600)
        before = await checkpoint(client, acme)
        # As an existing deployment is after the migration: events, but no tree.
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(text("DELETE FROM log_tile"))
            await connection.execute(text("DELETE FROM log_checkpoint"))
            await connection.execute(text("DELETE FROM log_head"))
            await connection.execute(text("UPDATE chain_head SET tree_size = 0, frontier = ''"))
        await post(client, acme)  # written while the backfill is behind: left to it
        with captured_logs(logging.INFO) as logs:
            await sign_now(engine, settings)
        progress = [json.loads(line) for line in logs.getvalue().splitlines()]
        assert [(line["message"], line["integrated"]) for line in progress] == [
            ("log backfill", 601)
        ]
        after = await checkpoint(client, acme)
        assert after.size == 601
        response = await client.get(
            api_path("get_consistency", tenant="acme"), headers=acme, params={"from": 601}
        )
        assert response.status_code == 200
        data = await leaves(client, acme, 601)
        assert merkle.root_of([merkle.leaf_hash(leaf) for leaf in data[:600]]) == before.root_hash
        assert merkle.root_of([merkle.leaf_hash(leaf) for leaf in data]) == after.root_hash

    async def test_a_tree_that_does_not_extend_the_last_checkpoint_is_not_signed(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await grow(client, acme, engine, settings, 5)
        # A stored hash of the signed tree changed behind the log's back.
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            await connection.execute(
                text(
                    "UPDATE log_tile SET hashes = set_byte(hashes, 0, get_byte(hashes, 0) # 255) "
                    "WHERE tenant = 'acme' AND level = 0"
                )
            )
        await post_many(client, acme, [event(), event()])
        await record(client, globex)
        with captured_logs(logging.ERROR) as logs:
            await sign_now(engine, settings)
        assert (await checkpoint(client, acme)).size == 5  # refused: the log stays as signed
        assert (await checkpoint(client, globex, "globex")).size == 1  # others are signed
        assert "refusing to sign" in logs.getvalue()


class TestIsolation:
    async def test_another_tenants_verification_shows_nothing_of_its_log(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
    ) -> None:
        await grow(client, globex, engine, settings, 3)
        response = await client.get(
            api_path("verify_chain"), headers=acme, params={"tenant": "globex"}
        )
        body = response.json()
        assert (body["checkpoint_size"], body["root_hash"], body["head_seq"]) == (0, None, 0)

    async def test_a_bundle_of_a_tenant_that_does_not_exist_is_a_404(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        response = await client.get(
            api_path("export_events"),
            headers=admin,
            params={"tenant": "nobody", "format": "bundle"},
        )
        assert_problem(response, 404, "not_found")

    async def test_an_ipv6_zone_is_refused_at_ingest(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        response = await client.post(
            api_path("list_events"), headers=acme, json=event(ip_address="fe80::1%eth0")
        )
        assert_problem(response, 422, "validation_error")
