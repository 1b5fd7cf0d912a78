"""Trace replay end to end: `inferload profile --dataset mooncake_trace --fixed-schedule` against a real
simulator process, as a user types it. Timing is asserted as ordering and as exact schedule offsets (the
schedule is computed, not measured), and the reported lag is checked against the records, never against a
wall-clock threshold."""

from __future__ import annotations

import itertools
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from inferload.registry import load_plugins
from profile_fixtures import FAST_SIM, load_run, profile, simulator, start_simulator

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here


def write_trace(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def line_of(record: dict[str, Any]) -> int:
    """The trace line a record replayed (conversation ids are ``FILE:LINE``)."""
    return int(record["metadata"]["conversation_id"].rsplit(":", 1)[1])


def scheduled_perf_ns(meta: dict[str, Any]) -> int:
    """When the request was due, on the monotonic clock all workers share (wall-clock stamps carry each
    worker's own anchor, so only differences within one record are exact)."""
    return meta["request_start_perf_ns"] - (meta["request_start_ns"] - meta["request_scheduled_ns"])


def trace_run(run_cli: Any, sim_url: str, tmp_path: Path, trace: Path, *args: str) -> tuple[dict, list]:
    result = profile(run_cli, sim_url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                     str(trace), "--streaming", *args)
    assert result.returncode == 0, result.stderr
    _, summary, records = load_run(tmp_path / "art")
    return summary, records


def test_each_request_starts_at_its_trace_timestamp_in_order_across_two_workers(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    stamps = [0, 15, 15, 40, 70, 75, 120, 160, 161, 200, 260, 300, 330, 400, 401, 402, 450, 520, 600, 640]
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": t, "input_length": 24, "output_length": 4, "hash_ids": []} for t in stamps
    ])
    summary, records = trace_run(run_cli, simulator.url, tmp_path, trace, "--fixed-schedule",
                                 "--workers", "2")

    # every line sent once, and the work split between both workers, each request with its own time
    assert sorted(line_of(r) for r in records) == list(range(1, len(stamps) + 1))
    assert {r["metadata"]["worker_id"] for r in records} == {"worker_0", "worker_1"}
    by_line = {line_of(r): r["metadata"] for r in records}
    first = scheduled_perf_ns(by_line[1])
    for line, meta in by_line.items():
        # the schedule is the trace: offsets from the first request equal the timestamps, to the ns
        assert scheduled_perf_ns(meta) - first == stamps[line - 1] * 1_000_000
        assert meta["request_start_ns"] >= meta["request_scheduled_ns"]  # never early
    # each worker started its share in trace order (its lines alternate: the schedule is split by request)
    for worker in ("worker_0", "worker_1"):
        mine = sorted((m["request_start_perf_ns"], line) for line, m in by_line.items()
                      if m["worker_id"] == worker)
        lines = [line for _, line in mine]
        assert lines == sorted(lines) and all(b - a == 2 for a, b in itertools.pairwise(lines)), lines
    # the reported lag covers every request and is the client's own part of each record's start - scheduled
    # (up to the hand-over to the transport, which may stamp the start later, when it writes)
    lag = summary["client_health"]["schedule_lag"]
    lateness_ms = [(m["request_start_ns"] - m["request_scheduled_ns"]) / 1e6 for m in by_line.values()]
    assert lag["count"] == len(stamps)
    assert 0 <= lag["min"] <= lag["p50"] <= lag["p99"] <= lag["max"] <= max(lateness_ms) + 1e-6
    assert summary["input_config"]["fixed_schedule"] is True


def test_window_and_speedup_replay_exactly_the_requests_inside_the_window(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    stamps = [1000 + 100 * i for i in range(20)]  # a trace whose clock does not start at zero
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": t, "input_length": 16, "output_length": 2} for t in stamps
    ])
    summary, records = trace_run(
        run_cli, simulator.url, tmp_path, trace, "--fixed-schedule", "--fixed-schedule-start-offset", "1500",
        "--fixed-schedule-end-offset", "2200", "--fixed-schedule-speedup", "4",
    )
    inside = [i + 1 for i, t in enumerate(stamps) if 1500 <= t <= 2200]
    assert sorted(line_of(r) for r in records) == inside  # 1500 .. 2200 inclusive: 8 requests
    by_line = {line_of(r): r["metadata"] for r in records}
    first = scheduled_perf_ns(by_line[inside[0]])
    for line in inside:  # four times faster: 100 ms apart in the trace is 25 ms apart in the replay
        assert scheduled_perf_ns(by_line[line]) - first == (stamps[line - 1] - 1500) * 1_000_000 // 4
    assert summary["client_health"]["schedule_lag"]["count"] == len(inside)


