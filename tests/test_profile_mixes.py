"""Request mixes (`--isl-osl-pairs`) and client-side cancellation (`--request-cancellation-rate`), end to end:
`inferload profile` as a user types it against the real simulator, checked against its truth log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from inferload_plugins.flows.cancellation import CancellationPlan
from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, simulator, start_simulator, usage_error

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here


def run(run_cli: Any, url: str | None, root: Path, *args: Any) -> Any:
    target = ("--url", url, "-m", "m") if url else ()
    return run_cli("profile", *target, "--artifact-dir", root, "--ui", "none", "--api-linger", "0", *args)


@pytest.mark.parametrize("mix", ["24:4,64:8:3", "24,4:25;64,8:75"])
def test_each_shape_of_a_mix_gets_exactly_its_share_of_requests(
    run_cli: Any, simulator: Any, tmp_path: Path, mix: str
) -> None:
    result = run(run_cli, simulator.url, tmp_path / "art", "--isl-osl-pairs", mix,
                 "--num-dataset-entries", "8", "--request-count", "16", "--concurrency", "4",
                 "--random-seed", "3")
    assert result.returncode == 0, result.stderr
    shapes = Counter((t["prompt_tokens"], t["completion_tokens"]) for t in simulator.truth())
    assert shapes == {(24, 4): 4, (64, 8): 12}  # 2 + 6 of the 8 entries, each sent twice
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["input_sequence_length"]["min"] == 24 and summary["input_sequence_length"]["max"] == 64


@pytest.mark.parametrize(("args", "fragment"), [
    (["--isl-osl-pairs", "128"], "'128' is not ISL:OSL[:WEIGHT]"),
    (["--isl-osl-pairs", "128,64:60;32,8:30"], "sum to 90, not 100"),
    (["--isl-osl-pairs", "128:64", "--input-file", "PROMPTS"], "--isl-osl-pairs shapes synthetic prompts"),
    (["--request-cancellation-rate", "101"], "--request-cancellation-rate"),
    (["--request-cancellation-delay", "1"], "--request-cancellation-delay needs --request-cancellation-rate"),
])
def test_bad_mix_and_cancellation_flags_are_one_line_usage_errors(
    run_cli: Any, tmp_path: Path, args: list[str], fragment: str
) -> None:
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"text": "hi"}\n', encoding="utf-8")
    result = run(run_cli, None, tmp_path / "art", *[str(prompts) if a == "PROMPTS" else a for a in args])
    line = usage_error(result)
    assert fragment in line, line


def test_cancelled_requests_are_their_own_kind_counted_apart_and_out_of_latency_metrics(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    # a slow stream (20 tokens x 20 ms): a request chosen for cancellation is cut 0.1 s in, mid-stream
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.02",
                          "--decode-step-per-seq-s", "0")
    try:
        result = run(run_cli, sim.url, tmp_path / "art", "--streaming", "--osl", "20", "--isl", "16",
                     "--request-count", "20", "--concurrency", "5", "--random-seed", "11",
                     "--request-cancellation-rate", "40", "--request-cancellation-delay", "0.1")
        truth = sim.truth_by_request_id()
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    run_dir = artifact_dir(tmp_path / "art")
    records = read_jsonl(run_dir / "profile_export.jsonl")
    chosen = {i for i in range(20) if CancellationPlan(40, 0.1, 11).chosen(i)}
    assert 0 < len(chosen) < 20
    cancelled = {r["metadata"]["request_id"] for r in records if r["metadata"]["was_cancelled"]}
    assert cancelled == chosen  # exactly the requests the seed picks, every one of them
    for record in records:
        meta = record["metadata"]
        if meta["request_id"] in chosen:
            assert record["error"]["type"] == "request_cancelled"
            # what arrived before the cut stays in the record (docs/metrics.md), never in the statistics
            assert not record["metrics"] or record["metrics"]["time_to_first_token"]["value"] > 0
            assert truth[meta["x_request_id"]]["outcome"] == "client_closed"  # the server saw it go
            assert truth[meta["x_request_id"]]["completion_tokens"] < 20
        else:
            assert record["error"] is None
    summary = json.loads((run_dir / "profile_export.json").read_text())
    assert summary["cancelled_request_count"]["avg"] == len(chosen)
    assert summary["request_count"]["avg"] == 20 - len(chosen)
    assert summary["error_request_count"]["avg"] == 0
    assert summary["time_to_first_token"]["count"] == 20 - len(chosen)
    assert summary["request_latency"]["count"] == 20 - len(chosen)


def test_a_cancelled_turn_ends_its_session(
    inferload_exe: Path, cli_env: Any, run_cli: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--decode-step-s", "0.02")
    try:
        result = run(run_cli, sim.url, tmp_path / "art", "--streaming", "--osl", "20", "--isl", "16",
                     "--conversation-num", "6", "--conversation-turn-mean", "3", "--concurrency", "3",
                     "--random-seed", "5", "--request-cancellation-rate", "30",
                     "--request-cancellation-delay", "0.1")
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    metas = [r["metadata"] for r in read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")]
    by_session: dict[str, list[dict[str, Any]]] = {}
    for meta in metas:
        by_session.setdefault(meta["session_id"], []).append(meta)
    assert any(m["was_cancelled"] for m in metas)
    for turns in by_session.values():
        turns.sort(key=lambda m: m["turn_index"])
        assert [m["turn_index"] for m in turns] == list(range(len(turns)))
        flags = [m["was_cancelled"] for m in turns]
        # nothing is sent after a cancelled turn; a session without one sends all three
        assert flags.index(True) == len(turns) - 1 if True in flags else len(turns) == 3


def test_without_a_delay_every_chosen_request_is_cancelled_at_once(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    result = run(run_cli, simulator.url, tmp_path / "art", "--streaming", "--osl", "50",
                 "--request-count", "6", "--request-cancellation-rate", "100")
    assert result.returncode == 0, result.stderr
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["cancelled_request_count"]["avg"] == 6
    assert "request_count" not in summary or summary["request_count"]["avg"] == 0
