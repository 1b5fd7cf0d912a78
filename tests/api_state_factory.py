"""Real RunState objects and a live ApiServer for the HTTP API tests (imported by tests/test_api_*.py).

The state is built the way the engine builds it: RunInfo with a cli_command from the one redaction
helper, a real ProfileConfig, real artifact files on disk.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from inferload.config import ProfileConfig
from inferload.redact import build_cli_command
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.runstate import Lifecycle, PhaseProgress, RunInfo, RunState, WorkerStats
from inferload_plugins.api_hosts.uvicorn_host import ApiServer

API_KEY = "sk-test-SECRET-0123456789"
BEARER = "bearer-SECRET-abcdef"
URL_PASSWORD = "hunter2-SECRET"
SECRETS = (API_KEY, BEARER, URL_PASSWORD)

ARGV = [
    "profile", "--model", "mock", "--url", f"http://user:{URL_PASSWORD}@127.0.0.1:8000",
    "--api-key", API_KEY, "-H", f"Authorization: Bearer {BEARER}", "-H", "X-Team: blue",
    "--concurrency", "4", "--request-count", "20", "--streaming", "--api-port", "0",
]


def profile_config() -> ProfileConfig:
    """The ProfileConfig `inferload profile ARGV` builds (the live-API flags left out), plugin defaults
    filled in: real redaction, real derived values."""
    config = ProfileConfig.load({
        "model": "mock", "url": f"http://user:{URL_PASSWORD}@127.0.0.1:8000", "api_key": API_KEY,
        "header": [f"Authorization: Bearer {BEARER}", "X-Team: blue"], "concurrency": 4,
        "request_count": 20, "streaming": True,
    })
    return config.with_plugin_defaults(registry())


def live_metrics(count: int = 5) -> dict[str, dict[str, Any]]:
    """Metric stats shaped like the metrics engine's: record metrics with percentiles, aggregates without."""
    ttft = {"header": "Time to First Token", "unit": "ms", "avg": 52.5, "min": 50.1, "max": 63.4,
            "p1": 50.2, "p5": 50.8, "p10": 51.0, "p25": 51.4, "p50": 52.2, "p75": 55.2, "p90": 57.1,
            "p95": 58.9, "p99": 60.4, "std": 2.7, "count": count, "sum": 52.5 * count}
    latency = {"header": "Request Latency", "unit": "ms", "avg": 684.7, "min": 680.0, "max": 692.7,
               "p1": 680.3, "p5": 680.7, "p10": 680.9, "p25": 681.5, "p50": 683.4, "p75": 687.8, "p90": 689.1,
               "p95": 691.3, "p99": 692.6, "std": 3.6, "count": count, "sum": 684.7 * count}
    return {
        "time_to_first_token": ttft,
        "request_latency": latency,
        "request_throughput": {"header": "Request Throughput", "unit": "requests/sec", "avg": 11.5,
                               "count": 1},
        "output_token_throughput": {"header": "Output Token Throughput", "unit": "tokens/sec", "avg": 737.9},
        "request_error_rate": {"header": "Request Error Rate", "unit": "%", "avg": 0.0, "count": 1},
    }


def make_state(artifact_dir: Path, argv: list[str] | None = None) -> RunState:
    """A freshly created run (lifecycle CREATED), nothing sent yet."""
    info = RunInfo(benchmark_id="bench-test-0001", random_seed=7,
                   cli_command=build_cli_command(argv or ARGV))
    return RunState(run_info=info, config=profile_config(), artifact_dir=artifact_dir, version="0.1.0-test")


def start_running(state: RunState) -> None:
    """Advance to RUNNING with a profiling phase in progress, one worker, and live metrics."""
    now = time.time_ns()
    state.started_ns = now
    state.phases = {"profiling": PhaseProgress(phase="profiling", phase_index=0, total_expected_requests=20,
                                               start_ns=now - 2_000_000_000, requests_sent=9,
                                               requests_completed=5, request_errors=1)}
    state.workers = {"worker-0": WorkerStats(worker_id="worker-0", pid=__import__("os").getpid(),
                                             state="running", requests_sent=9, requests_completed=5,
                                             request_errors=1)}
    state.live_metrics = live_metrics()
    state.live_metrics_updated_ns = now
    state.lifecycle = Lifecycle.RUNNING


def complete(state: RunState, files: dict[str, str]) -> dict[str, Any]:
    """Write this run's artifacts, record them, and mark the run COMPLETE; returns the results."""
    phase = state.phases["profiling"]
    phase.requests_sent = phase.requests_completed = 20
    phase.sent_end_ns = phase.requests_end_ns = time.time_ns()
    results = {"run_info": state.run_info.model_dump(mode="json"), "records": live_metrics(20)}
    written = []
    for relative, text in {"profile_export.json": json.dumps(results), **files}.items():
        path = state.artifact_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(relative)
    state.live_metrics = live_metrics(20)
    state.lifecycle = Lifecycle.COMPLETING
    state.results = results
    state.artifact_files = written
    state.artifacts_ready = True
    state.lifecycle = Lifecycle.COMPLETE
    return results


def registry(disabled: frozenset[str] = frozenset()) -> PluginRegistry:
    """The installed plugins, loaded exactly as the CLI loads them."""
    return load_plugins(LoadRules(disabled=disabled))


@contextmanager
def serving(state: RunState, plugins: PluginRegistry | None = None) -> Iterator[ApiServer]:
    """A real ApiServer on a free loopback port for the duration of the block."""
    server = ApiServer(plugins or registry(), state, host="127.0.0.1", port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()
