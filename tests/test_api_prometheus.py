"""GET /metrics: valid Prometheus exposition whose values agree with /api/metrics and /api/progress.

Parsed with prometheus-client's own text parser; checked with ``promtool`` and scraped by a real Prometheus
server when those are installed (Debian package ``prometheus``).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from api_state_factory import make_state, serving, start_running
from conftest import pick_free_port

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
RUN_LABELS = {"benchmark_id": "bench-test-0001", "model": "mock", "endpoint_type": "chat",
              "streaming": "true", "concurrency": "4"}


@pytest.fixture
def running(tmp_path: Path):
    state = make_state(tmp_path / "artifacts")
    start_running(state)
    with serving(state) as server:
        yield server, state


def scrape(url: str) -> tuple[httpx.Response, dict]:
    response = httpx.get(url + "/metrics")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    return response, families


def test_metrics_route_is_prometheus_text_with_the_run_labels(running) -> None:
    server, _ = running
    response, families = scrape(server.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE
    assert all(name.startswith("inferload_") for name in families)
    (info,) = families["inferload_info"].samples
    assert info.name == "inferload_info" and info.value == 1
    assert info.labels == {**RUN_LABELS, "request_rate": "", "version": "0.1.0-test"}


def test_summaries_and_gauges_match_the_json_metrics(running) -> None:
    server, _ = running
    metrics = httpx.get(server.url + "/api/metrics").json()["metrics"]
    _, families = scrape(server.url)
    ttft = metrics["time_to_first_token"]
    summary = families["inferload_time_to_first_token_ms"]
    assert summary.type == "summary"
    samples = {(s.name, s.labels.get("quantile")): s for s in summary.samples}
    for key in ("p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99"):
        quantile = f"{int(key[1:]) / 100:g}"
        sample = samples[("inferload_time_to_first_token_ms", quantile)]
        assert sample.value == pytest.approx(ttft[key]), key
        assert {k: v for k, v in sample.labels.items() if k != "quantile"} == RUN_LABELS
    assert samples[("inferload_time_to_first_token_ms_sum", None)].value == pytest.approx(ttft["sum"])
    assert samples[("inferload_time_to_first_token_ms_count", None)].value == ttft["count"]
    for stat in ("avg", "min", "max", "std"):
        (gauge,) = families[f"inferload_time_to_first_token_{stat}_ms"].samples
        assert gauge.value == pytest.approx(ttft[stat]), stat
    throughput = families["inferload_request_throughput_requests_per_sec"]
    assert throughput.type == "gauge"
    assert throughput.samples[0].value == pytest.approx(metrics["request_throughput"]["avg"])
    assert families["inferload_output_token_throughput_tps"].samples[0].value == pytest.approx(737.9)
    assert families["inferload_request_error_rate_percent"].samples[0].value == 0.0


def test_progress_counters_match_the_progress_route(running) -> None:
    server, _ = running
    phase = httpx.get(server.url + "/api/progress").json()["phases"]["profiling"]
    _, families = scrape(server.url)

    def value(family: str) -> float:
        (sample,) = [s for s in families[family].samples if not s.name.endswith("_created")]
        assert sample.labels == {**RUN_LABELS, "phase": "profiling"}
        return sample.value

    assert families["inferload_requests_sent"].type == "counter"
    assert value("inferload_requests_sent") == phase["requests_sent"]
    assert value("inferload_requests_completed") == phase["requests_completed"]
    assert value("inferload_request_errors") == phase["request_errors"]
    assert value("inferload_requests_cancelled") == phase["requests_cancelled"]
    assert value("inferload_expected_requests") == phase["total_expected_requests"]
    assert value("inferload_progress_percent") == pytest.approx(phase["percent"])
    states = {s.labels["inferload_run_state"]: s.value for s in families["inferload_run_state"].samples}
    assert states["running"] == 1 and sum(states.values()) == 1
    assert families["inferload_workers"].samples[0].value == 1


def test_metrics_are_live_at_scrape_time(running) -> None:
    server, state = running
    state.live_metrics = {**state.live_metrics,
                          "request_throughput": {"header": "Request Throughput", "unit": "requests/sec",
                                                 "avg": 42.0}}
    _, families = scrape(server.url)
    assert families["inferload_request_throughput_requests_per_sec"].samples[0].value == 42.0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian: prometheus)")
def test_promtool_accepts_the_exposition(running) -> None:
    server, _ = running
    text = httpx.get(server.url + "/metrics").text
    checked = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=30, check=False)
    # The only accepted findings are lint hints about "_ms" in names, kept for compatibility with the
    # reference's series names (aiperf_time_to_first_token_ms …); a parse error would fail here.
    findings = [line for line in (checked.stdout + checked.stderr).splitlines() if line.strip()]
    assert all("abbreviated units" in line for line in findings), findings


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed")
def test_a_real_prometheus_server_scrapes_it(running, tmp_path: Path) -> None:
    server, _ = running
    port = pick_free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: inferload\n    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n"
    )
    process = subprocess.Popen(
        ["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        result: list = []
        while time.monotonic() < deadline and not result:
            time.sleep(0.5)
            try:
                query = 'inferload_time_to_first_token_ms{quantile="0.5"}'
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}).json()
            except httpx.HTTPError:
                continue
            result = answer.get("data", {}).get("result", [])
        assert result, "Prometheus never ingested the series"
        assert float(result[0]["value"][1]) == pytest.approx(52.2)
        targets = httpx.get(f"http://127.0.0.1:{port}/api/v1/targets").json()["data"]["activeTargets"]
        assert targets[0]["health"] == "up", targets[0].get("lastError")
    finally:
        process.terminate()
        process.wait(timeout=10)
