"""`python -m src.verifier` run as an auditor would: a fresh virtual environment holding only
`cryptography`, a copy of `src/verifier/` beside an empty `src/__init__.py`, no server."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from src.config import Settings
from tests.support.api import post_many
from tests.support.events import event
from tests.support.paths import api_path
from tests.support.tlog import sign_now

ROOT = Path(__file__).resolve().parents[2]


def _uv() -> str:
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is not installed: run the tests with `python3 tasks.py test`")
    return found


@pytest.fixture(scope="module")
def auditor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(python of a venv with only `cryptography`, a folder holding only the verifier)."""
    home = tmp_path_factory.mktemp("auditor")
    venv = home / "venv"
    subprocess.run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    install = [_uv(), "pip", "install", "--quiet", "--python", str(python), "cryptography"]
    # The project's own lock has cryptography in uv's cache: no network needed when it is.
    if subprocess.run([*install, "--offline"], check=False).returncode != 0:
        subprocess.run(install, check=True)
    listed = subprocess.run(
        [_uv(), "pip", "list", "--python", str(python), "--format", "freeze"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    installed = {line.split("==")[0].lower() for line in listed.split()}
    assert installed <= {"cryptography", "cffi", "pycparser"}, installed
    tree = home / "copy"
    shutil.copytree(
        ROOT / "src" / "verifier",
        tree / "src" / "verifier",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (tree / "src" / "__init__.py").write_text("")
    return python, tree


def run_verifier(python: Path, tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [str(python), "-E", "-s", "-m", "src.verifier", *args],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_verifier_runs_alone_and_catches_an_edit(
    client: httpx.AsyncClient,
    acme: dict[str, str],
    engine: AsyncEngine,
    settings: Settings,
    auditor: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    python, tree = auditor
    await post_many(client, acme, [event(entity_id=f"e{i}") for i in range(300)])
    await sign_now(engine, settings)
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(
        (await client.get(api_path("get_checkpoint", tenant="acme"), headers=acme)).text
    )
    await post_many(client, acme, [event(entity_id=f"later{i}") for i in range(20)])
    await sign_now(engine, settings)
    key = (await client.get(api_path("get_key", tenant="acme"), headers=acme)).json()[
        "verifier_key"
    ]
    export = await client.get(
        api_path("export_events"),
        headers=acme,
        params={"format": "bundle", "order": "asc", "include_erased": "true", "since_size": 300},
    )
    bundle = tmp_path / "bundle.ndjson"
    bundle.write_text(export.text)

    good = run_verifier(python, tree, str(bundle), "--key", key, "--since", str(saved))
    assert good.returncode == 0, good.stdout + good.stderr
    assert good.stdout.startswith("OK 320 events verified (complete bundle)")
    assert "only grew since size 300" in good.stdout
    assert len(good.stdout.splitlines()) == 1

    lines = export.text.splitlines()
    lines[100] = lines[100].replace('"entity_id":"e99"', '"entity_id":"e999"')
    edited = tmp_path / "edited.ndjson"
    edited.write_text("\n".join(lines) + "\n")
    bad = run_verifier(python, tree, str(edited), "--key", key)
    assert bad.returncode == 1
    assert bad.stdout.startswith("FAIL event ")
    assert "(seq 100)" in bad.stdout

    wrong_key = run_verifier(python, tree, str(bundle), "--key", key.replace("+", "x", 1))
    assert wrong_key.returncode == 2
    assert "--key" in wrong_key.stderr
