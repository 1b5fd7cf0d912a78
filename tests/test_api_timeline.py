"""GET /api/timeline and GET /dashboard over real HTTP: the points of a real CLI run against the simulator,
their definitions on a real RunState, the empty state before a run, and the dashboard's files served
from the package with nothing loaded from elsewhere."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_state_factory import make_state, serving, start_running
from inferload_plugins.routers.timeline import Timeline
from inferload_plugins.routers.timeline_models import TimelineResponse
from live_run import LiveRun, wait_until

pytest_plugins = ["simulator_fixtures"]

RUN_FLAGS = ("--model", "sim-model", "--endpoint-type", "chat", "--concurrency", "2", "--request-count", "24",
             "--warmup-request-count", "2", "--isl", "32", "--osl", "16", "--random-seed", "5",
             "--api-linger", "inf")


@pytest.fixture(scope="module")
def timeline_run(
    inferload_exe: Path, cli_env: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A run of about 4 s (26 requests of 16 decode steps of 20 ms, two at a time): its timeline read
    mid-run, after the results are complete, and with ``since``."""
    from inferload_plugins.simulator.embedded import start_embedded
    from simulator_wire import simulator_config

    simulator = start_embedded(simulator_config(decode_step_s=0.02, prefill_tokens_per_s=20000.0))
    run = LiveRun(inferload_exe, cli_env(), tmp_path_factory.mktemp("timeline") / "artifacts", *RUN_FLAGS,
                  "--url", simulator.url)
    try:
        run.wait_serving()
        with httpx.Client(base_url=run.base) as client:
            def profiling_points() -> bool:
                body = client.get("/api/timeline").json()
                return any(p["phase"] == "profiling" and p["ttft_avg_ms"] is not None for p in body["points"])

            wait_until(profiling_points, 60, lambda: run.stderr)
            mid = client.get("/api/timeline").json()
            wait_until(lambda: client.get("/api/results").json()["status"] == "complete", 90,
                       lambda: run.stderr)
            after = client.get("/api/timeline").json()
            cut = after["points"][len(after["points"]) // 2]["t_sec"]
            since = client.get("/api/timeline", params={"since": cut}).json()
            bad_since = client.get("/api/timeline", params={"since": "-1"})
            openapi = client.get("/openapi.json").json()
        run.process.send_signal(signal.SIGINT)  # ends --api-linger inf
        assert run.finish() == 0, run.stderr
    finally:
        run.kill()
        simulator.stop()
    return {"mid": mid, "after": after, "cut": cut, "since": since, "bad_since": bad_since,
            "openapi": openapi}


def test_timeline_points_are_in_time_order_with_counters_that_never_go_back(
    timeline_run: dict[str, Any],
) -> None:
    for body in (timeline_run["mid"], timeline_run["after"]):
        TimelineResponse.model_validate(body)
        points = body["points"]
        times = [p["t_sec"] for p in points]
        assert times == sorted(times) and len(set(times)) == len(times)
        for key in ("requests_sent", "requests_completed", "request_errors"):
            values = [p[key] for p in points]
            assert values == sorted(values), key
    assert timeline_run["mid"]["sampling"] is True
    assert len(timeline_run["after"]["points"]) > len(timeline_run["mid"]["points"])


def test_timeline_ends_with_the_runs_final_counts_and_stops_sampling(timeline_run: dict[str, Any]) -> None:
    after = timeline_run["after"]
    last = after["points"][-1]
    assert after["sampling"] is False
    assert last["requests_sent"] == last["requests_completed"] == 26  # 24 profiling + 2 warmup
    assert last["request_errors"] == 0 and last["requests_in_flight"] == 0
    profiling = [p for p in after["points"] if p["phase"] == "profiling"]
    assert any(p["sent_per_sec"] and p["requests_per_sec"] and p["output_tokens_per_sec"] for p in profiling)
    assert all(p["ttft_p50_ms"] <= p["ttft_p99_ms"] for p in profiling if p["ttft_p50_ms"] is not None)
    assert any(p["itl_avg_ms"] is not None for p in profiling)


def test_timeline_since_returns_only_the_later_points(timeline_run: dict[str, Any]) -> None:
    since = timeline_run["since"]["points"]
    expected = [p for p in timeline_run["after"]["points"] if p["t_sec"] >= timeline_run["cut"]]
    assert [p["t_sec"] for p in since] == [p["t_sec"] for p in expected] and since
    assert timeline_run["bad_since"].status_code == 422


def test_timeline_and_dashboard_are_in_the_openapi_document(timeline_run: dict[str, Any]) -> None:
    paths = timeline_run["openapi"]["paths"]
    assert "/api/timeline" in paths and "/dashboard" in paths and "/dashboard/assets/{name}" in paths
    assert "TimelineResponse" in timeline_run["openapi"]["components"]["schemas"]


def test_interval_rates_and_averages_are_differences_of_the_run_counters(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    start_running(state)  # 9 sent, 5 completed, 1 error; live TTFT over 5 requests
    timeline = Timeline(state, interval=60)  # never ticks on its own here: samples are taken by hand
    first = timeline.sample()
    phase = state.phases["profiling"]
    phase.requests_sent, phase.requests_completed, phase.request_errors = 15, 9, 2
    ttft = dict(state.live_metrics["time_to_first_token"])
    before_sum, before_count = ttft["sum"], ttft["count"]
    ttft.update(sum=before_sum + 4 * 250.0, count=before_count + 4)
    state.live_metrics = {**state.live_metrics, "time_to_first_token": ttft}
    second = timeline.sample()
    elapsed = (second["timestamp_ns"] - first["timestamp_ns"]) / 1e9
    assert second["ttft_avg_ms"] == pytest.approx(250.0)  # (sum delta) / (count delta): the 4 new requests
    assert second["requests_in_flight"] == 15 - 9
    # per-second rates over the interval: 6 sent, 4 completed, 1 error (within the clocks' difference)
    assert second["sent_per_sec"] * elapsed == pytest.approx(6, rel=0.05)
    assert second["requests_per_sec"] * elapsed == pytest.approx(4, rel=0.05)
    assert second["errors_per_sec"] * elapsed == pytest.approx(1, rel=0.05)
    third = timeline.sample()
    assert third["ttft_avg_ms"] is None and third["sent_per_sec"] == 0.0  # nothing new: no average, no rate
    assert [p["t_sec"] for p in timeline.since(second["t_sec"])] == [second["t_sec"], third["t_sec"]]


def test_before_a_run_the_timeline_is_empty_and_the_dashboard_loads(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        body = client.get("/api/timeline").json()
        page = client.get("/dashboard")
    assert body == {"benchmark_id": state.run_info.benchmark_id, "interval_sec": 1.0, "sampling": False,
                    "dropped": 0, "points": []}
    assert page.status_code == 200 and "No run data yet" in page.text


def test_dashboard_loads_only_its_own_assets_from_this_api(tmp_path: Path) -> None:
    with serving(make_state(tmp_path)) as server, httpx.Client(base_url=server.url) as client:
        page = client.get("/dashboard")
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        references = re.findall(r'(?:src|href)="([^"#]+)"', page.text)
        assert references, "the page references no asset"
        loaded = {}
        for ref in references:
            if ref.startswith("data:"):
                continue
            assert ref.startswith("/"), f"{ref} is not served by this API"
            response = client.get(ref)
            assert response.status_code == 200, ref
            loaded[ref] = response
        chart_library = loaded["/dashboard/assets/uPlot.iife.min.js"]
        assert chart_library.headers["content-type"].startswith("text/javascript")
        assert chart_library.text.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
        assert "MIT License" in client.get("/dashboard/assets/uPlot.LICENSE").text
        for name in ("nope.js", "..%2Fdashboard.py", "dashboard.py", "%2Fetc%2Fpasswd"):
            assert client.get(f"/dashboard/assets/{name}").status_code == 404, name
