"""What a new user sees on the console of a plain run, through the real ``inferload profile`` CLI against
the built-in simulator: each progress count once, no timing lines without ``-v`` (they are in the run's log
file), and a dataset line whose figures are what the run sends."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import artifact_dir, read_jsonl, start_simulator

SMALL = ("--isl", "8", "--osl", "2", "--api-linger", "0")
TIMING = ("worker process(es) ready", "final statistics of", "summary sections took")


def progress_counts(stderr: str) -> list[str]:
    """The counts part of each simple-view line: ``[profiling] 20/20 requests, 100%, 20 sent``."""
    return [re.sub(r", [\d,.]+ req/s.*", "", line) for line in stderr.splitlines()
            if line.startswith("inferload: [")]


def test_the_simple_view_shows_each_progress_count_once(run_cli: Any, tmp_path: Path) -> None:
    result = run_cli("profile", "--ui", "simple", "--request-count", "20", "--warmup-request-count", "3",
                     "--artifact-dir", tmp_path, *SMALL)
    assert result.returncode == 0, result.stderr
    counts = progress_counts(result.stderr)
    assert counts[-1].startswith("inferload: [profiling] 20/20 requests, 100%, 20 sent"), counts
    assert any(line.startswith("inferload: [warmup] 3/3") for line in counts), counts
    assert len(counts) == len(set(counts)), counts  # the end of a phase and the close do not repeat it


def test_timing_lines_go_to_the_log_file_and_to_the_console_only_with_verbose(
    run_cli: Any, tmp_path: Path
) -> None:
    quiet = run_cli("profile", "--ui", "none", "--request-count", "4", "--artifact-dir", tmp_path / "q",
                    *SMALL)
    assert quiet.returncode == 0, quiet.stderr
    assert not [line for line in quiet.stderr.splitlines() if any(t in line for t in TIMING)], quiet.stderr
    log = (artifact_dir(tmp_path / "q") / "logs" / "inferload.log").read_text()
    for timing in TIMING:  # bench/bench_long_run.py reads them there
        assert timing in log, (timing, log)
    verbose = run_cli("profile", "-v", "--ui", "none", "--request-count", "4", "--artifact-dir",
                      tmp_path / "v", *SMALL)
    assert verbose.returncode == 0, verbose.stderr
    for timing in TIMING:
        assert timing in verbose.stderr, timing


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("--request-count", "20"), "dataset synthetic: 20 requests using 20 of the 100 prompts built"),
        (("--request-count", "25", "--num-dataset-entries", "10"),
         "dataset synthetic: 25 requests cycling through the 10 prompts built"),
        (("--request-count", "6", "--warmup-request-count", "2"),
         "dataset synthetic: 8 requests (2 warmup, 6 profiling) using 8 of the 100 prompts built"),
        (("--benchmark-duration", "0.5", "--num-dataset-entries", "30"),
         "dataset synthetic: requests for 0.5 s cycling through the 30 prompts built"),
    ],
    ids=["fewer-requests", "more-requests", "with-warmup", "duration"],
)
def test_the_dataset_line_says_what_the_run_sends_from_the_prompts_built(
    run_cli: Any, tmp_path: Path, args: tuple[str, ...], line: str
) -> None:
    result = run_cli("profile", "--ui", "none", "--artifact-dir", tmp_path, *args, *SMALL)
    assert result.returncode == 0, result.stderr
    said = [text for text in result.stderr.splitlines() if "dataset synthetic:" in text]
    assert said == [f"inferload: INFO: {line}"], result.stderr


def test_requests_cut_at_the_grace_period_show_as_cancelled_on_the_live_line_and_under_the_table(
    run_cli: Any, tmp_path: Path
) -> None:
    # closed-loop load keeps 2 requests in flight; the duration's end with no grace period cuts them
    result = run_cli("profile", "--ui", "simple", "--benchmark-duration", "1.5", "--benchmark-grace-period",
                     "0", "--concurrency", "2", "--isl", "8", "--osl", "40", "--api-linger", "0",
                     "--artifact-dir", tmp_path)
    run = artifact_dir(tmp_path)
    records = [json.loads(line) for line in (run / "profile_export.jsonl").read_text().splitlines()]
    cut = sum(1 for r in records if (r.get("error") or {}).get("type") == "cancelled")
    assert cut >= 1, result.stderr
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["error_request_count"]["avg"] == cut  # the results count them among the errors
    final = progress_counts(result.stderr)[-1]
    assert f" {cut} cancelled" in final, final  # ... and the live line says what they were
    footnote = f"{cut} cancelled: Error Request Count includes {cut} request"
    assert footnote in (run / "profile_export_console.txt").read_text()


def test_after_two_ctrl_cs_the_live_line_agrees_with_the_results_table(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    # a trial saw `9/40 requests, 15%, 9 sent, 0 errors`; the table said 6 requests, 3 errors, 3 cancelled
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.05",
                          "--decode-step-per-seq-s", "0", "--served-model-name", "m")
    try:
        run = subprocess.Popen(
            [str(inferload_exe), "profile", "--url", sim.url, "-m", "m", "--streaming", "--isl", "8", "--osl",
             "20", "--request-count", "40", "--concurrency", "3", "--ui", "simple", "--api-linger", "0",
             "--artifact-dir", str(tmp_path / "art")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
        deadline = time.monotonic() + 60
        while len(sim.truth()) < 4 and time.monotonic() < deadline:  # some finished, 3 in flight
            time.sleep(0.05)
        run.send_signal(signal.SIGINT)
        time.sleep(0.3)
        run.send_signal(signal.SIGINT)
        _, stderr = run.communicate(timeout=60)
    finally:
        sim.stop()
    assert run.returncode == 130, stderr
    final = progress_counts(stderr)[-1]
    match = re.search(r"\] (\d+)/40 requests, (\d+)%, (\d+) sent", final)
    assert match, final
    done, pct, sent = map(int, match.groups())
    assert pct == round(100 * done / 40) and done == sent, final  # every request sent has finished
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    cut = sum(1 for r in records if (r.get("error") or {}).get("type") == "cancelled")
    errors = sum(1 for r in records if r.get("error")) - cut
    assert len(records) == done and cut >= 1, final
    assert f" {cut} cancelled" in final and (f" {errors} errors" in final) == bool(errors), final
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["request_count"]["avg"] == done - cut - errors
    assert summary["error_request_count"]["avg"] == cut + errors
