"""--otel-url and --mlflow-tracking-uri end to end: the real OTLP/HTTP exporter against a loopback receiver,
MLflow with a SQLite store and with the `mlflow server` process (read back through MlflowClient), userinfo
redacted per flag, and a missing extra as a one-line usage error."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from otlp_receiver import OtlpReceiver
from profile_fixtures import Simulator, artifact_dir, simulator, stop_process, wait_for

__all__ = ["simulator"]

LOAD = ("-m", "m", "--streaming", "--osl", "12", "--isl", "8", "--ui", "none", "--concurrency", "2")
PASSWORD = "Hunter2-s3cret-pw"


def all_text(root: Path) -> list[tuple[str, str]]:
    return [(str(p), p.read_text(errors="replace")) for p in root.rglob("*") if p.is_file()]


def test_otel_exports_live_then_final_metrics_with_the_runs_resource_attributes(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    receiver = OtlpReceiver()
    otel_url = receiver.url.replace("http://", f"http://otel:{PASSWORD}@")
    try:
        result = run_cli("profile", "--url", simulator.url, *LOAD, "--request-count", "80", "--otel-url",
                         otel_url, "--artifact-dir", tmp_path / "art", "-v",
                         env={"OTEL_METRIC_EXPORT_INTERVAL": "100"})
    finally:
        receiver.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    points = receiver.points()
    assert points
    _, resource, *_ = points[0]
    assert resource["service.name"] == "inferload"
    assert resource["inferload.benchmark_id"] == summary["benchmark_id"]
    assert resource["inferload.model"] == "m" and resource["inferload.endpoint_type"] == "chat"
    assert "inferload.run_label" in resource
    ttft = [(i, attrs, value) for i, _, name, attrs, value, _ in points
            if name == "inferload.metric" and attrs["metric"] == "time_to_first_token"]
    assert all(attrs["unit"] == "ms" for _, attrs, _ in ttft)
    final = {attrs["stat"]: value for i, attrs, value in ttft if attrs["scope"] == "final"}
    assert final == {stat: summary["time_to_first_token"][stat] for stat in ("avg", "p50", "p90", "p99")}
    first_final = min(i for i, attrs, _ in ttft if attrs["scope"] == "final")
    assert any(attrs["scope"] == "live" and i < first_final for i, attrs, _ in ttft)  # live came first
    completed = [v for _, _, name, attrs, v, _ in points if name == "inferload.requests"
                 and attrs["state"] == "completed"]
    assert completed[-1] == 80
    cancelled = [v for _, _, name, attrs, v, _ in points if name == "inferload.requests"
                 and attrs["state"] == "cancelled"]
    assert cancelled and cancelled[-1] == 0  # counted beside errors, as the live line does
    # the simulator's own series, from the server-metrics scraper
    assert any(name == "inferload.server" and attrs["concept"] == "requests_running"
               for _, _, name, attrs, _, _ in points)
    expected = "Basic " + base64.b64encode(f"otel:{PASSWORD}".encode()).decode()
    assert all(headers.get("authorization") == expected for headers in receiver.headers)
    for where, text in [("stdout", result.stdout), ("stderr", result.stderr), *all_text(tmp_path / "art")]:
        assert PASSWORD not in text, where
    assert receiver.url.replace("http://", "http://<redacted>@") in summary["run_info"]["cli_command"]
    assert summary["input_config"]["otel_url"] == receiver.url.replace("http://", "http://<redacted>@")


def test_mlflow_run_is_read_back_with_params_metrics_per_second_steps_and_artifacts(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = run_cli("profile", "--url", simulator.url, *LOAD, "--request-count", "40", "--api-key",
                     "sk-do-not-log-me", "--mlflow-tracking-uri", uri, "--mlflow-experiment", "bench-exp",
                     "--artifact-dir", tmp_path / "art", env={"MLFLOW_ARTIFACTS_DESTINATION": None},
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("bench-exp")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["inferload.benchmark_id"] == summary["benchmark_id"]
    assert run.data.params["endpoint_type"] == "chat" and run.data.params["api_key_set"] == "true"
    assert "sk-do-not-log-me" not in json.dumps(run.data.params) + json.dumps(run.data.tags)
    for stat in ("avg", "p50", "p99"):
        expected = summary["time_to_first_token"][stat]
        assert run.data.metrics[f"time_to_first_token.{stat}"] == pytest.approx(expected)
    assert run.data.metrics["request_count.avg"] == 40
    assert "server.requests_running.avg" in run.data.metrics
    history = client.get_metric_history(run.info.run_id, "requests_completed_per_sec")
    assert [m.step for m in history] == list(range(len(history)))
    assert sum(m.value for m in history) == 40
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"profile_export.json", "server_metrics.jsonl"} <= artifacts


def test_mlflow_server_process_receives_the_run_and_its_uri_userinfo_is_redacted(
    inferload_exe: Path, cli_env: Any, run_cli: Any, simulator: Simulator, tmp_path: Path, free_port: int,
    wait_for_port: Any,
) -> None:
    from mlflow.tracking import MlflowClient

    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(free_port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination",
         str(tmp_path / "server-artifacts"), "--workers", "1"],
        cwd=tmp_path, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    base = f"http://127.0.0.1:{free_port}"
    try:
        wait_for_port(free_port, timeout=120, process=server)
        uri = base.replace("http://", f"http://tracker:{PASSWORD}@")
        result = run_cli("profile", "--url", simulator.url, *LOAD, "--request-count", "10",
                         "--mlflow-tracking-uri", uri, "--artifact-dir", tmp_path / "art", "-v")
        assert result.returncode == 0, result.stderr
        client = MlflowClient(tracking_uri=base)
        wait_for(lambda: bool(client.search_runs([client.get_experiment_by_name("inferload").experiment_id])))
        (run,) = client.search_runs([client.get_experiment_by_name("inferload").experiment_id])
        assert run.info.status == "FINISHED" and run.data.metrics["request_count.avg"] == 10
        assert run.data.params["mlflow_tracking_uri"] == base.replace("http://", "http://<redacted>@")
        assert PASSWORD not in json.dumps(run.data.params) + json.dumps(run.data.tags)
        assert "profile_export.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        stop_process(server)
    for where, text in [("stdout", result.stdout), ("stderr", result.stderr), *all_text(tmp_path / "art")]:
        assert PASSWORD not in text, where


BLOCKER = """
import importlib.abc, sys
class _Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(name)
        return None
