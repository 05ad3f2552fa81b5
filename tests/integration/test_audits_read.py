"""Reading events: get, list with filters and q, paging, export, stats, settle and erase."""

import csv
import io
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.support.api import all_pages, post, post_many
from tests.support.events import at, event
from tests.support.paths import api_path
from tests.support.problems import assert_problem


class TestGet:
    async def test_get_with_etag_and_304(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        created = await post(client, acme)
        response = await client.get(api_path("get_event", event_id=created["id"]), headers=acme)
        assert response.status_code == 200
        assert response.json() == created
        etag = response.headers["etag"]
        cached = await client.get(
            api_path("get_event", event_id=created["id"]), headers={**acme, "If-None-Match": etag}
        )
        assert cached.status_code == 304
        assert cached.content == b""
        stale = await client.get(
            api_path("get_event", event_id=created["id"]),
            headers={**acme, "If-None-Match": '"other"'},
        )
        assert stale.status_code == 200

    async def test_unknown_malformed_and_foreign_ids(
        self, client: httpx.AsyncClient, acme: dict[str, str], globex: dict[str, str]
    ) -> None:
        created = await post(client, acme)
        assert_problem(
            await client.get(api_path("get_event", event_id=uuid.uuid4()), headers=acme),
            404,
            "not_found",
        )
        body = assert_problem(
            await client.get("/api/v1/audits/not-a-uuid", headers=acme), 422, "validation_error"
        )
        assert body["errors"][0]["loc"] == ["path", "event_id"]
        # Another tenant's event is exactly as absent as a missing one.
        foreign = await client.get(api_path("get_event", event_id=created["id"]), headers=globex)
        missing = await client.get(api_path("get_event", event_id=uuid.uuid4()), headers=globex)
        assert_problem(foreign, 404, "not_found")
        assert foreign.json()["detail"] == missing.json()["detail"]
        named = await client.get(
            api_path("get_event", event_id=created["id"]), headers=globex, params={"tenant": "acme"}
        )
        assert_problem(named, 404, "not_found")


class TestList:
    @pytest.fixture
    async def seeded(
        self, client: httpx.AsyncClient, acme: dict[str, str], globex: dict[str, str]
    ) -> list[dict[str, Any]]:
        events = [
            event(
                action_type="login",
                action="user.login",
                entity_type="session",
                entity_id="s1",
                actor={"id": "user_1", "type": "user", "name": "Grace Hopper"},
                occurred_at=at(1),
                ip_address="10.0.0.5",
                details={"method": "sso", "mfa": True},
            ),
            event(
                action_type="delete",
                action="repository.deleted",
                entity_id="repo_42",
                occurred_at=at(2),
                details={"reason": "cleanup", "bulk": False},
            ),
            event(
                action_type="delete",
                action="repository.deleted",
                entity_id="repo_43",
                status="failure",
                occurred_at=at(3),
                details={"reason": "legal hold"},
            ),
            event(
                action_type="export",
                action="report.exported",
                entity_type="report",
                entity_id="q3",
                actor=None,
                occurred_at=at(4),
                ip_address="2001:db8::7",
                details={"format": "csv", "rows": 1200},
            ),
            event(
                action_type="update",
                action="repository.renamed",
                entity_id="repo_42",
                status="pending",
                occurred_at=at(5),
                details={"nested": {"level": {"deep": "yes"}}},
            ),
        ]
        items = await post_many(client, acme, events)
        await post(client, globex, occurred_at=at(2))  # another tenant's, never listed for acme
        return items

    async def _ids(
        self, client: httpx.AsyncClient, headers: dict[str, str], **params: Any
    ) -> list[str]:
        response = await client.get(api_path("list_events"), headers=headers, params=params)
        assert response.status_code == 200, response.text
        return [item["entity_id"] for item in response.json()["items"]]

    async def test_default_is_newest_first(
        self, client: httpx.AsyncClient, acme: dict[str, str], seeded: list[dict[str, Any]]
    ) -> None:
        page = (await client.get(api_path("list_events"), headers=acme)).json()
        assert page["limit"] == 20
        assert page["next_cursor"] is None
        assert [item["entity_id"] for item in page["items"]] == [
            "repo_42",
            "q3",
            "repo_43",
            "repo_42",
            "s1",
        ]
        assert await self._ids(client, acme, order="asc") == [
            "s1",
            "repo_42",
            "repo_43",
            "q3",
            "repo_42",
        ]

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"action_type": "delete"}, ["repo_43", "repo_42"]),
            ({"action_type": ["login", "export"]}, ["q3", "s1"]),
            ({"action": "repository.deleted"}, ["repo_43", "repo_42"]),
            ({"entity_type": "report"}, ["q3"]),
            ({"entity_id": "repo_42"}, ["repo_42", "repo_42"]),
            ({"actor_id": "user_1"}, ["s1"]),
            ({"status": "failure"}, ["repo_43"]),
            ({"occurred_after": at(2), "occurred_before": at(4)}, ["repo_43", "repo_42"]),
            ({"occurred_after": at(4), "occurred_before": at(2)}, []),
            ({"q": "action:user.login"}, ["s1"]),
            ({"q": "action_type:delete status:failure"}, ["repo_43"]),
            ({"q": "entity:repository/repo_42"}, ["repo_42", "repo_42"]),
            ({"q": "entity_type:report"}, ["q3"]),
            ({"q": "actor:user_1"}, ["s1"]),
            ({"q": f"after:{at(3)} before:{at(5)}"}, ["q3", "repo_43"]),
            ({"q": "after:2026-11-02"}, []),
            ({"q": "ip:10.0.0.0/8"}, ["s1"]),
            ({"q": "ip:2001:db8::/32"}, ["q3"]),
            ({"q": "details.reason:cleanup"}, ["repo_42"]),
            ({"q": 'details.reason:"legal hold"'}, ["repo_43"]),
            ({"q": "details.rows:1200"}, ["q3"]),
            ({"q": "details.mfa:true"}, ["s1"]),
            ({"q": "details.nested.level.deep:yes"}, ["repo_42"]),
            ({"q": "hopper"}, ["s1"]),
            ({"q": '"legal hold"'}, ["repo_43"]),
            ({"q": "repository.renamed"}, ["repo_42"]),
            ({"q": "repo_43"}, ["repo_43"]),
            ({"q": "action_type:delete", "status": "success"}, ["repo_42"]),
            ({"q": "nothing-matches-this"}, []),
        ],
    )
    async def test_filters(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        seeded: list[dict[str, Any]],
        params: dict[str, Any],
        expected: list[str],
    ) -> None:
        assert await self._ids(client, acme, **params) == expected

    @pytest.mark.parametrize(
        ("q", "term"),
        [
            ("colour:blue", "colour:blue"),
            ("action_type:destroy", "action_type:destroy"),
            ("status:done", "status:done"),
            ("after:yesterday", "after:yesterday"),
            ("after:2026-11-01T10:00:00", "after:2026-11-01T10:00:00"),
            ("ip:not-an-ip", "ip:not-an-ip"),
            ("entity:repository", "entity:repository"),
            ('"unterminated', '"unterminated'),
            ("actor:a actor:b", "actor:b"),
            ("action:Not.Valid", "action:Not.Valid"),
            ("details.:x", "details.:x"),
        ],
    )
    async def test_malformed_q_is_422_naming_the_term(
        self, client: httpx.AsyncClient, acme: dict[str, str], q: str, term: str
    ) -> None:
        body = assert_problem(
            await client.get(api_path("list_events"), headers=acme, params={"q": q}),
            422,
            "validation_error",
        )
        assert repr(term) in str(body["detail"])

    @pytest.mark.parametrize(
        ("params", "loc"),
        [
            ({"limit": 51}, ["query", "limit"]),
            ({"limit": 0}, ["query", "limit"]),
            ({"order": "sideways"}, ["query", "order"]),
            ({"action_type": "destroy"}, ["query", "action_type", 0]),
            ({"status": "done"}, ["query", "status"]),
            ({"occurred_after": "2026-11-01T00:00:00"}, ["query", "occurred_after"]),
            ({"occurred_after": "1700000000"}, ["query", "occurred_after"]),
            ({"actr_id": "user_1"}, ["query", "actr_id"]),
            ({"entity_type": "nul\u0000"}, ["query", "entity_type"]),
            ({"q": "nul\u0000byte"}, ["query", "q"]),
        ],
    )
    async def test_bad_parameters_are_422(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        params: dict[str, Any],
        loc: list[Any],
    ) -> None:
        body = assert_problem(
            await client.get(api_path("list_events"), headers=acme, params=params),
            422,
            "validation_error",
        )
        assert loc in [error["loc"] for error in body["errors"]]

    async def test_cursor_of_other_order_or_tenant_is_400(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        seeded: list[dict[str, Any]],
    ) -> None:
        cursor = (
            await client.get(api_path("list_events"), headers=acme, params={"limit": 2})
        ).json()["next_cursor"]
        assert cursor
        assert_problem(
            await client.get(
                api_path("list_events"), headers=acme, params={"cursor": cursor, "order": "asc"}
            ),
            400,
            "invalid_cursor",
        )
        assert_problem(
            await client.get(api_path("list_events"), headers=globex, params={"cursor": cursor}),
            400,
            "invalid_cursor",
        )
        # A signature that surely differs: replacing its end with a fixed "AA" left it whole
        # whenever it already ended so (one cursor in 256), and the test then failed.
        forged = cursor[:-1] + ("Q" if cursor[-1] != "Q" else "g")
        assert_problem(
            await client.get(api_path("list_events"), headers=acme, params={"cursor": forged}),
            400,
            "invalid_cursor",
        )

    async def test_tenant_key_naming_another_tenant_sees_nothing(
        self, client: httpx.AsyncClient, acme: dict[str, str], seeded: list[dict[str, Any]]
    ) -> None:
        page = (
            await client.get(api_path("list_events"), headers=acme, params={"tenant": "globex"})
        ).json()
        assert page["items"] == []
        stats = (
            await client.get(
                api_path("event_stats"),
                headers=acme,
                params={"tenant": "globex", "group_by": "status"},
            )
        ).json()
        assert stats == {"buckets": []}
        export = await client.get(
            api_path("export_events"), headers=acme, params={"tenant": "globex"}
        )
        assert export.text == ""
        verify = (
            await client.get(api_path("verify_chain"), headers=acme, params={"tenant": "globex"})
        ).json()
        assert verify["checked"] == 0
        assert verify["head_seq"] == 0

    async def test_admin_reads_any_tenant_by_name(
        self, client: httpx.AsyncClient, admin: dict[str, str], seeded: list[dict[str, Any]]
    ) -> None:
        assert_problem(
            await client.get(api_path("list_events"), headers=admin), 422, "validation_error"
        )
        acme_page = (
            await client.get(api_path("list_events"), headers=admin, params={"tenant": "acme"})
        ).json()
        assert len(acme_page["items"]) == 5
        globex_page = (
            await client.get(api_path("list_events"), headers=admin, params={"tenant": "globex"})
        ).json()
        assert len(globex_page["items"]) == 1


