"""`/docs` and `/redoc` render from the app alone: no request leaves the origin."""

import re

from playwright.sync_api import expect

from tests.browser.conftest import OUT, Watched


def test_swagger_ui_lists_our_operations(watched: Watched) -> None:
    page = watched.page
    page.goto("/docs")
    expect(page.get_by_role("heading", name=re.compile("Trailmark"))).to_be_visible()
    # Operations by their summaries, from /openapi.json, rendered by the bundled Swagger UI.
    expect(page.get_by_text("Record an audit event", exact=False).first).to_be_visible()
    expect(page.get_by_text("The latest signed checkpoint").first).to_be_visible()
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "docs.png"))
    watched.assert_clean()


def test_redoc_renders(watched: Watched) -> None:
    page = watched.page
    page.goto("/redoc")
    expect(page.get_by_role("heading", name=re.compile("Trailmark")).first).to_be_visible()
    expect(page.get_by_role("heading", name="Record an audit event")).to_be_visible()
    # The vendor's link stays; its logo, which the bundle would fetch from a CDN, is gone.
    expect(page.get_by_role("link", name="API docs by Redocly")).to_be_visible()
    expect(page.get_by_alt_text("redocly logo")).to_have_count(0)
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "redoc.png"))
    watched.assert_clean()  # no console error, no request leaving the origin


def test_a_request_to_another_host_is_caught(watched: Watched) -> None:
    """The guards themselves: our pages' CSP refuses another host (a console error), and a
    page without one has the request stopped by the test's route guard, never sent."""
    page = watched.page
    page.goto("/docs")
    page.evaluate("fetch('https://cdn.example.invalid/x.js').catch(() => null)")
    page.wait_for_timeout(200)
    assert any("cdn.example.invalid" in error for error in watched.console_errors)
    page.goto("about:blank")
    page.evaluate("fetch('https://cdn.example.invalid/y.js').catch(() => null)")
    page.wait_for_timeout(200)
    assert watched.off_origin == ["https://cdn.example.invalid/y.js"]


def test_the_viewer_without_a_credential_or_a_model(watched: Watched) -> None:
    """Opened without a token it asks for an API key; without OPENAI_API_KEY, no Ask box."""
    page = watched.page
    page.goto("/viewer")
    expect(page.get_by_label("API key")).to_be_visible()
    expect(page.get_by_role("button", name="Ask")).to_be_hidden()
    expect(page.get_by_role("table")).to_be_hidden()
    watched.assert_clean()
