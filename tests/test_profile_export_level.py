"""``--export-level`` (AIPerf's flag): ``summary`` writes the aggregate files and the table, no line per
request, and the engine then neither encodes nor stores those lines (the disk a long run needs);
``records`` (the default) adds profile_export.jsonl. Real CLI against a real simulator; the record path
through the real aggregator and plugin registry."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from inferload import hookimpl
from inferload.config import ProfileConfig
from inferload.engine.aggregator import RecordAggregator
from inferload.metrics_engine import MetricsAccumulator
from inferload.records import PROFILING
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.runstate import PhaseProgress, RunInfo, RunState
from inferload.types import EXPORT_LEVELS, ExporterSpec
from profile_fixtures import FAST_SIM, artifact_dir, read_jsonl, start_simulator, usage_error
from scripted_server import ScriptedServer
from test_exporters_artifacts import _record, make_context
from test_profile_sessions import SESSIONS, run_sessions, streamed_reply, write_sessions

COMMON = ("-m", "m", "--endpoint-type", "chat", "--streaming", "--isl", "8", "--osl", "4", "--ui", "none",
          "--api-linger", "0", "--concurrency", "4", "--request-count", "40", "--warmup-request-count", "3")
SUMMARY_FILES = {"profile_export.json", "profile_export.csv", "profile_export_console.txt", "inputs.json"}


@pytest.fixture(scope="module")
def simulator_url(inferload_exe: Path, cli_env: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    sim = start_simulator(inferload_exe, cli_env(), tmp_path_factory.mktemp("sim"), *FAST_SIM,
                          "--served-model-name", "m")
    try:
        yield sim.url
    finally:
        sim.stop()


def files_of(run_dir: Path) -> set[str]:
    return {path.name for path in run_dir.iterdir() if path.is_file()}


@pytest.mark.parametrize("flag", ["--export-level", "--profile-export-level"])
def test_summary_level_writes_the_aggregates_and_no_line_per_request(
    run_cli: Any, simulator_url: str, tmp_path: Path, flag: str
) -> None:
    result = run_cli("profile", "--url", simulator_url, *COMMON, flag, "summary", "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = artifact_dir(tmp_path)
    assert "profile_export.jsonl" not in files_of(run_dir)
    assert files_of(run_dir) >= SUMMARY_FILES
    summary = json.loads((run_dir / "profile_export.json").read_text())
    # every request sent is accounted for in the statistics, with no per-request file
    assert summary["request_count"]["avg"] == 40
    assert summary["input_config"]["export_level"] == "summary"
    assert summary["time_to_first_token"]["count"] == 40
    assert "profile_export.jsonl" not in result.stderr + result.stdout


def test_records_level_is_the_default_and_writes_every_request_line(
    run_cli: Any, simulator_url: str, tmp_path: Path
) -> None:
    result = run_cli("profile", "--url", simulator_url, *COMMON, "--artifact-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = artifact_dir(tmp_path)
    assert SUMMARY_FILES | {"profile_export.jsonl"} <= files_of(run_dir)
    lines = read_jsonl(run_dir / "profile_export.jsonl")
    assert len(lines) == 43  # warmup included
    summary = json.loads((run_dir / "profile_export.json").read_text())
    assert summary["input_config"]["export_level"] == "records"


@pytest.fixture(scope="module")
def two_runs(run_cli: Any, simulator_url: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One run at each level against the same simulator: ``{level: run directory}``."""
    runs = {}
    for level in EXPORT_LEVELS:
        root = tmp_path_factory.mktemp(level)
        result = run_cli("profile", "--url", simulator_url, *COMMON, "--export-level", level,
                         "--artifact-dir", root)
        assert result.returncode == 0, result.stderr
        runs[level] = artifact_dir(root)
    return runs


