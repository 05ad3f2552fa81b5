"""The viewer page in Chromium: a token in the fragment, the table, scrolling, search in the
URL, details, hostile content as text, narrow screens, bad tokens, and where a pruned trail
starts."""

import asyncio
import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, Route, expect
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import create_async_engine

from src.auth.constants import Scope
from src.config import to_async_url
from tests.browser.conftest import OUT, Watched
from tests.support.api_process import PEPPER, ROOT, ApiProcess
from tests.support.events import at, event
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import bearer, make_key
from tests.support.retention import close_range
from tests.support.tlog import TEST_LOG_SIGNING_KEY

EVENTS = 130  # more than two pages of 50
HOSTILE = {
    "actor": {"id": "user_666", "type": "user", "name": '<img src=x onerror="window.pwned=1">'},
    "entity_id": "<script>window.pwned=2</script>",
    "user_agent": "\u202egnp.exe " + "long " * 90,  # a bidi override
    "details": {"link": "javascript:window.pwned=3", "blob": "x" * 5000},  # one very long word
}


@pytest.fixture(scope="module")
def server_settings() -> Iterator[dict[str, str]]:
    """A model to ask: the fake OpenAI-compatible server, through the real SDK. Retention
    runs only when a test runs it (the server's own job would take the tenant's lock)."""
    with FakeOpenAI(api_key="fake") as fake:
        yield {
            "openai_api_key": "fake",
            "openai_base_url": fake.url,
            "retention_interval_seconds": "0",
        }


@dataclass(frozen=True)
class Tenant:
    key: str  # an API key of tenant acme (read and write)
    token: str  # a viewer token of acme with no fixed filter, that may export
    narrow_token: str  # a viewer token fixed to actor user_9, that may not export
    actors: list[str]  # every event's actor id, as the API lists them


def mint(http: httpx.Client, key: str, **body: Any) -> str:
    response = http.post(
        "/api/v1/viewer/tokens", headers={"Authorization": f"Bearer {key}"}, json=body
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def close_month(database_url: str, tenant: str) -> int | None:
    """Close the tenant's open range of events now, as the retention job does when a month
    has ended: the next range's first seq."""

    async def close() -> int | None:
        engine = create_async_engine(to_async_url(database_url))
        try:
            return await close_range(engine, tenant)
        finally:
            await engine.dispose()

    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this thread
        return thread.submit(asyncio.run, close()).result()


def new_key(database_url: str, tenant: str | None, scopes: list[Scope]) -> str:
    """A new API key's secret (an admin's with `tenant` None)."""

    async def key() -> str:
        engine = create_async_engine(to_async_url(database_url))
        try:
            created = await make_key(engine, SecretStr(PEPPER), tenant=tenant, scopes=scopes)
        finally:
            await engine.dispose()
        return created.key

    # Playwright's sync API runs an event loop in this thread: the key is made in another.
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, key()).result()


@pytest.fixture(scope="module")
def acme(served: ApiProcess, database_url: str) -> Iterator[Tenant]:
    secret = new_key(database_url, "acme", [Scope.AUDITS_READ, Scope.AUDITS_WRITE])
    bodies = [
        event(entity_id=f"repo_{n:03d}", actor={"id": f"user_{7 if n % 2 else 9}", "type": "user"})
        for n in range(EVENTS - 1)
    ]
    bodies.append(event(**HOSTILE))
    with httpx.Client(base_url=served.base_url) as http:
        recorded = http.post(
            "/api/v1/audits/batch",
            headers={"Authorization": f"Bearer {secret}"},
            json={"events": bodies},
        )
        assert recorded.status_code == 201, recorded.text
        # One more, recorded pending and settled since: committed as pending, shown settled.
        pending = http.post(
            "/api/v1/audits",
            headers={"Authorization": f"Bearer {secret}"},
            json=event(entity_id="settled", status="pending"),
        )
        assert pending.status_code == 201, pending.text
        settled = http.patch(
            f"/api/v1/audits/{pending.json()['id']}",
            headers={"Authorization": f"Bearer {secret}"},
            json={"status": "success"},
        )
        assert settled.status_code == 200, settled.text
        wait_until_signed(http, secret, EVENTS + 2)  # the settlement is a leaf too
        exported = http.get(
            "/api/v1/audits/export", headers={"Authorization": f"Bearer {secret}"}
        ).text.splitlines()
        yield Tenant(
            actors=[json.loads(line)["actor"]["id"] for line in exported],
            key=secret,
            token=mint(http, secret, can_export=True),
            narrow_token=mint(http, secret, filter={"actor_id": "user_9"}),
        )