def test_request_count_keeps_the_first_requests_of_the_window(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": 10 * i, "input_length": 16, "output_length": 2} for i in range(12)
    ])
    _, records = trace_run(run_cli, simulator.url, tmp_path, trace, "--fixed-schedule",
                           "--fixed-schedule-start-offset", "30", "--request-count", "4")
    assert sorted(line_of(r) for r in records) == [4, 5, 6, 7]


def test_a_trace_without_a_request_count_is_sent_whole(run_cli: Any, simulator: Any, tmp_path: Path) -> None:
    # 60 lines, more than the default --request-count of 10 that a synthetic run sends
    example = Path(str(files("inferload_plugins.datasets") / "mooncake_example.jsonl"))
    lines = [json.loads(line) for line in example.read_text().splitlines() if line.strip()]
    _, records = trace_run(run_cli, simulator.url, tmp_path, example, "--fixed-schedule",
                           "--fixed-schedule-speedup", "4")
    assert len(records) == len(lines) == 60
    for record in records:  # ISL and OSL are the trace's
        row = lines[line_of(record) - 1]
        assert record["metrics"]["input_sequence_length"]["value"] == row["input_length"]
        assert record["metadata"]["requested_output_tokens"] == row["output_length"]
        # the simulator counted the same prompt tokens under the same (built-in) tokenizer
        assert record["metrics"]["usage_prompt_tokens"]["value"] == row["input_length"]


