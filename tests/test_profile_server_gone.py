"""A server that dies mid-run ends the run early and honestly (run guard ``server-gone``), through the real
``inferload profile`` CLI against a real simulator process that the test kills: one line saying when and
with what error, how many requests had succeeded before, exit 1, ``is_complete`` false, every request sent
in the JSONL; closed loop (--concurrency) and open loop (--request-rate). A healthy run is untouched, and
``--disable-plugin guard-server-gone`` turns the guard off."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator

COMMON = ("-m", "m", "--endpoint-type", "chat", "--streaming", "--isl", "8", "--osl", "4", "--ui", "simple",
          "--api-linger", "0")


def run_and_kill_server(inferload_exe: Path, cli_env: Any, tmp_path: Path, *load: str,
                        duration: str = "600") -> subprocess.CompletedProcess[str]:
    """Start a simulator and a profile run against it; kill the simulator once it has answered 5
    requests; wait for the run to end by itself."""
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        run = subprocess.Popen(
            [str(inferload_exe), "profile", "--url", sim.url, *COMMON, *load, "--benchmark-duration",
             duration, "--artifact-dir", str(tmp_path / "art")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
        deadline = time.monotonic() + 60
        while len(sim.truth()) < 5 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.1)
    finally:
        sim.process.kill()
        sim.process.wait()
    try:
        stdout, stderr = run.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        run.kill()
        stdout, stderr = run.communicate()
        pytest.fail(f"the run went on after its server died:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)


@pytest.mark.parametrize(("load", "duration", "outcome"), [
    (("--concurrency", "2"), "600", "stopped early"),  # a closed loop spinning on refusals: stopped at once
    (("--request-rate", "20"), "600", "stopped early"),  # an open loop: after 2 s of refusals
    (("--request-rate", "10"), "2", "the run failed"),  # dead in the last 2 s: the run ends, and failed
], ids=["concurrency", "request-rate", "dead-at-the-end"])
def test_a_server_killed_mid_run_ends_it_early_with_one_line_exit_1_and_every_record(
    inferload_exe: Path, cli_env: Any, tmp_path: Path, load: tuple[str, str], duration: str, outcome: str
) -> None:
    result = run_and_kill_server(inferload_exe, cli_env, tmp_path, *load, duration=duration)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "the server stopped accepting" in line]
    assert line.startswith(f"inferload: ERROR: {outcome}: the server stopped accepting connections ")
    assert " s into the run: all " in line and "failed with a connection error (" in line
    assert "request(s) had succeeded before" in line and "every request sent is in the artifacts" in line
    run = artifact_dir(tmp_path / "art")
    records = read_jsonl(run / "profile_export.jsonl")
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["is_complete"] is False and summary["was_cancelled"] is False
    assert summary["client_health"]["warnings"][0] == line.removeprefix("inferload: ERROR: ")
    ok = [r for r in records if not r.get("error")]
    failed = [r for r in records if (r.get("error") or {}).get("type") == "connection_error"]
    assert len(ok) >= 5 and f"{len(ok):,} request(s) had succeeded before" in line
    assert len(ok) + len(failed) == len(records)  # nothing else went wrong: no timeout, no cancellation
    sent = re.findall(r"^inferload: \[profiling\] (\d+)(?:/\d+)? requests", result.stderr, re.MULTILINE)
    assert len(records) == int(sent[-1])  # every request sent is a record


def test_a_healthy_run_is_untouched_and_the_guard_can_be_disabled(
    run_cli: Any, inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, *FAST_SIM, "--served-model-name", "m")
    try:
        result = run_cli("profile", "--url", sim.url, *COMMON, "--concurrency", "2", "--benchmark-duration",
                         "3", "--artifact-dir", tmp_path / "healthy")
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    assert "stopped early" not in result.stderr
    summary = json.loads((artifact_dir(tmp_path / "healthy") / "profile_export.json").read_text())
    assert summary["is_complete"] is True
    # turned off, the guard lets a dead server's run go to its end: exit 0 as before the guard existed
    result = run_and_kill_server(inferload_exe, cli_env, tmp_path, "--concurrency", "2",
                                 "--disable-plugin", "guard-server-gone", duration="4")
    assert result.returncode == 0, result.stderr
    assert "stopped early" not in result.stderr


GUARD_MODULE = '''
import os

from inferload import hookimpl
from inferload.engine.guards import GuardStop
from inferload.types import RunGuardSpec


class Demo:
    def __init__(self):
        self.finished = 0

    def observe(self, records, now):
        if os.environ.get("DEMO_GUARD_RAISES"):
            raise RuntimeError("the demo guard tripped over sk-demo-Secr3t")
        self.finished += len(records)

    def verdict(self, now):
        if self.finished >= 3:
            return GuardStop("stopped early: the demo guard saw %d finished requests" % self.finished,
                             exit_code=3)
        return None


@hookimpl
def register_run_guards():
    return [RunGuardSpec(name="demo", description="stops after 3 requests", create=lambda config: Demo())]
'''


def test_a_third_party_guard_stops_the_run_with_its_exit_code_and_one_that_raises_costs_only_itself(
    run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    plugin_site.add_distribution("inferload-demo-guard", {"demo-guard": "demo_guard"},
                                 {"demo_guard": GUARD_MODULE})
    load = ("--concurrency", "1", "--benchmark-duration", "600", "--osl", "4", "--isl", "8", "--ui", "none",
            "--api-linger", "0")
    done = run_cli("profile", *load, "--artifact-dir", tmp_path / "stop", pythonpath=[plugin_site.path])
    assert done.returncode == 3, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "stopped early" in line]
    assert "the demo guard saw" in line
    run = artifact_dir(tmp_path / "stop")
    summary = json.loads((run / "profile_export.json").read_text())
    assert summary["is_complete"] is False
    assert len(read_jsonl(run / "profile_export.jsonl")) >= 3
    # a guard that raises is reported once, with the secret scrubbed, and the run goes on to its end
    done = run_cli("profile", *(a if a != "600" else "2" for a in load), "--artifact-dir", tmp_path / "raise",
                   "--api-key", "sk-demo-Secr3t", pythonpath=[plugin_site.path],
                   env={"DEMO_GUARD_RAISES": "1", "INFERLOAD_STRICT_PLUGINS": None})
    assert done.returncode == 0, done.stderr
    assert "sk-demo-Secr3t" not in done.stderr + done.stdout
    summary = json.loads((artifact_dir(tmp_path / "raise") / "profile_export.json").read_text())
    assert summary["is_complete"] is True
    warnings = [w for w in summary["client_health"]["warnings"] if "run guard 'demo'" in w]
    assert len(warnings) == 1 and "the demo guard tripped" in warnings[0], summary["client_health"]
