"""`inferload compare`: A/B with confidence intervals and a CI gate, through the CLI as typed, on real runs
of the embedded simulator (one configured slower for the candidate)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from tests.scaled_runs import slower_copy

RUN = ("profile", "--request-count", "30", "--concurrency", "4", "--osl", "16", "--isl", "16",
       "--streaming", "--ui", "none", "--random-seed", "1")
GATE = ("--max-regression", "inter_token_latency.avg:10%", "request_latency.avg:10%")


SLOWER = 1.05
"""The candidate of the passing comparison: run ``a`` recorded again with every time 5 % longer and every
rate 5 % lower — a rerun's figures fixed by construction, inside the 10 % gate whatever the machine's load."""
EXPONENT = re.compile(r"\d[eE][+-]?\d")
"""A number in exponent form (``1.235e+04``), which tables meant for people never print."""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, inferload_exe: Path) -> dict[str, Path]:
    """A live run (``a``), its recording replayed 5 % slower (``b``), and a live run against a simulator
    whose decode step is four times as long (``slow``: the effect dwarfs a loaded machine's jitter)."""
    import subprocess

    from tests.conftest import build_env

    root = tmp_path_factory.mktemp("compare")
    out = {}
    for name, env in (("a", None), ("slow", {"INFERLOAD_SIM_DECODE_STEP_S": "0.02"})):
        result = subprocess.run([str(inferload_exe), *RUN, "--artifact-dir", str(root / name)],
                                env=build_env(env, ()), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        out[name] = root / name / "inferload-sim-chat-concurrency4"
    out["b"] = slower_copy(out["a"], root / "b", SLOWER)
    return out


def test_compare_of_a_rerun_within_the_threshold_passes_the_gate(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    result = run_cli("compare", runs["a"], runs["b"], *GATE, "-o", tmp_path / "compare.json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = json.loads((tmp_path / "compare.json").read_text())
    assert doc["passed"] and doc["breaches"] == []
    rows = {row["metric"]: row for row in doc["comparisons"][0]["rows"]}
    itl = rows["inter_token_latency.avg"]
    assert itl["change"] == pytest.approx(SLOWER - 1) and itl["regression"] == pytest.approx(SLOWER - 1)
    assert itl["interval_over"] == "requests" and itl["ci_low"] <= itl["change"] <= itl["ci_high"]
    assert itl["verdict"] == "ok" and rows["request_latency.avg"]["verdict"] == "ok"
    assert rows["time_to_first_token.p50"]["verdict"] == "-"
    assert rows["request_throughput.avg"]["change"] == pytest.approx(1 / SLOWER - 1)
    # Counts print as whole integers in the console table, never 1.234e+04 or 100.0.
    for tag in ("request_count.avg", "total_osl.avg"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(tag + " "))
        baseline, candidate = line.split()[1:3]
        assert f"{rows[tag]['baseline']:,.0f}" == baseline and f"{rows[tag]['candidate']:,.0f}" == candidate


def test_compare_exits_1_when_the_candidates_simulator_is_slower(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    result = run_cli("compare", runs["a"], runs["slow"], *GATE, "-o", tmp_path / "compare.json")
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads((tmp_path / "compare.json").read_text())
    rows = {row["metric"]: row for row in doc["comparisons"][0]["rows"]}
    assert rows["inter_token_latency.avg"]["verdict"] == "breach"
    assert rows["inter_token_latency.avg"]["ci_low"] > 0  # significant: the interval excludes no change
    assert rows["request_throughput.avg"]["regression"] > 0  # throughput fell: a regression too
    assert "inter_token_latency.avg" in doc["breaches"]
    assert "regression beyond threshold: request_latency.avg, inter_token_latency.avg" in result.stderr


def test_compare_reads_aiperf_profile_export_as_the_baseline(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    # an AIPerf run directory: profile_export_aiperf.json (metric blocks at the top, the endpoint type
    # under input_config.endpoint.type) beside its profile_export.jsonl of per-request records
    ours = json.loads((runs["a"] / "profile_export.json").read_text())
    aiperf = {tag: block for tag, block in ours.items() if isinstance(block, dict) and "unit" in block}
    aiperf["input_config"] = {"endpoint": {"type": "chat", "streaming": True}}
    (tmp_path / "aiperf").mkdir()
    (tmp_path / "aiperf" / "profile_export_aiperf.json").write_text(json.dumps(aiperf))
    records = (runs["a"] / "profile_export.jsonl").read_text()
    (tmp_path / "aiperf" / "profile_export.jsonl").write_text(records)
    result = run_cli("compare", tmp_path / "aiperf", runs["slow"], *GATE, "-o", tmp_path / "c.json")
    assert result.returncode == 1, result.stdout + result.stderr
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["comparisons"][0]["baseline_tool"] == "aiperf"
    assert {row["metric"] for row in doc["comparisons"][0]["rows"] if row["interval_over"] == "requests"}


def test_compare_prints_large_and_small_figures_in_plain_notation(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    # run a recorded 1000 times faster: rates of tens of thousands per second and times below 0.1 ms,
    # the two sizes the table once printed as 1.235e+04 and 1.235e-05
    fast = slower_copy(runs["a"], tmp_path / "fast", 0.001)
    result = run_cli("compare", fast, runs["a"], "-o", tmp_path / "compare.json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not EXPONENT.search(result.stdout), result.stdout
    rows = {row["metric"]: row for row in json.loads((tmp_path / "compare.json").read_text())
            ["comparisons"][0]["rows"]}
    for tag in ("output_token_throughput.avg", "inter_token_latency.avg"):
        line = next(line for line in result.stdout.splitlines() if line.startswith(tag + " "))
        shown = float(line.split()[1].replace(",", ""))
        assert shown == pytest.approx(rows[tag]["baseline"], rel=1e-3), line
    assert rows["output_token_throughput.avg"]["baseline"] >= 10_000
    assert rows["inter_token_latency.avg"]["baseline"] < 0.1


def test_compare_bad_input_is_one_line_and_exit_2(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    other = tmp_path / "emb"
    other.mkdir()
    doc = json.loads((runs["a"] / "profile_export.json").read_text())
    doc["input_config"]["endpoint_type"] = "embeddings"
    (other / "profile_export.json").write_text(json.dumps(doc))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "profile_export.json").write_text(json.dumps({"input_config": {"endpoint_type": "chat"}}))
    cases = {
        (runs["a"], other): "cannot compare different endpoint types (chat vs embeddings)",
        (runs["a"], empty): "have no metric in common",
        (runs["a"], tmp_path / "nowhere"): "does not exist",
        (runs["a"], tmp_path): "no readable profile_export.json",
        (runs["a"], runs["b"], "--max-regression", "ttft:5"): "is not 'metric.stat:PCT%'",
        (runs["a"], runs["b"], "--max-regression", "nonexistent_metric.p99:5%"): "not in both runs",
    }
    for args, message in cases.items():
        result = run_cli("compare", *args, "-o", tmp_path / "x.json")
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.stderr)
    assert not (tmp_path / "x.json").exists()


def test_compare_without_output_writes_no_file_into_the_working_directory(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    result = run_cli("compare", runs["a"], runs["b"], *GATE, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "inter_token_latency.avg" in result.stdout
    assert list(cwd.iterdir()) == [] and "written to" not in result.stderr


def test_compare_against_a_run_whose_every_request_failed_exits_3_naming_it(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    # a real run against a simulator whose context (8 tokens) is shorter than every prompt (16): each
    # request gets 400, so the run says is_complete: false; comparing against it is no release verdict
    failed = run_cli(*RUN, "--artifact-dir", tmp_path / "failed", env={"INFERLOAD_SIM_MAX_MODEL_LEN": "8"})
    assert failed.returncode == 1, failed.stderr
    candidate = tmp_path / "failed" / "inferload-sim-chat-concurrency4"
    result = run_cli("compare", runs["a"], candidate, *GATE[:2])
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == (
        f"inferload: error: candidate run {candidate} is incomplete: every one of its 30 profiling requests "
        "failed; re-run it, or give --allow-incomplete to compare it anyway")
    assert run_cli("compare", runs["a"], runs["a"], *GATE[:2]).returncode == 0  # complete: the gate's code


def few_requests_copy(run: Path, dest: Path, count: int, first_slower: float) -> Path:
    """``run``'s first ``count`` profiling requests as a run of their own, the first one's latency
    ``first_slower`` times as long, with the summary's ``request_latency.avg`` their mean: a large change
    resting on a handful of requests."""
    dest.mkdir(parents=True)
    records = [json.loads(line) for line in (run / "profile_export.jsonl").read_text().splitlines()]
    kept = [r for r in records if r["metadata"].get("benchmark_phase", "profiling") == "profiling"
            and not r["error"]][:count]
    kept[0]["metrics"]["request_latency"]["value"] *= first_slower
    (dest / "profile_export.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept))
    summary = json.loads((run / "profile_export.json").read_text())
    values = [r["metrics"]["request_latency"]["value"] for r in kept]
    summary["request_latency"]["avg"] = sum(values) / len(values)
    (dest / "profile_export.json").write_text(json.dumps(summary))
    return dest


def test_a_threshold_too_close_to_call_on_six_requests_is_inconclusive_not_ok(
    run_cli: Any, runs: dict[str, Path], tmp_path: Path
) -> None:
    base = few_requests_copy(runs["a"], tmp_path / "base", 6, 1.0)
    cand = few_requests_copy(runs["a"], tmp_path / "cand", 6, 20.0)  # one slow request in six: +300 % or so
    gate = ("--max-regression", "request_latency.avg:5%")
    result = run_cli("compare", base, cand, *gate, "-o", tmp_path / "compare.json")
    assert result.returncode == 0, result.stdout + result.stderr  # the rule: noise alone never fails
    doc = json.loads((tmp_path / "compare.json").read_text())
    row = next(r for r in doc["comparisons"][0]["rows"] if r["metric"] == "request_latency.avg")
    assert row["regression"] > 0.05 and row["ci_low"] <= 0 and row["samples"] == [6, 6]
    assert row["verdict"] == "inconclusive" and doc["breaches"] == [] and doc["passed"]
    line = next(line for line in result.stdout.splitlines() if line.startswith("request_latency.avg "))
    assert line.endswith(" inconclusive") and " ok" not in line
    said = [line for line in result.stderr.splitlines() if line.startswith("inferload: inconclusive: ")]
    assert len(said) == 1 and doc["inconclusive"] == [said[0].removeprefix("inferload: inconclusive: ")]
    assert "(6 vs 6 requests)" in said[0] and "--request-count" in said[0] and "--num-profile-runs" in said[0]
    strict = run_cli("compare", base, cand, *gate, "--strict", "-o", tmp_path / "strict.json")
    assert strict.returncode == 4, strict.stdout + strict.stderr
    assert json.loads((tmp_path / "strict.json").read_text())["passed"] is False