def test_requests_sharing_hash_ids_share_exactly_those_prefix_tokens(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    rows = [
        {"timestamp": 0, "input_length": 300, "output_length": 2, "hash_ids": [1, 2, 3]},
        {"timestamp": 5, "input_length": 250, "output_length": 2, "hash_ids": [1, 2, 4]},  # shares 2 blocks
        {"timestamp": 9, "input_length": 180, "output_length": 2, "hash_ids": [1]},  # 1 block + own tail
        {"timestamp": 9, "input_length": 100, "output_length": 2, "hash_ids": [1]},  # exactly block 1
        {"timestamp": 12, "input_length": 90, "output_length": 2, "hash_ids": [7]},  # shares nothing
    ]
    trace = write_trace(tmp_path / "trace.jsonl", rows)
    trace_run(run_cli, simulator.url, tmp_path, trace, "--fixed-schedule", "--prompt-block-size", "100",
              "--tokenizer", "builtin")
    run, _, _ = load_run(tmp_path / "art")
    inputs = json.loads((run / "inputs.json").read_text())["data"]
    tokenizer = _builtin()
    ids = {int(entry["session_id"].rsplit(":", 1)[1]):
           tokenizer.encode(entry["payloads"][0]["messages"][-1]["content"]) for entry in inputs}
    for line, row in enumerate(rows, start=1):
        assert len(ids[line]) == row["input_length"]
    assert ids[1][:200] == ids[2][:200] and ids[1][200:] != ids[2][200:250]
    assert ids[1][:100] == ids[3][:100] == ids[4] and ids[3][100:] != ids[1][100:180]
    assert ids[5][:10] != ids[1][:10]


def _builtin() -> Any:
    from inferload.dataset import resolve_tokenizer

    return resolve_tokenizer(load_plugins(), "builtin")


BAD_TRACES = [
    ([{"timestamp": 10, "input_length": 5}, {"timestamp": 5, "input_length": 5}], 2, "earlier than 10 ms"),
    ([{"timestamp": 0, "input_length": 5}, {"timestamp": 1, "input_length": -3}], 2,
     '"input_length" must be'),
    ([{"timestamp": 0, "input_length": 5, "output_length": -1}], 1, '"output_length" must be'),
    ([{"timestamp": -4, "input_length": 5}], 1, '"timestamp" must be'),
    ([{"timestamp": 0, "input_length": 5}, {"input_length": 5}], 2, "on some lines and not on others"),
    ([{"timestamp": 0, "input_length": 200, "hash_ids": [1, 2]}], 1, "room for 1 block"),
    ([{"timestamp": 0, "input_length": 600, "hash_ids": [1, 2, 3]},
      {"timestamp": 1, "input_length": 900, "hash_ids": [2, 9]}], 2, "block 1 here but block 2 on line 1"),
    ([{"timestamp": 0, "input_length": 300, "hash_ids": [1, 2]},
      {"timestamp": 1, "input_length": 500, "hash_ids": [1, 2]}], 2, "holds 244 tokens here but 44"),
    ([{"timestamp": 0, "input_length": 900, "hash_ids": [4, 4]}], 1, "appears twice"),
]


@pytest.mark.parametrize(("rows", "bad_line", "message"), BAD_TRACES,
                         ids=["order", "negative-isl", "negative-osl", "negative-time", "missing-time",
                              "too-many-blocks", "position", "length", "repeated"])
def test_a_bad_trace_line_stops_the_run_with_file_and_line_before_any_request(
    run_cli: Any, simulator: Any, tmp_path: Path, rows: list[dict[str, Any]], bad_line: int, message: str
) -> None:
    trace = write_trace(tmp_path / "bad.jsonl", rows)
    result = profile(run_cli, simulator.url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                     str(trace), "--fixed-schedule", "--prompt-block-size", "256", "-m", "inferload-sim")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{trace}:{bad_line}:" in lines[0] and message in lines[0], lines[0]
    assert simulator.truth() == []  # nothing was sent
    assert not (tmp_path / "art").exists() or not any((tmp_path / "art").iterdir())


@pytest.mark.parametrize(("args", "message"), [
    (("--fixed-schedule-speedup", "2"), "--fixed-schedule-speedup needs --fixed-schedule"),
    (("--fixed-schedule", "--request-rate", "5"), "not both"),
    (("--fixed-schedule", "--fixed-schedule-start-offset", "50", "--fixed-schedule-end-offset", "10"),
     "before --fixed-schedule-start-offset"),
    (("--fixed-schedule", "--fixed-schedule-start-offset", "5000"), "holds none of the 3 requests"),
    (("--fixed-schedule", "--warmup-request-count", "2"), "--warmup-request-count does not apply"),
    (("--fixed-schedule", "--fixed-schedule-start-offset", "5", "--benchmark-duration", "0.004"),
     "ends before the replay's first request is due"),
    (("--fixed-schedule", "--search-max-load", "--goodput", "time_to_first_token:100"),
     "--fixed-schedule-speedup values"),
])
def test_fixed_schedule_options_that_cannot_work_are_usage_errors(
    run_cli: Any, simulator: Any, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": 10 * i, "input_length": 16} for i in range(3)
    ])
    result = profile(run_cli, simulator.url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                     str(trace), *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert simulator.truth() == []


def test_fixed_schedule_on_a_dataset_without_timestamps_names_the_fix(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    result = profile(run_cli, simulator.url, tmp_path / "art", "--fixed-schedule")
    assert result.returncode == 2, result.stderr
    assert "--fixed-schedule needs a request timestamp" in result.stderr
    assert "--dataset mooncake_trace" in result.stderr and "Traceback" not in result.stderr


def test_input_file_alone_recognises_a_trace_and_a_prompt_file_stays_the_file_dataset(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": 5 * i, "input_length": 12, "output_length": 2} for i in range(3)
    ])
    result = profile(run_cli, simulator.url, tmp_path / "a", "--input-file", str(trace), "--fixed-schedule")
    assert result.returncode == 0, result.stderr
    _, summary, records = load_run(tmp_path / "a")
    assert summary["input_config"]["dataset"] == "mooncake_trace" and len(records) == 3
    prompts = write_trace(tmp_path / "prompts.jsonl", [{"text": "hello there"}])
    result = profile(run_cli, simulator.url, tmp_path / "b", "--input-file", str(prompts),
                     "--request-count", "2")
    assert result.returncode == 0, result.stderr
    _, summary, _ = load_run(tmp_path / "b")
    assert summary["input_config"]["dataset"] == "file"


def test_benchmark_duration_cuts_the_replay_at_that_offset(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    # due at 0 .. 500 ms, then from 2.5 s on: the cut at 1.5 s falls a second after the last kept request
    # is due, so a loaded machine sending that one late still sends it before the run's end
    offsets = [100 * i for i in range(6)] + [2500 + 100 * i for i in range(14)]
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": offset, "input_length": 16, "output_length": 2} for offset in offsets
    ])
    summary, records = trace_run(run_cli, simulator.url, tmp_path, trace, "--fixed-schedule",
                                 "--benchmark-duration", "1.5")
    assert sorted(line_of(r) for r in records) == [1, 2, 3, 4, 5, 6]  # the ones due before 1.5 s
    assert summary["steady_state"]["window"]["rule"].startswith("from the first response end")


