"""The live API of a real `inferload profile --api-port` run against the simulator, over real HTTP.

One run (module fixture) is polled before its first request completes, mid-run and after its artifacts
are written; its secrets (API key, bearer header, URL password) must appear in no route body and no
artifact. Further runs check `--disable-plugin` on a router, a reused artifact directory, and an
unbindable port.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from inferload.runstate import RunInfo
from inferload_plugins.routers.metrics_models import MetricsResponse
from inferload_plugins.routers.progress_models import ProgressResponse
from inferload_plugins.routers.results_models import BenchmarkResultsResponse, ResultsListResponse
from inferload_plugins.routers.timeline_models import TimelineResponse
from inferload_plugins.routers.workers_models import WorkersResponse

pytestmark = pytest.mark.slow

API_KEY = "sk-integration-SECRET-4242"
BEARER = "bearer-integration-SECRET-77"
URL_PASSWORD = "pw-integration-SECRET-99"
SECRETS = (API_KEY, BEARER, URL_PASSWORD)
ROUTES = ("/api/config", "/api/run", "/api/metrics", "/metrics", "/api/progress", "/api/workers",
          "/api/results", "/api/results/list", "/api/timeline", "/dashboard", "/healthz", "/readyz")
MODELS = {"/api/run": RunInfo, "/api/metrics": MetricsResponse, "/api/progress": ProgressResponse,
          "/api/workers": WorkersResponse, "/api/results": BenchmarkResultsResponse,
          "/api/results/list": ResultsListResponse, "/api/timeline": TimelineResponse}
# Slow enough that the API can be polled before the first request completes and mid-run (about 0.3 s
# prefill + 24 decode steps of 25 ms per request, 4 waves), short enough for a test.
SIMULATOR_FLAGS = ("--prefill-tokens-per-s", "1500", "--decode-step-s", "0.025", "--seed", "3")
LOAD_FLAGS = ("--streaming", "--model", "sim-model", "--endpoint-type", "chat", "--concurrency", "4",
              "--request-count", "16", "--warmup-request-count", "2", "--isl", "400", "--osl", "24",
              "--random-seed", "5", "--ui", "none")


@dataclass
class Snapshot:
    """Every route's status, content type and body at one moment."""

    responses: dict[str, httpx.Response] = field(default_factory=dict)

    def json(self, route: str) -> Any:
        return self.responses[route].json()

    def validated(self, route: str) -> Any:
        return MODELS[route].model_validate(self.json(route))


@dataclass
class ProfileRun:
    api: str
    artifact_root: Path
    process: subprocess.Popen[str]
    early: Snapshot
    mid: Snapshot
    after: Snapshot
    warmup_metrics: list[Any]
    """/api/metrics bodies read while warmup requests had completed and no profiling request had."""
    downloads: dict[str, bytes]
    stdout: str
    stderr: str

    @property
    def artifact_dir(self) -> Path:
        (results,) = [p for p in self.artifact_root.iterdir() if p.is_dir()]
        return results


def snapshot(client: httpx.Client) -> Snapshot:
    return Snapshot({route: client.get(route) for route in ROUTES})


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, process: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"inferload exited ({process.returncode}) before {what}\n"
                        f"{out[-3000:]}\n{err[-3000:]}", pytrace=False)
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def simulator(inferload_exe: Path, cli_env: Callable[..., dict[str, str]], wait_for_port) -> Iterator[int]:
    from conftest import pick_free_port

    port = pick_free_port()
    process = subprocess.Popen([str(inferload_exe), "simulate", "--port", str(port), *SIMULATOR_FLAGS],
                               env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, process=process, timeout=30)
        yield port
    finally:
        process.terminate()
        process.communicate(timeout=10)


