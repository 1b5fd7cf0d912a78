"""The platform's run-scoped state (``register_run_states``) and ``before_load`` hook, through a third
party's plugin installed as a distribution and the CLI as a user types it: state made fresh for every run
and read by the plugin's own hooks and summary section; a ``create`` that raises costing only itself; a
``before_load`` that runs after the target started and before any request, whose warning reaches the
summary and whose failure stops the run with one line (secrets redacted) before a single request reaches
the server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripted_server import ScriptedServer, chat_completion

PLUGIN_MODULE = '''
import itertools
import os

from inferload import hookimpl
from inferload.types import RunStateSpec, SummarySectionSpec

_SERIAL = itertools.count()


def _create(config, registry):
    if os.environ.get("DEMO_CREATE_FAILS"):
        raise OSError("no room for the tally")
    return {"serial": next(_SERIAL), "model": config.model, "records": 0, "batches": 0}


@hookimpl
def register_run_states():
    return [RunStateSpec(name="demo-tally", description="records of this run", create=_create)]


@hookimpl
def record_batch(state, records):
    tally = state.plugin_state("demo-tally")
    if tally is not None:
        tally["records"] += len(records)
        tally["batches"] += 1


def _section(context):
    tally = context.state.plugin_state("demo-tally")
    return {"tally": None if tally is None else dict(tally)}


@hookimpl
def register_summary_sections():
    return [SummarySectionSpec(name="demo_tally", description="the tally", compute=_section)]


@hookimpl
def before_load(context):
    if os.environ.get("DEMO_PREP_FAILS"):
        raise ConnectionError("the cache controller refused %s" % context.headers.get("Authorization"))
    sent = sum(phase.requests_sent for phase in context.state.phases.values())
    return ["demo prep: %s, %d workers started, %d requests sent, lifecycle %s, probe %s" % (
        context.config.model, len(context.state.workers), sent, context.state.lifecycle.value,
        context.probe_url.rsplit("/", 1)[-1])]
'''

TINY = ("--concurrency", "2", "--request-count", "6", "--osl", "4", "--isl", "8", "--ui", "none")


@pytest.fixture
def counting_server() -> Iterator[ScriptedServer]:
    """A chat server on loopback that answers every request and records it (``.requests``)."""
    with ScriptedServer(lambda request, number: chat_completion()) as server:
        yield server


def chat_requests(server: ScriptedServer) -> int:
    return sum(1 for r in server.requests if r.target == "/v1/chat/completions")


@pytest.fixture
def demo_site(plugin_site: Any) -> Path:
    plugin_site.add_distribution("inferload-demo-tally", {"demo-tally": "demo_tally"},
                                 {"demo_tally": PLUGIN_MODULE})
    return plugin_site.path


def _summaries(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(root.rglob("profile_export.json"))]


def test_each_run_gets_fresh_plugin_state_that_its_hooks_fill_and_its_section_reads(
    run_cli: Any, demo_site: Path, tmp_path: Path
) -> None:
    done = run_cli("profile", *TINY, "--num-profile-runs", "2", "--artifact-dir", tmp_path,
                   pythonpath=[demo_site])
    assert done.returncode == 0, done.stderr
    trials = [s for s in _summaries(tmp_path) if "demo_tally" in s]
    assert [t["run_info"]["trial"] for t in trials] == [0, 1]
    tallies = [t["demo_tally"]["tally"] for t in trials]
    # one state per run, created before any hook saw it: each trial counts its own 6 requests, not 12
    assert [t["serial"] for t in tallies] == [0, 1]
    assert all(t["records"] == 6 and t["batches"] >= 1 and t["model"] == "inferload-sim" for t in tallies)


def test_a_run_state_whose_create_raises_is_reported_and_costs_only_itself(
    run_cli: Any, demo_site: Path, tmp_path: Path
) -> None:
    done = run_cli("profile", *TINY, "--artifact-dir", tmp_path, pythonpath=[demo_site],
                   env={"DEMO_CREATE_FAILS": "1", "INFERLOAD_STRICT_PLUGINS": None})
    assert done.returncode == 0, done.stderr
    (summary,) = _summaries(tmp_path)
    assert summary["demo_tally"] == {"tally": None}  # the section asked and got none
    assert summary["request_count"]["avg"] == 6
    assert any("demo-tally" in w and "run state 'demo-tally'" in w and "no room for the tally" in w
               for w in summary["client_health"]["warnings"]), summary["client_health"]["warnings"]


def test_before_load_runs_after_the_target_starts_and_before_any_request_and_its_warning_is_listed(
    run_cli: Any, demo_site: Path, counting_server: ScriptedServer, tmp_path: Path
) -> None:
    done = run_cli("profile", "--url", counting_server.url, "-m", "m", *TINY, "--artifact-dir", tmp_path,
                   pythonpath=[demo_site])
    assert done.returncode == 0, done.stderr
    (summary,) = _summaries(tmp_path)
    warning = "demo prep: m, 0 workers started, 0 requests sent, lifecycle starting, probe completions"
    assert warning in summary["client_health"]["warnings"]
    assert chat_requests(counting_server) == 6


def test_a_failing_before_load_stops_the_run_with_one_line_before_any_request(
    run_cli: Any, demo_site: Path, counting_server: ScriptedServer, tmp_path: Path
) -> None:
    done = run_cli("profile", "--url", counting_server.url, "-m", "m", *TINY, "--artifact-dir", tmp_path,
                   "--api-key", "sk-prep-Secr3t", pythonpath=[demo_site],
                   env={"DEMO_PREP_FAILS": "1", "INFERLOAD_STRICT_PLUGINS": None})
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "sk-prep-Secr3t" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if "demo-tally" in line]
    assert len(lines) == 1, done.stderr
    assert "failed before the first request" in lines[0]
    assert "the cache controller refused Bearer <redacted>" in lines[0]
    assert "--disable-plugin demo-tally" in lines[0]
    assert chat_requests(counting_server) == 0
    assert not _summaries(tmp_path)


def test_disabling_the_server_metrics_store_leaves_no_block_and_the_run_goes_on(
    run_cli: Any, tmp_path: Path
) -> None:
    done = run_cli("--disable-plugin", "server-metrics-store", "profile", *TINY,
                   "--server-metrics-interval", "0.1", "--artifact-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    (summary,) = _summaries(tmp_path)
    assert "server_metrics" not in summary and summary["request_count"]["avg"] == 6
    assert not list(tmp_path.rglob("server_metrics.jsonl"))
