"""bench/ keeps working: the runner lists its benchmarks and runs the start-up one (figures not judged;
benchmarks are never part of the pass/fail, but a runner that no longer runs would go unnoticed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
        "  conc               mean ms",  # this header is not aligned with its rows; its labels stay whole
        "    1   0.390/0.400/0.410",
        "  256   0.900/1.340/11.000  req/s 9,100/10,000/12,050",
    ]
    assert run.spread_lines(runs[:1]) == [
        "## TTFT error", "  conc   mean ms", "    1   0.410", "  256   1.340  req/s 9,100",
    ]


def test_spread_widens_a_right_aligned_table_so_labels_and_figures_still_end_in_one_column() -> None:
    run = _runner()
    runs = [[" conc  mean ms  p99 ms", "    1    0.410   2.000", "   64    1.340   3.000"],
            [" conc  mean ms  p99 ms", "    1    0.390   2.000", "   64   11.000   4.000"]]
    header, *rows = run.spread_lines(runs)
    assert rows == ["    1     0.390/0.400/0.410               2.000",
                    "   64    1.340/6.170/11.000   3.000/3.500/4.000"]
    label_ends = [header.index(label) + len(label) for label in ("conc", "mean ms", "p99 ms")]
    for row in rows:
        assert [match.end() for match in re.finditer(r"\S+", row)] == label_ends


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


PLACEMENT_PROBE = """
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import bench_client
usable = sorted(os.sched_getaffinity(0))
bench_client.PLACEMENT = bench_client.place(sys.argv[2] == "pin")
server = bench_client.Server(ttft_s=0.001, itl_s=0.001)
try:
    import httpx
    truth = {}
    for attempt in range(50):  # Linux enables receive stamps lazily: the first segments may be unstamped
        rid = f"r{attempt}"
        before = time.time_ns() - time.monotonic_ns()
        with httpx.Client() as client:
            client.post(f"{server.url}/v1/chat/completions", headers={"X-Request-Id": rid}, content=b"{}")
        truth = server.truth()["truth"][rid]
        stepped = abs(time.time_ns() - time.monotonic_ns() - before) > 100_000  # the wall clock stepped
        if truth[2] and not stepped:
            break
    print(json.dumps({"usable": usable, "client": sorted(os.sched_getaffinity(0)),
                      "server": sorted(os.sched_getaffinity(server.process.pid)), "truth": truth,
                      "described": bench_client.PLACEMENT.describe()}))
finally:
    server.stop()
"""


def _placement(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PLACEMENT_PROBE, str(REPO_ROOT / "bench"), mode],
                          capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="pinning needs 2 or more usable CPUs")
def test_client_bench_pins_its_server_and_inferload_to_disjoint_cpus_and_no_pin_shares_them() -> None:
    pinned = _placement("pin")
    server, client, usable = set(pinned["server"]), set(pinned["client"]), set(pinned["usable"])
    assert server and client and not server & client and server | client == usable
    assert f"bench server on CPU {','.join(map(str, sorted(server)))}" in pinned["described"]
    shared = _placement("no-pin")
    assert set(shared["server"]) == set(shared["client"]) == set(shared["usable"])
    assert shared["described"].startswith("CPU placement: none")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_TIMESTAMPNS receive stamps are Linux's")
def test_client_bench_server_truth_orders_kernel_receive_read_send_start_and_send_return() -> None:
    read_ns, written_ns, kernel_ns, send_ns, read_mono, written_mono = _placement("no-pin")["truth"]
    assert 0 < kernel_ns <= read_ns <= send_ns <= written_ns
    assert read_mono < written_mono
