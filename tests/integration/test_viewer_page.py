"""`GET /viewer`: the page and its files come from the package, under the contract's headers."""

import re

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from src.config import Settings
from src.main import create_app
from src.viewer.page import STATIC
from tests.support.clients import app_client

PAGE_WEIGHT_LIMIT = 100_000  # bytes of HTML, JavaScript and CSS, uncompressed


async def test_the_page_and_its_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/viewer")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    # No inline script or style: the CSP would refuse them.
    assert "<style" not in response.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", response.text)
    assert " style=" not in response.text


async def test_every_file_the_page_names_is_served(client: httpx.AsyncClient) -> None:
    page = (await client.get("/viewer")).text
    names = re.findall(r'(?:src|href)="(/viewer/assets/[^"]+)"', page)
    assert {name.rsplit("/", 1)[1] for name in names} == {"main.js", "viewer.css"}
    modules = re.findall(r'from "\./([a-z]+\.js)"', (STATIC / "main.js").read_text())
    for name in [*names, *(f"/viewer/assets/{module}" for module in modules)]:
        served = await client.get(name)
        assert served.status_code == 200, name
        kind = "text/css" if name.endswith(".css") else "text/javascript"
        assert served.headers["content-type"].startswith(kind), name


def test_the_page_weighs_under_100_kb() -> None:
    weight = sum(
        len(item.read_bytes())
        for item in STATIC.iterdir()
        if item.name.endswith((".html", ".js", ".css"))
    )
    assert weight < PAGE_WEIGHT_LIMIT, weight


class TestEmbedding:
    @pytest.fixture
    def app(self, database_url: str) -> FastAPI:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            database_url=SecretStr(database_url),
            viewer_frame_ancestors="https://admin.example.com",
        )
        return create_app(settings)

    async def test_the_listed_origins_may_frame_it(self, app: FastAPI) -> None:
        async with app_client(app) as http:
            response = await http.get("/viewer")
            api = await http.get("/healthz")
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors https://admin.example.com;" in csp
        assert "x-frame-options" not in response.headers  # CSP decides; XFO can only deny
        assert api.headers["x-frame-options"] == "DENY"  # everything else stays unframed


@pytest.mark.parametrize("value", ["", "https://a.example; script-src *", "x\nInjected: 1"])
def test_frame_ancestors_cannot_inject_a_directive(value: str) -> None:
    with pytest.raises(ValueError, match="viewer_frame_ancestors"):
        Settings(_env_file=None, viewer_frame_ancestors=value)  # type: ignore[call-arg]
