"""Recording events: validation, batches, idempotency, tenants."""

import asyncio
import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from src.audits.idempotency import lock_id
from tests.support.events import at, event
from tests.support.paths import api_path
from tests.support.problems import assert_problem


def random_text(rng: random.Random) -> str:
    alphabet = 'ab, : "\\/null\n\t\x01\x7fé漢\u2028\U0001f600'
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))


def random_number(rng: random.Random) -> float | int:
    kind = rng.randrange(4)
    if kind == 0:
        return rng.randrange(-(2**70), 2**70)
    if kind == 1:
        return rng.uniform(-1, 1) * 10.0 ** rng.randrange(-12, 30)  # exponents both ways
    return rng.choice([0.0, -0.0, 100.0, 0.1, 1e16, 1e-5, -2.5, 3])


def random_details(rng: random.Random, depth: int = 0) -> Any:  # a JSON value
    """Objects, arrays, strings, numbers, booleans and nulls, nested a few levels."""
    kind = rng.randrange(7 if depth < 3 else 5)
    if depth == 0 or kind == 6:
        return {random_text(rng): random_details(rng, depth + 1) for _ in range(rng.randrange(5))}
    if kind == 5:
        return [random_details(rng, depth + 1) for _ in range(rng.randrange(4))]
    return [random_text(rng), random_number(rng), rng.random() < 0.5, None, random_number(rng)][
        kind
    ]


UUID7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