def wait_until_signed(http: httpx.Client, key: str, size: int, tenant: str = "acme") -> None:
    """Until the server's log worker has signed a checkpoint covering `size` events."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        checkpoint = http.get(
            f"/api/v1/logs/{tenant}/checkpoint", headers={"Authorization": f"Bearer {key}"}
        )
        if checkpoint.status_code == 200 and int(checkpoint.text.split("\n")[1]) >= size:
            return
        time.sleep(0.1)
    raise AssertionError("no checkpoint covered the events within 15 s")


def open_viewer(page: Page, token: str, query: str = "") -> None:
    page.goto(f"/viewer{query}#token={token}")
    expect(page.get_by_role("table")).to_be_visible()


def scroll_to_the_end(page: Page) -> None:
    status = page.get_by_role("status")
    for _ in range(20):
        if re.fullmatch(r"\d+ events\.", status.inner_text()):
            return
        page.mouse.wheel(0, 20_000)
        page.wait_for_timeout(150)
    raise AssertionError(f"the list did not end: {status.inner_text()!r}")


def entities(page: Page) -> list[str]:
    return page.locator("tbody tr td:nth-child(4)").all_inner_texts()


def test_a_token_opens_the_table_and_scrolling_loads_every_event_once(
    watched: Watched, acme: Tenant
) -> None:
    page = watched.page
    requests: list[tuple[str, str | None]] = []
    page.on(
        "request",
        lambda request: requests.append((request.url, request.header_value("authorization"))),
    )
    open_viewer(page, acme.token)
    for name in ("Time", "Action", "Actor", "Entity", "Status"):
        expect(page.get_by_role("columnheader", name=name)).to_be_visible()
    assert "token" not in page.url  # moved out of the fragment into sessionStorage
    expect(page.get_by_label("API key")).to_be_hidden()  # a token needs no key
    expect(page.locator("tbody tr")).to_have_count(50)
    scroll_to_the_end(page)
    seen = entities(page)
    assert len(seen) == len(acme.actors) > 2 * 50
    assert len(set(seen)) == len(seen)  # no event twice
    expect(page.get_by_role("status")).to_have_text(f"{len(seen)} events.")
    api_calls = [(url, auth) for url, auth in requests if "/api/" in url]
    assert len(api_calls) >= 3
    for url, _ in requests:
        assert acme.token not in url
    assert all(auth == f"Bearer {acme.token}" for _, auth in api_calls)
    watched.assert_clean()


def test_search_narrows_and_lives_in_the_url(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    page.get_by_role("searchbox", name="Search").fill("actor:user_7")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/viewer\?q=actor%3Auser_7$"))
    scroll_to_the_end(page)
    actors = page.locator("tbody tr td:nth-child(3)").all_inner_texts()
    assert len(actors) == acme.actors.count("user_7") > 50
    assert all(actor.endswith("user_7") for actor in actors)
    page.reload()  # the view is the URL: a reload (or the link, shared) shows it again
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("actor:user_7")
    expect(page.locator("tbody tr").first).to_contain_text("user_7")
    page.go_back()
    expect(page.get_by_role("searchbox", name="Search")).to_have_value("")
    watched.assert_clean()


def test_a_fixed_filter_cannot_be_widened(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.narrow_token, "?q=actor:user_7")
    expect(page.get_by_role("status")).to_have_text("0 events.")
    page.get_by_role("searchbox", name="Search").fill("")
    page.get_by_role("button", name="Search").click()
    scroll_to_the_end(page)
    actors = set(page.locator("tbody tr td:nth-child(3)").all_inner_texts())
    assert actors == {"user_9"}
    watched.assert_clean()


def test_the_detail_panel_shows_every_field_and_the_raw_json(
    watched: Watched, acme: Tenant
) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    first = page.locator("tbody tr").first
    first.get_by_role("button").click()
    dialog = page.get_by_role("dialog", name="Event details")
    expect(dialog).to_be_visible()
    raw = dialog.locator("pre").inner_text()
    assert raw.startswith('{"id":')  # exactly as the API sent it
    expect(dialog.get_by_text("actor.id")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    watched.assert_clean()


def test_hostile_content_is_only_text(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    row = page.locator("tbody tr").filter(has_text="user_666")
    expect(row).to_have_count(1)
    expect(row.locator("td").nth(2)).to_have_text(HOSTILE["actor"]["name"] + " · user_666")
    expect(row.locator("td").nth(3)).to_contain_text(HOSTILE["entity_id"])
    assert page.locator("tbody img, tbody script").count() == 0
    row.get_by_role("button").click()
    dialog = page.get_by_role("dialog", name="Event details")
    expect(dialog.get_by_text("javascript:window.pwned=3", exact=True)).to_be_visible()
    assert dialog.locator("a, img, script").count() == 0
    assert page.evaluate("window.pwned") is None
    watched.assert_clean()


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (360, 740)])
def test_it_fits_the_screen(watched: Watched, acme: Tenant, width: int, height: int) -> None:
    page = watched.page
    page.set_viewport_size({"width": width, "height": height})
    open_viewer(page, acme.token)
    scroll_to_the_end(page)  # the very long values are on the page too
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    page.evaluate("window.scrollTo(0, 0)")
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"viewer-{width}x{height}.png"))
    # The details of the event with the longest values fit too.
    page.locator("tbody tr").filter(has_text="user_666").get_by_role("button").click()
    dialog = page.get_by_role("dialog", name="Event details")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("d => d.scrollWidth - d.clientWidth") <= 0
    page.screenshot(path=str(OUT / f"viewer-details-{width}x{height}.png"))
    watched.assert_clean()


def test_keyboard_only(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    first = page.locator("tbody tr").first.get_by_role("button")
    for _ in range(40):  # Tab through the controls to the first event
        page.keyboard.press("Tab")
        if first.evaluate("button => button === document.activeElement"):
            break
    else:
        raise AssertionError("Tab never reached the first event")
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Event details")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert first.evaluate("button => button === document.activeElement")  # focus came back
    watched.assert_clean()


def test_a_slow_answer_shows_loading(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    release = []

    def slow(route: Route) -> None:
        if not release:
            page.wait_for_timeout(800)
            release.append(True)
        route.continue_()

    page.route("**/api/v1/audits?*", slow)
    page.goto(f"/viewer#token={acme.token}")
    expect(page.get_by_role("status").first).to_have_text("Loading…")
    expect(page.locator("tbody tr")).to_have_count(50)
    watched.assert_clean()


def test_dark_mode(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    page.emulate_media(color_scheme="dark")
    open_viewer(page, acme.token)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(17, 20, 24)"
    page.screenshot(path=str(OUT / "viewer-dark-1280x720.png"))
    watched.assert_clean()


def test_a_bad_token_says_so_and_an_api_key_works(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    page.goto("/viewer#token=tmv_0123456789abcdef_not-a-real-token")
    expect(page.get_by_role("alert")).to_contain_text("expired or is not valid")
    page.get_by_label("API key").fill(acme.key)
    page.get_by_role("button", name="Open").click()
    expect(page.locator("tbody tr")).to_have_count(50)
    expect(page.get_by_role("alert")).to_be_hidden()
    # The browser reports each 401 (the list's, the chart's) itself; nothing else went wrong.
    assert watched.console_errors
    assert all("status of 401" in error for error in watched.console_errors)
    watched.console_errors.clear()
    watched.assert_clean()


def open_details_of_the_first_event(page: Page) -> None:
    page.locator("tbody tr").first.get_by_role("button").click()
    expect(page.get_by_role("dialog", name="Event details")).to_be_visible()


def test_verify_checks_the_proof_in_the_browser(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    open_details_of_the_first_event(page)
    dialog = page.get_by_role("dialog", name="Event details")
    dialog.get_by_role("button", name="Verify").click()
    expect(dialog.get_by_role("status")).to_have_text("Verified")
    expect(dialog.locator("#verify-key")).to_contain_text("trailmark.localhost/acme+")
    watched.assert_clean()


def test_a_settled_event_verifies(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token, "?q=entity:repository/settled")
    open_details_of_the_first_event(page)
    dialog = page.get_by_role("dialog", name="Event details")
    dialog.get_by_role("button", name="Verify").click()
    expect(dialog.get_by_role("status")).to_have_text("Verified")
    watched.assert_clean()


def tampered(change: Callable[[dict[str, Any]], None]) -> Callable[[Route], None]:
    """A route handler answering with the real response, changed."""

    def handle(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        change(body)
        route.fulfill(response=response, body=json.dumps(body))

    return handle


def flip_first_proof_hash(proof: dict[str, Any]) -> None:
    first = bytearray(base64.b64decode(proof["inclusion"][0]))
    first[0] ^= 1
    proof["inclusion"][0] = base64.b64encode(bytes(first)).decode()


def forge_signature(proof: dict[str, Any]) -> None:
    text, _, signature = proof["checkpoint"].rpartition(" ")
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    proof["checkpoint"] = f"{text} {base64.b64encode(bytes(raw)).decode()}\n"


def edit_entity(event: dict[str, Any]) -> None:
    event["entity_id"] = "repo_edited"


def edit_time(event: dict[str, Any]) -> None:
    event["occurred_at"] = "2020-01-01T00:00:00.000000Z"


def edit_status(event: dict[str, Any]) -> None:
    event["status"] = "failure"


@pytest.mark.parametrize(
    ("pattern", "change", "reason"),
    [
        ("**/proof", flip_first_proof_hash, "the inclusion proof does not lead to the signed root"),
        ("**/proof", forge_signature, "the checkpoint's signature is not the log key's"),
        ("**/api/v1/audits/*-*", edit_entity, "the event's entity_id is not the one the log holds"),
        ("**/api/v1/audits/*-*", edit_time, "the event's occurred_at is not the one the log holds"),
        ("**/api/v1/audits/*-*", edit_status, "the event's status is not the one the log holds"),
    ],
)
def test_verify_fails_on_anything_tampered(
    watched: Watched,
    acme: Tenant,
    pattern: str,
    change: Callable[[dict[str, Any]], None],
    reason: str,
) -> None:
    page = watched.page
    page.route(pattern, tampered(change))
    open_viewer(page, acme.token)
    open_details_of_the_first_event(page)
    dialog = page.get_by_role("dialog", name="Event details")
    dialog.get_by_role("button", name="Verify").click()
    expect(dialog.get_by_role("status")).to_have_text(f"Not verified: {reason}")
    watched.assert_clean()


def test_export_downloads_the_current_view(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token, "?q=actor:user_7")
    page.get_by_label("Format").select_option("ndjson")
    with page.expect_download() as started:
        page.get_by_role("button", name="Export").click()
    download = started.value
    assert download.suggested_filename == "audit-events.ndjson"
    lines = Path(download.path()).read_text().splitlines()
    assert len(lines) == acme.actors.count("user_7")
    assert {json.loads(line)["actor"]["id"] for line in lines} == {"user_7"}
    watched.assert_clean()


def test_a_token_without_export_is_told_so(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.narrow_token)
    page.get_by_role("button", name="Export").click()
    expect(page.get_by_role("alert")).to_have_text("This viewer token may not export.")
    assert all("403" in error for error in watched.console_errors)  # the browser's own report
    watched.console_errors.clear()
    watched.assert_clean()


def test_the_activity_chart_counts_the_view(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    total = len(acme.actors)
    expect(page.get_by_role("img", name=re.compile(rf"^Activity: {total} events"))).to_be_visible()
    page.get_by_role("searchbox", name="Search").fill("actor:user_9")
    page.get_by_role("button", name="Search").click()
    by_9 = acme.actors.count("user_9")
    expect(page.get_by_role("img", name=re.compile(rf"^Activity: {by_9} events"))).to_be_visible()
    watched.assert_clean()


def test_ask_shows_the_answer_and_the_search_it_ran(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    open_viewer(page, acme.token)
    page.get_by_label("Question").fill("Which repository did actor user_9 delete?")
    page.get_by_role("button", name="Ask").click()
    answer = page.get_by_role("region", name="Answer")
    expect(answer).to_contain_text("matching events")
    expect(answer.locator("code")).to_contain_text("actor:user_9")
    answer.get_by_role("button", name="Show these events").click()
    expect(page).to_have_url(re.compile(r"\?q=.*actor%3Auser_9"))
    scroll_to_the_end(page)
    assert set(page.locator("tbody tr td:nth-child(3)").all_inner_texts()) == {"user_9"}
    watched.assert_clean()


@dataclass(frozen=True)
class Pruned:
    token: str  # a viewer token of the pruned tenant
    first: dict[str, Any]  # the event its trail now starts at, as the API lists it


OLD_EVENTS = 300  # leaves 0-299: retention prunes the first whole tile, 256 of them
NEW_EVENTS = 10


def run_retention(served: ApiProcess, tenant: str, as_of: datetime) -> dict[str, Any]:
    """`python -m src.cli retention run` for one tenant, on the served app's database."""
    env = {
        **os.environ,
        "ENVIRONMENT": "production",
        "DATABASE_URL": served.database_url,
        "API_KEY_PEPPER": PEPPER,
        "LOG_SIGNING_KEY": TEST_LOG_SIGNING_KEY,
        "LOG_LEVEL": "WARNING",
    }
    command = ["retention", "run", "--tenant", tenant, "--as-of", as_of.isoformat()]
    result = subprocess.run(
        [sys.executable, "-m", "src.cli", *command],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def pruned(served: ApiProcess, database_url: str) -> Iterator[Pruned]:
    """Tenant globex, kept 30 days and pruned: 300 events received 30 days before the run
    (as it judges time), 10 since."""
    admin = new_key(database_url, None, [Scope.ADMIN])
    key = new_key(database_url, "globex", [Scope.AUDITS_READ, Scope.AUDITS_WRITE])
    with httpx.Client(base_url=served.base_url, headers=bearer(key)) as http:
        policy = http.put(
            "/api/v1/tenants/globex/retention",
            headers=bearer(admin),
            json={"days": 30, "mode": "prune"},
        )
        assert policy.status_code == 200, policy.text
        old = [event(entity_id=f"old_{n:03d}", occurred_at=at(n)) for n in range(OLD_EVENTS)]
        recorded = http.post("/api/v1/audits/batch", json={"events": old})
        assert recorded.status_code == 201, recorded.text
        # The run is as of just over 30 days after `moment`: whatever was received before
        # it has expired, whatever after has not (with some slack for the two clocks).
        time.sleep(0.5)
        moment = datetime.now(UTC)
        time.sleep(1.5)
        new = [
            event(entity_id=f"new_{n:03d}", occurred_at=at(OLD_EVENTS + n))
            for n in range(NEW_EVENTS)
        ]
        recorded = http.post("/api/v1/audits/batch", json={"events": new})
        assert recorded.status_code == 201, recorded.text
        wait_until_signed(http, key, OLD_EVENTS + NEW_EVENTS, tenant="globex")
        assert close_month(database_url, "globex") == 257  # a month ends: [1, 257) closes
        report = run_retention(served, "globex", moment + timedelta(days=30, seconds=1))
        # The first kept leaf is 300: the minimum index moves down to its tile, 256; the
        # expired events above it (257-300) are erased, since the log still serves them.
        assert (report["min_index"], report["pruned"], report["erased"]) == (256, 256, 44)
        assert http.get("/api/v1/logs/globex/key").json()["min_index"] == 256
        oldest = http.get(
            "/api/v1/audits", params={"order": "asc", "limit": 1, "include_erased": "true"}
        ).json()["items"][0]
        assert oldest["seq"] == 257
        yield Pruned(token=mint(http, key), first=oldest)


def test_a_pruned_trail_says_where_it_starts(watched: Watched, pruned: Pruned) -> None:
    page = watched.page
    open_viewer(page, pruned.token)
    notice = page.get_by_role("region", name="Trail start")
    received = page.evaluate(
        """value => new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" })
            .format(new Date(value))""",
        pruned.first["received_at"],
    )
    expect(notice).to_have_text(
        f"This trail starts at event #257 (received {received}): older events were removed "
        "by the retention policy."
    )
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "viewer-pruned-1280x720.png"))
    # The kept events are the table's (the erased ones are not listed), and still verify.
    expect(page.locator("tbody tr").filter(has_text="new_009")).to_have_count(1)
    page.locator("tbody tr").filter(has_text="new_009").get_by_role("button").click()
    dialog = page.get_by_role("dialog", name="Event details")
    dialog.get_by_role("button", name="Verify").click()
    expect(dialog.get_by_role("status")).to_have_text("Verified")
    watched.assert_clean()


def test_a_trail_never_pruned_says_nothing_of_its_start(watched: Watched, acme: Tenant) -> None:
    page = watched.page
    with page.expect_response(re.compile(r"/api/v1/logs/acme/key$")) as answered:
        open_viewer(page, acme.token)
    assert answered.value.json()["min_index"] == 0
    expect(page.get_by_role("region", name="Trail start")).to_have_count(0)
    expect(page.locator("#trail-start")).to_be_hidden()
    expect(page.get_by_text("This trail starts")).to_have_count(0)
    watched.assert_clean()
