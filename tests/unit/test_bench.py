"""The benchmark's own arithmetic: how events are spread, and how targets are judged."""

from typing import Any

import pytest

from bench import wrk
from bench.load import Result
from bench.log import covering_lags
from bench.run import Sizes, _plan, _targets
from bench.server import RssGrowth


def test_the_plan_gives_the_big_tenant_its_share_and_spreads_the_rest() -> None:
    sizes = Sizes.full()
    tenants = [f"t{n}" for n in range(50)]

    plan = _plan(sizes, tenants, 1_000_000)

    assert plan["t0"] == 200_000
    assert sum(plan.values()) == 1_000_000
    others = [count for tenant, count in plan.items() if tenant != "t0"]
    assert max(others) - min(others) <= 1


def test_percentiles_come_from_the_recorded_latencies() -> None:
    result = Result(requests=100, seconds=2.0, latencies_ms=[float(n) for n in range(1, 101)])

    assert result.rate == 50
    assert result.percentile(50) == 50.5
    assert result.percentile(99) == pytest.approx(99.01)


def test_targets_are_judged_on_the_largest_scale() -> None:
    sizes = Sizes.smoke()
    query = {kind: {"p50_ms": 2.0, "p99_ms": 4.0} for kind in ("no_filter", "actor_id")}
    query["page_5"] = {"p50_ms": 4.0, "p99_ms": 30.0}
    scale: dict[str, Any] = {
        "copy_events_per_s": 10_000,
        "ingest": {
            "batch": {"events_per_s": 6_000},
            "single": {"events_per_s": 3_500, "p99_ms": 20.0},
        },
        "query": query,
    }
    report: dict[str, Any] = {
        "ceilings": {
            "healthz_requests_per_s": 10_000,
            "healthz_p99_ms": 9.0,
            "copy_out": {"events": 1000, "events_per_s": 250_000},
        },
        "scales": {"2k": {}, "5k": scale},
        "export": {"events": 1000, "events_per_s": 150_000, "rss_growth_mb": 12.0},
        "verify": {"events_per_s": 90_000},
        "log": {
            "tenant_events": 3000,
            "checkpoint_lag": {"p99_ms": 1200.0},
            "proof": {"p99_ms": 12.0},
            "tiles": {"tiles_per_s": 2500},
            "bundle": {
                "verifier_events_per_s": 80_000,
                "verifier_peak_rss_mb": 30.0,
                "verifier_worker_peak_rss_mb": 120.0,
            },
        },
        "without_log": {
            "ingest": {"batch": {"events_per_s": 6_500}, "single": {"events_per_s": 3_800}}
        },
        "workers_per_cpu": {
            "workers": 2,
            "ceilings": {"healthz_requests_per_s": 16_000},
            "single": {"events_per_s": 7_000},
        },
    }

    targets = _targets(report, sizes)

    # Each figure comes with the same-run ceiling it is read against.
    assert targets["batch_ingest_vs_copy"] == {
        "value": 0.6,
        "target": ">= 0.5",
        "met": True,
        "ceiling": {"of": "COPY into audit_event, events/s", "value": 10_000},
    }
    assert targets["export_events_per_s"]["ceiling"]["value"] == 250_000
    assert targets["verify_events_per_s"]["ceiling"]["value"] == 250_000
    assert targets["single_ingest_vs_healthz"]["ceiling"]["value"] == 10_000
    assert targets["single_ingest_p99_ms"]["ceiling"]["value"] == 9.0
    # With a worker per CPU, single ingest is read against /healthz with as many workers.
    assert targets["single_ingest_vs_healthz_workers_per_cpu"]["value"] == 0.44
    assert targets["single_ingest_vs_healthz_workers_per_cpu"]["met"] is True
    assert targets["single_ingest_vs_healthz"]["met"] is False  # 0.35 of healthz
    assert targets["single_ingest_events_per_s"]["met"] is True
    assert targets["list_p99_ms_max"]["value"] == 30.0
    assert targets["list_p99_ms_max"]["met"] is False
    assert targets["deep_page_vs_first_page"]["value"] == 2.0
    assert targets["deep_page_vs_first_page"]["met"] is False
    assert targets["verify_events_per_s"]["met"] is False
    assert targets["export_rss_growth_mb"]["met"] is True
    # The log's own targets, the ingest ones against the same app without the log.
    assert targets["log_batch_ingest_vs_without_log"]["value"] == 0.92
    assert targets["log_batch_ingest_vs_without_log"]["met"] is True
    assert targets["log_single_ingest_vs_without_log"]["value"] == 0.92
    assert targets["checkpoint_lag_p99_ms"]["met"] is True
    assert targets["inclusion_proof_p99_ms"]["met"] is False
    assert targets["tiles_per_s"]["met"] is True
    assert targets["bundle_verifier_events_per_s"]["met"] is False
    # Memory is judged on the largest of the verifier's processes: here a worker.
    assert targets["bundle_verifier_peak_rss_mb"]["value"] == 120.0
    assert targets["bundle_verifier_peak_rss_mb"]["met"] is False


def test_checkpoint_lag_is_ack_to_the_first_covering_checkpoint() -> None:
    acked = [(2, 10.0), (1, 10.1), (3, 10.5)]  # (seq, acknowledged at), in any order
    seen = [(10.2, 0), (10.4, 2), (11.0, 3)]  # (polled at, checkpoint size), in time order
    assert covering_lags(acked, seen) == pytest.approx([300.0, 400.0, 500.0])
    # A checkpoint seen before the answer arrived (clock skew between tasks) counts as 0.
    assert covering_lags([(1, 10.5)], [(10.4, 1)]) == [0.0]


def test_rss_growth_keeps_the_highest_rise() -> None:
    growth = RssGrowth(baseline=100)
    for rss in (90, 150, 120):
        growth.observe(rss)
    assert growth.bytes == 50


WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:18999/
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     6.31ms    2.18ms  14.62ms   70.25%
    Req/Sec   483.32    164.41   720.00     63.64%
  Latency Distribution
     50%    6.09ms
     75%    7.57ms
     90%    9.27ms
     99%    1.32s
  1059 requests in 1.10s, 1.60MB read
  Socket errors: connect 0, read 2, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:    962.43
Transfer/sec:      1.45MB
"""


def test_wrk_output_is_read_with_its_units_and_errors() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.requests == 1059
    assert result.requests_per_s == 962.43
    assert result.p50_ms == pytest.approx(6.09)
    assert result.p99_ms == pytest.approx(1320.0)  # seconds, in ms
    assert result.errors == 2 + 3 + 7  # socket errors and answers that are not 2xx/3xx


def test_wrk_output_without_figures_is_an_error() -> None:
    with pytest.raises(ValueError, match="wrk printed no"):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_the_wrk_script_quotes_anything_exactly() -> None:
    body = '{"note": "a ]] and a ]=] inside"}'
    script = wrk.script("POST", ["/api/v1/audits?tenant=a"], [body], {"Authorization": "Bearer k"})
    assert "[==[" + body + "]==]" in script  # a level no part of the body closes
    assert "[ [[Authorization]] ] = [[Bearer k]]" in script  # `[[[` would open a string
    assert "wrk.format([[POST]]" in script
