"""Signals as shells, `timeout` and container runtimes send them: to the whole process group.

The real CLI runs in its own process group (session) against a real simulator whose slow decode keeps
every request in flight for about 20 s; the signal goes to the group, so the workers get it too. Workers
leave it to the parent, which drains: every request sent ends as one record (in-flight ones cancelled),
every artifact is written, and the exit code is 128 + the signal. A parent killed outright (-9) still
takes its workers with it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from profile_fixtures import (
    FAST_SIM,
    Simulator,
    artifact_dir,
    interrupt_group_when,
    read_jsonl,
    start_simulator,
    wait_for,
)

CONCURRENCY = 4
SLOW_SIM = ("--decode-step-s", "0.05", "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "1000000")
"""400 output tokens at 50 ms a step: a request stays in flight for ~20 s, far past the grace period."""


@pytest.fixture
def slow_simulator(inferload_exe: Path, cli_env: Any, tmp_path: Path) -> Any:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *SLOW_SIM)
    yield sim
    sim.stop()


def running_on_server(sim: Simulator) -> int:
    """Requests the simulator is generating right now (its vLLM-style gauge)."""
    text = httpx.get(f"{sim.url}/metrics", timeout=10).text
    return sum(int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines()
               if line.startswith("vllm:num_requests_running{"))


def start_profile_in_own_group(inferload_exe: Path, env: dict[str, str], sim: Simulator, root: Path,
                               *extra: str) -> subprocess.Popen[str]:
    """`inferload profile` as a shell job: the leader of a new process group, its workers inside it."""
    return subprocess.Popen(
        [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", "--streaming",
         "--concurrency", str(CONCURRENCY), "--benchmark-duration", "120", "--benchmark-grace-period", "0.5",
         "--osl", "400", "--isl", "16", "--ui", "none", "--artifact-dir", str(root), *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_to_the_process_group_drains_every_request_into_the_records(
    signum: int, inferload_exe: Path, cli_env: Any, slow_simulator: Simulator, tmp_path: Path
) -> None:
    process = start_profile_in_own_group(inferload_exe, cli_env(), slow_simulator, tmp_path / "art")
    try:
        wait_for(lambda: running_on_server(slow_simulator) == CONCURRENCY, timeout=60)
        workers = psutil.Process(process.pid).children()
        assert workers, "the run has worker processes"
        os.killpg(process.pid, signum)  # as a shell's Ctrl+C, `timeout` or `docker kill -s` would
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 128 + signum, stderr
    assert "exited unexpectedly" not in stderr and "lost" not in stderr, stderr
    assert "Traceback" not in stderr
    # the drain line names the signal that arrived (not Ctrl+C for a SIGTERM); internal timings stay
    # in the log file
    named = "Ctrl+C (SIGINT)" if signum == signal.SIGINT else signal.Signals(signum).name
    assert f"interrupted by {named}: no new requests" in stderr, stderr
    assert "Ctrl+C again" not in stderr or signum == signal.SIGINT
    assert "summary section times" not in stderr
    run = artifact_dir(tmp_path / "art")
    written = {p.name for p in run.iterdir()}
    assert {"profile_export.json", "profile_export.csv", "profile_export.jsonl", "inputs.json"} <= written
    summary = json.loads((run / "profile_export.json").read_text())
    records = read_jsonl(run / "profile_export.jsonl")
    assert summary["was_cancelled"] is True
    # every request the server saw is one record, and each was cut short by the stop: cancelled
    slow_simulator.stop()
    truth = slow_simulator.truth_by_request_id()
    assert {r["metadata"]["x_request_id"] for r in records} == set(truth)
    assert len(records) >= CONCURRENCY
    for record in records:
        assert record["metadata"]["was_cancelled"] is True, record
        assert record["error"]["type"] == "cancelled", record
    assert {t["outcome"] for t in truth.values()} == {"client_closed"}
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_workers_die_with_a_parent_killed_outright(
    inferload_exe: Path, cli_env: Any, slow_simulator: Simulator, tmp_path: Path
) -> None:
    process = start_profile_in_own_group(inferload_exe, cli_env(), slow_simulator, tmp_path / "art")
    try:
        wait_for(lambda: running_on_server(slow_simulator) == CONCURRENCY, timeout=60)
        workers = psutil.Process(process.pid).children()
        assert workers
        process.kill()  # SIGKILL to the parent alone: nothing of it runs again
        process.communicate(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert alive == [], f"workers outlived their parent: {alive}"


def test_ctrl_c_keeps_what_in_flight_requests_measured_in_their_records_but_not_in_the_statistics(
    inferload_exe: Path, cli_env: Any, slow_simulator: Simulator, tmp_path: Path
) -> None:
    """The in-flight requests of a Ctrl+C'd streaming run had streamed tokens: each record keeps its TTFT
    and the inter-chunk gaps of what arrived; no run statistic takes them (no success), and the
    console calls them cancelled by the stop, not failed."""
    process = start_profile_in_own_group(inferload_exe, cli_env(), slow_simulator, tmp_path / "art")
    stdout, stderr = interrupt_group_when(
        process, lambda: running_on_server(slow_simulator) == CONCURRENCY
        and _streamed_tokens(slow_simulator) >= CONCURRENCY * 10)
    assert process.returncode == 130, stderr
    run = artifact_dir(tmp_path / "art")
    records = read_jsonl(run / "profile_export.jsonl")
    cancelled = [r for r in records if r["error"] is not None and r["error"]["type"] == "cancelled"]
    assert len(cancelled) >= CONCURRENCY, [(r["error"], r["metrics"].keys()) for r in records]
    for record in cancelled:
        metrics = record["metrics"]
        assert metrics["time_to_first_token"]["value"] > 0
        assert metrics["time_to_second_token"]["value"] > 0
        assert metrics["inter_chunk_latency"]["value"]  # the gaps of the chunks that arrived
    summary = json.loads((run / "profile_export.json").read_text())
    successes = summary["request_count"]["avg"]
    assert successes == len(records) - len(cancelled)
    ttft = summary.get("time_to_first_token") or {}
    assert ttft.get("count", 0) == successes  # the cut-short requests' TTFTs are in no statistic
    assert "cancelled in flight when the run stopped" in stdout + stderr
    assert "failed request" not in stdout + stderr


def _streamed_tokens(sim: Simulator) -> float:
    """Output tokens the simulator has generated so far (its vLLM-style counter)."""
    text = httpx.get(f"{sim.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:generation_tokens_total"))


def _ignore_sighup() -> None:
    """What ``nohup`` does before it runs its command."""
    signal.signal(signal.SIGHUP, signal.SIG_IGN)


def test_a_run_started_ignoring_sighup_as_under_nohup_outlives_a_hangup(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        process = subprocess.Popen(
            [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", "--streaming", "--concurrency", "2",
             "--request-count", "400", "--osl", "20", "--isl", "8", "--ui", "none", "--artifact-dir",
             str(tmp_path / "art")],
            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
            preexec_fn=_ignore_sighup)
        wait_for(lambda: len(sim.truth()) >= 5, timeout=60)
        assert process.poll() is None, "the run ended before the hangup: nothing tested"
        os.killpg(process.pid, signal.SIGHUP)  # the terminal went away
        _, stderr = process.communicate(timeout=120)
    finally:
        sim.stop()
    assert process.returncode == 0, stderr
    assert "interrupted" not in stderr and "SIGHUP" not in stderr
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["is_complete"] is True and summary["was_cancelled"] is False
    assert summary["request_count"]["avg"] == 400
