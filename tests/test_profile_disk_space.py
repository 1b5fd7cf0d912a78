"""A disk that fills up ends the run before it is full (run guard ``disk-space``), through the real
``inferload profile`` CLI against a real simulator process. The free space is made short for real by
asking the guard to keep more than the disk has (``--disk-reserve-mb``, ``INFERLOAD_DISK_RESERVE_MB``):
one line naming the directory, its free space and the fix, exit 1, ``is_complete`` false, every request
sent in the JSONL and the statistics computed from them. A run with room is untouched, the guard can be
disabled, and a reserve that is not a number >= 0 is a usage error. A disk that refuses a write anyway (a
file-size limit; a full tmpfs when run as root) ends the run with one line naming the file and keeps what
the disk holds."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator

COMMON = ("-m", "m", "--endpoint-type", "chat", "--streaming", "--isl", "8", "--osl", "4", "--ui", "simple",
          "--api-linger", "0", "--concurrency", "2")
HUGE_RESERVE_MB = str(2**40)
"""An exabyte: more than any disk holds (refused as a usage error, or where the guard is off, unused)."""


def reserve_over_free(path: Path) -> str:
    """A reserve (MiB) larger than ``path``'s disk has free but smaller than the whole disk: the guard
    trips at its first look, before anything is sent."""
    stat = os.statvfs(path)
    return str(stat.f_blocks * stat.f_frsize // 2**20 - 1)


def test_a_disk_short_of_the_reserve_at_the_start_ends_the_run_before_anything_is_sent(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        result = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "60",
                         "--artifact-dir", tmp_path / "art", timeout=180,
                         env={"INFERLOAD_DISK_RESERVE_MB": reserve_over_free(tmp_path)})
        whole = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "60",
                        "--artifact-dir", tmp_path / "whole",
                        env={"INFERLOAD_DISK_RESERVE_MB": HUGE_RESERVE_MB})
        overflow = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "60",
                           "--artifact-dir", tmp_path / "overflow", "--disk-reserve-mb", "1e308")
        summary_level = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "60",
                                "--artifact-dir", tmp_path / "summary", "--export-level", "summary",
                                env={"INFERLOAD_DISK_RESERVE_MB": reserve_over_free(tmp_path)})
    finally:
        sim.stop()
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "the disk is nearly full" in line]
    assert line.startswith("inferload: ERROR: stopped early: the disk is nearly full: ")
    assert f"MiB free in the artifact directory {tmp_path / 'art'}, under the " in line
    assert "MiB kept for the end of the run (--disk-reserve-mb); free space there or give " \
           "--artifact-dir on a disk with more room (or --export-level summary: no line per request, " \
           "~60 % less disk); every request sent is in the artifacts" in line
    # a run that writes no line per request is not told to stop writing them
    assert summary_level.returncode == 1, summary_level.stderr
    assert "on a disk with more room; every request sent is in the artifacts" in summary_level.stderr
    assert "--export-level summary:" not in summary_level.stderr
    run = artifact_dir(tmp_path / "art")
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["is_complete"] is False and summary["was_cancelled"] is False
    assert summary["client_health"]["warnings"][0] == line.removeprefix("inferload: ERROR: ")
    assert read_jsonl(run / "profile_export.jsonl") == []  # looked before the first request: none sent
    # a reserve the disk could never keep is a usage error, before anything starts
    for refused, where in ((whole, "whole"), (overflow, "overflow")):
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stderr and not (tmp_path / where).exists()
        assert "--disk-reserve-mb" in refused.stderr or "INFERLOAD_DISK_RESERVE_MB" in refused.stderr
    assert "is more than the whole disk of" in whole.stderr


def test_a_run_with_room_is_untouched_the_guard_can_be_disabled_and_a_bad_reserve_is_refused(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        roomy = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                        "--artifact-dir", tmp_path / "roomy", env={"INFERLOAD_DISK_RESERVE_MB": "0"})
        disabled = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                           "--disable-plugin", "guard-disk-space", "--artifact-dir", tmp_path / "off")
        # the reserve belongs to the guard: given while the guard is off, it is refused
        orphan = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                         "--disable-plugin", "guard-disk-space", "--artifact-dir", tmp_path / "orphan",
                         env={"INFERLOAD_DISK_RESERVE_MB": HUGE_RESERVE_MB})
        bad = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                      "--artifact-dir", tmp_path / "bad", env={"INFERLOAD_DISK_RESERVE_MB": "lots"})
        negative = run_cli("profile", "--url", sim.url, *COMMON, "--benchmark-duration", "2",
                           "--artifact-dir", tmp_path / "negative", "--disk-reserve-mb", "-1")
    finally:
        sim.stop()
    for result, where in ((roomy, "roomy"), (disabled, "off")):
        assert result.returncode == 0, result.stderr
        assert "stopped early" not in result.stderr
        summary = json.loads((artifact_dir(tmp_path / where) / "profile_export.json").read_text())
        assert summary["is_complete"] is True
    # a reserve that is not a number >= 0 is a usage error, before the artifact directory is touched
    for result, where in ((bad, "bad"), (negative, "negative"), (orphan, "orphan")):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr and not (tmp_path / where).exists()
    assert "INFERLOAD_DISK_RESERVE_MB" in bad.stderr and "--disk-reserve-mb" in negative.stderr
    assert "belongs to plugin guard-disk-space, which is disabled" in orphan.stderr


FILE_SIZE_LIMIT = 3_000_000
"""RLIMIT_FSIZE of the run (bytes): its JSONL spool (~1.3 kB a request) passes it after ~2,300 requests,
every other file of a short run stays under it."""


def limited_file_size() -> None:
    """In the run's process, before it starts: files may not grow past :data:`FILE_SIZE_LIMIT` (a write
    beyond fails with EFBIG, as a full disk fails with ENOSPC; SIGXFSZ ignored, so the write fails rather
    than the process dying)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))


