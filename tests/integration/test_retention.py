"""Retention policies and legal holds: the API, the job's rules (erase, prune, holds, dry
runs), what the database itself refuses, and every remaining proof still verifying."""

import base64
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from src.auth.constants import Scope
from src.config import Settings
from src.database import create_sessionmaker
from src.log.signing import log_identity
from src.retention import job, partitions
from src.retention.worker import RetentionWorker
from src.verifier import merkle, note
from src.verifier.bundle import BundleError, verify_bundle
from tests.support.api import post_many
from tests.support.events import event
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path
from tests.support.problems import assert_problem
from tests.support.retention import close_range, days_after, now, run_retention
from tests.support.tlog import sign_now

PRUNE = {"days": 30, "mode": "prune"}
ERASE = {"days": 30, "mode": "erase"}


def policy_path(tenant: str = "acme") -> str:
    return api_path("get_policy", tenant=tenant)


def holds_path(tenant: str = "acme") -> str:
    return api_path("list_holds", tenant=tenant)


async def set_policy(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], tenant: str = "acme"
) -> None:
    response = await client.put(policy_path(tenant), headers=admin, json=body)
    assert response.status_code == 200, response.text


async def record(
    client: httpx.AsyncClient, headers: dict[str, str], count: int, **overrides: Any
) -> list[dict[str, Any]]:
    return await post_many(
        client,
        headers,
        [event(entity_id=f"doc_{n}", **overrides) for n in range(count)],
    )


