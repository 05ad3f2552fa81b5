"""The checkpoint signing key: from settings, from a file, or made once for development."""

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr
from typer.testing import CliRunner

from src.cli import app
from src.config import Settings
from src.log.signing import (
    SigningKeyError,
    load_signing_key,
    log_identity,
    parse_seed,
    public_key_bytes,
)
from src.verifier import note
from tests.support.tlog import TEST_LOG_SIGNING_KEY


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_keygen_prints_a_usable_key_pair() -> None:
    result = CliRunner().invoke(app, ["log", "keygen"])
    assert result.exit_code == 0, result.output
    pair = json.loads(result.output)
    assert set(pair) == {"signing_key", "public_key"}
    key = parse_seed(pair["signing_key"])
    assert base64.b64encode(public_key_bytes(key)).decode() == pair["public_key"]
    again = json.loads(CliRunner().invoke(app, ["log", "keygen"]).output)
    assert again["signing_key"] != pair["signing_key"]


def test_the_key_comes_from_the_setting_or_its_file(tmp_path: Path) -> None:
    from_setting = load_signing_key(_settings(log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY)))
    key_file = tmp_path / "log-key"
    key_file.write_text(TEST_LOG_SIGNING_KEY + "\n")
    from_file = load_signing_key(_settings(log_signing_key_file=key_file))
    assert public_key_bytes(from_setting) == public_key_bytes(from_file)


@pytest.mark.parametrize(
    ("text", "message"),
    [("not base64!", "not base64"), (base64.b64encode(b"short").decode(), "32-byte")],
)
def test_a_malformed_key_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(SigningKeyError, match=message):
        load_signing_key(_settings(log_signing_key=SecretStr(text)))


def test_an_unreadable_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningKeyError, match="cannot read LOG_SIGNING_KEY_FILE"):
        load_signing_key(_settings(log_signing_key_file=tmp_path / "missing"))


def test_development_makes_a_key_once_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / ".data" / "log-signing-key"
    first = load_signing_key(_settings(), development_key_file=path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    second = load_signing_key(_settings(), development_key_file=path)
    assert public_key_bytes(first) == public_key_bytes(second)


def test_each_tenant_log_is_named_by_its_origin() -> None:
    identity = log_identity(
        _settings(log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY), log_origin="audit.example")
    )
    key = identity.verifier_key("acme")
    assert key.name == "audit.example/acme" == identity.origin("acme")
    signed = identity.signer("acme").sign("audit.example/acme\n0\n" + "A" * 43 + "=\n")
    assert note.open_note(signed, key).startswith("audit.example/acme\n")
    with pytest.raises(note.NoteError):
        note.open_note(signed, identity.verifier_key("globex"))