def test_compare_says_a_summary_level_run_gives_no_interval_over_requests(
    run_cli: Any, two_runs: dict[str, Path]
) -> None:
    warning = (f"inferload: warning: {two_runs['summary']} has no profile_export.jsonl (a run at "
               "--export-level summary): no confidence interval over its requests, so a change is judged "
               "without one")
    mixed = run_cli("compare", two_runs["summary"], two_runs["records"])
    assert mixed.returncode == 0, mixed.stderr
    assert warning in mixed.stderr and str(two_runs["records"]) not in mixed.stderr
    both = run_cli("compare", two_runs["records"], two_runs["records"])
    assert both.returncode == 0 and "no confidence interval" not in both.stderr
    assert "[" in both.stdout  # the records-level runs do get intervals


def test_plot_says_which_run_is_left_out_of_the_per_request_charts(
    run_cli: Any, two_runs: dict[str, Path], tmp_path: Path
) -> None:
    result = run_cli("plot", two_runs["summary"], two_runs["records"], "-o", tmp_path)
    assert result.returncode == 0, result.stderr
    line = (f"{two_runs['summary']}: not in the per-request charts (CDFs, time series): it has no "
            "profile_export.jsonl (a run at --export-level summary, or with the JSONL exporter disabled)")
    assert f"inferload: warning: {line}" in result.stderr
    assert str(two_runs["records"]) + ":" not in result.stderr
    assert line in (tmp_path / "report.html").read_text()
    assert (tmp_path / "cdf_request_latency.png").is_file()  # drawn from the records-level run


