"""A real third-party plugin, built from tests/thirdparty_plugin and pip-installed into an isolated
directory, is discovered with no change to inferload, and what it registers works.

The last test uses its router and exporter inside a real ``inferload profile --api-port`` run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import importlib_metadata
import pytest

from inferload import ENTRY_POINT_GROUP
from inferload.registry import ENABLED, LoadRules, PluginRegistry, load_plugins
from inferload.runstate import RunInfo, RunState


def test_thirdparty_plugin_is_listed_with_its_distribution_and_version(
    run_cli: Any, thirdparty_plugin: Any
) -> None:
    done = run_cli("plugins", "--json", pythonpath=[thirdparty_plugin.site])
    assert done.returncode == 0, done.stderr
    row = {row["name"]: row for row in json.loads(done.stdout)}["hello"]
    assert row["distribution"] == "inferload-hello"
    assert row["version"] == "0.1.0"
    assert row["status"] == ENABLED
    assert row["module"] == "inferload_hello"
    assert row["category"] == "api_router,command,exporter"
    assert sorted(row["provides"]) == ["GET /api/hello", "file hello.json", "hello", "hello"]

    table = run_cli("plugins", pythonpath=[thirdparty_plugin.site])
    (line,) = [line for line in table.stdout.splitlines() if line.startswith("hello ")]
    assert "inferload-hello 0.1.0" in line and line.rstrip().endswith("enabled")


def test_thirdparty_plugin_is_absent_without_its_install_directory(run_cli: Any) -> None:
    done = run_cli("plugins", "--json")
    assert "hello" not in {row["name"] for row in json.loads(done.stdout)}
    assert run_cli("hello").returncode == 2


def test_thirdparty_command_runs(run_cli: Any, thirdparty_plugin: Any) -> None:
    done = run_cli("hello", "--who", "tests", pythonpath=[thirdparty_plugin.site])
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first == "hello, tests"
    assert second.startswith("from inferload-hello 0.1.0, loaded beside: ") and "plugins" in second

    helped = run_cli("--help", pythonpath=[thirdparty_plugin.site])
    assert "Say hello from the inferload-hello example plugin" in helped.stdout


@pytest.fixture
def hello_registry(thirdparty_plugin: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginRegistry]:
    """The installed plugin loaded in-process, from its install directory only."""
    monkeypatch.syspath_prepend(str(thirdparty_plugin.site))
    eps = [
        ep
        for dist in importlib_metadata.distributions(path=[str(thirdparty_plugin.site)])
        for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP)
    ]
    registry = load_plugins(LoadRules(strict=True), entry_points=eps)
    module_file = Path(sys.modules["inferload_hello"].__file__ or "")
    assert module_file.is_relative_to(thirdparty_plugin.site), (
        "imported from the source tree, not the install"
    )
    yield registry
    sys.modules.pop("inferload_hello", None)


def run_state(artifact_dir: Path, benchmark_id: str = "bench-0001") -> RunState:
    return RunState(
        run_info=RunInfo(benchmark_id=benchmark_id, cli_command="inferload profile"),
        config=None,
        artifact_dir=artifact_dir,
    )


def test_thirdparty_router_serves_the_run_states_benchmark_id(
    hello_registry: PluginRegistry, tmp_path: Path
) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    spec = hello_registry.get("api_router", "hello")
    app = FastAPI()
    app.include_router(spec.factory(run_state(tmp_path, "bench-42")))
    with TestClient(app) as client:
        response = client.get("/api/hello")
    assert response.status_code == 200
    assert response.json() == {"plugin": "inferload-hello", "benchmark_id": "bench-42"}


@pytest.mark.parametrize("context_kind", ["export-context", "run-state"])
def test_thirdparty_exporter_writes_into_the_artifact_dir(
    hello_registry: PluginRegistry, tmp_path: Path, context_kind: str
) -> None:
    state = run_state(tmp_path, "bench-7")
    context = (
        SimpleNamespace(artifact_dir=tmp_path, state=state) if context_kind == "export-context" else state
    )
    spec = hello_registry.get("exporter", "hello")
    written = spec.export(context)
    assert written == [tmp_path / "hello.json"]
    assert [path.name for path in written] == list(spec.filenames)
    assert json.loads((tmp_path / "hello.json").read_text()) == {
        "plugin": "inferload-hello",
        "benchmark_id": "bench-7",
    }


def test_thirdparty_router_and_exporter_are_used_by_a_real_profile_run(
    thirdparty_plugin: Any, inferload_exe: Path, cli_env: Any, wait_for_port: Any, tmp_path: Path
) -> None:
    """No change to inferload: installing the distribution is enough for a run to serve its route and
    write its file, listed among this run's results."""
    import httpx

    from conftest import pick_free_port

    api_port = pick_free_port()
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--streaming", "--request-count", "4", "--concurrency", "2",
         "--isl", "8", "--osl", "4", "--ui", "none", "--artifact-dir", str(tmp_path / "art"),
         "--api-port", str(api_port), "--api-linger", "inf"],
        env=cli_env(pythonpath=[thirdparty_plugin.site]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for_port(api_port, process=process, timeout=60)
        with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=10) as client:
            deadline = time.monotonic() + 60
            while client.get("/api/results").json()["status"] == "running":
                assert time.monotonic() < deadline, "the run never completed"
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            run_id = client.get("/api/run").json()["benchmark_id"]
            hello = client.get("/api/hello").json()
            listed = {f["path"] for f in client.get("/api/results/list").json()["files"]}
            served = client.get("/api/results/files/hello.json").json()
        process.send_signal(signal.SIGINT)  # ends the infinite linger
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert hello == {"plugin": "inferload-hello", "benchmark_id": run_id}
    assert "hello.json" in listed
    assert served == {"plugin": "inferload-hello", "benchmark_id": run_id}
    (run_dir,) = (tmp_path / "art").iterdir()
    assert json.loads((run_dir / "hello.json").read_text())["benchmark_id"] == run_id
