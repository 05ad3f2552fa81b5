"""Browser tests: Debian's Chromium driven by Playwright, against the app served by a real
uvicorn process and real PostgreSQL.

Chromium comes from the Debian package `chromium` (`.ci/run` installs it), never from
`playwright install`. Without it these tests skip, except in CI (`CI=true`), where they fail.
"""

import asyncio
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

from tests.support.api_process import ApiProcess
from tests.support.database import truncate_all

OUT = Path(__file__).resolve().parents[2] / ".ci" / "out"  # screenshots, kept by CI


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module."""
    executable = chromium_path()
    if executable is None:
        reason = "Chromium (Debian package chromium) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI installs it, so browser tests may not skip", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        yield launched
        launched.close()


@pytest.fixture(autouse=True, scope="module")
def _empty_tables_afterwards(database_url: str) -> Iterator[None]:
    """The server here writes to the run's database; leave it empty for the next tests."""
    yield
    asyncio.run(truncate_all(database_url))


@pytest.fixture(scope="module")
def server_settings() -> dict[str, str]:
    """Settings of the served app beyond production's defaults (a module may override it)."""
    return {}


@pytest.fixture(scope="module")
def served(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, server_settings: dict[str, str]
) -> Iterator[ApiProcess]:
    """The app as production runs it, on a free port."""
    log = tmp_path_factory.mktemp("browser") / "api.log"
    api = ApiProcess(database_url, log, **server_settings).start()
    yield api
    api.kill()


@dataclass
class Watched:
    """A page, with every request that tried to leave the app's origin (answered with an
    error, never sent) and every console error."""

    page: Page
    origin: str
    off_origin: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.off_origin == [], self.off_origin
        assert self.console_errors == [], self.console_errors


@pytest.fixture
def watched(browser: Browser, served: ApiProcess) -> Iterator[Watched]:
    context = browser.new_context(base_url=served.base_url)
    page = context.new_page()
    origin = urlsplit(served.base_url).netloc
    watch = Watched(page, origin)

    def guard(route: Route, request: Request) -> None:
        if urlsplit(request.url).netloc == origin or request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            watch.off_origin.append(request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.console_errors.append(message.text)

    context.route("**/*", guard)
    page.on("console", console)
    yield watch
    context.close()
