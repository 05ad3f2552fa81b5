"""The offline proof bundle: exported by the server, checked by the standalone verifier, and
every kind of tampering in the database caught by it, naming the event."""

import base64
import hashlib
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.audits import verification
from src.config import Settings
from src.events.models import STORED_COLUMNS, events
from src.events.stored import StoredEvent, chain_hash
from src.log import bundle
from src.verifier import note, workers
from src.verifier.bundle import BundleError, BundleSummary, verify_bundle
from tests.support.api import post_many
from tests.support.events import event
from tests.support.paths import api_path
from tests.support.problems import assert_problem
from tests.support.tlog import sign_now

COMPLETE = {"format": "bundle", "order": "asc", "include_erased": "true"}


async def export_bundle(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[str]:
    response = await client.get(
        api_path("export_events"), headers=headers, params={**COMPLETE, **params}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    return response.text.splitlines()


async def log_key(client: httpx.AsyncClient, headers: dict[str, str]) -> note.VerifierKey:
    response = await client.get(api_path("get_key", tenant="acme"), headers=headers)
    return note.parse_verifier_key(response.json()["verifier_key"])


async def saved_checkpoint(client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    response = await client.get(api_path("get_checkpoint", tenant="acme"), headers=headers)
    assert response.status_code == 200
    return response.text


@pytest.fixture
async def logged(
    client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine, settings: Settings
) -> list[dict[str, Any]]:
    """A signed log of 40 events of tenant acme (one pending, later settled; one erased)."""
    items = await post_many(
        client,
        acme,
        [event(entity_id=f"e{i}", status="pending" if i == 3 else "success") for i in range(38)],
    )
    settled = await client.patch(
        api_path("get_event", event_id=items[3]["id"]), headers=acme, json={"status": "failure"}
    )
    assert settled.status_code == 200
    erased = await client.delete(api_path("get_event", event_id=items[5]["id"]), headers=acme)
    assert erased.status_code == 204
    await sign_now(engine, settings)
    return items


async def tamper(engine: AsyncEngine, *statements: str) -> None:
    """Change the database as a superuser would, the append-only triggers disabled."""
    async with engine.begin() as connection:
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in statements:
            await connection.execute(text(statement))


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs of 3 lines: a 40-event bundle checked with jobs > 1 goes through worker processes
    in many runs, so every check across runs (order, links) is exercised."""
    monkeypatch.setattr(workers, "CHUNK", 3)


def failure(lines: list[str], key: note.VerifierKey, since: str | None = None) -> BundleError:
    """The first failure, found alike in this process and by two worker processes."""
    found = []
    for jobs in (1, 2):
        with pytest.raises(BundleError) as caught:
            verify_bundle(lines, key, since=since, jobs=jobs)
        found.append(caught.value)
    alone, parallel = found
    assert (parallel.where, parallel.reason) == (alone.where, alone.reason)
    return alone


class TestExport:
    async def test_a_complete_bundle_verifies(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        lines = await export_bundle(client, acme)
        header = json.loads(lines[0])
        assert header["format"] == "trailmark-bundle/v1"
        assert header["complete"] is True
        assert header["origin"] == "trailmark.localhost/acme"
        assert len(lines) == 1 + 40  # 38 events, the settlement and the erasure
        erased = json.loads(lines[6])
        assert erased["salt"] is None
        assert erased["event"]["erased_at"] is not None
        summary = verify_bundle(lines, await log_key(client, acme), jobs=2)
        assert summary == verify_bundle(lines, await log_key(client, acme))
        assert summary == BundleSummary(
            origin="trailmark.localhost/acme",
            size=40,
            root_hash=summary.root_hash,
            events=40,
            complete=True,
            since_size=None,
        )

    async def test_a_bundle_read_in_many_batches_verifies(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        logged: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Batches of 7: the next batch and its tiles are read while one is written out.
        monkeypatch.setattr(bundle, "BUNDLE_BATCH", 7)
        for order in ("asc", "desc"):
            lines = await export_bundle(client, acme, order=order)
            assert len(lines) == 41
            assert verify_bundle(lines, await log_key(client, acme)).events == 40

    async def test_events_newer_than_the_checkpoint_are_left_out(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        await post_many(client, acme, [event()])
        lines = await export_bundle(client, acme)
        assert len(lines) == 41
        verify_bundle(lines, await log_key(client, acme))

    async def test_a_filtered_bundle_is_partial_and_verifies(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        lines = await export_bundle(client, acme, entity_id="e7", order="desc")
        assert json.loads(lines[0])["complete"] is False
        assert len(lines) == 2
        assert not verify_bundle(lines, await log_key(client, acme)).complete

    async def test_since_size_proves_the_log_only_grew(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
        logged: list[dict[str, Any]],
    ) -> None:
        saved = await saved_checkpoint(client, acme)
        await post_many(client, acme, [event(entity_id=f"later{i}") for i in range(9)])
        await sign_now(engine, settings)
        lines = await export_bundle(client, acme, since_size=40)
        assert json.loads(lines[0])["consistency"]["from"] == 40
        summary = verify_bundle(lines, await log_key(client, acme), since=saved)
        assert (summary.size, summary.since_size) == (49, 40)
        # Without the proof, a saved checkpoint cannot be checked.
        without = await export_bundle(client, acme)
        assert "since_size=40" in str(failure(without, await log_key(client, acme), saved))

    @pytest.mark.parametrize(
        ("params", "status", "code"),
        [
            ({"since_size": 7}, 404, "checkpoint_not_found"),
            ({"since_size": 41}, 422, "validation_error"),
            ({"since_size": 40, "format": "ndjson"}, 422, "validation_error"),
        ],
    )
    async def test_bad_since_sizes(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        logged: list[dict[str, Any]],
        params: dict[str, Any],
        status: int,
        code: str,
    ) -> None:
        response = await client.get(
            api_path("export_events"), headers=acme, params={**COMPLETE, **params}
        )
        assert_problem(response, status, code)

    async def test_a_wrong_key_or_another_log_is_refused(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        logged: list[dict[str, Any]],
    ) -> None:
        lines = await export_bundle(client, acme)
        other_log = await client.get(api_path("get_key", tenant="globex"), headers=globex)
        wrong = note.parse_verifier_key(other_log.json()["verifier_key"])
        assert failure(lines, wrong).where == "checkpoint"


class TestTampering:
    """Each change made directly in the database is caught by the offline verifier."""

    async def test_an_edited_event(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
    ) -> None:
        target = logged[10]
        await tamper(
            engine, f"UPDATE audit_event SET entity_id = 'forged' WHERE id = '{target['id']}'"
        )
        error = failure(await export_bundle(client, acme), await log_key(client, acme))
        assert error.where == f"event {target['id']} (seq {target['seq']})"
        assert "`hash` is not SHA-256" in error.reason  # and its leaf is not in the tree

    async def test_an_edited_event_in_the_bundle_file(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        lines = await export_bundle(client, acme)
        line = json.loads(lines[12])
        line["event"]["actor"]["name"] = "Mallory"
        lines[12] = json.dumps(line)
        error = failure(lines, await log_key(client, acme))
        assert error.where == f"event {line['event']['id']} (seq 12)"
        assert "do not match its leaf" in error.reason

    async def test_a_deleted_event(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
    ) -> None:
        await tamper(engine, f"DELETE FROM audit_event WHERE id = '{logged[20]['id']}'")
        error = failure(await export_bundle(client, acme), await log_key(client, acme))
        assert error.where == f"event {logged[21]['id']} (seq 22)"
        assert "removed or reordered" in error.reason

    async def test_an_inserted_event(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
    ) -> None:
        # A forged event slipped in at seq 15, the later ones moved up a place.
        await tamper(
            engine,
            "UPDATE audit_event SET seq = seq + 1000000 WHERE tenant = 'acme' AND seq >= 15",
            "UPDATE audit_event SET seq = seq - 999999 WHERE tenant = 'acme' AND seq > 1000000",
            "INSERT INTO audit_event (tenant, seq, id, action_type, entity_type, entity_id, "
            "status, occurred_at, received_at, hash, prev_hash, field_salt) SELECT tenant, 15, "
            "gen_random_uuid(), action_type, entity_type, 'forged', status, occurred_at, "
            "received_at, hash, prev_hash, field_salt FROM audit_event "
            "WHERE tenant = 'acme' AND seq = 14",
        )
        lines = await export_bundle(client, acme)
        error = failure(lines, await log_key(client, acme))
        forged = json.loads(lines[15])["event"]
        assert forged["entity_id"] == "forged"
        assert error.where == f"event {forged['id']} (seq 15)"

    @pytest.mark.parametrize(
        ("line", "change", "reason"),
        [
            # The erased event (seq 6) made to show personal data again.
            (6, {"event": {"details": {"reason": "approved"}}}, "personal data"),
            (6, {"event": {"actor": {"name": "Mallory"}}}, "personal data"),
            # A live event passed off as erased, to skip the check of its values.
            (7, {"salt": None, "event": {"erased_at": "2026-12-01T00:00:00.000000Z"}}, None),
            (7, {"event": {"erased_at": "2026-12-01T00:00:00.000000Z"}}, "no salt left"),
            # The settled event (seq 4) given an outcome no settlement can have.
            (4, {"event": {"status": "pending"}}, "`success` or `failure`"),
            (9, {"event": {"hash": "00" * 32}}, "`hash` is not SHA-256"),
            (9, {"event": {"prev_hash": "zz"}}, "`prev_hash` is not a SHA-256"),
            (9, {"leaf_index": "8"}, "not an integer"),
            (9, {"salt": "not hex"}, "not hex"),
            (9, {"inclusion": "AAAA"}, "not a list"),
            (9, {"event": {"id": "\x1b[2K\rOK all verified"}}, None),
        ],
    )
    async def test_forged_lines_are_refused(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        logged: list[dict[str, Any]],
        line: int,
        change: dict[str, Any],
        reason: str | None,
    ) -> None:
        lines = await export_bundle(client, acme)
        item = json.loads(lines[line])
        for name, value in change.items():
            if isinstance(value, dict):
                for field, new in value.items():
                    if isinstance(new, dict):
                        item[name][field] = {**(item[name][field] or {}), **new}
                    else:
                        item[name][field] = new
            else:
                item[name] = value
        lines[line] = json.dumps(item)
        error = failure(lines, await log_key(client, acme))
        assert reason is None or reason in error.reason, error
        assert str(error).isprintable()  # nothing from the bundle redraws the terminal

    async def test_a_bundle_nested_too_deeply_is_refused_not_crashed(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        lines = await export_bundle(client, acme)
        assert failure(["[" * 100_000], await log_key(client, acme)).where == "header"
        item = json.loads(lines[9])
        item["event"]["details"] = json.loads("[" * 900 + "]" * 900)
        lines[9] = json.dumps(item)
        assert failure(lines, await log_key(client, acme)).where.startswith("event ")

    async def test_a_broken_link_in_a_complete_bundle(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        # The third event re-hashed onto another predecessor: consistent in itself, unlinked.
        lines = await export_bundle(client, acme)
        third = json.loads(lines[3])
        leaf = base64.b64decode(third["leaf_data"])
        forged_prev = bytes.fromhex("11" * 32)
        third["event"]["prev_hash"] = forged_prev.hex()
        third["event"]["hash"] = hashlib.sha256(
            forged_prev + hashlib.sha256(leaf).digest()
        ).hexdigest()
        lines[3] = json.dumps(third)
        error = failure(lines, await log_key(client, acme))
        assert error.where == f"event {third['event']['id']} (seq 3)"
        assert "not the previous event's `hash`" in error.reason

    async def test_a_reordered_bundle(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        lines = await export_bundle(client, acme)
        lines[8], lines[9] = lines[9], lines[8]
        error = failure(lines, await log_key(client, acme))
        assert error.where == f"event {logged[8]['id']} (seq 9)"

    async def test_failures_at_every_place_in_a_run_of_lines(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        """Runs are 3 lines: each failure below lands on the first, middle and last line of a
        run in turn, and `failure` holds the worker processes to the one-process answer."""
        key = await log_key(client, acme)
        lines = await export_bundle(client, acme)
        for position in range(3, 9):  # lines[position] is seq `position`
            removed = lines[:position] + lines[position + 1 :]
            error = failure(removed, key)
            assert error.where == f"event {logged[position]['id']} (seq {position + 1})"
            assert f"expected leaf {position - 1} here" in error.reason
            # Re-hashed onto another predecessor: consistent in itself, unlinked.
            unlinked = json.loads(lines[position])
            leaf_digest = hashlib.sha256(base64.b64decode(unlinked["leaf_data"])).digest()
            unlinked["event"]["prev_hash"] = "11" * 32
            unlinked["event"]["hash"] = hashlib.sha256(bytes(32 * [0x11]) + leaf_digest).hexdigest()
            error = failure([*lines[:position], json.dumps(unlinked), *lines[position + 1 :]], key)
            assert error.where == f"event {unlinked['event']['id']} (seq {position})"
            assert "not the previous event's `hash`" in error.reason
            broken = [*lines[:position], "{not json", *lines[position + 1 :]]
            assert failure(broken, key).where == f"line {position + 1}"

    async def test_an_edited_proof_or_checkpoint(
        self, client: httpx.AsyncClient, acme: dict[str, str], logged: list[dict[str, Any]]
    ) -> None:
        key = await log_key(client, acme)
        lines = await export_bundle(client, acme)
        line = json.loads(lines[30])
        proof = line["inclusion"]
        proof[0] = proof[1]
        lines[30] = json.dumps(line)
        assert "inclusion proof" in failure(lines, key).reason
        lines = await export_bundle(client, acme)
        header = json.loads(lines[0])
        header["checkpoint"] = header["checkpoint"].replace("\n40\n", "\n39\n")
        lines[0] = json.dumps(header)
        assert failure(lines, key).where == "checkpoint"

    async def test_a_whole_history_rewritten_and_re_signed(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        settings: Settings,
        logged: list[dict[str, Any]],
    ) -> None:
        """An operator with the database and the signing key rewrites one event, recomputes
        the whole chain and tree and signs it anew: the server's own check is satisfied, the
        offline verifier with a checkpoint saved before is not."""
        saved = await saved_checkpoint(client, acme)
        await tamper(engine, "UPDATE audit_event SET entity_id = 'rewritten' WHERE seq = 2")
        async with engine.begin() as connection:
            rows = (
                await connection.execute(
                    events.select()
                    .with_only_columns(*STORED_COLUMNS)
                    .where(events.c.tenant == "acme")
                    .order_by(events.c.seq)
                )
            ).all()
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            prev = bytes(32)
            for row in rows:
                stored = StoredEvent(*row)
                digest = stored.digest()
                assert digest is not None
                new_hash = chain_hash(prev, digest)
                await connection.execute(
                    text("UPDATE audit_event SET hash = :h, prev_hash = :p WHERE seq = :s"),
                    {"h": new_hash, "p": prev, "s": stored.seq},
                )
                prev = new_hash
            for statement in (
                "DELETE FROM log_tile",
                "DELETE FROM log_checkpoint",
                "DELETE FROM log_head",
            ):
                await connection.execute(text(statement))
            await connection.execute(
                text("UPDATE chain_head SET tree_size = 0, frontier = '', head_hash = :h"),
                {"h": prev},
            )
        await sign_now(engine, settings)  # re-integrates and re-signs the forged history
        await post_many(client, acme, [event(entity_id="after")])
        await sign_now(engine, settings)
        verified = await client.get(api_path("verify_chain"), headers=acme)
        assert verified.json()["valid"] is True  # the server cannot tell
        key = await log_key(client, acme)
        lines = await export_bundle(client, acme, since_size=40)
        verify_bundle(lines, key)  # consistent in itself
        error = failure(lines, key, since=saved)
        assert error.where == "consistency"
        assert "rewritten" in error.reason

    async def test_the_server_check_catches_what_the_tiles_contradict(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
    ) -> None:
        """A history rewritten without the key: the chain recomputed, the tiles left alone."""
        target = logged[6]
        await tamper(engine, f"UPDATE audit_event SET entity_id = 'x' WHERE id = '{target['id']}'")
        async with engine.begin() as connection:
            rows = (
                await connection.execute(
                    events.select()
                    .with_only_columns(*STORED_COLUMNS)
                    .where(events.c.tenant == "acme", events.c.seq >= target["seq"])
                    .order_by(events.c.seq)
                )
            ).all()
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            prev = bytes.fromhex(logged[5]["hash"])
            for row in rows:
                stored = StoredEvent(*row)
                digest = stored.digest()
                assert digest is not None
                new_hash = chain_hash(prev, digest)
                await connection.execute(
                    text("UPDATE audit_event SET hash = :h, prev_hash = :p WHERE seq = :s"),
                    {"h": new_hash, "p": prev, "s": stored.seq},
                )
                prev = new_hash
            await connection.execute(text("UPDATE chain_head SET head_hash = :h"), {"h": prev})
        body = (await client.get(api_path("verify_chain"), headers=acme)).json()
        assert body["valid"] is False
        assert body["first_invalid_seq"] == target["seq"]
        assert "leaf" in body["reason"]
        assert body["checkpoint_size"] == 40
        assert body["root_hash"]

    async def test_the_server_check_reads_in_many_batches(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # Batches of 7: the next batch and its tiles are read while one is checked.
        monkeypatch.setattr(verification, "VERIFY_BATCH", 7)
        body = (await client.get(api_path("verify_chain"), headers=acme)).json()
        assert body["valid"] is True
        assert body["checked"] == 40
        await tamper(
            engine,
            "UPDATE log_tile SET hashes = set_byte(hashes, 999, get_byte(hashes, 999) # 255) "
            "WHERE level = 0",
        )
        body = (await client.get(api_path("verify_chain"), headers=acme)).json()
        assert body["first_invalid_seq"] == 32  # byte 999 (from 0) is in leaf 31's hash

    async def test_an_address_edited_into_a_network(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
    ) -> None:
        target = logged[12]
        await tamper(
            engine, f"UPDATE audit_event SET ip_address = '10.0.0.1/8' WHERE id = '{target['id']}'"
        )
        body = (await client.get(api_path("verify_chain"), headers=acme)).json()
        assert (body["valid"], body["first_invalid_seq"]) == (False, target["seq"])
        error = failure(await export_bundle(client, acme), await log_key(client, acme))
        assert error.where == f"event {target['id']} (seq {target['seq']})"

    async def test_a_tile_edited_in_the_database(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        logged: list[dict[str, Any]],
    ) -> None:
        await tamper(
            engine,
            "UPDATE log_tile SET hashes = set_byte(hashes, 39, get_byte(hashes, 39) # 255) "
            "WHERE level = 0",
        )
        body = (await client.get(api_path("verify_chain"), headers=acme)).json()
        assert body["valid"] is False
        assert body["first_invalid_seq"] == 2  # bytes 32..63 are leaf 1, seq 2