def test_the_disk_guard_suggests_the_summary_level_only_where_the_jsonl_is_written(
    run_cli: Any, simulator_url: str, tmp_path: Path
) -> None:
    stat = os.statvfs(tmp_path)
    over_free = str(stat.f_bavail * stat.f_frsize // 2**20 + 2000)
    hint = "(or --export-level summary: no line per request, ~60 % less disk)"
    no_jsonl = ("--disable-plugin", "exporter-jsonl")
    for name, extra, hinted in (("records", (), True), ("no-jsonl", no_jsonl, False)):
        result = run_cli("profile", "--url", simulator_url, *COMMON, *extra, "--artifact-dir",
                         tmp_path / name, "--disk-reserve-mb", over_free)
        assert result.returncode == 1, result.stderr
        assert "the disk is nearly full" in result.stderr
        assert (hint in result.stderr) is hinted, result.stderr


@pytest.mark.parametrize(("how", "message"), [
    (("--export-level", "raw"), "--export-level/--profile-export-level: invalid choice: 'raw'"),
    (("--export-level", "Summary"), "invalid choice: 'Summary' (choose from 'summary', 'records')"),
])
def test_an_unknown_level_on_the_command_line_is_one_usage_error(
    run_cli: Any, tmp_path: Path, how: tuple[str, ...], message: str
) -> None:
    line = usage_error(run_cli("profile", *how, "--artifact-dir", tmp_path))
    assert message in line
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_an_unknown_level_from_the_environment_or_a_file_is_one_usage_error(
    run_cli: Any, tmp_path: Path
) -> None:
    line = usage_error(run_cli("profile", "--artifact-dir", tmp_path, env={"INFERLOAD_EXPORT_LEVEL": "raw"}))
    assert "INFERLOAD_EXPORT_LEVEL 'raw'" in line and "'summary' or 'records'" in line
    config = tmp_path / "run.yaml"
    config.write_text("export-level: everything\n")
    line = usage_error(run_cli("profile", "-f", config, "--artifact-dir", tmp_path / "art"))
    assert "export" in line and "'summary' or 'records'" in line


def test_a_multi_turn_run_at_summary_level_keeps_turn_and_session_figures_but_no_row_per_session(
    run_cli: Any, tmp_path: Path
) -> None:
    path = write_sessions(tmp_path / "sessions.jsonl", SESSIONS)
    written = {}
    for level in EXPORT_LEVELS:
        with ScriptedServer(streamed_reply) as server:
            result = run_sessions(run_cli, server.url, tmp_path / level, "--input-file", path,
                                  "--conversation-num", "4", "--export-level", level)
        assert result.returncode == 0, result.stderr
        sessions_file = artifact_dir(tmp_path / level) / "profile_export_sessions.json"
        written[level] = json.loads(sessions_file.read_text())
    assert "per_session" not in written["summary"]
    assert len(written["records"]["per_session"]) == 4
    for level in EXPORT_LEVELS:
        assert written[level]["sessions"]["session_count"] == 4
        assert [turn["request_count"] for turn in written[level]["turns"]] == [4, 4, 2]


# -- the record path: the engine stores the JSONL lines only for an exporter that will read them --------


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins(LoadRules())


def aggregator_after_one_batch(registry: PluginRegistry, tmp_path: Path, **settings: Any) -> RecordAggregator:
    """A real RecordAggregator of a real config, fed one batch of five records."""
    config = ProfileConfig.load({"model": "m", "url": "http://127.0.0.1:9", "artifact_dir": tmp_path,
                                 **settings}, registry=registry)
    tmp_path.mkdir(parents=True, exist_ok=True)
    run_info = RunInfo(benchmark_id="b", random_seed=1, cli_command="inferload profile")
    state = RunState(run_info=run_info, config=config, artifact_dir=tmp_path)
    aggregator = RecordAggregator(state, registry, MetricsAccumulator(registry, config))
    phase = PhaseProgress(phase=PROFILING, phase_index=0)
    aggregator.begin_phase(phase)
    aggregator.on_records("worker-0", phase, [_record(i) for i in range(1, 6)], 5)
    return aggregator


def test_the_lines_are_stored_at_records_level_and_not_at_summary_level(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    records = aggregator_after_one_batch(registry, tmp_path / "records").records
    assert records.has_lines and len(records) == 5
    summary = aggregator_after_one_batch(registry, tmp_path / "summary", export_level="summary").records
    assert not summary.has_lines and len(summary) == 5 and summary.has_values
    assert summary.columns is not None  # the statistics' columns are kept whatever the level


def test_the_lines_are_not_stored_when_the_jsonl_exporter_is_disabled(tmp_path: Path) -> None:
    without = load_plugins(LoadRules(disabled=frozenset({"exporter-jsonl"})))
    records = aggregator_after_one_batch(without, tmp_path).records
    assert not records.has_lines and len(records) == 5


class RowsPerRequest:
    """A third-party exporter of a file with a row per request (``level="records"``)."""

    @hookimpl
    def register_exporters(self) -> list[ExporterSpec]:
        return [ExporterSpec(name="rows", description="One row per request", filenames=("rows.txt",),
                             level="records", export=self.export)]

    @staticmethod
    def export(context: Any) -> list[Path]:
        return [context.write_text("rows.txt", "".join(f"{r.request_id}\n" for r in context.records))]


@pytest.mark.parametrize(("level", "expected"), [("summary", False), ("records", True)])
def test_a_third_party_exporter_runs_from_its_declared_level(
    tmp_path: Path, level: str, expected: bool
) -> None:
    from inferload.export import run_exporters

    registry = load_plugins(LoadRules())
    registry.add(RowsPerRequest(), "rows-exporter")
    context = make_context(registry, tmp_path)
    context.config = context.config.model_copy(update={"export_level": level})
    written, failed = run_exporters(registry, context)
    assert failed == []
    assert ("rows.txt" in written) is expected
    assert ("profile_export.jsonl" in written) is expected
    assert {"profile_export.json", "profile_export.csv", "inputs.json"} <= set(written)


def test_an_exporter_spec_with_an_unknown_level_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="ExporterSpec 'x': level 'raw' is not one of summary, records"):
        ExporterSpec(name="x", description="d", export=lambda context: [], level="raw")
    with pytest.raises(ValueError, match=r"ExporterSpec 'z': record_lines=True .* needs level='records'"):
        ExporterSpec(name="z", description="d", export=lambda context: [], record_lines=True)
    spec = ExporterSpec(name="y", description="d", export=lambda context: [])
    assert spec.level == "summary" and spec.runs_at("summary") and spec.runs_at("records")


def test_inferload_plugins_names_the_level_of_a_records_level_file(run_cli: Any) -> None:
    result = run_cli("plugins")
    assert result.returncode == 0, result.stderr
    assert "file profile_export.jsonl (--export-level records)" in result.stdout
    assert re.search(r"file profile_export.json +inferload", result.stdout)  # summary level: no mark
