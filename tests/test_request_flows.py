"""Request flows (``register_request_flows``): what a worker sends next and how, as plugins the worker calls.

A third party's flow installed as a distribution takes part in `inferload profile` as a user types it: one
that drives (sends the prepared prompts in its own order), one that watches every request (cancels some),
and broken ones, which cost one clear line, never a hung run or an unaccounted request. The built-in flows
(sessions, replay, cancellation) are plugins: disabling one turns what needs it into a usage error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from live_run import LiveRun, wait_until
from profile_fixtures import artifact_dir, read_jsonl, simulator, start_simulator, usage_error

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

FLOWS_MODULE = '''
import asyncio
import os
from time import perf_counter_ns

from inferload import hookimpl
from inferload.engine.flow import FlowPlan, FlowRequest
from inferload.errors import UsageError
from inferload.records import RequestError
from inferload.types import RequestFlowSpec

WANT = set(os.environ.get("DEMO_FLOWS", "").split(","))


class Reverse:
    """Sends the phase's requests from the last id down to the first, one at a time, then one more request
    whose body is built here and whose reply text is recorded in its conversation id."""

    def __init__(self, count):
        self.count = count

    def start(self, host):
        self.host = host
        return self

    async def drive(self, cmd):
        host = self.host
        if cmd.phase != "profiling" or host.init.worker_index:
            return
        await host.sleep_until(cmd.t0_ns)
        last = None
        for request_id in reversed(range(self.count)):
            last = await host.send(request_id, perf_counter_ns())
        body = b'{"model":"m","messages":[{"role":"user","content":"again"}],"max_tokens":3}'
        reply = last.reply_text()
        await host.send(self.count, perf_counter_ns(), request=FlowRequest(
            body=body, conversation_id="reply:" + reply, input_tokens=1, output_tokens=3,
            headers={"X-Demo-Flow": "extra"}))


class Abandon:
    def start(self, host):
        return self

    def on_request(self, request_id, cancel):
        if request_id % 3:
            return None
        error = RequestError("request_cancelled", "abandoned by the demo flow")
        return asyncio.get_running_loop().call_later(0, cancel, error).cancel


class RaisesOnRequest:
    def start(self, host):
        return self

    def on_request(self, request_id, cancel):
        raise KeyError("no such request")


class RaisesInDrive:
    def start(self, host):
        return self

    async def drive(self, cmd):
        raise ZeroDivisionError("drive exploded")


def prepare(context):
    config = context.config
    if "prepare-raises" in WANT:
        raise RuntimeError("prepare exploded")
    if "prepare-usage" in WANT:
        raise UsageError("--demo-flag does not fit this run; drop it")
    if "reverse" in WANT:
        return FlowPlan(worker=Reverse(config.request_count or 2), drives=True)
    if "abandon" in WANT:
        return FlowPlan(worker=Abandon())
    if "on-request-raises" in WANT:
        return FlowPlan(worker=RaisesOnRequest())
    if "drive-raises" in WANT:
        return FlowPlan(worker=RaisesInDrive(), drives=True)
    return None


@hookimpl
def register_request_flows():
    return [RequestFlowSpec(name="demo", description="a test's flows", prepare=prepare)]
'''


def _install(plugin_site: Any) -> Path:
    plugin_site.add_distribution("inferload-demo-flows", {"demo-flows": "demo_flows"},
                                 {"demo_flows": FLOWS_MODULE})
    return plugin_site.path


def _profile(run_cli: Any, site: Path, url: str | None, root: Path, want: str, *args: str) -> Any:
    target = ("--url", url, "-m", "m") if url else ()
    return run_cli("profile", *target, "--artifact-dir", root, "--ui", "none", "--api-linger", "0", *args,
                   pythonpath=[site], env={"DEMO_FLOWS": want})


def test_a_driving_flow_sends_the_prompts_in_its_order_and_carries_a_reply_into_its_own_request(
    run_cli: Any, plugin_site: Any, simulator: Any, tmp_path: Path
) -> None:
    site = _install(plugin_site)
    result = _profile(run_cli, site, simulator.url, tmp_path / "art", "reverse", "--request-count", "5",
                      "--concurrency", "1", "--workers", "1", "--osl", "3", "--isl", "8")
    assert result.returncode == 0, result.stderr
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    by_start = sorted(records, key=lambda r: r["metadata"]["request_start_ns"])
    assert [r["metadata"]["request_id"] for r in by_start] == [4, 3, 2, 1, 0, 5]
    extra = by_start[-1]["metadata"]
    assert extra["conversation_id"].startswith("reply:") and len(extra["conversation_id"]) > len("reply:")
    assert all(r["error"] is None for r in records)
    truth = simulator.truth()
    assert len(truth) == 6 and truth[-1]["completion_tokens"] == 3


def test_a_watching_flow_cancels_the_requests_it_chooses_and_every_request_is_accounted_for(
    inferload_exe: Path, cli_env: Any, run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    site = _install(plugin_site)
    sim = start_simulator(inferload_exe, cli_env(), tmp_path, "--decode-step-s", "0.02",
                          "--decode-step-per-seq-s", "0")
    try:
        result = _profile(run_cli, site, sim.url, tmp_path / "art", "abandon", "--streaming", "--osl", "20",
                          "--isl", "8", "--request-count", "9", "--concurrency", "3")
    finally:
        sim.stop()
    assert result.returncode == 0, result.stderr
    run_dir = artifact_dir(tmp_path / "art")
    records = read_jsonl(run_dir / "profile_export.jsonl")
    assert len(records) == 9
    cancelled = {r["metadata"]["request_id"] for r in records if r["metadata"]["was_cancelled"]}
    assert cancelled == {0, 3, 6}
    for record in records:
        if record["metadata"]["was_cancelled"]:
            assert record["error"] == {"code": None, "type": "request_cancelled",
                                       "message": "abandoned by the demo flow"}
        else:
            assert record["error"] is None
    summary = json.loads((run_dir / "profile_export.json").read_text())
    assert summary["cancelled_request_count"]["avg"] == 3 and summary["request_count"]["avg"] == 6


def _four_requests(run_cli: Any, plugin_site: Any, simulator: Any, root: Path, want: str) -> Any:
    return _profile(run_cli, _install(plugin_site), simulator.url, root, want,
                    "--request-count", "4", "--concurrency", "2", "--osl", "2", "--isl", "8")


def test_a_flow_that_raises_on_a_request_fails_that_request_naming_the_flow_and_the_run_goes_on(
    run_cli: Any, plugin_site: Any, simulator: Any, tmp_path: Path
) -> None:
    result = _four_requests(run_cli, plugin_site, simulator, tmp_path / "art", "on-request-raises")
    assert "Traceback" not in result.stderr
    records = read_jsonl(artifact_dir(tmp_path / "art") / "profile_export.jsonl")
    assert len(records) == 4
    for record in records:
        assert record["error"]["type"] == "client_error"
        assert "request flow 'demo' failed on this request: KeyError" in record["error"]["message"]


def test_a_flow_whose_drive_raises_fails_the_run_with_one_line_naming_it(
    run_cli: Any, plugin_site: Any, simulator: Any, tmp_path: Path
) -> None:
    result = _four_requests(run_cli, plugin_site, simulator, tmp_path / "art", "drive-raises")
    assert result.returncode == 1, result.stderr
    assert "request flow 'demo' failed: ZeroDivisionError: drive exploded" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_flow_whose_prepare_raises_is_one_usage_line_naming_the_plugin_before_any_request(
    run_cli: Any, plugin_site: Any, simulator: Any, tmp_path: Path
) -> None:
    site = _install(plugin_site)
    line = usage_error(_profile(run_cli, site, simulator.url, tmp_path / "art", "prepare-raises",
                                "--request-count", "2"))
    assert "request flow 'demo'" in line and "RuntimeError: prepare exploded" in line
    assert "--disable-plugin demo-flows" in line
    assert simulator.truth() == []
    line = usage_error(_profile(run_cli, site, simulator.url, tmp_path / "art2", "prepare-usage",
                                "--request-count", "2"))
    assert line.endswith("--demo-flag does not fit this run; drop it")


def test_two_flows_that_drive_one_run_are_a_usage_error_naming_both(
    run_cli: Any, plugin_site: Any, tmp_path: Path
) -> None:
    site = _install(plugin_site)
    line = usage_error(_profile(run_cli, site, None, tmp_path / "art", "reverse",
                                "--conversation-num", "2"))
    assert "request flows 'demo' and 'sessions' both drive the requests" in line


def test_disabling_the_built_in_flows_makes_what_needs_them_a_usage_error(
    run_cli: Any, tmp_path: Path
) -> None:
    line = usage_error(run_cli("--disable-plugin", "flow-sessions", "profile", "--conversation-num", "2",
                               "--artifact-dir", tmp_path / "a", "--ui", "none"))
    assert "made multi-turn sessions and no request flow plugin sends them" in line
    trace = tmp_path / "trace.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 8, "output_length": 2, "hash_ids": [1]}\n'
                     '{"timestamp": 10, "input_length": 8, "output_length": 2, "hash_ids": [2]}\n')
    line = usage_error(run_cli("--disable-plugin", "flow-replay", "profile", "--input-file", trace,
                               "--dataset", "mooncake_trace", "--fixed-schedule",
                               "--artifact-dir", tmp_path / "b", "--ui", "none"))
    assert "--fixed-schedule needs a request flow plugin that replays a trace" in line


def test_a_flow_flag_whose_plugin_is_disabled_is_refused_not_ignored(
    run_cli: Any, simulator: Any, tmp_path: Path
) -> None:
    args = ("profile", "--url", simulator.url, "-m", "m", "--ui", "none", "--request-count", "6",
            "--concurrency", "2", "--osl", "2", "--isl", "8", "--request-cancellation-rate", "100")
    with_flow = run_cli(*args, "--artifact-dir", tmp_path / "with")
    assert with_flow.returncode == 0, with_flow.stderr
    summary = json.loads((artifact_dir(tmp_path / "with") / "profile_export.json").read_text())
    assert summary["cancelled_request_count"]["avg"] == 6
    line = usage_error(run_cli("--disable-plugin", "flow-cancellation", *args,
                               "--artifact-dir", tmp_path / "without"))
    assert line.startswith("inferload: error: --request-cancellation-rate belongs to plugin "
                           "flow-cancellation, which is disabled")
    assert not (tmp_path / "without").exists() or not any((tmp_path / "without").iterdir())


def test_each_session_flag_whose_plugin_is_disabled_is_refused_naming_the_plugin(
    run_cli: Any, tmp_path: Path
) -> None:
    """The dataset declares the session shape and the mix, the session flow how sessions are sent; the
    core's --session-concurrency is refused through the flow spec's ``options`` when no flow takes it."""
    base = ("profile", "--ui", "none", "--artifact-dir", tmp_path / "art")
    for plugin, flag, value in (("flow-sessions", "--conversation-history", "window:2"),
                                ("flow-sessions", "--session-id-header", "X-Affinity"),
                                ("dataset-synthetic", "--conversation-turn-mean", "2"),
                                ("dataset-synthetic", "--isl-osl-pairs", "8:2")):
        line = usage_error(run_cli("--disable-plugin", plugin, *base, flag, value))
        assert line == (f"inferload: error: {flag} belongs to plugin {plugin}, which is disabled; "
                        f"enable it (drop --disable-plugin {plugin} / INFERLOAD_DISABLE_PLUGINS)"), line
    line = usage_error(run_cli("--disable-plugin", "flow-sessions", *base, "--session-concurrency", "2"))
    assert line.startswith("inferload: error: --session-concurrency is read by a request flow plugin"), line
    assert not (tmp_path / "art").exists() or not any((tmp_path / "art").iterdir())


def test_progress_of_a_session_run_counts_the_requests_its_sessions_send_not_the_sessions(
    inferload_exe: Path, cli_env: Any, tmp_path: Path
) -> None:
    sessions = tmp_path / "sessions.jsonl"
    sessions.write_text(json.dumps({"turns": [{"text": "a"}, {"text": "b"}]}) + "\n"
                        + json.dumps({"turns": [{"text": "c"}, {"text": "d"}, {"text": "e"}]}) + "\n")
    run = LiveRun(inferload_exe, cli_env(), tmp_path / "art", "--input-file", str(sessions),
                  "--conversation-num", "3", "--concurrency", "2", "--api-linger", "60")
    try:
        assert run._url_seen.wait(90) and run.base, run.stderr
        wait_until(lambda: run.progress()["phases"].get("profiling", {}).get("requests_end_ns"),
                   timeout=90, what=lambda: run.stderr)
        profiling = run.progress()["phases"]["profiling"]
    finally:
        run.kill()
    # sessions 0, 1, 0 of the file: 2 + 3 + 2 turns
    assert profiling["total_expected_requests"] == 7
    assert profiling["requests_sent"] == profiling["requests_completed"] == 7
    assert profiling["percent"] == 100.0
