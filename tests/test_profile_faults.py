"""Every fault the simulator can inject ends as one counted error record of the right type, the run
completes, and records = requests sent (= requests the server saw)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, simulator, start_simulator

__all__ = ["simulator"]

TIMEOUT_S = "3.0"
"""Far above any healthy request here (ms) and the 0.2 s mid-stream stall, far below the 10 s first-byte
stall: which requests time out does not depend on how loaded the machine is."""
EXPECTED_ERROR = {
    "http500": ("http_error", 500),
    "http503": ("http_error", 503),
    "http429": ("http_error", 429),
    "drop_mid": ("connection_error", None),
    "malformed_chunk": ("malformed_response", None),
    "never_end": ("timeout", None),
    "stall_first_byte": ("timeout", None),  # stalls 10 s, past --request-timeout-seconds
    "stall_mid": (None, None),  # a 0.2 s stall, then a normal end
}
FAULT_RATES = (
    "http500=0.1,http503=0.05,http429=0.05,drop_mid=0.1,malformed_chunk=0.1,never_end=0.05,"
    "stall_first_byte:10=0.05,stall_mid:0.2=0.1"
)


def test_random_faults_each_end_as_the_right_error(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(
        inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--fault-rate", FAULT_RATES, "--seed", "7"
    )
    try:
        result = run_cli(
            "profile",
            "--url",
            sim.url,
            "-m",
            "m",
            "--streaming",
            "--concurrency",
            "8",
            "--request-count",
            "60",
            "--osl",
            "6",
            "--isl",
            "16",
            "--request-timeout-seconds",
            TIMEOUT_S,
            "--artifact-dir",
            tmp_path / "art",
            "--ui",
            "none",
            timeout=120,
        )
    finally:
        sim.stop()  # a stopping simulator logs what was still in flight (e.g. a 10 s stall the client left)
    truth = sim.truth_by_request_id()
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path / "art")
    records = read_jsonl(run / "profile_export.jsonl")
    summary = json.loads((run / "profile_export.json").read_text())
    assert len(records) == 60 == len(truth)  # records = requests sent = requests served
    seen_kinds = set()
    errors = 0
    for record in records:
        server = truth[record["metadata"]["x_request_id"]]
        kind = (server["fault"] or "").split(":")[0] or None
        seen_kinds.add(kind)
        error = record.get("error") or None
        expected_type, expected_code = EXPECTED_ERROR.get(kind, (None, None)) if kind else (None, None)
        if expected_type is None:
            assert error is None, (kind, error)
            continue
        errors += 1
        assert error["type"] == expected_type, (kind, error)
        if expected_code is not None:
            assert error["code"] == expected_code
    assert len(seen_kinds - {None}) >= 6, seen_kinds  # the seed exercises most kinds
    assert summary["error_request_count"]["avg"] == errors
    assert sum(entry["count"] for entry in summary["error_summary"]) == errors
    assert summary["request_count"]["avg"] == 60 - errors


@pytest.mark.parametrize(
    ("fault", "expected_type"),
    [("http503", "http_error"), ("drop_mid", "connection_error"), ("malformed_chunk", "malformed_response")],
)
def test_fault_header_hits_every_request(
    run_cli: Any, simulator: Any, tmp_path: Path, fault: str, expected_type: str
) -> None:
    result = run_cli(
        "profile",
        "--url",
        simulator.url,
        "-m",
        "m",
        "--streaming",
        "--concurrency",
        "2",
        "--request-count",
        "6",
        "--osl",
        "6",
        "--isl",
        "8",
        "-H",
        f"X-Inferload-Fault: {fault}",
        "--artifact-dir",
        tmp_path,
        "--ui",
        "none",
        timeout=60,
    )
    # Nothing succeeded, so the run failed (exit 1) — yet every request is on disk with its error.
    assert result.returncode == 1, result.stderr
    assert f"every one of the 6 profiling requests failed (most often {expected_type}" in result.stderr
    records = read_jsonl(artifact_dir(tmp_path) / "profile_export.jsonl")
    assert len(records) == 6
    assert {r["error"]["type"] for r in records} == {expected_type}


def test_unreachable_server_fails_the_run_with_one_clear_line_before_anything_is_sent_or_written(
    run_cli: Any, free_port: int, tmp_path: Path
) -> None:
    url = f"http://user:hunter2-secret@127.0.0.1:{free_port}"  # nothing listens there
    result = run_cli("profile", "--url", url, "-m", "m", "--request-count", "3", "--artifact-dir", tmp_path,
                     "--ui", "none", timeout=60)
    assert result.returncode == 1, result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert f"127.0.0.1:{free_port}" in line and "--url" in line and "connection refused" in line
    assert "hunter2-secret" not in result.stderr + result.stdout
    assert list(tmp_path.iterdir()) == []  # no request was sent: nothing to keep
