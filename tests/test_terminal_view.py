"""The terminal view as a user sees it: `inferload profile` under a pseudo-terminal (so it picks the rich
view by itself) shows live TTFT/ITL p50/p99, throughput and errors with the progress bars while the run
goes on, then a header naming model, redacted URL, load and artifact directory above the results table,
whose counts are integers. The simple view (a pipe) carries the same numbers."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

URL_PASSWORD = "pty-SECRET-pw-31"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
RUN_FLAGS = ("--streaming", "--model", "sim-model", "--endpoint-type", "chat", "--concurrency", "2",
             "--request-count", "30", "--isl", "32", "--osl", "16", "--random-seed", "5")


@pytest.fixture(scope="module")
def slow_simulator() -> Iterator[str]:
    """A simulator whose requests take about 0.3 s (16 decode steps of 20 ms), so a 30-request run lasts
    seconds and the live view refreshes (every 0.25 s) many times."""
    from inferload_plugins.simulator.embedded import start_embedded
    from simulator_wire import simulator_config

    simulator = start_embedded(simulator_config(decode_step_s=0.02, prefill_tokens_per_s=20000.0))
    yield simulator.url
    assert simulator.stop() == 0


def run_in_pty(command: list[str], env: dict[str, str], columns: int = 220) -> tuple[int, str]:
    """Run ``command`` with a pseudo-terminal of ``columns`` columns as stdin, stdout and stderr; return its
    exit code and everything it wrote, escape sequences removed and carriage returns made line ends."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**env, "COLUMNS": str(columns), "LINES": "50", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120  # a guard against a hang, not a figure under test
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                break
            if not data:
                break
            chunks.append(data)
        elif process.poll() is not None:
            break
    os.close(master)
    code = process.wait(timeout=30)
    text = ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))
    return code, text.replace("\r\n", "\n").replace("\r", "\n")


def test_rich_view_shows_live_numbers_then_a_header_and_integer_counts(
    inferload_exe: Path, cli_env: Any, slow_simulator: str, tmp_path: Path
) -> None:
    url = slow_simulator.replace("http://", f"http://user:{URL_PASSWORD}@")
    code, text = run_in_pty([str(inferload_exe), "profile", *RUN_FLAGS, "--url", url,
                             "--artifact-dir", str(tmp_path / "artifacts")], cli_env())
    assert code == 0, text[-3000:]
    table_at = text.index("inferload | LLM Metrics")
    live = text[:table_at]
    # Under the bars while the run went on: percentiles, throughput and the error count.
    number = r"[\d.,]+"
    figures = (rf"\n  TTFT p50 {number} / p99 {number} ms \| ITL p50 {number} / p99 {number} ms \| "
               rf"per user p50 {number} / p99 {number} tok/s \| {number} tok/s \| 0 errors\n")
    assert re.search(rf"profiling [━╸╺ ]+ \d+/30 requests[^\n]*{figures}", live), live[-2000:]
    assert re.search(rf"profiling [━╸╺ ]+ ([1-9]|1\d|2\d)/30 requests[^\n]*{figures}", live), \
        "no live numbers before the end"
    # The header sits between the live view and the table.
    header = text[text.rindex("Model", 0, table_at):table_at]
    assert re.search(r"Model\s+sim-model", header)
    assert re.search(r"URL\s+http://<redacted>@127\.0\.0\.1:\d+", header)
    assert re.search(r"Load\s+concurrency 2", header)
    assert re.search(r"Artifacts\s+" + re.escape(str(tmp_path / "artifacts")), header)
    assert URL_PASSWORD not in text
    count_row = re.search(r"Request Count \(requests\)\s*│\s*(\S+)", text[table_at:])
    assert count_row and count_row.group(1) == "30", text[table_at:table_at + 3000]


def test_simple_view_in_a_pipe_ends_with_the_live_numbers(
    run_cli: Any, slow_simulator: str, tmp_path: Path
) -> None:
    result = run_cli("profile", *RUN_FLAGS, "--url", slow_simulator, "--request-count", "8",
                     "--artifact-dir", tmp_path / "artifacts")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("inferload: [profiling]")]
    assert re.search(r"8/8 requests.* \| TTFT p50 [\d.,]+ / p99 [\d.,]+ ms \| ITL p50 .* \| 0 errors$",
                     lines[-1]), lines