async def hold(
    client: httpx.AsyncClient, admin: dict[str, str], filter_: dict[str, Any], tenant: str = "acme"
) -> dict[str, Any]:
    response = await client.post(
        holds_path(tenant), headers=admin, json={"reason": "litigation", "filter": filter_}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def status_of(client: httpx.AsyncClient, headers: dict[str, str], event_id: str) -> int:
    return (await client.get(api_path("get_event", event_id=event_id), headers=headers)).status_code


async def verify(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(api_path("verify_chain"), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def scalar(engine: AsyncEngine, query: str) -> Any:
    async with engine.connect() as connection:
        return (await connection.execute(text(query))).scalar()


async def ranges_of(engine: AsyncEngine, tenant: str) -> list[tuple[str, int, int | None, bool]]:
    """The tenant's ranges of events: (table, first seq, end seq or None, dropped)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT name, lower_seq, upper_seq, dropped_at IS NOT NULL "
                "FROM audit_event_partition WHERE tenant = :tenant AND lower_seq IS NOT NULL "
                "ORDER BY lower_seq"
            ),
            {"tenant": tenant},
        )
        return [(name, lower, upper, dropped) for name, lower, upper, dropped in rows]


async def latest_size(client: httpx.AsyncClient, headers: dict[str, str]) -> int:
    response = await client.get(api_path("get_checkpoint", tenant="acme"), headers=headers)
    return int(response.text.split("\n")[1])


async def proof(
    client: httpx.AsyncClient, headers: dict[str, str], event_id: str, size: int
) -> dict[str, Any]:
    response = await client.get(
        api_path("get_proof", event_id=event_id), headers=headers, params={"tree_size": size}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestPolicyApi:
    async def test_without_a_policy_events_are_kept_forever(
        self, client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
    ) -> None:
        response = await client.get(policy_path(), headers=acme)
        assert response.status_code == 200
        assert response.json() == {
            "tenant": "acme",
            "days": None,
            "mode": "erase",
            "updated_at": None,
            "last_run_at": None,
        }

    async def test_an_admin_sets_it_and_the_tenant_reads_it(
        self, client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
    ) -> None:
        response = await client.put(policy_path(), headers=admin, json=PRUNE)
        assert response.status_code == 200
        assert response.json()["days"] == 30
        assert response.json()["mode"] == "prune"
        read = (await client.get(policy_path(), headers=acme)).json()
        assert read["days"] == 30
        assert read["mode"] == "prune"
        assert read["updated_at"]
        cleared = await client.put(policy_path(), headers=admin, json={"days": None})
        assert cleared.json()["days"] is None

    @pytest.mark.parametrize(
        "body",
        [
            {"days": 29, "mode": "prune"},
            {"days": 3651},
            {"days": 90, "mode": "shred"},
            {"mode": "erase"},
            {"days": "thirty"},
            {"days": 90, "extra": 1},
        ],
    )
    async def test_bad_policies_are_a_422(
        self, client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str], body: Any
    ) -> None:
        response = await client.put(policy_path(), headers=admin, json=body)
        assert_problem(response, 422, "validation_error")
        assert (await client.get(policy_path(), headers=acme)).json()["days"] is None

    async def test_only_an_admin_may_change_it(
        self, client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
    ) -> None:
        assert_problem(await client.put(policy_path(), headers=acme, json=PRUNE), 403, "forbidden")

    async def test_another_or_an_unknown_tenant_is_a_404(
        self,
        client: httpx.AsyncClient,
        admin: dict[str, str],
        acme: dict[str, str],
        globex: dict[str, str],
    ) -> None:
        assert_problem(await client.get(policy_path("acme"), headers=globex), 404, "not_found")
        response = await client.put(policy_path("nobody"), headers=admin, json=PRUNE)
        assert_problem(response, 404, "not_found")


class TestHoldsApi:
    async def test_create_list_release_each_recorded_in_the_trail(
        self, client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
    ) -> None:
        created = await hold(client, admin, {"actor_id": "user_7", "q": "action:user.login"})
        assert created["filter"] == {"actor_id": "user_7", "q": "action:user.login"}
        assert created["released_at"] is None
        listed = (await client.get(holds_path(), headers=acme)).json()
        assert [item["id"] for item in listed["items"]] == [created["id"]]

        release = api_path("release_hold", tenant="acme", hold_id=created["id"])
        assert (await client.delete(release, headers=admin)).status_code == 204
        assert (await client.delete(release, headers=admin)).status_code == 204  # no-op
        listed = (await client.get(holds_path(), headers=acme)).json()
        assert listed["items"][0]["released_at"] is not None

        trail = (
            await client.get(
                api_path("list_events"), headers=acme, params={"entity_type": "legal_hold"}
            )
        ).json()["items"]
        assert [item["action"] for item in trail] == ["legal_hold.released", "legal_hold.created"]
        assert {item["actor"]["type"] for item in trail} == {"system"}
        assert {item["entity_id"] for item in trail} == {created["id"]}
        assert trail[1]["details"]["filter"] == created["filter"]

    async def test_bad_holds_are_refused(
        self, client: httpx.AsyncClient, admin: dict[str, str], acme: dict[str, str]
    ) -> None:
        for body in (
            {"reason": "", "filter": {}},
            {"reason": "x", "filter": {"colour": "red"}},
            {"filter": {}},
        ):
            response = await client.post(holds_path(), headers=admin, json=body)
            assert_problem(response, 422, "validation_error")
        response = await client.post(
            holds_path(), headers=admin, json={"reason": "x", "filter": {"q": 'actor:"open'}}
        )
        assert response.status_code == 422
        assert_problem(
            await client.post(holds_path(), headers=acme, json={"reason": "x"}), 403, "forbidden"
        )
        unknown = api_path(
            "release_hold", tenant="acme", hold_id="0b6f4f7e-4c1e-4a53-9d1c-2f3e4d5c6b7a"
        )
        assert_problem(await client.delete(unknown, headers=admin), 404, "hold_not_found")
        assert (await client.get(holds_path(), headers=acme)).json()["items"] == []


class TestErase:
    async def test_expired_events_are_erased_and_everything_still_verifies(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, ERASE)
        old = await record(client, acme, 20)
        moment = now()
        new = await record(client, acme, 5)
        await sign_now(engine, settings)
        size = await latest_size(client, acme)
        before = await proof(client, acme, old[3]["id"], size)

        report = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert (report.erased, report.pruned, report.min_index) == (20, 0, 0)
        assert (report.first_seq, report.last_seq) == (1, 20)
        assert {await status_of(client, acme, item["id"]) for item in old} == {410}
        assert {await status_of(client, acme, item["id"]) for item in new} == {200}
        assert await proof(client, acme, old[3]["id"], size) == before
        result = await verify(client, acme)
        assert result["valid"] is True
        assert result["min_index"] == 0
        # The run is in the trail, with its counts.
        [run] = (
            await client.get(
                api_path("list_events"), headers=acme, params={"action": "retention.run"}
            )
        ).json()["items"]
        assert run["actor"]["type"] == "system"
        assert run["details"]["erased"] == 20
        assert run["details"]["first_seq"] == 1

        again = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert (again.erased, again.pruned, again.recorded_seq) == (0, 0, None)


class TestPrune:
    async def test_a_hold_protects_one_event_among_thousands_of_expired_ones(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        old = await record(client, acme, 1500)
        # A month ends: the range [1, 1281) closes, the 220 events above it move on.
        assert await close_range(engine, "acme") == 1281
        held = await post_many(
            client, acme, [event(entity_id="evidence", actor={"id": "mallory", "type": "user"})]
        )
        older = await record(client, acme, 500)
        moment = now()
        kept = await record(client, acme, 10)
        await sign_now(engine, settings)
        before_size = await latest_size(client, acme)
        before_proofs = {
            item["id"]: await proof(client, acme, item["id"], before_size)
            for item in [*held, *kept]
        }
        await hold(client, admin, {"actor_id": "mallory"})
        await sign_now(engine, settings)

        report = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        held_seq = held[0]["seq"]  # 1501: leaf 1500
        assert report.min_index == 1280 == (held_seq - 1) // 256 * 256
        assert report.pruned == 1280
        assert report.held == 1
        assert report.erased == 1500 - 1280 + 500

        assert await status_of(client, acme, held[0]["id"]) == 200
        assert (
            await client.get(api_path("get_event", event_id=held[0]["id"]), headers=acme)
        ).json() == held[0]
        # Every event at once, from the export (erased ones too), then a sample one by one.
        exported = await client.get(
            api_path("export_events"),
            headers=acme,
            params={"format": "ndjson", "order": "asc", "include_erased": "true"},
        )
        stored = {line["id"]: line for line in map(json.loads, exported.text.splitlines())}
        assert not {item["id"] for item in old[:1280]} & stored.keys()
        assert all(stored[item["id"]]["erased_at"] for item in [*old[1280:], *older])
        assert all(stored[item["id"]]["erased_at"] is None for item in [*held, *kept])
        assert {await status_of(client, acme, item["id"]) for item in old[:1280:97]} == {404}
        assert {await status_of(client, acme, item["id"]) for item in old[1280::31]} == {410}
        assert {await status_of(client, acme, item["id"]) for item in older[::31]} == {410}
        assert {await status_of(client, acme, item["id"]) for item in kept} == {200}

        # Every kept event's proof against the checkpoint signed before the prune is unchanged.
        for event_id, before in before_proofs.items():
            assert await proof(client, acme, event_id, before_size) == before
        # The log says where it starts; tiles wholly below are gone, the rest are served.
        key = (await client.get(api_path("get_key", tenant="acme"), headers=acme)).json()
        assert key["min_index"] == 1280
        verifier_key = note.parse_verifier_key(key["verifier_key"])
        assert "\nprune anchor\n1280\n" in note.open_note(key["prune_anchor"], verifier_key)
        for path in ("0/000", "0/004", "entries/000", "entries/004"):
            response = await client.get(
                api_path("get_tile", tenant="acme", tile_path=path), headers=acme
            )
            assert_problem(response, 404, "pruned")
        for path in ("0/005", "entries/005", "1/000.p/7"):
            response = await client.get(
                api_path("get_tile", tenant="acme", tile_path=path), headers=acme
            )
            assert response.status_code == 200, path
        checkpoint = await client.get(api_path("get_checkpoint", tenant="acme"), headers=acme)
        assert checkpoint.headers["trailmark-min-index"] == "1280"
        # The chain is checked from the signed anchor, the hold in the middle included.
        result = await verify(client, acme)
        assert result["valid"] is True, result
        assert result["min_index"] == 1280
        assert result["checked"] == result["head_seq"] - 1280

        # Consistency across the prune: the tree before it is a prefix of the tree after.
        await sign_now(engine, settings)
        after_size = await latest_size(client, acme)
        response = await client.get(
            api_path("get_consistency", tenant="acme"),
            headers=acme,
            params={"from": before_size, "to": after_size},
        )
        assert response.status_code == 200
        roots = {}
        for size in (before_size, after_size):
            page = (
                await client.get(
                    api_path("list_checkpoints", tenant="acme"), headers=acme, params={"limit": 50}
                )
            ).json()["items"]
            roots[size] = next(
                base64.b64decode(item["root_hash"]) for item in page if item["size"] == size
            )
        assert merkle.verify_consistency(
            old_size=before_size,
            new_size=after_size,
            proof=[base64.b64decode(node) for node in response.json()["proof"]],
            old_root=roots[before_size],
            new_root=roots[after_size],
        )

    async def test_a_release_then_a_run_moves_the_minimum_index_past_it(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        await record(client, acme, 300)
        await close_range(engine, "acme")  # [1, 257)
        held = await post_many(client, acme, [event(actor={"id": "mallory", "type": "user"})])
        await record(client, acme, 300)
        await close_range(engine, "acme")  # [257, 513), the held event 301 in it
        moment = now()
        await record(client, acme, 3)
        await sign_now(engine, settings)
        created = await hold(client, admin, {"actor_id": "mallory"})
        first = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert first.min_index == 256
        assert await status_of(client, acme, held[0]["id"]) == 200

        release = api_path("release_hold", tenant="acme", hold_id=created["id"])
        assert (await client.delete(release, headers=admin)).status_code == 204
        await sign_now(engine, settings)
        second = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert second.min_index == 512
        assert second.pruned == 256
        assert await status_of(client, acme, held[0]["id"]) == 404
        assert (await verify(client, acme))["valid"] is True

    async def test_a_dry_run_removes_nothing(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        old = await record(client, acme, 600)
        moment = now()
        await sign_now(engine, settings)
        # As of a month later: the dry run counts the close a run would make ([1, 513)).
        report = await run_retention(
            engine, settings, "acme", as_of=days_after(moment, 31), dry_run=True
        )
        assert report.dry_run is True
        assert (report.pruned, report.min_index, report.erased) == (512, 512, 88)
        exported = await client.get(
            api_path("export_events"), headers=acme, params={"format": "ndjson", "order": "asc"}
        )
        assert [json.loads(line) for line in exported.text.splitlines()] == old
        assert {await status_of(client, acme, item["id"]) for item in old[::37]} == {200}
        assert [(lower, upper) for _, lower, upper, _ in await ranges_of(engine, "acme")] == [
            (1, None)
        ]
        key = (await client.get(api_path("get_key", tenant="acme"), headers=acme)).json()
        assert key["min_index"] == 0
        assert key["prune_anchor"] is None
        trail = (
            await client.get(
                api_path("list_events"), headers=acme, params={"action": "retention.run"}
            )
        ).json()
        assert trail["items"] == []

    async def test_the_minimum_index_never_passes_the_latest_checkpoint(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        await record(client, acme, 300)
        await close_range(engine, "acme")  # [1, 257)
        await sign_now(engine, settings)
        await record(client, acme, 300)  # not yet signed; the run closes [257, 513)
        moment = now()
        report = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert report.min_index == 256  # the checkpoint covers 300 leaves, not 600

    async def test_the_offline_verifier_accepts_a_pruned_complete_bundle(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        await record(client, acme, 520)
        moment = now()
        await record(client, acme, 5)
        await close_range(engine, "acme")  # [1, 513)
        await sign_now(engine, settings)
        await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        await sign_now(engine, settings)
        response = await client.get(
            api_path("export_events"),
            headers=acme,
            params={"format": "bundle", "order": "asc", "include_erased": "true"},
        )
        lines = response.text.splitlines()
        header = json.loads(lines[0])
        assert header["complete"] is True
        assert header["min_index"] == 512
        key = note.parse_verifier_key(header["verifier_key"])
        summary = verify_bundle(lines, key)
        assert summary.min_index == 512
        assert summary.events == summary.size - 512

        # Without its anchor, or with a line removed, the bundle no longer verifies.
        stripped = {k: v for k, v in header.items() if k != "prune_anchor"}
        with pytest.raises(BundleError, match="prune_anchor"):
            verify_bundle([json.dumps(stripped), *lines[1:]], key)
        with pytest.raises(BundleError, match="expected leaf 512"):
            verify_bundle([lines[0], *lines[2:]], key)


class TestPartitions:
    async def test_a_month_closes_once_it_has_ended(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        acme: dict[str, str],
    ) -> None:
        stored = await record(client, acme, 600)
        moment = now()
        await run_retention(engine, settings, "acme", as_of=moment)
        assert [(lower, upper) for _, lower, upper, _ in await ranges_of(engine, "acme")] == [
            (1, None)
        ]
        next_month = partitions.month_start(days_after(moment, 31))
        await run_retention(engine, settings, "acme", as_of=next_month)
        ranges = await ranges_of(engine, "acme")
        # The last whole tile ends the month; the 88 events above it open the next range.
        assert [(lower, upper) for _, lower, upper, _ in ranges] == [(1, 513), (513, None)]
        assert await scalar(engine, f'SELECT count(*) FROM "{ranges[0][0]}"') == 512
        assert await scalar(engine, f'SELECT count(*) FROM "{ranges[1][0]}"') == 88
        # Once closed, the next run has nothing to close: fewer than a tile since.
        await record(client, acme, 10)
        await run_retention(engine, settings, "acme", as_of=days_after(next_month, 31))
        assert len(await ranges_of(engine, "acme")) == 2
        exported = await client.get(
            api_path("export_events"), headers=acme, params={"format": "ndjson", "order": "asc"}
        )
        assert [json.loads(line)["id"] for line in exported.text.splitlines()][:600] == [
            item["id"] for item in stored
        ]
        assert (await verify(client, acme))["valid"] is True

    async def test_a_prune_drops_its_ranges_and_rewrites_nothing_else(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
        globex: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        for headers in (acme, globex):
            for _ in range(3):
                await record(client, headers, 256)
                await close_range(engine, "acme" if headers is acme else "globex")
        moment = now()
        await record(client, acme, 5)
        await sign_now(engine, settings)
        files = """
            SELECT c.relname, pg_relation_filenode(c.oid) FROM audit_event_partition AS p
            JOIN pg_class AS c ON c.relname = p.name WHERE p.lower_seq IS NOT NULL
            ORDER BY 1
        """
        async with engine.connect() as connection:
            before = dict((await connection.execute(text(files))).all())

        report = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))

        assert (report.min_index, report.pruned, report.erased) == (768, 768, 0)
        async with engine.connect() as connection:
            after = dict((await connection.execute(text(files))).all())
        dropped = [name for name, _, _, gone in await ranges_of(engine, "acme") if gone]
        assert len(dropped) == 3
        assert not set(dropped) & after.keys()
        # Every other range, of this tenant and of the other, is the same file as before.
        assert after == {name: node for name, node in before.items() if name not in dropped}
        assert (await verify(client, acme))["valid"] is True
        assert (await verify(client, globex))["min_index"] == 0

    async def test_a_run_gives_way_to_a_long_hold_on_the_tenants_table(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        await record(client, acme, 300)
        await close_range(engine, "acme")
        moment = now()
        await sign_now(engine, settings)
        async with engine.connect() as reader:  # a long export, say, of acme's events
            await reader.execute(text("SELECT count(*) FROM audit_event WHERE tenant = 'acme'"))
            async with create_sessionmaker(engine)() as session:
                busy = await job.run_tenant(
                    session, log_identity(settings), "acme", as_of=days_after(moment, 30)
                )
            assert busy is None  # it waited `LOCK_WAIT`, gave up, and changed nothing
            assert await scalar(engine, "SELECT count(*) FROM log_prune_anchor") == 0
        report = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert (report.min_index, report.pruned) == (256, 256)


class TestWorker:
    async def test_a_round_runs_each_tenant_at_most_once_an_interval(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
        globex: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        await set_policy(client, admin, ERASE)
        await record(client, acme, 3)
        await record(client, globex, 3)  # no policy: visited for its months only
        visited: list[str] = []
        close_if_due = partitions.close_if_due

        async def seen(session: AsyncSession, tenant: str, as_of: datetime) -> int | None:
            visited.append(tenant)
            return await close_if_due(session, tenant, as_of)

        monkeypatch.setattr(partitions, "close_if_due", seen)
        worker = RetentionWorker(create_sessionmaker(engine), log_identity(settings), interval=3600)
        last_run = "SELECT last_run_at FROM retention_policy WHERE tenant = 'acme'"
        await worker.run_once()
        first = await scalar(engine, last_run)
        assert first is not None
        await worker.run_once()  # within the interval: acme's run is not due again
        assert await scalar(engine, last_run) == first
        # Both tenants visited each round (for their months), the one without a policy too.
        assert visited == ["acme", "globex"] * 2


class TestDatabaseGuard:
    async def test_nothing_else_may_remove_events(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        acme: dict[str, str],
    ) -> None:
        await set_policy(client, admin, PRUNE)
        await record(client, acme, 300)
        await close_range(engine, "acme")  # [1, 257)
        held = await post_many(client, acme, [event(actor={"id": "mallory", "type": "user"})])
        await record(client, acme, 300)
        await close_range(engine, "acme")  # [257, 513), the held event 301 in it
        moment = now()
        await sign_now(engine, settings)
        await hold(client, admin, {"actor_id": "mallory"})
        report = await run_retention(engine, settings, "acme", as_of=days_after(moment, 30))
        assert report.min_index == 256
        ranges = await ranges_of(engine, "acme")
        assert [(lower, upper, dropped) for _, lower, upper, dropped in ranges] == [
            (1, 257, True),
            (257, 513, False),
            (513, None, False),
        ]
        holding, open_range = ranges[1][0], ranges[2][0]
        tenant_table = await scalar(engine, "SELECT audit_event_tenant_table('acme')")

        async def execute(statement: str, *, prune: bool = False, flag: str = "") -> None:
            async with engine.begin() as connection:
                for name in ["prune"] * prune + [flag] * bool(flag):
                    await connection.execute(
                        text("SELECT set_config(:name, 'on', true)"),
                        {"name": f"trailmark.{name}"},
                    )
                await connection.execute(text(statement))

        # Rows: no DELETE at all now, and no TRUNCATE of the table or of any range.
        with pytest.raises(DBAPIError, match="append-only"):
            await execute("DELETE FROM audit_event WHERE tenant = 'acme' AND seq = 280", prune=True)
        for table in ("audit_event", tenant_table, holding, open_range):
            with pytest.raises(DBAPIError, match="append-only"):
                await execute(f'TRUNCATE "{table}"')
        # Ranges: dropped only by a pruning transaction, wholly below a signed minimum index,
        # and never while a legal hold lists one of its events; never detached.
        with pytest.raises(DBAPIError, match="may only be pruned"):
            await execute(f'DROP TABLE "{holding}"')
        with pytest.raises(DBAPIError, match="not wholly below the signed minimum index"):
            await execute(f'DROP TABLE "{holding}"', prune=True)
        await execute(  # an anchor past the range, written behind the job's back
            "INSERT INTO log_prune_anchor SELECT tenant, 512, prev_hash, checkpoint_size + 300, "
            "note, now() FROM log_prune_anchor WHERE tenant = 'acme'"
        )
        with pytest.raises(DBAPIError, match="legal hold"):
            await execute(f'DROP TABLE "{holding}"', prune=True)
        for statement in (f'DROP TABLE "{open_range}"', f'DROP TABLE "{tenant_table}"'):
            with pytest.raises(DBAPIError, match="not wholly below"):
                await execute(statement, prune=True)
        with pytest.raises(DBAPIError, match="may not be detached"):
            await execute(f'ALTER TABLE "{tenant_table}" DETACH PARTITION "{holding}"')
        with pytest.raises(DBAPIError, match="may not be detached"):  # the close's flag lets
            await execute(  # only the open range be detached
                f'ALTER TABLE "{tenant_table}" DETACH PARTITION "{holding}"', flag="partition"
            )
        # A renamed range is still the registry's (by oid), and guarded as before.
        await execute(f'ALTER TABLE "{holding}" RENAME TO renamed_range')
        with pytest.raises(DBAPIError, match="legal hold"):
            await execute("DROP TABLE renamed_range", prune=True)
        await execute(f'ALTER TABLE renamed_range RENAME TO "{holding}"')
        # The registry the guard reads: only closes and drops, once each.
        for statement in (
            f"UPDATE audit_event_partition SET upper_seq = 1025 WHERE name = '{holding}'",
            f"UPDATE audit_event_partition SET dropped_at = NULL WHERE name = '{ranges[0][0]}'",
            # marking a live range dropped (the drop guard would skip it), or closing the
            # open one, behind the job's back
            f"UPDATE audit_event_partition SET dropped_at = now() WHERE name = '{holding}'",
            f"UPDATE audit_event_partition SET upper_seq = 769 WHERE name = '{open_range}'",
            "DELETE FROM audit_event_partition",
        ):
            with pytest.raises(DBAPIError, match="registry"):
                await execute(statement)
        with pytest.raises(DBAPIError, match="append-only"):
            await execute("DELETE FROM log_prune_anchor")
        assert await status_of(client, acme, held[0]["id"]) == 200
        assert await scalar(engine, f'SELECT count(*) FROM "{holding}"') == 256
        assert await ranges_of(engine, "acme") == ranges


_scenarios = st.fixed_dictionaries(
    {
        "old": st.integers(min_value=1, max_value=900),
        "new": st.integers(min_value=0, max_value=40),
        "held": st.lists(st.integers(min_value=0, max_value=899), max_size=3, unique=True),
        # A month ends after this many of the old events (the run closes the next month).
        "month": st.integers(min_value=0, max_value=900),
        "mode": st.sampled_from(["prune", "erase"]),
        "days": st.sampled_from([30, 365]),
    }
)


class TestProofsSurviveRetention:
    @hypothesis_settings(
        max_examples=4,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(scenario=_scenarios, tenant=st.uuids())
    async def test_every_kept_event_still_proves_against_checkpoints_signed_before(
        self,
        client: httpx.AsyncClient,
        engine: AsyncEngine,
        settings: Settings,
        admin: dict[str, str],
        scenario: dict[str, Any],
        tenant: Any,
    ) -> None:
        slug = f"p{tenant.hex[:12]}"
        headers = bearer(
            await make_key(
                engine,
                settings.api_key_pepper,
                tenant=slug,
                scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ],
            )
        )
        await set_policy(client, admin, {"days": scenario["days"], "mode": scenario["mode"]}, slug)
        held_positions = [n for n in scenario["held"] if n < scenario["old"]]
        events = [
            event(actor={"id": f"held_{n}" if n in held_positions else "user", "type": "user"})
            for n in range(scenario["old"])
        ]
        month = min(scenario["month"], scenario["old"])
        old = await post_many(client, headers, events[:month])
        await close_range(engine, slug)
        old += await post_many(client, headers, events[month:])
        moment = now()
        new = await record(client, headers, scenario["new"])
        for n in held_positions:
            await hold(client, admin, {"actor_id": f"held_{n}"}, slug)
        await sign_now(engine, settings)
        checkpoint = await client.get(api_path("get_checkpoint", tenant=slug), headers=headers)
        size = int(checkpoint.text.split("\n")[1])
        root = base64.b64decode(checkpoint.text.split("\n")[2])
        kept = [old[n] for n in held_positions] + new
        before = {item["id"]: await proof(client, headers, item["id"], size) for item in kept}

        as_of = days_after(moment, scenario["days"])
        report = await run_retention(engine, settings, slug, as_of=as_of)

        first_kept_leaf = min([item["seq"] - 1 for item in kept], default=size)
        assert report.min_index % 256 == 0
        assert report.min_index <= first_kept_leaf
        # It stands at the end of a dropped range (prune moves by whole ranges).
        ranges = await ranges_of(engine, slug)
        assert report.min_index in {0} | {upper - 1 for _, _, upper, gone in ranges if gone}
        if scenario["mode"] == "erase":
            assert report.min_index == 0
        for item in kept:
            now_proof = await proof(client, headers, item["id"], size)
            assert now_proof == before[item["id"]]
            assert merkle.verify_inclusion(
                index=item["seq"] - 1,
                size=size,
                leaf_hash=bytes.fromhex(now_proof["leaf_hash"]),
                proof=[base64.b64decode(node) for node in now_proof["inclusion"]],
                root=root,
            )
            assert await status_of(client, headers, item["id"]) == 200
        expected_gone = {410} if scenario["mode"] == "erase" else {404, 410}
        held_ids = {old[n]["id"] for n in held_positions}
        gone = {
            await status_of(client, headers, item["id"])
            for item in old
            if item["id"] not in held_ids
        }
        assert gone <= expected_gone
        result = await verify(client, headers)
        assert result["valid"] is True, result
        assert result["min_index"] == report.min_index