async def count_events(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int(await connection.scalar(text("SELECT count(*) FROM audit_event")) or 0)


class TestRecordOne:
    @pytest.mark.parametrize("idempotent", [False, True])
    async def test_the_answer_is_the_event_as_read_back_byte_for_byte(
        self, client: httpx.AsyncClient, acme: dict[str, str], idempotent: bool
    ) -> None:
        # Rendered from the row just written (group commit or a transaction of its own), the
        # event must read exactly as GET serves it: same JSON, compact, details in jsonb order.
        details = {"zeta": 1, "a": [2.5, {"yy": None, "x": True}], "mid": "“quoted”"}
        text = 'q " b \\ \t \n \x07 \x7f é 漢 \u2028 \U0001f600 </script>'
        overrides = {"entity_id": text, "user_agent": text, "request_id": "r\u00e9q"}
        headers = {**acme, "Idempotency-Key": "same-bytes"} if idempotent else acme
        posted = await client.post(
            api_path("list_events"), headers=headers, json=event(details=details, **overrides)
        )
        assert posted.status_code == 201, posted.text
        read = await client.get(api_path("get_event", event_id=posted.json()["id"]), headers=acme)
        assert posted.text == read.text
        assert '"details":{"a":[2.5,{"x":true,"yy":null}],"mid":"“quoted”","zeta":1}' in read.text

    async def test_random_details_read_back_as_written_in_every_form(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        # Two writers make an event's JSON: Python for the answer to a write, PostgreSQL for
        # every read (its compaction of jsonb has a fast path and a path for values holding a
        # null). Whatever the details, the batch's answer, GET and the export agree byte for
        # byte.
        rng = random.Random(16)
        bodies = [
            event(details=random_details(rng), occurred_at=at(minute)) for minute in range(120)
        ]
        posted = await client.post(api_path("record_batch"), headers=acme, json={"events": bodies})
        assert posted.status_code == 201, posted.text
        export = await client.get(
            api_path("export_events"), headers=acme, params={"order": "asc", "format": "ndjson"}
        )
        lines = export.text.split("\n")[:-1]  # not splitlines(): U+2028 stays raw in JSON
        assert posted.text == '{"items":[' + ",".join(lines) + '],"count":120}'
        for line in lines[:10]:
            event_id = json.loads(line)["id"]
            read = await client.get(api_path("get_event", event_id=event_id), headers=acme)
            assert read.text == line
        # And the numbers are the ones sent, though not always in the same form (1e-05 reads
        # back as 0.00001, as PostgreSQL writes it; 1e+24 as the integer it is).
        sent = [json.loads(json.dumps(body["details"]), parse_int=float) for body in bodies]
        assert [json.loads(line, parse_int=float)["details"] for line in lines] == sent

    async def test_event_is_stored_chained_and_located(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        response = await client.post(api_path("list_events"), headers=acme, json=event())
        assert response.status_code == 201, response.text
        body = response.json()
        assert UUID7.fullmatch(body["id"])
        assert response.headers["location"] == api_path("get_event", event_id=body["id"])
        assert body["tenant"] == "acme"
        assert body["seq"] == 1
        assert body["prev_hash"] == "0" * 64
        assert re.fullmatch(r"[0-9a-f]{64}", body["hash"])
        assert body["actor"] == {"id": "user_7", "type": "user", "name": "Ada Lovelace"}
        assert body["occurred_at"] == "2026-11-21T09:30:00.000000Z"
        assert body["received_at"].endswith("Z")
        assert body["details"] == {"reason": "cleanup"}
        assert body["erased_at"] is None
        assert body["status_changed_at"] is None
        second = (await client.post(api_path("list_events"), headers=acme, json=event())).json()
        assert second["seq"] == 2
        assert second["prev_hash"] == body["hash"]

    async def test_minimal_event_gets_defaults(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        before = datetime.now(UTC)
        response = await client.post(
            api_path("list_events"),
            headers=acme,
            json={"action_type": "login", "entity_type": "session", "entity_id": "s1"},
        )
        assert response.status_code == 201
        body = response.json()
        assert body["status"] == "success"
        assert body["actor"] is None
        assert body["occurred_at"] == body["received_at"]
        assert datetime.fromisoformat(body["occurred_at"]) >= before - timedelta(seconds=1)

    async def test_offsets_are_normalised_to_utc(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        body = (
            await client.post(
                api_path("list_events"),
                headers=acme,
                json=event(occurred_at="2026-11-21T11:30:00+02:00"),
            )
        ).json()
        assert body["occurred_at"] == "2026-11-21T09:30:00.000000Z"

    async def test_ipv6_and_unicode_round_trip(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        body = (
            await client.post(
                api_path("list_events"),
                headers=acme,
                json=event(
                    ip_address="2001:DB8::1",
                    actor={"id": "ü-7", "type": "user", "name": "Zoë 😀"},
                    details={"n": 1.5, "big": 2**70, "x": 3.0},
                ),
            )
        ).json()
        assert body["ip_address"] == "2001:db8::1"
        assert body["actor"]["name"] == "Zoë 😀"
        assert body["details"] == {"n": 1.5, "big": 2**70, "x": 3}


INVALID: list[tuple[dict[str, Any], list[Any]]] = [
    ({"action_type": "destroy"}, ["body", "action_type"]),
    ({"action_type": ...}, ["body", "action_type"]),
    ({"action": "Repository Deleted"}, ["body", "action"]),
    ({"action": "a." * 60 + "b"}, ["body", "action"]),
    ({"entity_type": ""}, ["body", "entity_type"]),
    ({"entity_type": "x" * 101}, ["body", "entity_type"]),
    ({"entity_type": ...}, ["body", "entity_type"]),
    ({"entity_id": "x" * 256}, ["body", "entity_id"]),
    ({"entity_id": "nul\u0000"}, ["body", "entity_id"]),
    ({"actor": {"id": "", "type": "user"}}, ["body", "actor", "id"]),
    ({"actor": {"id": "u", "type": "robot"}}, ["body", "actor", "type"]),
    ({"actor": {"id": "u", "type": "user", "name": "n" * 256}}, ["body", "actor", "name"]),
    ({"actor": {"id": "u", "type": "user", "email": "a@b"}}, ["body", "actor", "email"]),
    ({"status": "done"}, ["body", "status"]),
    ({"occurred_at": "2026-11-21T09:30:00"}, ["body", "occurred_at"]),
    ({"occurred_at": "yesterday"}, ["body", "occurred_at"]),
    ({"occurred_at": 1700000000}, ["body", "occurred_at"]),
    (
        # Far enough ahead to stay "more than 5 minutes in the future" however long after
        # collection the test runs (a full suite takes longer than 10 minutes).
        {"occurred_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        ["body", "occurred_at"],
    ),
    ({"ip_address": "999.1.1.1"}, ["body", "ip_address"]),
    ({"ip_address": "203.0.113.0/24"}, ["body", "ip_address"]),
    ({"user_agent": "u" * 501}, ["body", "user_agent"]),
    ({"request_id": "r" * 129}, ["body", "request_id"]),
    ({"details": ["not", "an", "object"]}, ["body", "details"]),
    ({"details": {"blob": "x" * (64 * 1024)}}, ["body", "details"]),
    (
        {
            "details": {
                "a": {
                    "b": {
                        "c": {
                            "d": {
                                "e": {
                                    "f": {
                                        "g": {
                                            "h": {
                                                "i": {
                                                    "j": {
                                                        "k": {"l": {"m": {"n": {"o": {"p": {}}}}}}
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
        ["body", "details"],
    ),
    ({"details": {"k": "nul\u0000"}}, ["body", "details"]),
    ({"colour": "blue"}, ["body", "colour"]),
]


class TestValidation:
    @pytest.mark.parametrize(("overrides", "loc"), INVALID)
    async def test_invalid_event_names_the_field_and_writes_nothing(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        overrides: dict[str, Any],
        loc: list[Any],
    ) -> None:
        response = await client.post(api_path("list_events"), headers=acme, json=event(**overrides))
        body = assert_problem(response, 422, "validation_error")
        assert loc in [error["loc"] for error in body["errors"]], body["errors"]
        assert await count_events(engine) == 0

    async def test_details_at_the_limits_are_accepted(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        deep: dict[str, Any] = {}
        node = deep
        for _ in range(15):  # 16 levels counting `details` itself
            node["n"] = {}
            node = node["n"]
        assert (
            await client.post(api_path("list_events"), headers=acme, json=event(details=deep))
        ).status_code == 201

    async def test_nan_is_refused(self, client: httpx.AsyncClient, acme: dict[str, str]) -> None:
        raw = (
            '{"action_type": "other", "entity_type": "t", "entity_id": "i", "details": {"x": NaN}}'
        )
        response = await client.post(
            api_path("list_events"),
            headers={**acme, "content-type": "application/json"},
            content=raw,
        )
        assert response.status_code == 422


class TestBatch:
    async def test_batch_is_written_in_order(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        response = await client.post(
            api_path("record_batch"),
            headers=acme,
            json={"events": [event(entity_id=f"r{i}") for i in range(5)]},
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["count"] == 5
        assert [item["entity_id"] for item in body["items"]] == [f"r{i}" for i in range(5)]
        assert [item["seq"] for item in body["items"]] == [1, 2, 3, 4, 5]
        for previous, current in zip(body["items"], body["items"][1:], strict=False):
            assert current["prev_hash"] == previous["hash"]

    @pytest.mark.parametrize("bad_index", [0, 3, 999])
    async def test_one_bad_event_rejects_the_batch(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine, bad_index: int
    ) -> None:
        events = [event(entity_id=f"r{i}") for i in range(1000)]
        events[bad_index] = event(entity_type="")
        response = await client.post(
            api_path("record_batch"), headers=acme, json={"events": events}
        )
        body = assert_problem(response, 422, "validation_error")
        assert [error["loc"] for error in body["errors"]] == [
            ["body", "events", bad_index, "entity_type"]
        ]
        assert await count_events(engine) == 0

    @pytest.mark.parametrize(
        ("events", "loc"), [([], ["body", "events"]), ([event()] * 1001, ["body", "events"])]
    )
    async def test_batch_size_is_1_to_1000(
        self, client: httpx.AsyncClient, acme: dict[str, str], events: list[Any], loc: list[Any]
    ) -> None:
        body = assert_problem(
            await client.post(api_path("record_batch"), headers=acme, json={"events": events}),
            422,
            "validation_error",
        )
        assert body["errors"][0]["loc"] == loc

    async def test_batch_may_exceed_the_single_body_limit(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        events = [event(details={"pad": "x" * 2000}) for _ in range(600)]  # ~1.3 MiB
        response = await client.post(
            api_path("record_batch"), headers=acme, json={"events": events}
        )
        assert response.status_code == 201
        too_big = await client.post(
            api_path("list_events"),
            headers=acme,
            json=event(details={"pad": "x" * 60000}, user_agent="u"),
        )
        assert too_big.status_code == 201  # 60 KB is fine for one event
        huge = await client.post(
            api_path("list_events"),
            headers={**acme, "content-type": "application/json"},
            content=b"{" + b" " * (1024 * 1024 + 1) + b"}",
        )
        assert_problem(huge, 413, "payload_too_large")


class TestIdempotency:
    async def test_retry_replays_and_writes_nothing(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        headers = {**acme, "Idempotency-Key": "order-1"}
        first = await client.post(api_path("list_events"), headers=headers, json=event())
        again = await client.post(api_path("list_events"), headers=headers, json=event())
        assert first.status_code == again.status_code == 201
        assert "idempotent-replayed" not in first.headers
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]
        assert await count_events(engine) == 1

    async def test_same_key_other_body_is_422(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        headers = {**acme, "Idempotency-Key": "order-2"}
        assert (
            await client.post(api_path("list_events"), headers=headers, json=event())
        ).status_code == 201
        response = await client.post(
            api_path("list_events"), headers=headers, json=event(entity_id="other")
        )
        assert_problem(response, 422, "idempotency_key_reused")
        assert await count_events(engine) == 1

    async def test_keys_are_per_tenant(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        globex: dict[str, str],
        engine: AsyncEngine,
    ) -> None:
        for headers in (acme, globex):
            response = await client.post(
                api_path("list_events"),
                headers={**headers, "Idempotency-Key": "shared"},
                json=event(),
            )
            assert response.status_code == 201
            assert "idempotent-replayed" not in response.headers
        assert await count_events(engine) == 2

    async def test_batch_replay(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        headers = {**acme, "Idempotency-Key": "batch-1"}
        body = {"events": [event(entity_id="a"), event(entity_id="b")]}
        first = await client.post(api_path("record_batch"), headers=headers, json=body)
        again = await client.post(api_path("record_batch"), headers=headers, json=body)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert await count_events(engine) == 2

    async def test_failed_write_frees_the_key(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        headers = {**acme, "Idempotency-Key": "retry-after-fix"}
        assert (
            await client.post(api_path("list_events"), headers=headers, json=event(entity_type=""))
        ).status_code == 422
        assert (
            await client.post(api_path("list_events"), headers=headers, json=event())
        ).status_code == 201

    async def test_eight_parallel_retries_write_one_event(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        headers = {**acme, "Idempotency-Key": "parallel"}
        responses = await asyncio.gather(
            *(client.post(api_path("list_events"), headers=headers, json=event()) for _ in range(8))
        )
        statuses = sorted(response.status_code for response in responses)
        assert set(statuses) <= {201, 409}, statuses
        assert 201 in statuses
        for response in responses:
            if response.status_code == 409:
                assert_problem(response, 409, "idempotency_key_in_flight")
        ids = {response.json()["id"] for response in responses if response.status_code == 201}
        assert len(ids) == 1
        assert await count_events(engine) == 1
        # Once the first finished, a retry replays it.
        replay = await client.post(api_path("list_events"), headers=headers, json=event())
        assert replay.json()["id"] in ids

    async def test_a_claim_dies_with_its_connection(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        """A request in flight elsewhere holds the key until its connection ends, not a timer.

        The claim is the writing transaction's advisory lock: here another connection takes
        it, as a server process mid-write would; closing that connection, as the death of
        that process does, frees the key at once.
        """
        headers = {**acme, "Idempotency-Key": "held-elsewhere"}
        holder = await engine.connect()
        try:
            await holder.execute(
                text("SELECT pg_advisory_lock(:id)"),
                {"id": lock_id("acme", "held-elsewhere")},
            )
            busy = await client.post(api_path("list_events"), headers=headers, json=event())
            assert_problem(busy, 409, "idempotency_key_in_flight")
        finally:
            await holder.close()
        await engine.dispose()  # closes the holder's connection: PostgreSQL drops its locks
        assert await count_events(engine) == 0

        written = await client.post(api_path("list_events"), headers=headers, json=event())
        assert written.status_code == 201
        assert "idempotent-replayed" not in written.headers
        assert await count_events(engine) == 1

    async def test_an_expired_key_is_free_again(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        headers = {**acme, "Idempotency-Key": "old"}
        first = await client.post(api_path("list_events"), headers=headers, json=event())
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE idempotency_record SET expires_at = now() - interval '1 second'")
            )

        again = await client.post(
            api_path("list_events"), headers=headers, json=event(entity_id="x")
        )

        assert again.status_code == 201
        assert "idempotent-replayed" not in again.headers
        assert again.json()["id"] != first.json()["id"]
        assert await count_events(engine) == 2

    @pytest.mark.parametrize("key", ["", "k" * 256])
    async def test_key_length_is_checked(
        self, client: httpx.AsyncClient, acme: dict[str, str], key: str
    ) -> None:
        response = await client.post(
            api_path("list_events"), headers={**acme, "Idempotency-Key": key}, json=event()
        )
        body = assert_problem(response, 422, "validation_error")
        assert body["errors"][0]["loc"] == ["header", "Idempotency-Key"]


class TestTenants:
    async def test_admin_must_name_the_tenant(
        self, client: httpx.AsyncClient, admin: dict[str, str]
    ) -> None:
        assert_problem(
            await client.post(api_path("list_events"), headers=admin, json=event()),
            422,
            "validation_error",
        )
        by_query = await client.post(
            api_path("list_events"), headers=admin, params={"tenant": "initech"}, json=event()
        )
        assert by_query.json()["tenant"] == "initech"
        by_body = await client.post(
            api_path("list_events"), headers=admin, json={**event(), "tenant": "initech"}
        )
        assert by_body.json()["tenant"] == "initech"
        assert by_body.json()["seq"] == 2
        disagree = await client.post(
            api_path("list_events"),
            headers=admin,
            params={"tenant": "a"},
            json={**event(), "tenant": "b"},
        )
        assert_problem(disagree, 422, "validation_error")

    async def test_tenant_key_cannot_write_elsewhere(
        self, client: httpx.AsyncClient, acme: dict[str, str], engine: AsyncEngine
    ) -> None:
        for kwargs in ({"params": {"tenant": "globex"}}, {}):
            body = {**event(), "tenant": "globex"} if not kwargs else event()
            response = await client.post(api_path("list_events"), headers=acme, json=body, **kwargs)  # type: ignore[arg-type]
            assert_problem(response, 404, "not_found")
        assert await count_events(engine) == 0

    async def test_chains_are_per_tenant(
        self, client: httpx.AsyncClient, acme: dict[str, str], globex: dict[str, str]
    ) -> None:
        a = (await client.post(api_path("list_events"), headers=acme, json=event())).json()
        g = (await client.post(api_path("list_events"), headers=globex, json=event())).json()
        assert a["seq"] == g["seq"] == 1
        assert a["prev_hash"] == g["prev_hash"] == "0" * 64

    async def test_scopes_are_enforced(
        self, client: httpx.AsyncClient, engine: AsyncEngine, settings: Any
    ) -> None:
        from src.auth.constants import Scope
        from tests.support.keys import bearer, make_key

        reader = bearer(
            await make_key(
                engine, settings.api_key_pepper, tenant="acme", scopes=[Scope.AUDITS_READ]
            )
        )
        assert_problem(
            await client.post(api_path("list_events"), headers=reader, json=event()),
            403,
            "forbidden",
        )
        assert (await client.get(api_path("list_events"), headers=reader)).status_code == 200
        assert_problem(
            await client.delete(api_path("get_event", event_id=uuid.uuid4()), headers=reader),
            403,
            "forbidden",
        )
