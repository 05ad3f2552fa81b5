"""The README's shell examples run as written against a real server.

Only the port, the key file and the scratch file are swapped for this run's own.
"""

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.service import ROOT, start_service, stop_service


def readme_example(name: str) -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(
        rf"<!-- example:{name} -->\n```sh\n(.*?)```\n<!-- /example -->", readme, re.DOTALL
    )
    assert match, f"README has no example named {name!r}"
    return match.group(1)


@pytest.fixture(scope="module")
def running_service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path]]:
    key_file = tmp_path_factory.mktemp("dev") / "dev-admin-key"
    process, base = start_service(database_url, key_file)
    yield base, key_file
    stop_service(process)


def run_example(script: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_key_examples(running_service: tuple[int, Path], tmp_path: Path) -> None:
    base, key_file = running_service
    scratch = tmp_path / "acme-key.json"
    script = (
        readme_example("keys")
        .replace("http://127.0.0.1:8000", base)
        .replace(".data/dev-admin-key", str(key_file))
        .replace("/tmp/acme-key.json", str(scratch))
    )
    output = run_example(script, {})
    created = json.loads(scratch.read_text())
    assert created["tenant"] == "acme"
    assert created["key"].startswith("tm_")
    assert created["id"] in output  # listed
    assert output.strip().endswith("204")  # revoked
    revoked = httpx.get(
        f"{base}/api/v1/keys",
        headers={"Authorization": f"Bearer {created['key']}"},
    )
    assert revoked.status_code == 401


@pytest.mark.slow
def test_cli_examples(database_url: str) -> None:
    output = run_example(readme_example("cli"), {"DATABASE_URL": database_url})
    objects = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [obj["scopes"] for obj in objects] == [["audits:read", "audits:write"], ["admin"]]
    tenant_key, admin_key = objects
    lines = {line.split()[0]: line for line in output.splitlines() if line[:1].isalnum()}
    assert "acme" in lines[tenant_key["id"]]
    assert "active" in lines[tenant_key["id"]]
    assert "(admin)" in lines[admin_key["id"]]


@pytest.mark.slow
def test_audit_examples(running_service: tuple[str, Path], tmp_path: Path) -> None:
    base, key_file = running_service
    script = (
        readme_example("audits")
        .replace("http://127.0.0.1:8000", base)
        .replace(".data/dev-admin-key", str(key_file))
        .replace("acme-events.ndjson", str(tmp_path / "acme-events.ndjson"))
    )
    output = run_example(script, {})
    recorded, batch, search, verification = _json_documents(output)
    assert recorded["action"] == "repository.deleted"
    assert batch["count"] == 2
    assert [item["id"] for item in search["items"]] == [recorded["id"]]
    exported = (tmp_path / "acme-events.ndjson").read_text().splitlines()
    assert len(exported) == 3
    assert verification["valid"] is True
    assert verification["checked"] == 3


@pytest.mark.slow
def test_ai_examples(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "dev-admin-key"
    with FakeOpenAI(api_key="fake") as fake:
        ai_env = {"OPENAI_API_KEY": "fake", "OPENAI_BASE_URL": fake.url}
        process, base = start_service(database_url, key_file, extra_env=ai_env)
        try:
            script = (
                readme_example("ai")
                .replace("http://127.0.0.1:8000", base)
                .replace(".data/dev-admin-key", str(key_file))
            )
            output = run_example(script, {})
        finally:
            stop_service(process)
    asked, summary, usage = _json_documents(output)
    assert asked["filter"]["action_types"] == ["delete"]
    assert asked["filter"]["entity_type"] == "repository"
    # Other examples may have recorded deletions of acme's repositories in this database too.
    assert asked["items"]
    assert {(i["action_type"], i["entity_type"]) for i in asked["items"]} == {
        ("delete", "repository")
    }
    assert "repo_42" in {item["entity_id"] for item in asked["items"]}
    assert asked["answer"]
    assert summary["event_count"] >= 1
    assert summary["cited_event_ids"]
    assert [group["calls"] for group in usage["groups"]] == [3]


def _json_documents(output: str) -> list[Any]:  # the JSON documents curl printed, in order
    documents = []
    decoder = json.JSONDecoder()
    position = 0
    while position < len(output):
        if output[position].isspace():
            position += 1
            continue
        document, position = decoder.raw_decode(output, position)
        documents.append(document)
    return documents


@pytest.mark.slow
def test_verify_examples(running_service: tuple[str, Path], tmp_path: Path) -> None:
    base, key_file = running_service
    setup = readme_example("audits").split("\n\n")[0]  # the tenant key, as made above
    script = (
        (setup + "\n" + readme_example("verify"))
        .replace("http://127.0.0.1:8000", base)
        .replace(".data/dev-admin-key", str(key_file))
        .replace("acme-checkpoint.txt", str(tmp_path / "acme-checkpoint.txt"))
        .replace("acme-bundle.ndjson", str(tmp_path / "acme-bundle.ndjson"))
    )
    output = run_example(script, {})
    checkpoint = (tmp_path / "acme-checkpoint.txt").read_text()
    assert checkpoint.startswith("trailmark.localhost/acme\n")
    assert "\n\n\u2014 trailmark.localhost/acme " in checkpoint
    proof, _ = json.JSONDecoder().raw_decode(output.split(checkpoint, 1)[1].lstrip())
    assert proof["tree_size"] >= 1
    assert proof["inclusion"] is not None
    last = output.strip().splitlines()[-1]
    assert last.startswith("OK ")
    assert "complete bundle" in last
    assert f"only grew since size {checkpoint.splitlines()[1]}" in last
