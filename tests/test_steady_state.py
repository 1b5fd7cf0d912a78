"""The steady-state window in profile_export.json: bounds by the stated rule, checked against the
per-request records the same run wrote, and whole-run figures kept beside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _spans(run_dir: Path) -> list[tuple[int, int]]:
    lines = (run_dir / "profile_export.jsonl").read_text().splitlines()
    records = [json.loads(line)["metadata"] for line in lines if line.strip()]
    return sorted((m["request_start_ns"], m["request_end_ns"]) for m in records
                  if m["benchmark_phase"] == "profiling")


def test_concurrency_run_reports_a_steady_window_from_full_concurrency_to_the_last_send(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--concurrency", "4", "--request-count", "40", "--osl", "8", "--isl", "8",
                     "--streaming", "--ui", "none", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "inferload-sim-chat-concurrency4"
    summary = json.loads((run_dir / "profile_export.json").read_text())
    steady = summary["steady_state"]
    window = steady["window"]
    spans = _spans(run_dir)
    assert window["end_ns"] == spans[-1][0]  # the last send
    in_flight_at_start = sum(1 for s, e in spans if s <= window["start_ns"] < e)
    assert in_flight_at_start == 4  # the concurrency target is reached exactly at the start
    assert all(sum(1 for s, e in spans if s <= t < e) < 4 for t, _ in spans if t < window["start_ns"])
    # the JSONL's end is the last byte, as the window's: the same requests by either count
    inside = [e for _, e in spans if window["start_ns"] <= e <= window["end_ns"]]
    assert window["request_count"] == len(inside) and 0 < len(inside) < 40
    assert steady["metrics"]["request_count"]["avg"] == len(inside)
    assert abs(steady["metrics"]["request_throughput"]["avg"] - len(inside) / window["duration_sec"]) < 1e-6
    assert summary["request_count"]["avg"] == 40  # the whole run beside it
    assert set(steady["metrics"]) <= set(summary) and "time_to_first_token" in steady["metrics"]


def test_rate_run_window_starts_at_the_first_response_and_a_too_short_run_says_why(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--request-rate", "50", "--request-count", "20", "--osl", "4", "--isl", "8",
                     "--ui", "none", "--artifact-dir", tmp_path / "rate")
    assert result.returncode == 0, result.stderr
    run_dir = next((tmp_path / "rate").iterdir())
    window = json.loads((run_dir / "profile_export.json").read_text())["steady_state"]["window"]
    spans = _spans(run_dir)
    assert window["start_ns"] == min(e for _, e in spans) and "rate mode" in window["rule"]
    result = run_cli("profile", "--concurrency", "4", "--request-count", "1", "--osl", "4", "--isl", "8",
                     "--ui", "none", "--artifact-dir", tmp_path / "short")
    assert result.returncode == 0, result.stderr
    steady = json.loads(next((tmp_path / "short").glob("*/profile_export.json")).read_text())["steady_state"]
    assert steady["window"] is None and steady["metrics"] == {} and "too short" in steady["reason"]


def test_server_metrics_block_is_summarised_over_the_steady_state_blocks_window(
    run_cli: Any, tmp_path: Path
) -> None:
    result = run_cli("profile", "--concurrency", "4", "--request-count", "60", "--osl", "16", "--isl", "8",
                     "--streaming", "--server-metrics-interval", "0.05", "--ui", "none",
                     "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "inferload-sim-chat-concurrency4"
    summary = json.loads((run_dir / "profile_export.json").read_text())
    window = summary["steady_state"]["window"]
    block = summary["server_metrics"]
    # one definition: the server-metrics window is the steady-state block's, to the nanosecond
    assert block["windows"]["steady_state"] == {"start_ns": window["start_ns"], "end_ns": window["end_ns"]}
    assert block["windows"]["profiling"]["start_ns"] < window["start_ns"]  # no 10 % trim: the in-flight rule
    # and its stats are the scrapes inside that window, no more, no fewer
    scrapes = [json.loads(line) for line in (run_dir / "server_metrics.jsonl").read_text().splitlines()]
    inside = [s for s in scrapes if s["ok"] and window["start_ns"] <= s["timestamp_ns"] <= window["end_ns"]]
    (series,) = block["families"]["vllm:num_requests_running"]["series"]
    assert inside and series["steady_state"]["count"] == len(inside)
    running = [row["value"] for scrape in inside for row in scrape["series"]
               if row["family"] == "vllm:num_requests_running"]
    assert series["steady_state"]["max"] == max(running) and series["steady_state"]["min"] == min(running)