def start_profile(inferload_exe: Path, env: dict[str, str], sim_port: int, api_port: int, artifact_root: Path,
                  *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(inferload_exe), "profile", *LOAD_FLAGS,
         "--url", f"http://user:{URL_PASSWORD}@127.0.0.1:{sim_port}",
         "--api-key", API_KEY, "-H", f"Authorization: Bearer {BEARER}", "-H", "X-Team: blue",
         "--api-port", str(api_port), "--artifact-dir", str(artifact_root), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.fixture(scope="module")
def profile_run(inferload_exe: Path, cli_env, wait_for_port, simulator: int,
                tmp_path_factory: pytest.TempPathFactory) -> ProfileRun:
    from conftest import pick_free_port

    api_port = pick_free_port()
    artifact_root = tmp_path_factory.mktemp("integration") / "artifacts"
    process = start_profile(inferload_exe, cli_env(), simulator, api_port, artifact_root, "--api-linger", "3")
    try:
        wait_for_port(api_port, process=process, timeout=60)
        api = f"http://127.0.0.1:{api_port}"
        with httpx.Client(base_url=api, timeout=10) as client:
            early = snapshot(client)
            warmup_metrics: list[Any] = []

            def profiling_completed() -> int:
                # metrics first: if progress then shows no profiling record, there was none at that read
                metrics = client.get("/api/metrics").json()["metrics"]
                phases = client.get("/api/progress").json()["phases"]
                phase = phases.get("profiling") or {}
                done = phase.get("requests_completed", 0) + phase.get("requests_cancelled", 0)
                if (phases.get("warmup") or {}).get("requests_completed", 0) >= 1 and not done:
                    warmup_metrics.append(metrics)
                return done

            wait_until(lambda: profiling_completed() >= 1, 60, "the first profiling request", process)
            # Live metrics refresh every half second while the run goes on; the mid snapshot must show TTFT
            # while the run is still running (the ordering is asserted, the timeout only stops a hang).
            wait_until(lambda: "time_to_first_token" in client.get("/api/metrics").json()["metrics"], 60,
                       "live TTFT", process)
            mid = snapshot(client)
            wait_until(lambda: client.get("/api/results").json()["status"] != "running", 90,
                       "the results", process)
            after = snapshot(client)
            listing = after.json("/api/results/list")["files"]
            downloads = {f["path"]: client.get(f"/api/results/files/{f['path']}").content for f in listing}

            def api_down() -> bool:
                try:
                    client.get("/healthz", timeout=0.5)
                except httpx.HTTPError:
                    return True
                return False

            # The API outlives the artifacts (it answered `after`), then goes down on its own, before exit.
            wait_until(api_down, 60, "the API to stop after --api-linger", process)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err[-3000:]
    return ProfileRun(api, artifact_root, process, early, mid, after, warmup_metrics, downloads, out, err)


def test_every_route_answers_before_the_first_request_completes(profile_run: ProfileRun) -> None:
    early = profile_run.early
    for route in ROUTES:
        if route != "/readyz":
            assert early.responses[route].status_code == 200, route
        if route in MODELS:
            early.validated(route)
    progress = early.validated("/api/progress")
    assert all(p.requests_completed == 0 for p in progress.phases.values())
    ready = early.responses["/readyz"]
    assert (ready.status_code == 200) == (progress.system_state == "running")
    assert early.json("/api/metrics")["metrics"] == {}
    assert early.json("/api/results") == {"status": "running", "results": None, "error": None}
    assert early.validated("/api/results/list").files == [] and not early.json("/api/results/list")["ready"]
    assert early.responses["/healthz"].text == "ok"


def test_mid_run_the_api_is_ready_with_live_metrics_and_progress(profile_run: ProfileRun) -> None:
    mid = profile_run.mid
    assert (mid.responses["/readyz"].status_code, mid.responses["/readyz"].text) == (200, "ok")
    metrics = mid.validated("/api/metrics")
    assert metrics.metrics["time_to_first_token"].count >= 1
    assert (metrics.model, metrics.endpoint_type, metrics.streaming, metrics.concurrency) == (
        "sim-model", "chat", True, 4)
    progress = mid.validated("/api/progress")
    assert progress.system_state == "running"
    assert progress.phases["warmup"].final_requests_completed == 2
    profiling = progress.phases["profiling"]
    assert profiling.total_expected_requests == 16 and 1 <= profiling.requests_completed <= 16
    workers = mid.validated("/api/workers").workers
    assert workers and all(w.health and w.health.pid for w in workers.values())
    assert mid.json("/api/results")["status"] == "running"
    families = {f.name for f in text_string_to_metric_families(mid.responses["/metrics"].text)}
    assert {"inferload_info", "inferload_time_to_first_token_ms", "inferload_requests_sent"} <= families


def test_live_metrics_stay_empty_until_the_first_profiling_request_completes(
        profile_run: ProfileRun) -> None:
    # Each warmup request takes ~0.9 s and the first profiling one as long again: the poll sees this window.
    assert profile_run.warmup_metrics, "no poll fell between the first warmup and first profiling completion"
    assert all(metrics == {} for metrics in profile_run.warmup_metrics), profile_run.warmup_metrics[:1]


def test_mid_run_workers_are_running_and_after_the_run_they_have_stopped(
        profile_run: ProfileRun) -> None:
    mid = profile_run.mid.validated("/api/workers")
    assert {w.status for w in mid.workers.values()} == {"running"}
    after = profile_run.after.validated("/api/workers")
    assert after.workers.keys() == mid.workers.keys()
    group = after.worker_groups["local"]
    assert (group.status, group.ready_workers) == ("stopped", 0)
    for worker_id, worker in after.workers.items():
        assert worker.status == "stopped", worker_id
        health = worker.health
        assert health is not None and health.pid == mid.workers[worker_id].health.pid
        gone = not psutil.pid_exists(health.pid)
        assert gone or psutil.Process(health.pid).create_time() != health.create_time  # (or pid reused)
        assert health.cpu_usage == 0.0 and health.memory_usage and health.cpu_times and health.num_threads
    assert sum(w.task_stats.total for w in after.workers.values()) == 18  # 2 warmup + 16 profiling
    assert sum(w.task_stats.completed for w in after.workers.values()) == 18
    assert profile_run.after.json("/api/progress")["workers"] == {"total": len(after.workers), "ready": 0}


def test_after_the_run_results_are_complete_and_match_the_artifacts(profile_run: ProfileRun) -> None:
    after, artifact_dir = profile_run.after, profile_run.artifact_dir
    results = after.validated("/api/results")
    on_disk = json.loads((artifact_dir / "profile_export.json").read_text())
    assert results.status == "complete" and results.results == on_disk
    assert after.json("/api/run") == on_disk["run_info"]
    listing = after.validated("/api/results/list")
    assert listing.ready and not listing.partial
    written = {p.relative_to(artifact_dir).as_posix() for p in artifact_dir.rglob("*") if p.is_file()}
    assert {f.path for f in listing.files} == written
    assert "logs/inferload.log" in written  # nested files are listed with relative paths
    for path, body in profile_run.downloads.items():
        assert body == (artifact_dir / path).read_bytes(), path
    assert (after.responses["/readyz"].status_code, after.responses["/healthz"].text) == (503, "ok")
    assert after.json("/api/progress")["results_exported"] is True


def test_the_api_lingers_after_the_artifacts_are_written(profile_run: ProfileRun) -> None:
    # ordering, not seconds: the results were complete while the API still served every route, then it
    # stopped without being told to, and the log names the linger it kept
    assert profile_run.after.json("/api/results")["status"] == "complete"
    assert all(r.status_code in (200, 503) for r in profile_run.after.responses.values())
    assert profile_run.process.returncode == 0  # it stopped by itself: the fixture sends no signal
    assert "for 3 s (Ctrl+C ends it)" in profile_run.stderr


def test_no_route_and_no_artifact_contains_a_secret(profile_run: ProfileRun) -> None:
    bodies = {f"{name}:{route}": response.text
              for name, snap in (("early", profile_run.early), ("mid", profile_run.mid),
                                 ("after", profile_run.after))
              for route, response in snap.responses.items()}
    bodies.update({f"file:{path}": body.decode("utf-8", "replace")
                   for path, body in profile_run.downloads.items()})
    bodies.update({f"disk:{p}": p.read_text("utf-8", "replace") for p in profile_run.artifact_root.rglob("*")
                   if p.is_file()})
    bodies["stdout"], bodies["stderr"] = profile_run.stdout, profile_run.stderr
    for where, body in bodies.items():
        for secret in SECRETS:
            assert secret not in body, f"{where} contains {secret!r}"
    config = profile_run.after.json("/api/config")
    assert "X-Team: blue" in config["header"] and "api_key" not in config
    cli_command = profile_run.after.json("/api/run")["cli_command"]
    assert "X-Team: blue" in cli_command and "<redacted>" in cli_command


def test_disabling_a_router_plugin_removes_only_its_routes_and_stale_files_stay_hidden(
        profile_run: ProfileRun, inferload_exe: Path, cli_env, wait_for_port, simulator: int) -> None:
    from conftest import pick_free_port

    stale = profile_run.artifact_dir / "stale_from_an_earlier_run.json"
    stale.write_text('{"stale": true}')
    api_port = pick_free_port()
    process = start_profile(inferload_exe, cli_env(), simulator, api_port, profile_run.artifact_root,
                            "--api-linger", "inf", "--disable-plugin", "api-workers")
    try:
        wait_for_port(api_port, process=process, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
            assert client.get("/api/workers").status_code == 404
            assert "/api/workers" not in client.get("/openapi.json").json()["paths"]
            for route in ROUTES:
                if route not in ("/api/workers", "/readyz"):
                    assert client.get(route).status_code == 200, route
            assert client.get("/api/results/list").json()["files"] == []  # the earlier run's files: not ours
            wait_until(lambda: client.get("/api/results").json()["status"] == "complete", 90, "results",
                       process)
            listed = {f["path"] for f in client.get("/api/results/list").json()["files"]}
            assert stale.name not in listed and "profile_export.json" in listed
            assert client.get(f"/api/results/files/{stale.name}").status_code == 404
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl+C ends the linger; everything is checked by now
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise


def test_an_unbindable_api_port_is_a_usage_error_before_any_request(
        inferload_exe: Path, cli_env, simulator: int, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        process = start_profile(inferload_exe, cli_env(), simulator, port, tmp_path / "artifacts")
        _, err = process.communicate(timeout=60)
    assert process.returncode == 2, err
    assert f"127.0.0.1:{port}" in err and "--api-port" in err
    assert "Traceback" not in err
    assert not list((tmp_path / "artifacts").rglob("profile_export.json"))
