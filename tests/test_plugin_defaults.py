"""Defaults come from the catalogue, so disabling a plugin disables what it provides — the embedded
simulator included — and the executor category is a real choice (``--executor NAME``).

Everything runs through the real ``inferload`` CLI; the second executor is a real installed distribution.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from profile_fixtures import artifact_dir, simulator

__all__ = ["simulator"]  # the fixture, re-exported so pytest finds it here

SMALL_RUN = ("--request-count", "3", "--isl", "8", "--osl", "3", "--ui", "none", "--api-linger", "0")

# A second executor: worker processes always spawned (never forked), each start written to a journal.
SPAWN_EXECUTOR = """\
import multiprocessing
import os

from inferload import hookimpl
from inferload.types import ExecutorSpec


@hookimpl
def register_executors():
    return [ExecutorSpec(name="spawn-journal", description="Spawned workers, journalled",
                         factory=SpawnExecutor)]


class Handle:
    def __init__(self, worker_id, conn, process):
        self.worker_id, self.conn, self.process = worker_id, conn, process

    @property
    def pid(self):
        return self.process.pid

    def join(self, timeout=None):
        self.process.join(timeout)

    def kill(self):
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)


class SpawnExecutor:
    def __init__(self, **_):
        self.context = multiprocessing.get_context("spawn")

    def shared_counter(self):
        return self.context.Value("q", 0)

    def start(self, target, inits):
        handles = []
        for init in inits:
            parent_end, child_end = self.context.Pipe(duplex=True)
            process = self.context.Process(target=target, args=(child_end, init), daemon=True)
            process.start()
            child_end.close()
            with open(os.environ["EXECUTOR_JOURNAL"], "a", encoding="utf-8") as journal:
                journal.write(f"{init.worker_id} {process.pid}\\n")
            handles.append(Handle(init.worker_id, parent_end, process))
        return handles
"""


@pytest.fixture
def executor_site(plugin_site: Any) -> Any:
    plugin_site.add_distribution("inferload-spawn", {"spawn-journal": "inferload_spawn"},
                                 {"inferload_spawn": SPAWN_EXECUTOR}, version="0.2")
    return plugin_site


def test_executor_flag_runs_the_workers_with_the_named_executor(
    run_cli: Any, executor_site: Any, simulator: Any, tmp_path: Path
) -> None:
    journal = tmp_path / "journal"
    env = {**executor_site.env, "EXECUTOR_JOURNAL": str(journal)}
    done = run_cli("profile", "-u", simulator.url, "-m", "m", "--executor", "spawn-journal", "--workers", "2",
                   "--concurrency", "2", "--artifact-dir", tmp_path / "a", *SMALL_RUN, env=env)
    assert done.returncode == 0, done.stderr
    started = journal.read_text().split()
    assert started[0::2] == ["worker_0", "worker_1"]
    export = json.loads((artifact_dir(tmp_path / "a") / "profile_export.json").read_text())
    assert export["request_count"]["avg"] == 3
    assert export["input_config"]["executor"] == "spawn-journal"
    # without the flag the catalogue's default (local) runs the workers, not the installed extra one
    done = run_cli("profile", "-u", simulator.url, "-m", "m", "--artifact-dir", tmp_path / "b", *SMALL_RUN,
                   env=env)
    assert done.returncode == 0, done.stderr
    assert journal.read_text().split()[0::2] == ["worker_0", "worker_1"]
    export = json.loads((artifact_dir(tmp_path / "b") / "profile_export.json").read_text())
    assert export["input_config"]["executor"] == "local"


def test_unknown_executor_is_one_usage_line_listing_the_choices(run_cli: Any, tmp_path: Path) -> None:
    done = run_cli("profile", "-u", "http://127.0.0.1:9", "-m", "m", "--executor", "cluster",
                   "--artifact-dir", tmp_path, *SMALL_RUN)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "inferload: error: unknown executor 'cluster'; available: local, ray (see `inferload plugins`)"
    )
    assert not any(tmp_path.iterdir())


def test_disabling_the_simulator_plugin_means_no_embedded_simulator_and_says_what_to_do(
    run_cli: Any, tmp_path: Path
) -> None:
    done = run_cli("--disable-plugin", "simulate", "profile", "--artifact-dir", tmp_path, *SMALL_RUN)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "inferload: error: the default target comes from plugin 'simulate', which is disabled: enable it "
        "(drop --disable-plugin simulate) or give --url URL (the server to benchmark)"
    )
    assert "started" not in done.stderr
    assert not any(tmp_path.iterdir())


def test_embedded_simulator_is_the_default_target(run_cli: Any, tmp_path: Path) -> None:
    done = run_cli("profile", "--artifact-dir", tmp_path, *SMALL_RUN)
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "no --url given" in line]
    assert line.startswith("inferload: no --url given: started the built-in simulator at http://127.0.0.1:")


@pytest.mark.parametrize(
    ("plugin", "flag", "fix"),
    [
        ("transport-protocol", "--transport", ("--transport", "aiohttp")),
        ("endpoint-chat", "--endpoint-type", ("--endpoint-type", "completions")),
        ("tokenizer-builtin", "--tokenizer", None),
        ("dataset-synthetic", "--dataset", None),
    ],
)
def test_disabling_a_default_plugin_names_it_and_the_flag_and_a_named_choice_still_runs(
    run_cli: Any, simulator: Any, tmp_path: Path, plugin: str, flag: str, fix: tuple[str, str] | None
) -> None:
    base = ("profile", "-u", simulator.url, "-m", "m", "--artifact-dir", tmp_path / "a", *SMALL_RUN)
    done = run_cli("--disable-plugin", plugin, *base)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert f"comes from plugin {plugin!r}, which is disabled" in line
    assert f"(drop --disable-plugin {plugin}) or give {flag} NAME" in line
    if fix is not None:
        done = run_cli("--disable-plugin", plugin, *base, *fix)
        assert done.returncode == 0, done.stderr


def test_disabling_the_file_dataset_makes_input_file_a_clear_error(run_cli: Any, tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"text": "hello there"}\n')
    done = run_cli("--disable-plugin", "dataset-file", "profile", "-u", "http://127.0.0.1:9", "-m", "m",
                   "--input-file", prompts, "--artifact-dir", tmp_path / "a", *SMALL_RUN)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "inferload: error: no enabled dataset plugin takes --input-file, and plugin dataset-file is "
        "disabled; enable it (drop --disable-plugin dataset-file / INFERLOAD_DISABLE_PLUGINS)"
    )


def test_disabling_gamma_makes_arrival_smoothness_name_the_plugin_to_enable(
    run_cli: Any, tmp_path: Path
) -> None:
    done = run_cli("--disable-plugin", "arrival-gamma", "profile", "-u", "http://127.0.0.1:9", "-m", "m",
                   "--request-rate", "2", "--arrival-smoothness", "2", "--artifact-dir", tmp_path / "a",
                   *SMALL_RUN)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "inferload: error: no enabled arrival pattern plugin takes --arrival-smoothness, and plugin "
        "arrival-gamma is disabled; enable it (drop --disable-plugin arrival-gamma / "
        "INFERLOAD_DISABLE_PLUGINS)"
    )
