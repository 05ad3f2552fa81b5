"""The start command, as a person runs it: a real uvicorn process, then Ctrl-C."""

import re
from pathlib import Path

import httpx
import pytest

from tests.support.service import start_service, stop_service


@pytest.mark.slow
def test_start_serves_docs_prints_a_key_and_stops_on_ctrl_c(
    database_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "dev-admin-key"
    printed = tmp_path / "printed.txt"
    with printed.open("wb") as sink:
        process, base = start_service(database_url, key_file, output=sink)
    try:
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        docs = httpx.get(f"{base}/docs", timeout=5)
        assert docs.status_code == 200
        assert "swagger-ui" in docs.text
        dev_key = key_file.read_text().strip()
        assert key_file.stat().st_mode & 0o077 == 0  # readable by its owner only
        keys = httpx.get(
            f"{base}/api/v1/keys", headers={"Authorization": f"Bearer {dev_key}"}, timeout=5
        )
        assert keys.status_code == 200
        # The viewer URL it printed opens the page, and its token reads acme's events.
        match = re.search(rf"{re.escape(base)}/viewer#token=(tmv_\S+)", printed.read_text())
        assert match, printed.read_text()
        page = httpx.get(match.group(0).split("#")[0], timeout=5)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        events = httpx.get(
            f"{base}/api/v1/audits",
            headers={"Authorization": f"Bearer {match.group(1)}"},
            timeout=5,
        )
        assert events.status_code == 200, events.text
    finally:
        stop_service(process)
    output = printed.read_text()
    assert process.returncode == 0, output
    assert f"Development admin key (new, kept in {key_file})" in output
    assert dev_key in output
    assert "Transparency log public key (Ed25519): " in output
    assert "trailmark.localhost/acme+" in output  # a tenant's verifier key