sys.meta_path.insert(0, _Missing())
"""


@pytest.mark.parametrize(
    ("flag", "value", "extra", "blocked"),
    [
        ("--otel-url", "http://127.0.0.1:4318", "otel", {"opentelemetry"}),
        ("--mlflow-tracking-uri", "sqlite:///x.db", "mlflow", {"mlflow"}),
    ],
)
def test_missing_extra_is_one_line_naming_it_with_exit_2(
    run_cli: Any, tmp_path: Path, flag: str, value: str, extra: str, blocked: set[str]
) -> None:
    # A sitecustomize that makes the packages uninstallable-looking: the extra "is not installed".
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked))
    result = run_cli("profile", "--url", "http://127.0.0.1:9", "-m", "m", flag, value, "--artifact-dir",
                     tmp_path / "art", pythonpath=[tmp_path / "site"])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0] and f"pip install 'inferload[{extra}]'" in lines[0]
    assert not (tmp_path / "art").exists()


def test_sweep_variations_are_nested_under_one_parent_run(tmp_path: Path) -> None:
    import time

    from mlflow.tracking import MlflowClient

    from inferload.config import ProfileConfig
    from inferload.registry import LoadRules, load_plugins
    from inferload.runstate import Lifecycle, RunInfo, RunState
    from inferload_plugins.integrations import mlflow_tracking

    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    registry = load_plugins(LoadRules())
    config = ProfileConfig.load({"url": "http://127.0.0.1:9", "model": "m", "mlflow_tracking_uri": uri},
                                registry=registry)
    for index, label in enumerate(("concurrency1", "concurrency8")):
        (tmp_path / label).mkdir()
        (tmp_path / label / "profile_export.json").write_text("{}")
        state = RunState(run_info=RunInfo(benchmark_id=f"b{index}", sweep_id="sweep-7", variation_label=label,
                                          variation_index=index, cli_command="inferload profile"),
                         config=config, artifact_dir=tmp_path / label, lifecycle=Lifecycle.COMPLETE,
                         results={"request_count": {"unit": "requests", "avg": 10 * (index + 1)}},
                         started_ns=time.time_ns(), ended_ns=time.time_ns())
        mlflow_tracking.run_finished(state)
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("inferload").experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("inferload.sweep_id") == "sweep-7"]
    children = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                      key=lambda r: r.data.metrics["request_count.avg"])
    assert [c.info.run_name for c in children] == ["concurrency1", "concurrency8"]
    assert [c.data.metrics["request_count.avg"] for c in children] == [10, 20]
    assert len(runs) == 3 and parent.info.status == "FINISHED"
