"""Helpers for the `inferload profile` end-to-end tests: a real `inferload simulate` process with a truth
log, the real `inferload profile` CLI, and readers for what they write."""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

FAST_SIM = ("--decode-step-s", "0.002", "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "1000000")
"""A simulator quick enough that a 20-request run takes well under a second."""


@dataclass
class Simulator:
    """A running `inferload simulate` process."""

    url: str
    truth_log: Path
    process: subprocess.Popen[str]

    def truth(self) -> list[dict[str, Any]]:
        """Every truth-log line written so far."""
        if not self.truth_log.exists():
            return []
        return [json.loads(line) for line in self.truth_log.read_text().splitlines() if line.strip()]

    def truth_by_request_id(self) -> dict[str, dict[str, Any]]:
        return {t["request_id"]: t for t in self.truth() if t.get("request_id")}

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[Any], grace: float = 10.0) -> None:
    """Terminate ``process`` if it still runs; kill it when it has not exited ``grace`` seconds later."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_simulator(inferload_exe: Path, env: dict[str, str], directory: Path, *args: str) -> Simulator:
    """`inferload simulate --port 0 --truth-log DIR/truth.jsonl ARGS`, once it has printed its URL."""
    truth = directory / "truth.jsonl"
    process = subprocess.Popen(
        [str(inferload_exe), "simulate", "--port", "0", "--truth-log", str(truth), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://\S+?)\s", line)
    if not match:
        process.kill()
        raise RuntimeError(
            f"simulator did not start: {line!r} {process.stderr.read() if process.stderr else ''}"
        )
    return Simulator(match.group(1), truth, process)


@pytest.fixture
def simulator(inferload_exe: Path, cli_env: Any, tmp_path: Path) -> Iterator[Simulator]:
    """A fast simulator with its own truth log, for one test."""
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM)
    yield sim
    sim.stop()


def artifact_dir(root: Path) -> Path:
    """The one run directory a profile run created under ``--artifact-dir root``."""
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def usage_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one stderr line of a usage error: exit code 2, a single line, no traceback."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def interrupt_group_when(process: subprocess.Popen[str], ready: Any, timeout: float = 60.0,
                         signum: int = signal.SIGINT) -> tuple[str, str]:
    """Once ``ready()`` holds, send ``signum`` to the process group ``process`` leads (a shell's Ctrl+C) and
    return its (stdout, stderr); a group still alive when that fails is killed, never left behind."""
    try:
        wait_for(ready, timeout=timeout)
        os.killpg(process.pid, signum)
        return process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()


def profile(
    run_cli: Any,
    sim_url: str | None,
    root: Path,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    url = ("--url", sim_url) if sim_url else ()
    return run_cli(
        "profile",
        *url,
        "--artifact-dir",
        root,
        "--ui",
        "none",
        "--isl",
        "16",
        *args,
        env=env,
        timeout=timeout,
    )


def load_run(root: Path) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    run = artifact_dir(root)
    return (
        run,
        json.loads((run / "profile_export.json").read_text()),
        read_jsonl(run / "profile_export.jsonl"),
    )


def assert_bracketed_by_truth(
    records: list[dict[str, Any]], truth: dict[str, dict[str, Any]], *, final_write: bool = True
) -> None:
    """Causality, not tolerances: per request (integer ns from the client's start and the server's receipt),
    the server produced the first token before the client's first chunk arrived; it had finished writing
    chunk k-1 before the client's chunk k arrived; the client saw exactly one chunk per server token write,
    in order; the request latency ends at the last chunk and, when the dialect writes final events after
    the last token (``final_write``; TGI's last token event is its final event), the last byte follows the
    server's last token write.
    """
    for record in records:
        server = truth[record["metadata"]["x_request_id"]]
        metrics = record["metrics"]
        meta = record["metadata"]
        assert meta["request_start_ns"] <= meta["request_ack_ns"] <= meta["request_end_ns"]
        received = server["received_ns"]
        # Client values are ms floats of integer ns differences: back to exact integer ns.
        gaps = [round(gap * 1e6) for gap in metrics["inter_chunk_latency"]["value"]]
        assert len(gaps) == len(server["chunk_ns"]) - 1  # one client chunk per server token write
        assert all(gap >= 0 for gap in gaps)
        ttft = round(metrics["time_to_first_token"]["value"] * 1e6)
        arrivals = list(itertools.accumulate(gaps, initial=ttft))
        latency = round(metrics["request_latency"]["value"] * 1e6)  # ends at the last output chunk
        last_byte = round(metrics["request_latency_last_byte"]["value"] * 1e6)
        assert arrivals[0] >= server["first_token_ns"] - received, (arrivals, server)
        for k in range(1, len(arrivals)):
            assert arrivals[k] >= server["chunk_ns"][k - 1] - received, (k, arrivals, server)
        assert arrivals[-1] <= latency <= last_byte
        if final_write:
            assert last_byte >= server["chunk_ns"][-1] - received  # the server's last write precedes it


def interrupted_sweep(inferload_exe: Path, env: dict[str, str], directory: Path, *args: str,
                      after_requests: int) -> tuple[Path, str, str]:
    """A real sweep ``inferload profile --url SIM -m m ARGS --artifact-dir DIRECTORY/art`` against a
    simulator taking 10 ms per output token, Ctrl+C'd (SIGINT to its process group, as a terminal sends)
    once the simulator has finished ``after_requests`` requests. Returns (the sweep's directory, stdout,
    stderr). ``ARGS`` choose the variations, so the one running at that moment has measured something
    and ends incomplete, and any after it never run."""
    sim = start_simulator(inferload_exe, env, directory, "--decode-step-s", "0.01", "--decode-step-per-seq-s",
                          "0", "--prefill-tokens-per-s", "1000000")
    try:
        process = subprocess.Popen(
            [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", "--ui", "none", *args,
             "--artifact-dir", str(directory / "art")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        stdout, stderr = interrupt_group_when(process, lambda: len(sim.truth()) >= after_requests,
                                              timeout=120)
    finally:
        sim.stop()
    return next((directory / "art").rglob("sweep_summary.json")).parent, stdout, stderr