class TestPaging:
    @pytest.mark.parametrize("order", ["desc", "asc"])
    async def test_paging_never_repeats_or_skips_while_events_arrive(
        self, client: httpx.AsyncClient, acme: dict[str, str], order: str
    ) -> None:
        # 125 events; several share an occurred_at, so the id breaks ties.
        originals = await post_many(
            client,
            acme,
            [
                event(
                    entity_id=f"e{i}",
                    action_type="delete" if i % 3 else "update",
                    occurred_at=at(i // 4),
                )
                for i in range(125)
            ],
        )
        seen: list[str] = []
        cursor = None
        page_number = 0
        while True:
            params = {"limit": 7, "order": order, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(api_path("list_events"), headers=acme, params=params)).json()
            seen.extend(item["id"] for item in page["items"])
            page_number += 1
            # New events arrive between pages: newer, older and in the middle of the range.
            await post(
                client, acme, entity_id=f"new{page_number}", occurred_at=at(page_number * 3 % 40)
            )
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)), "an event was repeated"
        assert {item["id"] for item in originals} <= set(seen), "an event was skipped"

    async def test_paging_with_filters_covers_exactly_the_matches(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        await post_many(
            client,
            acme,
            [
                event(
                    entity_id=f"e{i}",
                    action_type="delete" if i % 3 else "update",
                    occurred_at=at(i),
                )
                for i in range(121)
            ],
        )
        deletes = await all_pages(client, acme, action_type="delete", limit=9)
        assert (
            len(deletes)
            == len({item["id"] for item in deletes})
            == sum(1 for i in range(121) if i % 3)
        )
        assert all(item["action_type"] == "delete" for item in deletes)
        ascending = await all_pages(client, acme, q="action_type:update", order="asc", limit=50)
        times = [item["occurred_at"] for item in ascending]
        assert times == sorted(times)
        assert len(ascending) == 41


class TestSettle:
    async def test_pending_settles_once_and_is_recorded(
        self, client: httpx.AsyncClient, acme: dict[str, str], acme_key: Any
    ) -> None:
        pending = await post(client, acme, status="pending")
        response = await client.patch(
            api_path("get_event", event_id=pending["id"]), headers=acme, json={"status": "success"}
        )
        assert response.status_code == 200, response.text
        settled = response.json()
        assert settled["status"] == "success"
        assert settled["status_changed_at"] is not None
        assert settled["hash"] == pending["hash"]
        change = (
            await client.get(
                api_path("list_events"), headers=acme, params={"entity_type": "audit_event"}
            )
        ).json()["items"]
        assert len(change) == 1
        assert change[0]["action_type"] == "update"
        assert change[0]["entity_id"] == pending["id"]
        assert change[0]["actor"] == {"id": str(acme_key.id), "type": "service", "name": None}
        assert change[0]["details"] == {"from": "pending", "to": "success"}
        again = await client.patch(
            api_path("get_event", event_id=pending["id"]), headers=acme, json={"status": "failure"}
        )
        assert_problem(again, 409, "invalid_status_transition")

    async def test_final_events_do_not_change(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        done = await post(client, acme, status="success")
        assert_problem(
            await client.patch(
                api_path("get_event", event_id=done["id"]), headers=acme, json={"status": "failure"}
            ),
            409,
            "invalid_status_transition",
        )

    @pytest.mark.parametrize(
        "body",
        [{"status": "pending"}, {"status": "success", "entity_id": "x"}, {}, {"status": "nope"}],
    )
    async def test_bad_bodies_are_422(
        self, client: httpx.AsyncClient, acme: dict[str, str], body: dict[str, Any]
    ) -> None:
        pending = await post(client, acme, status="pending")
        assert_problem(
            await client.patch(
                api_path("get_event", event_id=pending["id"]), headers=acme, json=body
            ),
            422,
            "validation_error",
        )
        assert (
            await client.get(api_path("get_event", event_id=pending["id"]), headers=acme)
        ).json()["status"] == "pending"

    async def test_unknown_or_foreign_event_is_404(
        self, client: httpx.AsyncClient, acme: dict[str, str], globex: dict[str, str]
    ) -> None:
        pending = await post(client, acme, status="pending")
        assert_problem(
            await client.patch(
                api_path("get_event", event_id=uuid.uuid4()),
                headers=acme,
                json={"status": "success"},
            ),
            404,
            "not_found",
        )
        assert_problem(
            await client.patch(
                api_path("get_event", event_id=pending["id"]),
                headers=globex,
                json={"status": "success"},
            ),
            404,
            "not_found",
        )


class TestErase:
    async def test_erasure_hides_the_event_and_keeps_the_chain(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        victim = await post(client, acme, occurred_at=at(1))
        await post(client, acme, occurred_at=at(2))
        assert (
            await client.delete(api_path("get_event", event_id=victim["id"]), headers=acme)
        ).status_code == 204
        assert_problem(
            await client.get(api_path("get_event", event_id=victim["id"]), headers=acme),
            410,
            "event_erased",
        )
        assert_problem(
            await client.delete(api_path("get_event", event_id=victim["id"]), headers=acme),
            410,
            "event_erased",
        )
        assert_problem(
            await client.patch(
                api_path("get_event", event_id=victim["id"]),
                headers=acme,
                json={"status": "success"},
            ),
            410,
            "event_erased",
        )
        listed = [
            item["id"]
            for item in (await client.get(api_path("list_events"), headers=acme)).json()["items"]
        ]
        assert victim["id"] not in listed
        with_erased = (
            await client.get(
                api_path("list_events"), headers=acme, params={"include_erased": "true"}
            )
        ).json()["items"]
        erased = next(item for item in with_erased if item["id"] == victim["id"])
        assert erased["erased_at"] is not None
        assert erased["actor"] == {"id": "user_7", "type": "user", "name": None}
        assert erased["ip_address"] is None
        assert erased["user_agent"] is None
        assert erased["details"] is None
        assert erased["hash"] == victim["hash"]
        record = next(item for item in with_erased if item["entity_type"] == "audit_event")
        assert record["action_type"] == "delete"
        assert record["entity_id"] == victim["id"]
        export = (await client.get(api_path("export_events"), headers=acme)).text
        assert victim["id"] not in [json.loads(line)["id"] for line in export.splitlines()]
        verify = (await client.get(api_path("verify_chain"), headers=acme)).json()
        assert verify["valid"] is True, verify
        assert verify["checked"] == 3

    async def test_erasure_leaves_no_trace_in_the_database(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        secrets_in_payload = [
            "Zelda Quartermain",
            "198.51.100.77",
            "SecretBrowser/9.9",
            "hush-hush-detail",
        ]
        victim = await post(
            client,
            {**acme, "Idempotency-Key": "erase-me"},
            actor={"id": "user_9", "type": "user", "name": secrets_in_payload[0]},
            ip_address=secrets_in_payload[1],
            user_agent=secrets_in_payload[2],
            details={"note": secrets_in_payload[3]},
        )
        assert (
            await client.delete(api_path("get_event", event_id=victim["id"]), headers=acme)
        ).status_code == 204
        async with engine.connect() as connection:
            tables = (
                (
                    await connection.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                )
                .scalars()
                .all()
            )
            for table in tables:
                rows = (
                    (await connection.execute(text(f'SELECT t::text FROM "{table}" t')))
                    .scalars()
                    .all()
                )
                for row in rows:
                    for secret in secrets_in_payload:
                        assert secret not in row, (table, secret)
        # An idempotent replay after erasure shows the erased event, not the old payload.
        replay = await client.post(
            api_path("list_events"),
            headers={**acme, "Idempotency-Key": "erase-me"},
            json=event(
                actor={"id": "user_9", "type": "user", "name": secrets_in_payload[0]},
                ip_address=secrets_in_payload[1],
                user_agent=secrets_in_payload[2],
                details={"note": secrets_in_payload[3]},
            ),
        )
        assert replay.status_code == 201
        assert all(secret not in replay.text for secret in secrets_in_payload)

    async def test_erasure_needs_the_erase_scope(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Any, acme: dict[str, str]
    ) -> None:
        from src.auth.constants import Scope
        from tests.support.keys import bearer, make_key

        writer = bearer(
            await make_key(
                engine,
                settings.api_key_pepper,
                tenant="acme",
                scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ],
            )
        )
        victim = await post(client, acme)
        assert_problem(
            await client.delete(api_path("get_event", event_id=victim["id"]), headers=writer),
            403,
            "forbidden",
        )


class TestExport:
    async def test_ndjson_lines_are_the_api_objects(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        created = await post_many(
            client, acme, [event(entity_id=f"e{i}", occurred_at=at(i)) for i in range(30)]
        )
        response = await client.get(
            api_path("export_events"), headers=acme, params={"order": "asc", "format": "ndjson"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/x-ndjson")
        assert (
            response.headers["content-disposition"]
            == 'attachment; filename="audit-events-acme.ndjson"'
        )
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert lines == created
        filtered = await client.get(
            api_path("export_events"), headers=acme, params={"q": "entity_id:e7"}
        )
        assert [json.loads(line)["entity_id"] for line in filtered.text.splitlines()] == ["e7"]

    async def test_csv_flattens_actor_and_details(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        created = await post(client, acme, details={"reason": 'cleanup, "quoted"'})
        await post(client, acme, actor=None, details=None)
        response = await client.get(
            api_path("export_events"), headers=acme, params={"format": "csv", "order": "asc"}
        )
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 2
        assert rows[0]["id"] == created["id"]
        assert rows[0]["actor.name"] == "Ada Lovelace"
        assert json.loads(rows[0]["details"]) == {"reason": 'cleanup, "quoted"'}
        assert rows[1]["actor.id"] == ""
        assert rows[1]["details"] == ""

    async def test_an_export_of_several_batches_has_every_event_once(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        # Memory stays flat however many events match: `bench/` measures the server's RSS
        # during a 1M-event export; here, batch boundaries neither drop nor repeat an event.
        created = await post_many(
            client, acme, [event(entity_id=f"e{i}", occurred_at=at(i % 7)) for i in range(2_500)]
        )
        exported = await client.get(api_path("export_events"), headers=acme)
        ids = [json.loads(line)["id"] for line in exported.text.splitlines()]
        assert len(ids) == 2_500
        assert set(ids) == {item["id"] for item in created}


class TestStats:
    async def test_counts_match_the_list(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        await post_many(
            client,
            acme,
            [
                event(
                    action_type=["create", "delete", "login"][i % 3],
                    status="failure" if i % 5 == 0 else "success",
                    occurred_at=at(i * 30),
                )
                for i in range(90)
            ],
        )
        stats = (
            await client.get(
                api_path("event_stats"),
                headers=acme,
                params={"group_by": "action_type", "interval": "day"},
            )
        ).json()
        totals: dict[str, int] = {}
        for bucket in stats["buckets"]:
            totals[bucket["key"]] = totals.get(bucket["key"], 0) + bucket["count"]
            assert bucket["start"].endswith("T00:00:00Z")
        assert totals == {"create": 30, "delete": 30, "login": 30}
        hourly = (
            await client.get(
                api_path("event_stats"),
                headers=acme,
                params={"group_by": "status", "interval": "hour", "q": "action_type:login"},
            )
        ).json()
        failures = sum(
            bucket["count"] for bucket in hourly["buckets"] if bucket["key"] == "failure"
        )
        listed = await all_pages(client, acme, q="action_type:login status:failure", limit=50)
        assert failures == len(listed) == 6
        by_actor = (
            await client.get(api_path("event_stats"), headers=acme, params={"group_by": "actor_id"})
        ).json()
        assert sum(bucket["count"] for bucket in by_actor["buckets"]) == 90

    async def test_group_by_is_required_and_checked(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        assert_problem(
            await client.get(api_path("event_stats"), headers=acme), 422, "validation_error"
        )
        assert_problem(
            await client.get(api_path("event_stats"), headers=acme, params={"group_by": "ip"}),
            422,
            "validation_error",
        )
