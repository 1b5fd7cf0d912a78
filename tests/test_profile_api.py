"""`inferload profile --api-port`: the live API is up before the first request, shows the run while it
goes on, serves exactly this run's artifacts afterwards, and a port in use stops the run before it sends."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx

from profile_fixtures import Simulator, simulator, wait_for

__all__ = ["simulator"]


def test_live_api_follows_the_run_and_serves_its_artifacts(
    inferload_exe: Path, cli_env: Any, simulator: Simulator, tmp_path: Path, free_port: int
) -> None:
    stale = tmp_path / "art" / "m-chat-concurrency2" / "stale_from_an_old_run.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    process = subprocess.Popen(
        [
            str(inferload_exe),
            "profile",
            "--url",
            simulator.url,
            "-m",
            "m",
            "--streaming",
            "--concurrency",
            "2",
            "--request-count",
            "30",
            "--osl",
            "20",
            "--isl",
            "8",
            "--ui",
            "none",
            "--api-port",
            str(free_port),
            "--api-linger",
            "inf",
            "--artifact-dir",
            str(tmp_path / "art"),
        ],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{free_port}"
    try:

        def progress_seen() -> bool:
            try:
                body = httpx.get(f"{base}/api/progress", timeout=2).json()
            except httpx.HTTPError:
                return False
            phase = body.get("phases", {}).get("profiling") or {}
            return phase.get("requests_completed", 0) > 0

        wait_for(progress_seen)
        wait_for(lambda: bool(httpx.get(f"{base}/api/metrics", timeout=2).json().get("metrics")))
        workers = httpx.get(f"{base}/api/workers", timeout=2).json()["workers"]
        assert all(w["health"]["pid"] for w in workers.values())

        def results_ready() -> bool:
            listed = httpx.get(f"{base}/api/results/list", timeout=2).json()
            return any(f["path"] == "profile_export.json" for f in listed.get("files", []))

        wait_for(results_ready, timeout=60)
        listed = {f["path"] for f in httpx.get(f"{base}/api/results/list", timeout=2).json()["files"]}
        assert "stale_from_an_old_run.txt" not in listed
        assert {"profile_export.json", "profile_export.jsonl", "inputs.json", "logs/inferload.log"} <= listed
    finally:
        process.send_signal(2)  # SIGINT ends an infinite linger
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_api_port_in_use_is_a_usage_error_before_any_request(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli(
            "profile",
            "--url",
            simulator.url,
            "-m",
            "m",
            "--request-count",
            "3",
            "--api-port",
            str(port),
            "--artifact-dir",
            tmp_path,
            "--ui",
            "none",
            "--isl",
            "8",
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert [line for line in result.stderr.splitlines() if "error" in line]
    assert simulator.truth() == []
