import httpx

from tests.support.paths import api_path


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await client.get("/healthz")
    await client.get("/no/such/thing")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'trailmark_http_requests_total{method="GET",route="/healthz",status="200"} 2.0' in text
    # Unknown paths share one label, so scanners cannot blow up the series count.
    assert (
        'trailmark_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    )
    assert "/no/such/thing" not in text
    assert (
        'trailmark_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/healthz"'
        in text
    )


async def test_metrics_report_the_database_pool(client: httpx.AsyncClient) -> None:
    await client.get("/readyz")
    text = (await client.get("/metrics")).text
    for gauge in ("pool_size", "pool_checked_out", "pool_checked_in", "pool_overflow"):
        assert f"trailmark_db_{gauge} " in text
    assert "trailmark_db_pool_size 20.0" in text  # the default DATABASE_POOL_SIZE


async def test_api_routes_are_labelled_with_their_full_template(client: httpx.AsyncClient) -> None:
    await client.delete("/api/v1/keys/0193a1c2-7d1e-7c3a-9f4e-2b6d8a0c1e3f")
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/keys/{key_id}",status="401"' in text
    assert "0193a1c2" not in text


async def test_events_ingested_are_counted_once(
    client: httpx.AsyncClient, acme: dict[str, str]
) -> None:
    from tests.support.events import event

    headers = {**acme, "Idempotency-Key": "metrics-1"}
    await client.post(api_path("list_events"), headers=headers, json=event())
    await client.post(
        api_path("list_events"), headers=headers, json=event()
    )  # a replay writes nothing
    await client.post(
        api_path("record_batch"), headers=acme, json={"events": [event(), event(), event()]}
    )
    text = (await client.get("/metrics")).text
    assert 'trailmark_events_ingested_total{kind="single"} 1.0' in text
    assert 'trailmark_events_ingested_total{kind="batch"} 3.0' in text


async def test_documentation_pages_and_assets_have_bounded_labels(
    client: httpx.AsyncClient,
) -> None:
    await client.get("/docs")
    await client.get("/docs/assets/swagger-ui.css")
    await client.get("/docs/assets/no-such-file.js")
    text = (await client.get("/metrics")).text
    assert 'route="/docs",status="200"' in text
    assert 'route="/docs/assets",status="200"' in text
    assert 'route="/docs/assets",status="404"' in text
    assert "swagger-ui.css" not in text
    assert "no-such-file" not in text
