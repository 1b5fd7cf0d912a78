"""Every call into a plugin's hook is isolated: a raising plugin is reported and the run goes on.

Plugins here are real installed distributions (``plugin_site``) driven by the real ``inferload profile``
CLI against a real simulator; in-process tests register throwaway plugin objects on a real registry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from inferload import hookimpl
from inferload.errors import PluginError
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from profile_fixtures import artifact_dir, simulator

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

# Raises in every lifecycle hook.
FAULTY_OBSERVER = """\
from inferload import hookimpl


@hookimpl
def run_started(state):
    raise RuntimeError("observer down at start")


@hookimpl
def phase_changed(state, phase):
    raise RuntimeError("observer down at " + phase)


@hookimpl
def record_batch(state, records):
    raise ValueError("cannot read a batch")


@hookimpl
def run_finished(state):
    raise RuntimeError("observer down at the end")
"""

# Writes every lifecycle event it sees, so the test can check the others were still called, in order.
JOURNAL_OBSERVER = """\
import os
from inferload import hookimpl

PATH = os.environ["JOURNAL_PATH"]


def note(text):
    with open(PATH, "a", encoding="utf-8") as handle:
        handle.write(text + "\\n")


@hookimpl
def run_started(state):
    note("run_started")


@hookimpl
def phase_changed(state, phase):
    note("phase_changed " + phase)


@hookimpl
def record_batch(state, records):
    note("record_batch %d" % len(records))


@hookimpl
def run_finished(state):
    note("run_finished " + state.lifecycle.value)
