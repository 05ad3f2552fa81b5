"""The AI tests' app talks to a local fake OpenAI server through the real SDK."""

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from src.config import Settings
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_openai(fake_openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The fake, with no scripted replies and no recorded requests."""
    fake_openai_server.reset()
    yield fake_openai_server
    fake_openai_server.reset()


@pytest.fixture
def settings(settings: Settings, fake_openai: FakeOpenAI) -> Settings:
    """The test settings, pointed at the fake; short waits so retries stay quick."""
    return settings.model_copy(
        update={
            "openai_api_key": SecretStr(fake_openai.api_key),
            "openai_base_url": fake_openai.url,
            "openai_timeout_seconds": 5.0,
            "openai_max_retries": 2,
            "openai_retry_backoff_seconds": 0.01,
            "openai_retry_budget_seconds": 5.0,
        }
    )
