"""A disk that fills up ends the run before it is full (run guard ``disk-space``), through the real
``inferload profile`` CLI against a real simulator process. The free space is made short for real by
asking the guard to keep more than the disk has (``INFERLOAD_DISK_RESERVE_MB``): one line naming the
directory, its free space and the fix, exit 1, ``is_complete`` false, every request sent in the JSONL and
the statistics computed from them. A run with room is untouched, the guard can be disabled, and a reserve
that is not a number is reported and the run goes on without the guard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator

COMMON = ("-m", "m", "--endpoint-type", "chat", "--streaming", "--isl", "8", "--osl", "4", "--ui", "simple",
          "--api-linger", "0", "--concurrency", "2")
HUGE_RESERVE_MB = str(2**40)
"""An exabyte: more than any disk holds, so the guard trips at its first look."""


def test_a_disk_short_of_the_reserve_ends_the_run_early_with_one_line_exit_1_and_every_record(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        result = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "60",
                         "--artifact-dir", tmp_path / "art", timeout=180,
                         env={"INFERLOAD_DISK_RESERVE_MB": HUGE_RESERVE_MB})
    finally:
        sim.stop()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "the disk is nearly full" in line]
    assert line.startswith("inferload: ERROR: stopped early: the disk is nearly full: ")
    assert f"free in the artifact directory {tmp_path / 'art'}, under the " in line
    assert "kept for the end of the run (INFERLOAD_DISK_RESERVE_MB); free space there or give " \
           "--artifact-dir on a disk with more room; every request sent is in the artifacts" in line
    run = artifact_dir(tmp_path / "art")
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["is_complete"] is False and summary["was_cancelled"] is False
    assert summary["client_health"]["warnings"][0] == line.removeprefix("inferload: ERROR: ")
    records = read_jsonl(run / "profile_export.jsonl")
    sent = re.findall(r"^inferload: \[profiling\] (\d+)(?:/\d+)? requests", result.stderr, re.MULTILINE)
    assert len(records) == int(sent[-1])  # every request sent is a record
    assert not [r for r in records if r.get("error")]  # the server was fine: the disk stopped the run
    assert summary["request_count"]["avg"] == len(records)  # the results are those of what was recorded


def test_a_run_with_room_is_untouched_and_the_guard_can_be_disabled_or_misconfigured(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        roomy = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                        "--artifact-dir", tmp_path / "roomy", env={"INFERLOAD_DISK_RESERVE_MB": "0"})
        disabled = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                           "--disable-plugin", "guard-disk-space", "--artifact-dir", tmp_path / "off",
                           env={"INFERLOAD_DISK_RESERVE_MB": HUGE_RESERVE_MB})
        bad = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                      "--artifact-dir", tmp_path / "bad", env={"INFERLOAD_DISK_RESERVE_MB": "lots"})
    finally:
        sim.stop()
    for result, where in ((roomy, "roomy"), (disabled, "off"), (bad, "bad")):
        assert result.returncode == 0, result.stderr
        assert "stopped early" not in result.stderr
        summary = json.loads((artifact_dir(tmp_path / where) / "profile_export.json").read_text())
        assert summary["is_complete"] is True
    assert "INFERLOAD_DISK_RESERVE_MB='lots': give the free space to keep in MiB" in bad.stderr
    assert "the run goes on without it" in bad.stderr
