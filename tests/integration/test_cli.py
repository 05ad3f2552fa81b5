"""The command line creates, lists and revokes keys against DATABASE_URL, without the API."""

import asyncio
import json
import re
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from src.cli import _dev_admin_key, app
from src.config import get_settings
from tests.support.database import truncate_all

runner = CliRunner()


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("API_KEY_PEPPER", "cli-test-pepper")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
    asyncio.run(truncate_all(database_url))


def _json(output: str) -> dict[str, object]:
    lines = [line for line in output.splitlines() if line.startswith("{")]
    assert len(lines) == 1, output
    parsed: dict[str, object] = json.loads(lines[0])
    return parsed


def test_create_admin_key_as_json(cli_env: None) -> None:
    result = runner.invoke(app, ["keys", "create", "--admin", "--json"])
    assert result.exit_code == 0, result.output
    body = _json(result.stdout)
    assert set(body) == {"id", "key", "tenant", "scopes"}
    assert body["tenant"] is None
    assert body["scopes"] == ["admin"]
    assert re.fullmatch(r"tm_[0-9a-f]{16}_[A-Za-z0-9_-]{43}", str(body["key"]))


def test_create_tenant_key_list_and_revoke(cli_env: None) -> None:
    created = runner.invoke(
        app,
        ["keys", "create", "--tenant", "acme", "--scopes", "audits:read,audits:write", "--json"],
    )
    assert created.exit_code == 0, created.output
    body = _json(created.stdout)
    assert body["tenant"] == "acme"
    assert body["scopes"] == ["audits:read", "audits:write"]

    listed = runner.invoke(app, ["keys", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    [item] = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    assert item["id"] == body["id"]
    assert item["revoked_at"] is None
    assert str(body["key"]) not in listed.stdout

    human = runner.invoke(app, ["keys", "list"])
    assert "acme" in human.stdout
    assert "active" in human.stdout

    revoked = runner.invoke(app, ["keys", "revoke", str(body["id"])])
    assert revoked.exit_code == 0, revoked.output
    after = runner.invoke(app, ["keys", "list", "--json"])
    assert json.loads(after.stdout.splitlines()[0])["revoked_at"] is not None


def test_human_output_shows_the_key_once(cli_env: None) -> None:
    result = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--scopes", "audits:read"])
    assert result.exit_code == 0, result.output
    assert re.search(r"key:\s+tm_[0-9a-f]{16}_", result.stdout)
    assert "not shown again" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tenant", "acme", "--scopes", "audits:delete"], "scopes"),
        (["--scopes", "audits:read"], "tenant"),
        (["--admin", "--tenant", "acme"], "omit `tenant`"),
        (["--admin", "--scopes", "audits:read"], "--admin implies every scope"),
        (["--tenant", "Not A Slug", "--scopes", "audits:read"], "tenant"),
    ],
)
def test_bad_requests_fail_clearly(cli_env: None, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["keys", "create", *args, "--json"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_revoke_unknown_or_malformed_id(cli_env: None) -> None:
    unknown = runner.invoke(app, ["keys", "revoke", "0193a1c2-7d1e-7c3a-9f4e-2b6d8a0c1e3f"])
    assert unknown.exit_code == 2
    assert "No API key" in unknown.stderr
    malformed = runner.invoke(app, ["keys", "revoke", "nope"])
    assert malformed.exit_code == 2
    assert "not a key id" in malformed.stderr


def test_settings_prints_the_table() -> None:
    result = runner.invoke(app, ["settings"])
    assert result.exit_code == 0
    assert "| `DATABASE_URL` |" in result.stdout


def test_migrate_reports_head(cli_env: None) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert "head" in result.stdout


def test_dev_key_is_reused_until_revoked(cli_env: None) -> None:
    settings = get_settings()
    first = asyncio.run(_dev_admin_key(settings, None))
    assert asyncio.run(_dev_admin_key(settings, first)) == first
    key_id = next(
        json.loads(line)["id"]
        for line in runner.invoke(app, ["keys", "list", "--json"]).stdout.splitlines()
    )
    assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
    replacement = asyncio.run(_dev_admin_key(settings, first))
    assert replacement != first
    assert replacement.startswith("tm_")
