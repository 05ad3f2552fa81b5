"""Three server processes write to one tenant while each signs checkpoints: never two
checkpoints of one size, each consistent with the one before, the last covering every event."""

import asyncio
import base64
import itertools
import time
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine

from src.auth.constants import Scope
from src.verifier import merkle, note
from tests.support.api_process import PEPPER, ApiProcess
from tests.support.events import event
from tests.support.keys import bearer, make_key
from tests.support.paths import api_path

WRITERS_PER_PROCESS = 4
ROUNDS = 15  # each writer: a single event, then a batch of 3, this many times


async def all_checkpoints(
    http: httpx.AsyncClient, base_url: str, headers: dict[str, str]
) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 50}
        if cursor:
            params["cursor"] = cursor
        page = await http.get(
            base_url + api_path("list_checkpoints", tenant="acme"), headers=headers, params=params
        )
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_processes_racing_to_sign_never_fork_the_log(
    database_url: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    key = await make_key(
        engine, SecretStr(PEPPER), tenant="acme", scopes=[Scope.AUDITS_WRITE, Scope.AUDITS_READ]
    )
    headers = bearer(key)
    servers = [
        ApiProcess(database_url, tmp_path / f"api-{n}.log", log_checkpoint_interval="0.05").start()
        for n in range(3)
    ]
    try:
        async with httpx.AsyncClient(timeout=30) as http:

            async def writer(base_url: str) -> int:
                written = 0
                for _ in range(ROUNDS):
                    one = await http.post(
                        base_url + api_path("list_events"), headers=headers, json=event()
                    )
                    assert one.status_code == 201, one.text
                    batch = await http.post(
                        base_url + api_path("record_batch"),
                        headers=headers,
                        json={"events": [event(), event(), event()]},
                    )
                    assert batch.status_code == 201, batch.text
                    written += 4
                return written

            counts = await asyncio.gather(
                *(writer(api.base_url) for api in servers for _ in range(WRITERS_PER_PROCESS))
            )
            total = sum(counts)
            first = servers[0].base_url
            log_key = note.parse_verifier_key(
                (
                    await http.get(first + api_path("get_key", tenant="acme"), headers=headers)
                ).json()["verifier_key"]
            )
            deadline = time.monotonic() + 20
            while True:
                text = (
                    await http.get(
                        first + api_path("get_checkpoint", tenant="acme"), headers=headers
                    )
                ).text
                latest = note.parse_checkpoint(note.open_note(text, log_key))
                if latest.size == total or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert latest.size == total

            history = await all_checkpoints(http, first, headers)
            sizes = [int(str(item["size"])) for item in history]
            assert sizes == sorted(set(sizes), reverse=True)  # one checkpoint per size
            assert sizes[-1] == 0
            assert sizes[0] == total
            assert len(sizes) > 2  # signed while the writers were writing
            roots = {}
            for item in history:
                signed = note.parse_checkpoint(note.open_note(str(item["checkpoint"]), log_key))
                assert signed.size == item["size"]
                roots[signed.size] = signed.root_hash
            ascending = sorted(roots)
            for old, new in itertools.pairwise(ascending[1:]):  # from size 1 on
                response = await http.get(
                    first + api_path("get_consistency", tenant="acme"),
                    headers=headers,
                    params={"from": old, "to": new},
                )
                assert response.status_code == 200, response.text
                proof = [base64.b64decode(item) for item in response.json()["proof"]]
                assert merkle.verify_consistency(
                    old_size=old,
                    new_size=new,
                    proof=proof,
                    old_root=roots[old],
                    new_root=roots[new],
                ), (old, new)
            verified = (await http.get(first + api_path("verify_chain"), headers=headers)).json()
            assert verified["valid"] is True
            assert verified["checkpoint_size"] == total
    finally:
        for api in servers:
            api.kill()
