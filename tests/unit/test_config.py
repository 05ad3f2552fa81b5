from pathlib import Path

import pytest
from pydantic import SecretStr

from src.config import Settings, to_async_url
from tests.support.tlog import TEST_LOG_SIGNING_KEY


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        (
            "postgresql://postgres:@/db?host=/tmp/pg",
            "postgresql+asyncpg://postgres:@/db?host=/tmp/pg",
        ),
    ],
)
def test_urls_are_rewritten_for_asyncpg(given: str, expected: str) -> None:
    assert to_async_url(given) == expected


@pytest.mark.parametrize("url", ["sqlite:///x.db", "mysql://u@h/d", ""])
def test_non_postgres_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        to_async_url(url)


def test_missing_database_url_explains_what_to_do() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(RuntimeError, match=r"tasks\.py start"):
        _ = settings.async_database_url


def test_secrets_do_not_show_in_repr() -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=SecretStr("postgresql://u:hunter2@h/d"),
        api_key_pepper=SecretStr("pepper-value"),
    )
    assert "hunter2" not in repr(settings)
    assert "pepper-value" not in repr(settings)


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", '["http://localhost:3000"]')
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.max_body_bytes == 2048
    assert settings.cors_allow_origins == ["http://localhost:3000"]


def test_production_refuses_the_development_pepper() -> None:
    with pytest.raises(ValueError, match="API_KEY_PEPPER"):
        Settings(_env_file=None, environment="production")  # type: ignore[call-arg]
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="production",
        api_key_pepper=SecretStr("a-long-random-production-value"),
        log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY),
    )
    assert settings.environment == "production"


def test_production_refuses_to_start_without_a_log_signing_key() -> None:
    with pytest.raises(ValueError, match="LOG_SIGNING_KEY or LOG_SIGNING_KEY_FILE in production"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            environment="production",
            api_key_pepper=SecretStr("a-long-random-production-value"),
        )


def test_one_log_key_setting_at_a_time(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            log_signing_key=SecretStr(TEST_LOG_SIGNING_KEY),
            log_signing_key_file=tmp_path / "key",
        )