def test_a_replay_without_concurrency_is_uncapped_so_slow_requests_overlap(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    # each request takes at least 8 decode steps of 50 ms, the trace sends one every 10 ms: only a cap
    # could keep them from overlapping
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--decode-step-s", "0.05")
    try:
        trace = write_trace(tmp_path / "trace.jsonl", [
            {"timestamp": 10 * i, "input_length": 16, "output_length": 8} for i in range(8)
        ])
        result = profile(run_cli, sim.url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                         str(trace), "--streaming", "--fixed-schedule")
        assert result.returncode == 0, result.stderr
        _, summary, records = load_run(tmp_path / "art")
    finally:
        sim.stop()
    assert len(records) == 8
    assert "--concurrency cap held" not in result.stdout + result.stderr
    assert summary["input_config"]["concurrency"] is None
    load_line = next(line for line in result.stdout.splitlines() if " Load " in f" {line} ")
    assert "fixed schedule (trace timestamps), uncapped" in load_line, load_line
    spans = sorted((r["metadata"]["request_start_perf_ns"],
                    r["metadata"]["request_start_perf_ns"] + round(r["metrics"]["request_latency"]["value"]
                                                                   * 1e6))
                   for r in records)
    # every request started before the one before it ended: more than one in flight, never one at a time
    assert all(start < previous_end for (_, previous_end), (start, _) in itertools.pairwise(spans)), spans


def test_a_replay_with_concurrency_keeps_that_cap_and_says_so(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    trace = write_trace(tmp_path / "trace.jsonl", [
        {"timestamp": 0, "input_length": 16, "output_length": 4} for _ in range(6)
    ])
    result = profile(run_cli, simulator.url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                     str(trace), "--streaming", "--fixed-schedule", "--fixed-schedule-speedup", "2",
                     "--concurrency", "1")
    assert result.returncode == 0, result.stderr
    _, _, records = load_run(tmp_path / "art")
    load_line = next(line for line in result.stdout.splitlines() if " Load " in f" {line} ")
    assert "fixed schedule (trace timestamps x2), concurrency <= 1" in load_line, load_line
    spans = sorted((r["metadata"]["request_start_perf_ns"],
                    r["metadata"]["request_start_perf_ns"] + round(r["metrics"]["request_latency"]["value"]
                                                                   * 1e6))
                   for r in records)
    # one at a time: each request started once the one before it had ended
    assert all(start >= previous_end for (_, previous_end), (start, _) in itertools.pairwise(spans)), spans


@pytest.mark.parametrize(("args", "message"), [
    (("--fixed-schedule", "--load-schedule", "{schedule}"),
     "give either --fixed-schedule (the dataset's timestamps) or --load-schedule {schedule}, not both"),
    (("--load-schedule", "{schedule}", "--concurrency", "2"), "sets the concurrency; drop --concurrency"),
    (("--fixed-schedule", "--concurrency-ramp-duration", "2"), "a --fixed-schedule replay sends at the"),
    (("--fixed-schedule", "--arrival-pattern", "gamma"), "--arrival-pattern needs --request-rate"),
    (("--fixed-schedule", "--api-port", "0", "--api-token", "tok-secret-91"),
     "--api-token changes the load while a run runs, but a --fixed-schedule replay's load is the trace's"),
])
def test_a_load_conflict_names_only_the_flags_given(
    run_cli: Any, simulator: Any, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    schedule = tmp_path / "s.json"
    schedule.write_text(json.dumps([{"duration": 1, "concurrency": 2}]))
    trace = write_trace(tmp_path / "trace.jsonl",
                        [{"timestamp": 10 * i, "input_length": 16} for i in range(3)])
    result = profile(run_cli, simulator.url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                     str(trace), *(arg.format(schedule=schedule) for arg in args))
    assert result.returncode == 2 and message.format(schedule=schedule) in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "--request-rate, not both" not in result.stderr
    if "--concurrency" in args:
        assert "--request-rate" not in result.stderr
    assert simulator.truth() == []


def test_a_replay_held_by_its_concurrency_cap_advises_the_replay_flags(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    # 12 requests due 1 ms apart, each at least 4 decode steps of 20 ms, one slot: the cap holds them
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--decode-step-s", "0.02")
    try:
        trace = write_trace(tmp_path / "trace.jsonl", [
            {"timestamp": i, "input_length": 16, "output_length": 4} for i in range(12)
        ])
        result = profile(run_cli, sim.url, tmp_path / "art", "--dataset", "mooncake_trace", "--input-file",
                         str(trace), "--streaming", "--fixed-schedule", "--concurrency", "1")
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    output = " ".join((result.stdout + result.stderr).split())
    assert "because the --concurrency cap held" in output, output
    assert "raise --concurrency or lower --fixed-schedule-speedup" in output
    assert "--request-rate" not in output
