"""Helpers for the `inferload profile` end-to-end tests: a real `inferload simulate` process with a truth
log, the real `inferload profile` CLI, and readers for what they write."""

from __future__ import annotations

import json
import re
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


def wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
