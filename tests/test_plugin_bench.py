"""bench/ keeps working: the runner lists its benchmarks and runs the start-up one (figures not judged;
benchmarks are never part of the pass/fail, but a runner that no longer runs would go unnoticed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "bench" / "run.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_runner_lists_every_bench_module() -> None:
    done = bench("--list")
    assert done.returncode == 0, done.stderr
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    assert listed == {p.stem.removeprefix("bench_") for p in (REPO_ROOT / "bench").glob("bench_*.py")}
    assert "startup" in listed


def test_startup_bench_reports_every_command(tmp_path: Path) -> None:
    out = tmp_path / "startup.json"
    done = bench("startup", "--repeat", "2", "--", "--runs", "1", "--warmup", "0", "--json", str(out))
    assert done.returncode == 0, done.stderr
    assert "(run 2 of 2)" in done.stdout
    assert "=== bench startup: figures over 2 runs, as min/median/max where they varied" in done.stdout
    for command in ("python -c pass", "inferload --help", "inferload plugins"):
        assert command in done.stdout
    figures = json.loads(out.read_text())["figures"]
    assert figures["python -c pass"]["ratio_to_python"] == 1.0
    assert all(row["median_ms"] > 0 for row in figures.values())
    assert "startup              ok" in done.stdout


def test_runner_rejects_an_unknown_benchmark() -> None:
    done = bench("no-such-bench")
    assert done.returncode == 2
    assert "unknown benchmark no-such-bench" in done.stderr


def test_runner_rejects_a_repeat_below_one() -> None:
    done = bench("startup", "--repeat", "0")
    assert done.returncode == 2
    assert "--repeat 0: give at least 1 run" in done.stderr


def _runner() -> object:
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    try:
        import run  # bench/run.py
    finally:
        sys.path.remove(str(REPO_ROOT / "bench"))
    return run


def test_spread_shows_min_median_max_of_varying_figures_under_their_headings_and_headers() -> None:
    run = _runner()
    runs = [
        ["## TTFT error", "  conc   mean ms", "    1   0.410", "  256   1.340  req/s 9,100", "tmp /x/a1 ok"],
        ["## TTFT error", "  conc   mean ms", "    1   0.390", "  256   0.900  req/s 12,050", "tmp /x/b2 ok"],
        ["## TTFT error", "  conc   mean ms", "    1   0.400", "  256  11.000  req/s 10,000", "tmp /x/c3 ok"],
    ]
    assert run.spread_lines(runs) == [
        "## TTFT error",
        "  conc   mean ms",
        "    1   0.390/0.400/0.410",
        "  256   0.900/1.340/11.000  req/s 9,100/10,000/12,050",
    ]
    assert run.spread_lines(runs[:1]) == [
        "## TTFT error", "  conc   mean ms", "    1   0.410", "  256   1.340  req/s 9,100",
    ]


def test_targets_are_counted_over_the_runs_and_left_out_of_the_spread() -> None:
    run = _runner()
    runs = [
        ["  256   0.600", "target error c=256 (mean < 1 ms): met", "target error c=1 (mean < 1 ms): met"],
        ["  256   1.300", "target error c=256 (mean < 1 ms): missed", "target error c=1 (mean < 1 ms): met"],
        ["  256   0.800", "target error c=256 (mean < 1 ms): met", "target error c=1 (mean < 1 ms): met"],
    ]
    assert run.spread_lines(runs) == ["  256   0.600/0.800/1.300"]
    assert run.target_tally(runs) == [
        ("error c=256 (mean < 1 ms)", 2, 3),
        ("error c=1 (mean < 1 ms)", 3, 3),
    ]