"""


@pytest.fixture
def observer_site(plugin_site: Any) -> Any:
    plugin_site.add_distribution("inferload-faulty", {"faulty": "inferload_faulty"},
                                 {"inferload_faulty": FAULTY_OBSERVER}, version="2.0.1")
    plugin_site.add_distribution("inferload-journal", {"journal": "inferload_journal"},
                                 {"inferload_journal": JOURNAL_OBSERVER}, version="0.1")
    return plugin_site


def profile_with_observers(run_cli: Any, observer_site: Any, url: str, root: Path, strict: str) -> Any:
    return run_cli(
        "profile", "-u", url, "-m", "sim-model", "--streaming", "--request-count", "6",
        "--warmup-request-count", "2", "--concurrency", "2", "--osl", "4", "--isl", "16",
        "--ui", "none", "--api-linger", "0", "--artifact-dir", root / "artifacts",
        env={**observer_site.env, "INFERLOAD_STRICT_PLUGINS": strict, "JOURNAL_PATH": str(root / "journal")},
    )


def test_a_plugin_raising_in_every_lifecycle_hook_is_reported_and_the_run_completes(
    run_cli: Any, observer_site: Any, simulator: Any, tmp_path: Path
) -> None:
    done = profile_with_observers(run_cli, observer_site, simulator.url, tmp_path, strict="0")
    assert done.returncode == 0, done.stderr
    run_dir = artifact_dir(tmp_path / "artifacts")
    export = json.loads((run_dir / "profile_export.json").read_text())
    assert export["request_count"]["avg"] == 6
    records = (run_dir / "profile_export.jsonl").read_text().splitlines()
    assert len(records) == 8  # every request sent, warmup included, is accounted for
    warnings = [line for line in done.stderr.splitlines() if "plugin 'faulty'" in line]
    hooks = ["run_started", "phase_changed", "record_batch", "run_finished"]
    for hook in hooks:
        (line,) = [w for w in warnings if f" in {hook}:" in w]
        assert "'faulty' (inferload-faulty 2.0.1)" in line
        assert "the run goes on" in line
    # one warning per plugin and hook, however often it failed; the artifact names what failed before it
    assert len(warnings) == 4
    health = export["client_health"]["warnings"]
    assert any("'faulty' (inferload-faulty 2.0.1) failed in record_batch" in w for w in health)
    assert any("failed in phase_changed (2 times)" in w for w in health)
    # the well-behaved observer saw every event, in order, despite its neighbour
    journal = (tmp_path / "journal").read_text().splitlines()
    assert journal[0] == "run_started"
    assert journal[1] == "phase_changed warmup"
    profiling = journal.index("phase_changed profiling")
    assert journal[-1] == "run_finished complete"
    batches = [line for line in journal if line.startswith("record_batch")]
    assert sum(int(line.split()[1]) for line in batches) == 8  # warmup and profiling records
    assert all(line.startswith("record_batch") for line in journal[2:profiling])


def test_strict_mode_fails_fast_on_a_raising_lifecycle_hook_naming_the_plugin(
    run_cli: Any, observer_site: Any, simulator: Any, tmp_path: Path
) -> None:
    done = profile_with_observers(run_cli, observer_site, simulator.url, tmp_path, strict="1")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("inferload: error: plugin 'faulty' (inferload-faulty 2.0.1) failed in run_started")
    assert "INFERLOAD_STRICT_PLUGINS" in last and "--disable-plugin faulty" in last
    assert "Traceback" not in done.stderr
    journal = tmp_path / "journal"  # the run stopped at the first failure: no phase began
    assert not journal.exists() or "phase_changed" not in journal.read_text()


def test_hook_calls_are_traced_when_asked(run_cli: Any) -> None:
    done = run_cli("plugins", "--json", env={"INFERLOAD_TRACE_HOOKS": "1"})
    assert done.returncode == 0, done.stderr
    assert "hook register_commands -> command-profile" in done.stderr
    assert "hook register_commands done in" in done.stderr
    quiet = run_cli("plugins", "--json")
    assert "hook register_commands" not in quiet.stderr


class Recorder:
    def __init__(self, name: str, seen: list[str], fail: bool = False) -> None:
        self.name, self.seen, self.fail = name, seen, fail

    @hookimpl
    def phase_changed(self, phase: str) -> None:
        self.seen.append(f"{self.name} {phase}")
        if self.fail:
            raise KeyError(phase)


class Wrapper:
    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    @hookimpl(wrapper=True)
    def phase_changed(self, phase: str) -> Any:
        self.seen.append(f"wrap {phase}")
        return (yield)


def test_each_plugin_is_called_once_in_pluggy_order_and_wrappers_still_apply(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []
    registry = load_plugins(LoadRules(autoload=False))
    registry.add(Recorder("first", seen), "first")
    registry.add(Recorder("broken", seen, fail=True), "broken", distribution="inferload-broken", version="1")
    registry.add(Recorder("last", seen), "last")
    registry.add(Wrapper(seen), "wrapper")
    with caplog.at_level(logging.WARNING, logger="inferload"):
        registry.hooks.phase_changed(state=None, phase="warmup")
        registry.hooks.phase_changed(state=None, phase="profiling")
    # pluggy's order (last registered first), every plugin called, the wrapper around each call
    assert seen == [
        "wrap warmup", "last warmup", "wrap warmup", "broken warmup", "wrap warmup", "first warmup",
        "wrap profiling", "last profiling", "wrap profiling", "broken profiling",
        "wrap profiling", "first profiling",
    ]
    (record,) = caplog.records
    assert "'broken' (inferload-broken 1) failed in phase_changed: KeyError: 'warmup'" in record.getMessage()
    assert registry.hooks.failure_lines() == [
        "plugin 'broken' (inferload-broken 1) failed in phase_changed (2 times): KeyError: 'warmup'; "
        "skipped, the run went on"
    ]


def test_strict_registry_raises_the_plugin_error_and_stops_calling() -> None:
    seen: list[str] = []
    registry = PluginRegistry(strict=True)
    registry.add(Recorder("first", seen), "first")
    registry.add(Recorder("broken", seen, fail=True), "broken")
    failed = r"plugin 'broken' \(unknown distribution\) failed in phase_changed"
    with pytest.raises(PluginError, match=failed):
        registry.hooks.phase_changed(state=None, phase="warmup")
    assert seen == ["broken warmup"]


def test_a_plugin_registered_after_a_call_is_called_next_time() -> None:
    seen: list[str] = []
    registry = PluginRegistry()
    registry.add(Recorder("a", seen), "a")
    registry.hooks.phase_changed(state=None, phase="one")
    registry.add(Recorder("b", seen), "b")
    registry.hooks.phase_changed(state=None, phase="two")
    assert seen == ["a one", "b two", "a two"]

