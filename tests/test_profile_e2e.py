"""`inferload profile` end to end: the real CLI against a real simulator process over loopback.

Each run is small (a few dozen requests against a fast simulator) so the file stays quick; correctness is
checked against the simulator's own truth log, never against wall-clock thresholds of the machine.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import (
    FAST_SIM,
    Simulator,
    assert_bracketed_by_truth,
    load_run,
    profile,
    simulator,
    start_simulator,
    wait_for,
)

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

SECRET_KEY = "sk-e2e-secret-9f8e7d"
SECRET_AUTH = "Bearer auth-e2e-secret-1a2b3c"
SECRET_XKEY = "xkey-e2e-secret-77aa"


def test_chat_streaming_writes_every_artifact_and_no_secret(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    result = profile(
        run_cli,
        simulator.url,
        tmp_path,
        "-m",
        "org/model-x",
        "--streaming",
        "--concurrency",
        "4",
        "--request-count",
        "20",
        "--osl",
        "6",
        "--api-key",
        SECRET_KEY,
        "-H",
        f"Authorization: {SECRET_AUTH}",
        "-H",
        f"X-Api-Key: {SECRET_XKEY}",
        "-H",
        "X-Team: blue",
    )
    assert result.returncode == 0, result.stderr
    run, summary, records = load_run(tmp_path)
    assert run.name == "org_model-x-chat-concurrency4"
    expected = {
        "profile_export.json",
        "profile_export.csv",
        "profile_export.jsonl",
        "inputs.json",
        "profile_export_console.txt",
        "logs/inferload.log",
    }
    written = {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()}
    assert expected <= written
    # every artifact parses
    inputs = json.loads((run / "inputs.json").read_text())
    assert inputs
    with (run / "profile_export.csv").open() as handle:
        assert list(csv.reader(handle))
    assert summary["run_info"]["benchmark_id"] == summary["benchmark_id"]
    assert summary["request_count"]["avg"] == 20
    assert summary["was_cancelled"] is False
    assert len(records) == 20
    assert all(r["metadata"]["benchmark_phase"] == "profiling" for r in records)
    # the explicit Authorization header wins over --api-key, with a one-line warning
    assert "both --api-key and an explicit Authorization header" in result.stderr
    truth = simulator.truth()
    assert len(truth) == 20
    # no secret anywhere in the artifacts or the console
    for path in run.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            for secret in (SECRET_KEY, SECRET_AUTH, "auth-e2e-secret-1a2b3c", SECRET_XKEY):
                assert secret not in text, f"{secret} leaked into {path.name}"
    for secret in (SECRET_KEY, "auth-e2e-secret-1a2b3c", SECRET_XKEY):
        assert secret not in result.stdout + result.stderr


def test_completions_streaming_at_a_request_rate(run_cli: Any, simulator: Simulator, tmp_path: Path) -> None:
    result = profile(
        run_cli,
        simulator.url,
        tmp_path,
        "-m",
        "m",
        "--endpoint-type",
        "completions",
        "--streaming",
        "--request-rate",
        "50",
        "--arrival-pattern",
        "constant",
        "--request-count",
        "20",
        "--osl",
        "4",
    )
    assert result.returncode == 0, result.stderr
    run, summary, records = load_run(tmp_path)
    assert run.name == "m-completions-request_rate50"
    assert len(records) == 20
    assert summary["output_sequence_length"]["avg"] == 4
    assert {t["route"] for t in simulator.truth()} == {"/v1/completions"}
    # an absolute schedule: request i was scheduled exactly i/50 s after the first
    scheduled = sorted(r["metadata"]["request_scheduled_ns"] for r in records)
    gaps = {round((b - a) / 1e6, 1) for a, b in itertools.pairwise(scheduled)}
    assert gaps == {20.0}
    assert "schedule_lag" in summary["client_health"]


def test_embeddings_are_measured_without_tokens(run_cli: Any, simulator: Simulator, tmp_path: Path) -> None:
    result = profile(
        run_cli,
        simulator.url,
        tmp_path,
        "-m",
        "emb",
        "--endpoint-type",
        "embeddings",
        "--request-count",
        "8",
        "--concurrency",
        "2",
    )
    assert result.returncode == 0, result.stderr
    _, summary, records = load_run(tmp_path)
    assert len(records) == 8 and all(r.get("error") in (None, {}) for r in records)
    assert summary["request_latency"]["count"] == 8
    assert "time_to_first_token" not in summary
    assert {t["route"] for t in simulator.truth()} == {"/v1/embeddings"}


def test_streaming_embeddings_is_a_usage_error(run_cli: Any, simulator: Simulator, tmp_path: Path) -> None:
    result = profile(
        run_cli, simulator.url, tmp_path, "-m", "emb", "--endpoint-type", "embeddings", "--streaming"
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_duration_stop_with_warmup_excluded(run_cli: Any, simulator: Simulator, tmp_path: Path) -> None:
    result = profile(
        run_cli,
        simulator.url,
        tmp_path,
        "-m",
        "m",
        "--streaming",
        "--concurrency",
        "2",
        "--benchmark-duration",
        "1",
        "--benchmark-grace-period",
        "5",
        "--warmup-request-count",
        "3",
        "--osl",
        "4",
    )
    assert result.returncode == 0, result.stderr
    _, summary, records = load_run(tmp_path)
    warmup = [r for r in records if r["metadata"]["benchmark_phase"] == "warmup"]
    profiling = [r for r in records if r["metadata"]["benchmark_phase"] == "profiling"]
    assert len(warmup) == 3
    assert len(profiling) == summary["request_count"]["avg"] + summary["error_request_count"]["avg"]
    assert summary["time_to_first_token"]["count"] == summary["request_count"]["avg"]
    # records = requests sent = requests the server saw
    simulator.stop()  # flushes the truth of anything still in flight
    assert len(records) == len(simulator.truth())
    assert summary["was_cancelled"] is False


def test_aiohttp_transport_gives_the_same_records(run_cli: Any, simulator: Simulator, tmp_path: Path) -> None:
    result = profile(
        run_cli,
        simulator.url,
        tmp_path,
        "-m",
        "m",
        "--streaming",
        "--transport",
        "aiohttp",
        "--request-count",
        "10",
        "--concurrency",
        "2",
        "--osl",
        "5",
    )
    assert result.returncode == 0, result.stderr
    _, summary, records = load_run(tmp_path)
    assert len(records) == 10
    assert summary["output_sequence_length"]["avg"] == 5


def test_without_url_the_embedded_simulator_is_started(run_cli: Any, tmp_path: Path) -> None:
    result = profile(
        run_cli,
        None,
        tmp_path,
        "--streaming",
        "--request-count",
        "5",
        "--osl",
        "3",
        env={"INFERLOAD_SIM_DECODE_STEP_S": "0.002"},
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "built-in simulator" in line]
    assert len(lines) == 1
    run, summary, _ = load_run(tmp_path)
    assert run.name == "inferload-sim-chat-concurrency1"
    assert summary["request_count"]["avg"] == 5


def test_client_chunk_times_are_bracketed_by_the_server_truth(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    """Causality, not tolerances: the client's timings must contain the server's, event by event.

    Per request, in integer ns from the request's start (client) and from its receipt (server):
    the request was started before the server read it; the server's engine produced the first token
    (``first_token_ns``, before that token was written) before the client's first chunk arrived; and the
    server had finished writing chunk k-1 (``chunk_ns[k-1]``, stamped after the write, before chunk k is
    written) before the client's chunk k arrived. The client sees exactly one chunk per server write, in
    order, and its end follows the last write. How close the figures come is bench_client's ``truth``.
    """
    sim = start_simulator(
        inferload_exe,
        cli_env(),
        tmp_path,
        "--decode-step-s",
        "0.01",
        "--decode-step-per-seq-s",
        "0",
        "--prefill-tokens-per-s",
        "4000",
    )
    try:
        result = profile(
            run_cli,
            sim.url,
            tmp_path / "art",
            "-m",
            "m",
            "--streaming",
            "--concurrency",
            "4",
            "--request-count",
            "16",
            "--osl",
            "8",
            "--isl",
            "64",
        )
        assert result.returncode == 0, result.stderr
        _, _, records = load_run(tmp_path / "art")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert len(truth) == len(records) == 16
    assert_bracketed_by_truth(records, truth)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stop_signal_writes_every_artifact_marked_cancelled(
    signum: int, inferload_exe: Path, cli_env: Any, simulator: Simulator, tmp_path: Path
) -> None:
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
            "4",
            "--benchmark-duration",
            "120",
            "--osl",
            "20",
            "--isl",
            "16",
            "--ui",
            "none",
            "--artifact-dir",
            str(tmp_path / "art"),
        ],
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: len(simulator.truth()) >= 8)
        os.kill(process.pid, signum)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signum, stderr  # 130 for SIGINT, 143 for SIGTERM, as shells say
    _, summary, records = load_run(tmp_path / "art")
    assert summary["was_cancelled"] is True
    sent = {r["metadata"]["x_request_id"] for r in records}
    assert len(sent) == len(records)
    simulator.stop()
    assert sent == set(simulator.truth_by_request_id())


def test_config_precedence_cli_over_env_over_file(run_cli: Any, simulator: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "profile.yaml"
    config.write_text(
        "request-count: 3\nisl: 12\nconcurrency: 2\nosl: 3\nstreaming: true\nmodel: from-file\n"
    )
    result = run_cli(
        "profile",
        "-f",
        config,
        "--url",
        simulator.url,
        "--isl",
        "20",
        "--artifact-dir",
        tmp_path / "art",
        "--ui",
        "none",
        env={"INFERLOAD_REQUEST_COUNT": "4", "INFERLOAD_ISL": "16", "INFERLOAD_MODEL": "from-env"},
    )
    assert result.returncode == 0, result.stderr
    run, summary, records = load_run(tmp_path / "art")
    assert run.name == "from-env-chat-concurrency2"  # env beats file; file beats the default concurrency
    assert len(records) == 4  # env beats file
    assert summary["input_config"]["isl"] == 20  # CLI beats env and file
    assert summary["input_sequence_length"]["avg"] == 20


@pytest.mark.parametrize(
    "args",
    [
        ["--isl", "0"],
        ["--endpoint-type", "nope"],
        ["--request-count", "5", "--benchmark-duration", "2"],
        ["--concurrency", "0"],
        ["--no-such-flag"],
        ["--url", "ftp://example"],
        ["--benchmark-grace-period", "3"],
        ["--arrival-pattern", "gamma"],
        ["--goodput", "time_to_first_token"],
        ["--transport", "carrier-pigeon"],
    ],
)
def test_invalid_flags_and_combinations_exit_2_with_one_line(
    run_cli: Any, tmp_path: Path, args: list[str]
) -> None:
    result = run_cli("profile", *args, "--artifact-dir", tmp_path, "--ui", "none", timeout=60)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_gone_after_the_start_up_check_ends_as_counted_connection_errors(
    run_cli: Any, tmp_path: Path
) -> None:
    # the start-up check's one connection is accepted, then nothing listens: every request is refused
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept_once() -> None:
        connection, _ = listener.accept()
        connection.close()
        listener.close()

    threading.Thread(target=accept_once, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    result = run_cli("profile", "--url", url, "-m", "m", "--request-count", "5", "--artifact-dir", tmp_path,
                     "--ui", "none", "--isl", "8", timeout=60)
    assert result.returncode == 1, result.stderr  # every request failed: a failed run (still recorded)
    _, summary, records = load_run(tmp_path)
    assert len(records) == 5
    assert summary["error_request_count"]["avg"] == 5
    assert {r["error"]["type"] for r in records} == {"connection_error"}


def test_fast_simulator_args_are_valid() -> None:
    assert FAST_SIM[0].startswith("--")
