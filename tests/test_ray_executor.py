"""`inferload profile --executor ray` on a real local Ray cluster started by the tests (head + node2, one
CPU each, shared by this module; the node-loss test adds its own third node and kills it).

Figures are compared with the local executor's by the e2e tests' own bound: causality against the
simulator's truth log, event by event (``assert_bracketed_by_truth``), plus exact counts.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from profile_fixtures import assert_bracketed_by_truth, load_run, profile, start_simulator, wait_for
from ray_cluster import RAY_ENV, RayCluster, ray_cluster

__all__ = ["ray_cluster"]

SIM_ARGS = ("--decode-step-s", "0.01", "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "4000")
LOAD = ("-m", "m", "--streaming", "--concurrency", "8", "--request-count", "64", "--osl", "8", "--isl", "64")


def test_ray_workers_on_both_nodes_record_every_request_and_agree_with_local(
    run_cli: Any, inferload_exe: Path, cli_env: Any, ray_cluster: RayCluster, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SIM_ARGS)
    try:
        # INFERLOAD_RAY_CLOCK=estimate: the measured offsets are applied as on separate machines
        ray_run = profile(run_cli, sim.url, tmp_path / "ray", *LOAD, "--executor", "ray", "--ray-address",
                          ray_cluster.address, "--ray-workers", "2",
                          env={**RAY_ENV, "INFERLOAD_RAY_CLOCK": "estimate"})
        assert ray_run.returncode == 0, ray_run.stderr
        ray_truth = sim.truth_by_request_id()
        local_run = profile(run_cli, sim.url, tmp_path / "local", *LOAD, "--workers", "2")
        assert local_run.returncode == 0, local_run.stderr
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    _, ray_summary, ray_records = load_run(tmp_path / "ray")
    _, local_summary, local_records = load_run(tmp_path / "local")
    # every request sent is one record, once: ids 0..63, each seen by the server
    assert sorted(r["metadata"]["request_id"] for r in ray_records) == list(range(64))
    assert {r["metadata"]["x_request_id"] for r in ray_records} <= set(ray_truth)
    assert ray_summary["request_count"]["avg"] == local_summary["request_count"]["avg"] == 64
    assert ray_summary["error_request_count"]["avg"] == 0
    # nothing lost or unaccounted (a loaded machine may still warn that the client was busy)
    assert not [w for w in ray_summary["client_health"]["warnings"] if "lost" in w or "records arrived" in w]
    for tag in ("output_sequence_length", "input_sequence_length"):
        assert ray_summary[tag] == local_summary[tag]
    # the same causal bound against the server's truth holds for both executors
    assert_bracketed_by_truth(ray_records, truth)
    assert_bracketed_by_truth(local_records, truth)
    # one worker per node (one CPU each), both clock offsets measured and within their own bound of the
    # true offset, which is 0 on one machine
    clocks = ray_summary["clock_offsets"]
    assert set(clocks) == {"worker_0", "worker_1"}
    assert len({c["node"] for c in clocks.values()}) == 2
    node_ids = {n.node_id()[:12] for n in ray_cluster.nodes[:2]}
    assert {c["node"].split("(")[1].rstrip(")") for c in clocks.values()} == node_ids
    for clock in clocks.values():
        assert clock["samples"] >= 5
        assert abs(clock["offset_ns"]) <= clock["uncertainty_ns"]
    assert {r["metadata"]["worker_id"] for r in ray_records} == {"worker_0", "worker_1"}
    assert "clock_offsets" not in local_summary


def test_node_lost_mid_run_leaves_a_complete_honest_result(
    inferload_exe: Path, cli_env: Any, ray_cluster: RayCluster, tmp_path: Path, free_port: int
) -> None:
    doomed = ray_cluster.add_node("node3")
    doomed_id = doomed.node_id()[:12]
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.02",
                          "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "100000")
    base = f"http://127.0.0.1:{free_port}"
    process = subprocess.Popen(
        [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", "--streaming", "--concurrency", "6",
         "--request-count", "240", "--osl", "10", "--isl", "16", "--ui", "none", "--executor", "ray",
         "--ray-address", ray_cluster.address, "--ray-workers", "3", "--api-port", str(free_port),
         "--api-linger", "inf", "--artifact-dir", str(tmp_path / "art")],
        env=cli_env(RAY_ENV), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: len(sim.truth()) >= 40, timeout=120)
        workers = httpx.get(f"{base}/api/workers", timeout=5).json()["workers"]
        # /api/workers shows every Ray worker: its node, pid, CPU, memory, state and clock offset
        assert len(workers) == 3 and {w["status"] for w in workers.values()} == {"running"}
        for w in workers.values():
            assert w["node"] and w["health"]["pid"] and w["health"]["memory_usage"]
            assert w["clock_offset_ns"] == 0  # on the driver's host: the exact offset
        lost = [wid for wid, w in workers.items() if doomed_id in w["node"]]
        assert len(lost) == 1
        doomed.kill()

        def results_ready() -> bool:
            listed = httpx.get(f"{base}/api/results/list", timeout=5).json()
            return any(f["path"] == "profile_export.json" for f in listed.get("files", []))

        wait_for(results_ready, timeout=120)
        after = httpx.get(f"{base}/api/workers", timeout=5).json()["workers"]
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        sim.stop()
    assert process.returncode == 1, stderr  # the run completed, and says a worker was lost
    assert "Traceback" not in stderr
    assert after[lost[0]]["status"] == "failed"
    assert {after[w]["status"] for w in after if w != lost[0]} == {"stopped"}
    _, summary, records = load_run(tmp_path / "art")
    ids = [r["metadata"]["request_id"] for r in records]
    assert len(ids) == len(set(ids)) == 240  # the survivors sent the lost worker's unsent share
    errors = [r for r in records if r.get("error")]
    assert errors and {r["error"]["type"] for r in errors} == {"worker_lost"}
    assert all(r["metadata"]["worker_id"] == lost[0] for r in errors)
    assert summary["is_complete"] is False
    assert summary["error_request_count"]["avg"] == len(errors)
    warning = next(w for w in summary["client_health"]["warnings"] if "was lost" in w)
    assert f"{len(errors)} request(s) in flight recorded as failed (worker_lost)" in warning
    assert "the surviving workers" in warning and "request count" in warning
    assert not any("records arrived" in w for w in summary["client_health"]["warnings"])  # none unaccounted
    assert summary["clock_offsets"][lost[0]]["node"].endswith(f"({doomed_id})")


def test_driver_killed_mid_run_its_ray_workers_stop_sending(
    inferload_exe: Path, cli_env: Any, ray_cluster: RayCluster, tmp_path: Path, free_port: int
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SIM_ARGS)
    base = f"http://127.0.0.1:{free_port}"
    driver = subprocess.Popen(
        [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", "--streaming", "--concurrency", "4",
         "--benchmark-duration", "600", "--osl", "8", "--isl", "16", "--ui", "none", "--executor", "ray",
         "--ray-address", ray_cluster.address, "--ray-workers", "2", "--api-port", str(free_port),
         "--artifact-dir", str(tmp_path / "art")],
        env=cli_env(RAY_ENV), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: len(sim.truth()) >= 20, timeout=120)
        workers = httpx.get(f"{base}/api/workers", timeout=5).json()["workers"]
        actors = [psutil.Process(w["health"]["pid"]) for w in workers.values()]
        assert len(actors) == 2
        driver.kill()  # SIGKILL: no chance to tell anyone
        driver.wait(30)
        wait_for(lambda: not any(_running(actor) for actor in actors), timeout=60)
        # no orphan load: once the actors are gone (and what they had in flight has been answered), the
        # server is sent nothing more
        time.sleep(1.0)
        sent = len(sim.truth())
        time.sleep(1.0)
        assert len(sim.truth()) == sent
    finally:
        if driver.poll() is None:
            driver.kill()
        sim.stop()


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_executor_ray_without_the_extra_is_one_line_naming_it(run_cli: Any, tmp_path: Path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, NoRay())\n"
    )
    result = run_cli("profile", "--executor", "ray", "--request-count", "1", "--artifact-dir", tmp_path / "a",
                     pythonpath=[hide])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'inferload[ray]'" in lines[0], result.stderr
    assert not (tmp_path / "a").exists()



def test_ray_flags_without_the_ray_executor_and_bad_resources_are_one_line_usage_errors(
    run_cli: Any, tmp_path: Path
) -> None:
    cases = [
        (("--ray-address", "auto"),
         "--ray-address does not apply to --executor local; it is an option of --executor ray"),
        (("--executor", "ray", "--ray-worker-resources", "CPU"), "'CPU' is not NAME=AMOUNT"),
        (("--executor", "ray", "--ray-worker-resources", "{CPU: 1}"), "not a JSON object"),
    ]
    for args, expected in cases:
        result = run_cli("profile", *args, "--request-count", "1", "--artifact-dir", tmp_path / "a")
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
    assert not (tmp_path / "a").exists()
