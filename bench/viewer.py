"""The viewer's first table render on a tenant of 10k events, in Chromium.

`python -m bench.viewer` prints JSON: the page weight, and, over several cold loads (a new
browser context each), the time from navigation to the first row of events in the table, as
the page itself measures it (`performance.now()` when the row appears). Needs Debian's
`chromium`; not part of `python -m bench` (it measures the API, this measures a browser).
"""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
from datetime import UTC, datetime
from typing import Any

import httpx
from playwright.sync_api import sync_playwright

from bench import data
from bench.run import _admin_key
from bench.server import Api, Database
from src.devdb import connect as connect_database
from src.viewer.page import STATIC

FIRST_ROW = """() => new Promise((resolve) => {
  const seen = () => document.querySelector("tbody tr");
  if (seen()) return resolve(performance.now());
  new MutationObserver((_, observer) => {
    if (seen()) { observer.disconnect(); resolve(performance.now()); }
  }).observe(document.body, { childList: true, subtree: true });
})"""


def page_weight() -> int:
    """HTML, JavaScript and CSS of the page, uncompressed."""
    return sum(
        len(item.read_bytes())
        for item in STATIC.iterdir()
        if item.name.endswith((".html", ".js", ".css"))
    )


async def _seed(database: Database, events: int) -> None:
    connection = await connect_database(database.url)
    try:
        factory = data.EventFactory(seed=11, now=datetime.now(UTC))
        await data.copy_load(connection, factory, {"acme": events})
    finally:
        await connection.close()


def measure(events: int, loads: int) -> dict[str, Any]:
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Chromium (Debian package chromium) is needed")
    database = Database.create()
    try:
        asyncio.run(_seed(database, events))
        api = Api(database.url)
        try:
            admin = asyncio.run(_admin_key(database, api.pepper))
            token = httpx.post(
                f"{api.base_url}/api/v1/viewer/tokens",
                headers={"Authorization": admin},
                json={"tenant": "acme"},
                timeout=30,
            ).json()["token"]
            timings = []
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=chromium, headless=True, args=["--no-sandbox"]
                )
                for _ in range(loads):
                    context = browser.new_context(viewport={"width": 1280, "height": 800})
                    page = context.new_page()
                    page.goto(f"{api.base_url}/viewer#token={token}", wait_until="commit")
                    timings.append(page.evaluate(FIRST_ROW))
                    context.close()
                browser.close()
        finally:
            api.stop()
    finally:
        database.drop()
    return {
        "events_in_tenant": events,
        "page_weight_bytes": page_weight(),
        "loads": loads,
        "first_row_ms": {
            "median": round(statistics.median(timings), 1),
            "max": round(max(timings), 1),
            "all": [round(t, 1) for t in timings],
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.viewer", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.events, args.loads), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
