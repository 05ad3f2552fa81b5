"""The chain: gap-free under concurrency, append-only in the database, and tamper-evident."""

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from src.main import create_app
from tests.support.api import post, post_many
from tests.support.clients import app_client
from tests.support.events import at, event
from tests.support.paths import api_path


async def verify(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get(api_path("verify_chain"), headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


class TestConcurrency:
    async def test_sixteen_writers_in_two_processes_make_one_gap_free_chain(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        settings: Settings,
        engine: AsyncEngine,
    ) -> None:
        async with app_client(create_app(settings), "http://worker-2") as second:
            workers = [client, second]

            async def writer(number: int) -> int:
                http = workers[number % 2]
                written = 0
                for round_ in range(4):
                    if (number + round_) % 2:
                        batch = [event(entity_id=f"w{number}-{round_}-{i}") for i in range(5)]
                        response = await http.post(
                            api_path("record_batch"), headers=acme, json={"events": batch}
                        )
                        written += 5
                    else:
                        response = await http.post(
                            api_path("list_events"),
                            headers=acme,
                            json=event(entity_id=f"w{number}-{round_}"),
                        )
                        written += 1
                    assert response.status_code == 201, response.text
                return written

            total = sum(await asyncio.gather(*(writer(n) for n in range(16))))
        async with engine.connect() as connection:
            seqs = (
                (
                    await connection.execute(
                        text("SELECT seq FROM audit_event WHERE tenant = 'acme' ORDER BY seq")
                    )
                )
                .scalars()
                .all()
            )
        assert list(seqs) == list(range(1, total + 1))
        result = await verify(client, acme)
        assert result == {
            "valid": True,
            "checked": total,
            "first_invalid_seq": None,
            "reason": None,
            "head_seq": total,
            "head_hash": result["head_hash"],
            "checkpoint_size": result["checkpoint_size"],  # whatever was signed meanwhile
            "root_hash": result["root_hash"],
            "min_index": 0,
        }
        newest = (
            await client.get(api_path("list_events"), headers=acme, params={"limit": 50})
        ).json()["items"]
        assert result["head_hash"] in {item["hash"] for item in newest}

    async def test_batches_are_contiguous(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        async def batch(tag: str) -> list[int]:
            response = await client.post(
                api_path("record_batch"),
                headers=acme,
                json={"events": [event(entity_id=f"{tag}{i}") for i in range(50)]},
            )
            return [item["seq"] for item in response.json()["items"]]

        runs = await asyncio.gather(*(batch(tag) for tag in "abcdefgh"))
        for seqs in runs:
            assert seqs == list(range(seqs[0], seqs[0] + 50))


class TestAppendOnly:
    @pytest.fixture
    async def stored(self, client: httpx.AsyncClient, acme: dict[str, str]) -> list[dict[str, Any]]:
        return await post_many(
            client,
            acme,
            [event(entity_id=f"e{i}", status="pending" if i == 2 else "success") for i in range(5)],
        )

    @pytest.mark.parametrize(
        "statement",
        [
            "UPDATE audit_event SET entity_id = 'forged' WHERE seq = 1",
            "UPDATE audit_event SET occurred_at = now() WHERE seq = 1",
            "UPDATE audit_event SET hash = prev_hash WHERE seq = 1",
            'UPDATE audit_event SET details = \'{"reason": "forged"}\' WHERE seq = 1',
            "UPDATE audit_event SET status = 'failure', status_changed_at = now() WHERE seq = 1",
            "UPDATE audit_event SET seq = 99 WHERE seq = 5",
            "DELETE FROM audit_event WHERE seq = 5",
            "TRUNCATE audit_event",
        ],
    )
    async def test_direct_sql_is_refused(
        self, engine: AsyncEngine, stored: list[dict[str, Any]], statement: str
    ) -> None:
        with pytest.raises(DBAPIError, match=r"append-only|immutable|status|erased"):
            async with engine.begin() as connection:
                await connection.execute(text(statement))
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM audit_event")) == 5
            assert (
                await connection.scalar(text("SELECT entity_id FROM audit_event WHERE seq = 1"))
                == "e0"
            )

    async def test_allowed_changes_pass_only_once(
        self, engine: AsyncEngine, stored: list[dict[str, Any]]
    ) -> None:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE audit_event SET status = 'success', status_changed_at = now() WHERE seq = 3"
                )
            )
        with pytest.raises(DBAPIError, match="status"):
            async with engine.begin() as connection:
                await connection.execute(
                    text("UPDATE audit_event SET status = 'failure' WHERE seq = 3")
                )
        with pytest.raises(DBAPIError, match="erased"):
            async with engine.begin() as connection:  # a half erasure (payload left behind)
                await connection.execute(
                    text(
                        "UPDATE audit_event SET erased_at = now(), erased_hashes = '{}' WHERE seq = 4"
                    )
                )


class TestTamperEvidence:
    """With the trigger bypassed (as a superuser could), verification still names the damage."""

    @pytest.fixture
    async def chain(self, client: httpx.AsyncClient, acme: dict[str, str]) -> list[dict[str, Any]]:
        items = await post_many(
            client, acme, [event(entity_id=f"e{i}", occurred_at=at(i)) for i in range(10)]
        )
        assert (await verify(client, acme))["valid"] is True
        return items

    async def tamper(self, engine: AsyncEngine, *statements: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(text("SET LOCAL session_replication_role = replica"))
            for statement in statements:
                await connection.execute(text(statement))

    @pytest.mark.parametrize(
        ("statements", "first_bad"),
        [
            (["UPDATE audit_event SET entity_id = 'forged' WHERE seq = 5"], 5),
            (['UPDATE audit_event SET details = \'{"reason": "forged"}\' WHERE seq = 4'], 4),
            (["UPDATE audit_event SET actor_name = 'Mallory' WHERE seq = 7"], 7),
            (["UPDATE audit_event SET ip_address = '192.0.2.1' WHERE seq = 2"], 2),
            (
                [
                    "UPDATE audit_event SET occurred_at = occurred_at + interval '1 second' WHERE seq = 9"
                ],
                9,
            ),
            (["UPDATE audit_event SET status = 'failure' WHERE seq = 6"], 6),
            (["UPDATE audit_event SET status_changed_at = now() WHERE seq = 6"], 6),
            (["UPDATE audit_event SET hash = decode(repeat('ab', 32), 'hex') WHERE seq = 3"], 3),
            (
                [
                    "UPDATE audit_event SET prev_hash = decode(repeat('cd', 32), 'hex') WHERE seq = 8"
                ],
                8,
            ),
            (
                [
                    "UPDATE audit_event SET seq = 1000 WHERE seq = 3",
                    "UPDATE audit_event SET seq = 3 WHERE seq = 4",
                    "UPDATE audit_event SET seq = 4 WHERE seq = 1000",
                ],
                3,
            ),
            (["DELETE FROM audit_event WHERE seq = 6"], 6),
            (["DELETE FROM audit_event WHERE seq = 10"], 10),
            (["DELETE FROM audit_event WHERE seq = 1"], 1),
            (["UPDATE audit_event SET field_salt = NULL WHERE seq = 5"], 5),
        ],
    )
    async def test_verification_names_the_first_bad_seq(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        chain: list[dict[str, Any]],
        statements: list[str],
        first_bad: int,
    ) -> None:
        await self.tamper(engine, *statements)
        result = await verify(client, acme)
        assert result["valid"] is False
        assert result["first_invalid_seq"] == first_bad, result
        assert result["reason"]
        assert result["head_seq"] == 10

    async def test_erased_events_verify_but_their_hashes_do_not_forge(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        chain: list[dict[str, Any]],
    ) -> None:
        assert (
            await client.delete(api_path("get_event", event_id=chain[3]["id"]), headers=acme)
        ).status_code == 204
        assert (await verify(client, acme))["valid"] is True
        await self.tamper(
            engine,
            "UPDATE audit_event SET erased_hashes = jsonb_set(erased_hashes, '{details}', '\"00\"') WHERE seq = 4",
        )
        result = await verify(client, acme)
        assert result["first_invalid_seq"] == 4

    async def test_range_beyond_bigint_is_422(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        response = await client.get(
            api_path("verify_chain"), headers=acme, params={"from_seq": 2**63}
        )
        assert response.status_code == 422

    async def test_ranges(
        self,
        client: httpx.AsyncClient,
        acme: dict[str, str],
        engine: AsyncEngine,
        chain: list[dict[str, Any]],
    ) -> None:
        assert (await verify(client, acme, from_seq=3, to_seq=6))["checked"] == 4
        assert (await verify(client, acme, from_seq=9))["checked"] == 2
        assert (await verify(client, acme, from_seq=11))["checked"] == 0
        await self.tamper(engine, "UPDATE audit_event SET entity_id = 'forged' WHERE seq = 8")
        assert (await verify(client, acme, to_seq=7))["valid"] is True
        assert (await verify(client, acme, from_seq=8))["first_invalid_seq"] == 8

    async def test_settled_and_erased_events_still_verify(
        self, client: httpx.AsyncClient, acme: dict[str, str]
    ) -> None:
        pending = await post(client, acme, status="pending")
        other = await post(client, acme)
        await client.patch(
            api_path("get_event", event_id=pending["id"]), headers=acme, json={"status": "failure"}
        )
        await client.delete(api_path("get_event", event_id=other["id"]), headers=acme)
        result = await verify(client, acme)
        assert result["valid"] is True
        assert result["checked"] == 4
