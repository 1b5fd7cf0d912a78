"""The run tells the user when chunks reached the client in one socket read and so share one stamp (a 0
gap), counted from the run's inter-chunk gaps, and which side it measured merging them, over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import artifact_dir, start_simulator
from scripted_server import ScriptedRequest, ScriptedServer

QUICK = ("-m", "m", "--streaming", "--isl", "8", "--ui", "none")


def ten_deltas_in_one_write(request: ScriptedRequest, number: int) -> bytes:
    """A chat completion stream of ten deltas, written at once: the client reads them together."""
    events = [{"choices": [{"index": 0, "delta": {"content": f"w{i} "}, "finish_reason": None}]}
              for i in range(10)]
    events.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: %d\r\n\r\n" % len(body)
    return head + body


@pytest.mark.parametrize(("transport", "cause"), [
    # kernel receive stamps: the client read each response promptly, and no gap was ever apart, so the
    # server's one write is named, not the client
    ("protocol", "the server sent these chunks together (several events per write"),
    # user-space stamps cannot tell a late read from a server's burst: both are named
    ("aiohttp", "either the client read late or the server sent them together"),
])
def test_chunks_read_together_are_warned_with_their_count_and_the_measured_cause(
    transport: str, cause: str, run_cli: Any, tmp_path: Path
) -> None:
    with ScriptedServer(ten_deltas_in_one_write) as server:
        result = run_cli("profile", "--url", server.url, *QUICK, "--request-count", "20",
                         "--concurrency", "2", "--transport", transport, "--artifact-dir", tmp_path / "art")
    assert result.returncode == 0, result.stderr
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    warnings = summary["client_health"]["warnings"]
    merged = [w for w in warnings if w.startswith("merged reads: ")]
    assert len(merged) == 1, warnings
    assert "inter-chunk gaps" in merged[0] and "one socket read" in merged[0] and cause in merged[0], merged
    if transport == "protocol":
        assert "--concurrency" not in merged[0] and "--workers" not in merged[0]  # no client fix to give
    else:
        assert "--concurrency" in merged[0] and "--workers" in merged[0]
    gaps = summary["inter_chunk_latency"]["count"]
    assert f"of {gaps:,} inter-chunk gaps" in merged[0]
    assert "merged reads" in result.stdout + result.stderr  # on the console too


def test_tokens_streamed_apart_raise_no_merged_read_warning(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.02",
                          "--decode-step-per-seq-s", "0", "--prefill-tokens-per-s", "1000000")
    try:
        result = run_cli("profile", "--url", sim.url, *QUICK, "--osl", "9", "--request-count", "15",
                         "--concurrency", "1", "--artifact-dir", tmp_path / "art")
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["inter_chunk_latency"]["count"] >= 100
    assert not [w for w in summary["client_health"]["warnings"] if w.startswith("merged reads")]
