"""Every route of the live API over real HTTP, through the state transitions of a run.

A real RunState (RunInfo from the redaction helper, a pydantic config with ``redacted_dump``, real files)
served by a real ApiServer on a free loopback port; the test plays the engine's part by writing the state.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from api_state_factory import (
    ARGV,
    SECRETS,
    complete,
    make_state,
    serving,
    start_running,
)
from inferload.redact import build_cli_command
from inferload.runstate import Lifecycle, RunInfo
from inferload_plugins.routers.metrics_models import MetricsResponse
from inferload_plugins.routers.progress_models import ProgressResponse
from inferload_plugins.routers.results_models import BenchmarkResultsResponse, ResultsListResponse
from inferload_plugins.routers.workers_models import WorkersResponse

JSON_ROUTES = ("/api/config", "/api/run", "/api/metrics", "/api/progress", "/api/workers", "/api/results",
               "/api/results/list")
ALL_ROUTES = (*JSON_ROUTES, "/metrics", "/healthz", "/readyz")


@pytest.fixture
def state(tmp_path: Path):
    return make_state(tmp_path / "artifacts")


def test_every_route_answers_before_the_first_request(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        for route in JSON_ROUTES:
            response = client.get(route)
            assert response.status_code == 200, route
            assert response.headers["content-type"] == "application/json", route
        assert client.get("/healthz").text == "ok"
        ready = client.get("/readyz")
        assert (ready.status_code, ready.text) == (503, "not ready")
        assert client.get("/api/results").json() == {"status": "running", "results": None, "error": None}
        listing = ResultsListResponse.model_validate(client.get("/api/results/list").json())
        assert (listing.files, listing.ready) == ([], False)
        metrics = MetricsResponse.model_validate(client.get("/api/metrics").json())
        assert metrics.metrics == {}
        assert (metrics.benchmark_id, metrics.model) == ("bench-test-0001", "mock")
        assert metrics.endpoint_type == "chat"
        assert (metrics.streaming, metrics.concurrency, metrics.request_rate) == (True, 4, None)
        progress = ProgressResponse.model_validate(client.get("/api/progress").json())
        assert (progress.phases, progress.system_state, progress.results_exported) == ({}, "created", False)
        workers = WorkersResponse.model_validate(client.get("/api/workers").json())
        assert workers.workers == {} and workers.worker_groups["local"].status == "idle"


def test_running_run_is_ready_with_live_metrics_progress_and_workers(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        assert (client.get("/readyz").status_code, client.get("/readyz").text) == (200, "ok")
        assert client.get("/api/results").json()["status"] == "running"

        body = client.get("/api/metrics").json()
        ttft = body["metrics"]["time_to_first_token"]
        assert ttft["p50"] == 52.2 and ttft["count"] == 5 and ttft["header"] == "Time to First Token"
        throughput = body["metrics"]["request_throughput"]
        assert throughput == {"header": "Request Throughput", "unit": "requests/sec", "avg": 11.5, "count": 1}

        phase = ProgressResponse.model_validate(client.get("/api/progress").json()).phases["profiling"]
        assert (phase.requests_sent, phase.requests_completed, phase.request_errors) == (9, 5, 1)
        assert phase.total_expected_requests == 20 and phase.percent == pytest.approx(25.0)
        assert phase.requests_per_second and phase.requests_per_second > 0
        assert phase.requests_eta_sec and phase.requests_eta_sec > 0
        assert phase.final_requests_completed is None

        worker = WorkersResponse.model_validate(client.get("/api/workers").json()).workers["worker-0"]
        assert worker.status == "running"
        assert (worker.task_stats.total, worker.task_stats.completed, worker.task_stats.failed) == (9, 5, 1)
        assert worker.health is not None and worker.health.pid is not None
        assert worker.health.memory_usage and worker.health.memory_usage > 0  # measured from the OS


def test_results_stay_running_until_artifacts_are_written(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        state.lifecycle = Lifecycle.COMPLETING
        state.results = {"partial": True}  # computed but not yet on disk
        assert client.get("/api/results").json()["status"] == "running"
        listing = client.get("/api/results/list").json()
        assert (listing["ready"], listing["processing"]) == (False, True)
        assert client.get("/readyz").status_code == 503


def test_completed_run_serves_results_list_and_files(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        results = complete(state, {"nested/records.csv": "a,b\n1,2\n"})
        answer = BenchmarkResultsResponse.model_validate(client.get("/api/results").json())
        assert answer.status == "complete" and answer.results == results
        listing = ResultsListResponse.model_validate(client.get("/api/results/list").json())
        assert listing.ready and not listing.processing and not listing.partial
        by_path = {f.path: f for f in listing.files}
        assert set(by_path) == {"profile_export.json", "nested/records.csv"}
        nested = by_path["nested/records.csv"]
        assert (nested.name, nested.size) == ("records.csv", 8)
        assert nested.content_type == "text/csv; charset=utf-8"
        download = client.get("/api/results/files/nested/records.csv")
        assert download.status_code == 200 and download.text == "a,b\n1,2\n"
        assert download.headers["content-disposition"] == 'attachment; filename="records.csv"'
        summary = client.get("/api/results/files/profile_export.json")
        assert summary.headers["content-type"] == "application/json"
        assert summary.json() == results
        phase = client.get("/api/progress").json()["phases"]["profiling"]
        assert phase["final_requests_completed"] == 20 and phase["percent"] == 100.0
        assert client.get("/api/progress").json()["results_exported"] is True
        assert client.get("/readyz").status_code == 503 and client.get("/healthz").text == "ok"


def test_failed_run_is_unhealthy_and_reports_failed_results(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        state.error = "target server refused every connection"
        state.lifecycle = Lifecycle.FAILED
        health = client.get("/healthz")
        assert (health.status_code, health.text) == (503, "unhealthy")
        assert client.get("/readyz").status_code == 503
        answer = client.get("/api/results").json()
        assert answer == {"status": "failed", "results": None,
                          "error": "target server refused every connection"}


def test_a_failure_message_never_carries_a_secret(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        state.error = f"401 from http://user:{SECRETS[2]}@127.0.0.1:8000 using key {SECRETS[0]}"
        state.lifecycle = Lifecycle.FAILED
        error = client.get("/api/results").json()["error"]
    assert error == "401 from http://<redacted>@127.0.0.1:8000 using key <redacted>"


def test_cancelled_run_reports_cancelled_and_partial(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        complete(state, {})
        state.lifecycle = Lifecycle.CANCELLED
        assert client.get("/api/results").json()["status"] == "cancelled"
        assert client.get("/api/results/list").json()["partial"] is True


def test_run_route_is_identical_to_the_run_info_of_the_export(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        results = complete(state, {})
        run = client.get("/api/run").json()
        assert run == results["run_info"] == state.run_info.model_dump(mode="json")
        assert RunInfo.model_validate(run).cli_command == build_cli_command(ARGV)
        assert "'<redacted>'" in run["cli_command"] and "X-Team: blue" in run["cli_command"]


def test_no_route_body_contains_a_secret_and_harmless_headers_stay_readable(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        start_running(state)
        complete(state, {})
        routes = (*ALL_ROUTES, "/openapi.json", "/docs", "/redoc", "/api/results/files/profile_export.json")
        bodies = {route: client.get(route).text for route in routes}
        for route, body in bodies.items():
            for secret in SECRETS:
                assert secret not in body, f"{route} leaks {secret!r}"
        config = json.loads(bodies["/api/config"])
        assert "api_key" not in config
        assert config["header"] == ["Authorization: <redacted>", "X-Team: blue"]
        assert config["url"] == "http://<redacted>@127.0.0.1:8000"
        assert "benchmark_id" not in config and "cli_command" not in config


def test_the_config_routes_second_pass_scrubs_a_field_nobody_marked_secret() -> None:
    """/api/config shows ProfileConfig.redacted_dump(), then scrubs it again generically, so a future
    setting that redacted_dump forgets cannot leak: the second pass on its own."""
    from inferload_plugins.routers.config import scrub

    dumped = {
        "api_key": SECRETS[0],
        "hf_token": "hf_SECRET_token_value",
        "headers": {"Authorization": f"Bearer {SECRETS[1]}", "X-Team": "blue"},
        "url": f"http://u:{SECRETS[2]}@h:1/v1",
        "tokenizer": "gpt2",
        "max_tokens": 64,
    }
    assert scrub(dumped) == {"headers": {"Authorization": "<redacted>", "X-Team": "blue"},
                             "url": "http://<redacted>@h:1/v1", "tokenizer": "gpt2", "max_tokens": 64}


def test_non_finite_metric_values_are_left_out(state) -> None:
    with serving(state) as server, httpx.Client(base_url=server.url) as client:
        state.live_metrics = {"inter_token_latency": {"header": "ITL", "unit": "ms", "avg": float("nan"),
                                                      "std": float("inf"), "count": 1}}
        response = client.get("/api/metrics")
        assert response.status_code == 200
        assert response.json()["metrics"] == {
            "inter_token_latency": {"header": "ITL", "unit": "ms", "count": 1}
        }
