"""`inferload profile --input-file`: the real CLI sends the file's prompts, in file order, and a bad file is
a one-line usage error (exit 2) before any request reaches the server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from inferload_plugins.tokenizers.builtin import BuiltinTokenizer
from profile_fixtures import Simulator, artifact_dir, read_jsonl, simulator

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

LINES: list[dict[str, Any]] = [
    {"text": "Tell me a story about a river that runs to the sea.", "max_tokens": 5},
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
        "max_tokens": 3,
    },
    {"text": "Count the stars.", "max_tokens": 7},
]


def write_prompts(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def contents(line: dict[str, Any]) -> list[str]:
    """The texts one file line puts in a request."""
    return [m["content"] for m in line["messages"]] if "messages" in line else [line["text"]]


def test_input_file_prompts_are_what_the_server_receives_in_file_order(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    prompts = write_prompts(tmp_path / "prompts.jsonl", LINES)
    result = run_cli(
        "profile", "--url", simulator.url, "-m", "m", "--input-file", prompts, "--request-count", "6",
        "--concurrency", "2", "--artifact-dir", tmp_path / "art", "--ui", "none",
    )
    assert result.returncode == 0, result.stderr
    run = artifact_dir(tmp_path / "art")
    # the payloads are the file's lines, one per line, in file order
    inputs = json.loads((run / "inputs.json").read_text())["data"]
    assert [entry["session_id"] for entry in inputs] == [f"prompts.jsonl:{n}" for n in (1, 2, 3)]
    for entry, line in zip(inputs, LINES, strict=True):
        (body,) = entry["payloads"]
        assert [m["content"] for m in body["messages"]] == contents(line)
        assert body["max_tokens"] == line["max_tokens"]
    # and the server got exactly those: request i carries line i % 3, as the server's truth log counts it
    records = read_jsonl(run / "profile_export.jsonl")
    truth = simulator.truth_by_request_id()
    assert len(records) == len(truth) == 6
    tokenizer = BuiltinTokenizer()
    for record in records:
        meta = record["metadata"]
        number = meta["request_id"] % len(LINES)
        line = LINES[number]
        assert meta["conversation_id"] == f"prompts.jsonl:{number + 1}"
        server = truth[meta["x_request_id"]]
        assert server["prompt_tokens"] == sum(tokenizer.count(text) for text in contents(line))
        assert server["completion_tokens"] == line["max_tokens"]
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["input_config"]["input_file"] == str(prompts)


def test_malformed_line_is_a_usage_error_naming_file_and_line_before_any_request(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"text": "fine"}\n{"text": "unterminated\n', encoding="utf-8")
    result = run_cli(
        "profile", "--url", simulator.url, "-m", "m", "--input-file", prompts,
        "--artifact-dir", tmp_path / "art", "--ui", "none",
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert f"{prompts}:2: not valid JSON" in lines[0]
    assert simulator.truth() == []  # nothing was sent
    assert not (tmp_path / "art").exists()  # and no half-made artifact directory


def test_without_url_a_malformed_line_fails_before_the_simulator_starts(run_cli: Any, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"text": "fine"}\n{"text": 3}\n', encoding="utf-8")
    result = run_cli("profile", "--input-file", prompts, "--artifact-dir", tmp_path / "art", "--ui", "none")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # no "started the built-in simulator" line before it
    assert f"{prompts}:2:" in lines[0]


def test_missing_input_file_is_one_line_naming_the_path(run_cli: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    result = run_cli("profile", "--input-file", missing, "--artifact-dir", tmp_path / "art", "--ui", "none")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr  # checked before the embedded simulator would start
    assert f"cannot read --input-file {missing}" in lines[0]


def test_dataset_file_without_input_file_and_unknown_dataset_exit_2(run_cli: Any, tmp_path: Path) -> None:
    for args, fragment in (
        (["--dataset", "file"], "--dataset file needs --input-file"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
    ):
        result = run_cli("profile", *args, "--artifact-dir", tmp_path / "art", "--ui", "none")
        assert result.returncode == 2, result.stderr
        assert fragment in result.stderr
        assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


def test_input_file_that_never_ends_a_line_is_a_usage_error_naming_the_line_and_the_cap(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    # /dev/zero is endless bytes and no newline: before, memory grew without bound and only kill -9 ended it
    result = run_cli(
        "profile", "--url", simulator.url, "-m", "m", "--input-file", "/dev/zero",
        "--artifact-dir", tmp_path / "art", "--ui", "none",
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "/dev/zero:1: line is longer than the 16 MiB limit of --input-file" in lines[0]
    assert simulator.truth() == []
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_while_an_input_file_is_still_being_read_ends_the_run_with_128_plus_the_signal(
    signum: int, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    # a FIFO whose writer never stops: the dataset is never complete, so only the signal can end the run
    fifo = tmp_path / "prompts.fifo"
    os.mkfifo(fifo)
    writing = threading.Event()

    def write_forever() -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as handle:  # opens once inferload reads
            line = json.dumps({"text": "a prompt"}).encode() + b"\n"
            while True:
                handle.write(line * 64)
                handle.flush()
                writing.set()

    writer = threading.Thread(target=write_forever, daemon=True)
    writer.start()
    # a listener at --url, so the start-up connection succeeds and the run goes on to read the dataset
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        process = subprocess.Popen(
            [str(inferload_exe), "profile", "--url", f"http://127.0.0.1:{listener.getsockname()[1]}", "-m",
             "m", "--input-file", str(fifo), "--artifact-dir", str(tmp_path / "art"), "--ui", "none"],
            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert writing.wait(60), "inferload never opened the FIFO"
            process.send_signal(signum)
            _, stderr = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 128 + signum, stderr
    assert [line for line in stderr.splitlines() if line.strip()] == ["inferload: interrupted"]
    writer.join(10)
    assert not writer.is_alive()  # the reader went away, so the writer's pipe broke
    assert not (tmp_path / "art").exists()


def test_an_input_file_given_as_a_fifo_loses_no_line(
    run_cli: Any, simulator: Simulator, tmp_path: Path
) -> None:
    # the up-front check must not read (and so discard) what the FIFO's writer sends
    fifo = tmp_path / "prompts.fifo"
    os.mkfifo(fifo)
    payload = "".join(json.dumps(line) + "\n" for line in LINES).encode()

    def write_once() -> None:
        with open(fifo, "wb") as handle:
            handle.write(payload)

    writer = threading.Thread(target=write_once, daemon=True)
    writer.start()
    result = run_cli(
        "profile", "--url", simulator.url, "-m", "m", "--input-file", fifo, "--request-count", "3",
        "--artifact-dir", tmp_path / "art", "--ui", "none",
    )
    writer.join(10)
    assert result.returncode == 0, result.stderr
    inputs = json.loads((artifact_dir(tmp_path / "art") / "inputs.json").read_text())["data"]
    assert [entry["session_id"] for entry in inputs] == [f"prompts.fifo:{n}" for n in (1, 2, 3)]