def check_write_failure_end(result: Any, run: Path, reason: str, fix: str, *, summary_written: bool) -> None:
    """The end of a run whose record spool could not be written: exit 1, one line naming the spool, no
    traceback, every JSONL line whole and the stored count as said, every request sent counted."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "Logging error" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "could not write the record store" in line]
    match = re.fullmatch(
        r"inferload: ERROR: stopped early: could not write the record store's temporary file "
        rf"\(inferload-(?:lines|records|values)-\) in {re.escape(str(run))}: {reason}; {re.escape(fix)}; the "
        r"([\d,]+) request\(s\) stored before are in profile_export.jsonl; those that finish after are "
        r"counted in the statistics only", line)
    assert match, line
    stored = int(match.group(1).replace(",", ""))
    records = read_jsonl(run / "profile_export.jsonl")  # every line whole: none torn by the full disk
    assert len(records) == stored > 0
    sent = int(re.findall(r"^inferload: \[profiling\] (\d+)(?:/\d+)? requests", result.stderr, re.M)[-1])
    assert "records arrived (a worker was lost)" not in result.stderr
    if summary_written:
        summary = json.loads((run / "profile_export.json").read_text())
        assert summary["is_complete"] is False and summary["was_cancelled"] is False
        warnings = summary["client_health"]["warnings"]
        assert line.removeprefix("inferload: ERROR: ") in warnings
        assert summary["request_count"]["avg"] == sent  # every request sent is counted
        missing = [w for w in warnings if w.endswith("finished after the disk was full are counted in the "
                                                     "statistics but missing from profile_export.jsonl")]
        expected = (f"{sent - stored} request(s) that finished after the disk was full are counted in the "
                    "statistics but missing from profile_export.jsonl")
        assert missing == ([expected] if sent > stored else [])


def test_a_spool_the_os_refuses_to_write_ends_the_run_with_one_line_naming_it_and_keeps_the_rest(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        result = subprocess.run(
            [str(inferload_exe), "profile", "--url", sim.url, *COMMON, "--benchmark-duration", "60",
             "--artifact-dir", str(tmp_path / "art")],
            capture_output=True, text=True, timeout=180, env=cli_env(), preexec_fn=limited_file_size)
    finally:
        sim.stop()
    check_write_failure_end(result, artifact_dir(tmp_path / "art"), "File too large",
                            "raise the file-size limit (ulimit -f)", summary_written=True)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs: a real disk that fills up (needs root; skipped otherwise)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True) if os.geteuid() == 0 else None
    if made is None or made.returncode != 0:
        pytest.skip("a small tmpfs needs root (mount -t tmpfs)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def profile_against_simulator(run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path, *args: Any,
                              **kwargs: Any) -> Any:
    """``inferload profile`` (COMMON, ``args``) against a fast simulator started for it, stopped after."""
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        return run_cli("profile", "--url", sim.url, *COMMON, *args, **kwargs)
    finally:
        sim.stop()


def test_a_disk_that_fills_up_past_the_guard_ends_the_run_cleanly_with_its_summary(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path, small_tmpfs: Path
) -> None:
    # the guard off (as when another process fills the disk faster than it looks): the writes fail
    result = profile_against_simulator(run_cli, inferload_exe, cli_env, tmp_path,
                                       "--benchmark-duration", "120", "--disable-plugin", "guard-disk-space",
                                       "--artifact-dir", small_tmpfs / "art", timeout=240)
    # the end reserve gave the end its room back: the summary is written, with the line
    check_write_failure_end(result, artifact_dir(small_tmpfs / "art"), "No space left on device",
                            "free space there or give --artifact-dir on a disk with more room (or "
                            "--export-level summary: no line per request)",
                            summary_written=True)


def test_a_nearly_full_temporary_directory_of_its_own_ends_the_run_naming_tmpdir(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path, small_tmpfs: Path
) -> None:
    # the artifact directory's disk has room for a 100 MiB reserve; TMPDIR's 16 MiB holds less than the
    # 16 MiB kept there (the server-metrics spool grows there)
    result = profile_against_simulator(run_cli, inferload_exe, cli_env, tmp_path,
                                       "--benchmark-duration", "60", "--artifact-dir", tmp_path / "art",
                                       "--disk-reserve-mb", "100", timeout=180,
                                       env={"TMPDIR": str(small_tmpfs)})
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "the disk is nearly full" in line]
    assert f"free in the temporary directory {small_tmpfs}, under the 16.0 MiB kept for the end" in line, line
    assert "free space there or point TMPDIR at a disk with more room" in line
    summary = json.loads((artifact_dir(tmp_path / "art") / "profile_export.json").read_text())
    assert summary["is_complete"] is False
