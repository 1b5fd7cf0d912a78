"""Load that changes over time, planned before the start: ramps (AIPerf's --request-rate-ramp-duration and
--concurrency-ramp-duration) and --load-schedule files. End to end with the CLI as a user types it against
the simulator, the steps' arithmetic, and a bad schedule file stopping the run before any request."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from inferload.engine.load_pacing import ArrivalStream, Pace
from inferload.errors import UsageError
from inferload.load_plan import concurrency_ramp_steps, rate_ramp_steps, read_load_schedule
from profile_fixtures import Simulator, load_run, profile, simulator

__all__ = ["simulator"]


def _segments(root: Path) -> list[dict[str, Any]]:
    _, export, _ = load_run(root)
    return export["load_segments"]


def test_a_rate_ramp_rises_segment_by_segment(run_cli: Any, tmp_path: Path) -> None:
    result = profile(run_cli, None, tmp_path, "--streaming", "--osl", "8", "--request-rate", "40",
                     "--arrival-pattern", "constant", "--request-rate-ramp-duration", "3",
                     "--benchmark-duration", "4")
    assert result.returncode == 0, result.stderr
    segments = _segments(tmp_path)
    assert [s["request_rate"] for s in segments] == [10, 20, 30, 40]
    assert {s["source"] for s in segments} == {"ramp"}
    achieved = [s["achieved_request_rate"] for s in segments]
    assert achieved == sorted(achieved) and len(set(achieved)) == 4  # strictly rising, step by step
    sent = [s["requests_sent"] for s in segments]
    assert sent == sorted(sent) and sent[0] < sent[-1]
    for earlier, later in itertools.pairwise(segments):
        assert earlier["end_ns"] == later["start_ns"]  # contiguous


def test_a_concurrency_ramp_climbs_from_one_segment_by_segment(run_cli: Any, tmp_path: Path) -> None:
    result = profile(run_cli, None, tmp_path, "--streaming", "--osl", "8", "--concurrency", "4",
                     "--concurrency-ramp-duration", "3", "--benchmark-duration", "4")
    assert result.returncode == 0, result.stderr
    segments = _segments(tmp_path)
    assert [s["concurrency"] for s in segments] == [1, 2, 3, 4]
    in_flight = [s["average_concurrency"] for s in segments]
    assert in_flight == sorted(in_flight) and len(set(in_flight)) == 4
    assert all(s["average_concurrency"] <= s["concurrency"] for s in segments)  # never above the target


def test_a_schedule_files_segments_appear_in_the_export_with_their_metrics(
    run_cli: Any, tmp_path: Path, simulator: Simulator
) -> None:
    schedule = tmp_path / "spike.json"
    schedule.write_text(json.dumps([
        {"duration": 1.5, "request_rate": 5},
        {"duration": 1.5, "request_rate": 30},
        {"start": 3, "duration": 1.5, "request_rate": 5},
    ]))
    root = tmp_path / "art"
    result = profile(run_cli, simulator.url, root, "-m", "m", "--streaming", "--osl", "8",
                     "--arrival-pattern", "constant", "--load-schedule", str(schedule))
    assert result.returncode == 0, result.stderr
    run, export, records = load_run(root)
    assert run.name.endswith("load_schedule-spike")
    segments = export["load_segments"]
    assert [(s["request_rate"], s["source"]) for s in segments] == [(5, "schedule"), (30, "schedule"),
                                                                     (5, "schedule")]
    low, spike, after = segments
    assert spike["achieved_request_rate"] > low["achieved_request_rate"]
    assert spike["achieved_request_rate"] > after["achieved_request_rate"]
    for segment in segments:
        assert segment["metrics"]["time_to_first_token"]["avg"] > 0
        assert segment["metrics"]["request_count"]["avg"] == segment["requests_sent"] - segment["error_count"]
    assert sum(s["requests_sent"] for s in segments) == len(records) == len(simulator.truth())
    assert export["input_config"]["benchmark_duration"] == 4.5  # the schedule's length
    assert "load segment 2 from +3.00 s: request_rate 5 req/s (schedule)" in result.stderr
    table = (run / "load_segments.csv").read_text().splitlines()
    assert table[0].startswith("segment,start (s),target,") and len(table) == 4
    assert [row.split(",")[2] for row in table[1:]] == ["5 req/s", "30 req/s", "5 req/s"]
    assert "Load segments" in result.stdout and "30 req/s" in result.stdout


def test_a_run_with_a_fixed_load_has_no_segments_in_its_artifacts(run_cli: Any, tmp_path: Path) -> None:
    result = profile(run_cli, None, tmp_path, "--concurrency", "2", "--request-count", "6")
    assert result.returncode == 0, result.stderr
    run, export, _ = load_run(tmp_path)
    assert "load_segments" not in export and not (run / "load_segments.csv").exists()
    assert "Load segments" not in result.stdout and "load segment" not in result.stderr


BAD_SCHEDULES = {
    "gap.json": ('[\n {"duration": 60, "request_rate": 5},\n {"start": 70, "duration": 1, "request_rate": 9}'
                 "]",
                 "gap.json:3: entry 2 starts at 70 s but the entries before it end at 60 s (a gap)"),
    "overlap.json": ('[{"duration": 6, "request_rate": 5},\n {"start": 4, "duration": 1, "request_rate": 9}]',
                     "overlap.json:2: entry 2 starts at 4 s but the entries before it end at 6 s (an "),
    "both.json": ('[\n {"duration": 1, "request_rate": 5, "concurrency": 2}]',
                  "both.json:2: entry 1 has both request_rate and concurrency"),
    "negative.json": ('[{"duration": 1, "request_rate": 5},\n\n {"duration": -2, "request_rate": 5}]',
                      "negative.json:3: entry 2: duration -2 is not a number > 0"),
    "zero.json": ('[{"duration": 1, "request_rate": 0}]', "zero.json:1: entry 1: request_rate 0 is not"),
    "mixed.json": ('[{"duration": 1, "request_rate": 5},\n {"duration": 1, "concurrency": 5}]',
                   "mixed.json:2: entry 2 sets concurrency but the entries before it set request_rate"),
    "unknown.json": ('[{"duration": 1, "rate": 5}]', "unknown.json:1: entry 1 has unknown field(s) 'rate'"),
    "broken.json": ('[{"duration": 1, "request_rate": 5},\n {"duration": 1 "request_rate": 5}]',
                    "broken.json:2: --load-schedule is not valid JSON"),
    "empty.json": ("[]", "empty.json:1: --load-schedule is empty"),
    "object.json": ('{"duration": 1}', "object.json:1: --load-schedule must be a JSON array"),
}


def test_a_bad_schedule_file_is_one_line_with_file_and_line_before_any_request(
    run_cli: Any, tmp_path: Path, simulator: Simulator
) -> None:
    for name, (text, message) in BAD_SCHEDULES.items():
        schedule = tmp_path / name
        schedule.write_text(text)
        result = profile(run_cli, simulator.url, tmp_path / "art", "-m", "m", "--load-schedule",
                         str(schedule))
        assert result.returncode == 2, (name, result.stderr)
        assert message in result.stderr, (name, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr, name
    assert simulator.truth() == []  # not one request was sent
    assert not (tmp_path / "art").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--request-rate-ramp-duration", "5"), "--request-rate-ramp-duration needs --request-rate"),
        (("--request-rate", "5", "--concurrency-ramp-duration", "5"), "--concurrency-ramp-duration ramps a"),
        (("--request-rate-ramp-duration", "0", "--request-rate", "5"), "--request-rate-ramp-duration"),
    ],
)
def test_bad_ramp_flags_are_one_line_usage_errors(run_cli: Any, tmp_path: Path, args: tuple[str, ...],
                                                  message: str) -> None:
    result = profile(run_cli, None, tmp_path / "art", *args)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_schedule_that_sets_the_load_refuses_a_second_load_flag(run_cli: Any, tmp_path: Path) -> None:
    schedule = tmp_path / "steps.json"
    schedule.write_text('[{"duration": 1, "concurrency": 2}, {"duration": 1, "concurrency": 9}]')
    rates = tmp_path / "rates.json"
    rates.write_text('[{"duration": 1, "request_rate": 2}]')
    for file, args, message in (
        (schedule, ("--concurrency", "3"), "sets the concurrency; drop --concurrency"),
        (schedule, ("--max-concurrency", "8"), "steps.json:1: concurrency 9 is above --max-concurrency 8"),
        (rates, ("--request-rate", "3"), "sets the request rate; drop --request-rate"),
        (rates, ("--request-rate-ramp-duration", "2"), "--load-schedule already shapes the load"),
    ):
        result = profile(run_cli, None, tmp_path / "art", "--load-schedule", str(file), *args)
        assert result.returncode == 2 and message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1


# -- the plan's arithmetic -----------------------------------------------------------------------------


def test_a_rate_ramp_starts_proportionally_low_and_reaches_the_target_at_its_end() -> None:
    steps = rate_ramp_steps(100.0, 4.0)
    assert [(s.at_sec, s.value) for s in steps] == [(0, 20), (1, 40), (2, 60), (3, 80), (4, 100)]
    short = rate_ramp_steps(10.0, 0.5)  # shorter than a step: one step up, the target at its end
    assert [(s.at_sec, s.value) for s in short] == [(0, 5), (0.5, 10)]


def test_a_concurrency_ramp_adds_one_at_even_intervals_grouped_to_whole_seconds() -> None:
    assert [(s.at_sec, s.value) for s in concurrency_ramp_steps(4, 6.0)] == [(0, 1), (2, 2), (4, 3), (6, 4)]
    grouped = concurrency_ramp_steps(100, 3.0)  # 99 increments in 3 s: 3 steps of at least a second
    assert [(s.at_sec, s.value) for s in grouped] == [(0, 1), (1, 34), (2, 67), (3, 100)]
    assert [s.value for s in concurrency_ramp_steps(1, 5.0)] == [1]


def test_a_schedule_file_reads_in_order_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('[\n {"duration": 2, "concurrency": 1},\n\n {"start": 2, "duration": 3, "concurrency": 4}'
                    "]")
    entries = read_load_schedule(path)
    assert [(e.duration, e.kind, e.value, e.line) for e in entries] == [(2, "concurrency", 1, 2),
                                                                       (3, "concurrency", 4, 4)]
    path.write_text('[{"duration": 1, "request_rate": 1}] [1]')
    with pytest.raises(UsageError, match="more than one JSON array"):
        read_load_schedule(path)


def test_a_pace_change_keeps_past_instants_and_a_pause_resumes_without_a_burst() -> None:
    pace = Pace(t0_ns=1_000, speed=1.0)
    assert pace.due(500) == 1_500
    pace.change(at_ns=1_400, speed=2.0)  # twice as fast from 1,400 on (offset 400 was due then)
    assert pace.due(400) == 1_400 and pace.due(600) == 1_500
    pace.change(at_ns=1_500, paused=True)
    assert pace.due(700) is None
    pace.change(at_ns=9_000, paused=False)  # resumes where it stopped: offset 600 is due at once
    assert pace.due(600) == 9_000 and pace.due(700) == 9_050


def test_workers_share_one_arrival_stream_round_robin() -> None:
    def gaps(rate: float, rng: Any) -> Any:
        while True:
            yield rng.expovariate(rate)

    whole = list(ArrivalStream(gaps, 10.0, 7, first_id=100, count=9))
    shares = [list(ArrivalStream(gaps, 10.0, 7, 100, 9).share(i, 3)) for i in range(3)]
    assert sorted(item for share in shares for item in share) == whole
    assert [request_id for request_id, _ in shares[1]] == [101, 104, 107]
    assert [offset for _, offset in whole] == sorted(offset for _, offset in whole)
