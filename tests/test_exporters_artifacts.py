"""The exporter plugins through run_exporters: every artifact is written, parseable, in AIPerf's layout,
and free of the run's secrets; one failing exporter costs only its own file."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest

from inferload import hookimpl
from inferload.config import ProfileConfig
from inferload.errors import PluginError
from inferload.export import ExportContext, build_summary, run_exporters
from inferload.metrics_engine import MetricsAccumulator
from inferload.records import ERROR_HTTP, PROFILING, WARMUP, RequestError, RequestRecord
from inferload.redact import build_cli_command
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.runstate import Lifecycle, PhaseProgress, RunInfo, RunState
from inferload.types import ExporterSpec

API_KEY = "sk-export-SECRET-9876543210"
BEARER = "bearer-export-SECRET-abc"
URL_PASSWORD = "pw-export-SECRET"
SECRETS = (API_KEY, BEARER, URL_PASSWORD)
MS = 1_000_000
EXPECTED_FILES = {"profile_export.json", "profile_export.csv", "profile_export.jsonl", "inputs.json",
                  "profile_export_console.txt"}


def _record(request_id: int, *, phase: str = PROFILING, error: RequestError | None = None) -> RequestRecord:
    start = 10_000 * MS + request_id * 100 * MS
    chunks = [start + (40 + 10 * i) * MS for i in range(4)] if error is None else []
    return RequestRecord(
        request_id=request_id, phase=phase, worker_id="worker-0", conversation_id=f"conv-{request_id}",
        x_request_id=f"xr-{request_id}", scheduled_ns=start, start_ns=start,
        end_ns=(chunks[-1] if chunks else start) + 2 * MS, start_wall_ns=1_790_000_000_000_000_000 + start,
        input_tokens=16, status=200 if error is None else error.code, ack_ns=start + 30 * MS, chunk_ns=chunks,
        usage_prompt_tokens=16, usage_completion_tokens=None if error else 4,
        usage_total_tokens=None if error else 20, error=error,
    )


def _argv() -> list[str]:
    return ["profile", "--model", "mock", "--url", f"http://user:{URL_PASSWORD}@127.0.0.1:8000",
            "--api-key", API_KEY, "-H", f"Authorization: Bearer {BEARER}", "-H", "X-Team: blue",
            "--streaming", "--request-count", "5"]


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins(LoadRules())


def make_context(registry: PluginRegistry, artifact_dir: Path, console: Any = None) -> ExportContext:
    """A finished run the way the engine hands it over: real config, state, records and summary."""
    config = ProfileConfig.load({
        "model": "mock", "url": f"http://user:{URL_PASSWORD}@127.0.0.1:8000", "api_key": API_KEY,
        "header": [f"Authorization: Bearer {BEARER}", "X-Team: blue"], "streaming": True,
        "request_count": 5, "goodput": "time_to_first_token:100",
    }, registry=registry)
    state = RunState(
        run_info=RunInfo(benchmark_id="bench-123", random_seed=7, cli_command=build_cli_command(_argv())),
        config=config, artifact_dir=artifact_dir, version="0.1.0", lifecycle=Lifecycle.COMPLETING,
        phases={PROFILING: PhaseProgress(phase=PROFILING, phase_index=0)},
        started_ns=time.time_ns() - 2_000_000_000, ended_ns=time.time_ns(),
    )
    records = [
        _record(0, phase=WARMUP),
        *(_record(i) for i in range(1, 5)),
        # A server echoing the credential back in its error text must not leak it into any artifact.
        _record(5, error=RequestError(ERROR_HTTP, f"401 Unauthorized: bad key {API_KEY}", 401)),
    ]
    accumulator = MetricsAccumulator(registry, config)
    accumulator.add(records)
    metrics = accumulator.final(benchmark_duration_ns=2_000_000_000)
    summary = build_summary(state, accumulator, metrics, client_warnings=["client warning for the test"])
    inputs = [{"messages": [{"role": "user", "content": f"prompt {i}"}], "model": "mock", "stream": True}
              for i in range(6)]
    return ExportContext(
        state=state, config=config, records=records, metrics=metrics, summary=summary, inputs=inputs,
        artifact_dir=artifact_dir, accumulator=accumulator, console=console or io.StringIO(),
        client_warnings=summary["client_health"]["warnings"],
    )


def test_every_artifact_is_written_and_listed(registry: PluginRegistry, tmp_path: Path) -> None:
    written, failed = run_exporters(registry, make_context(registry, tmp_path))
    assert failed == []
    assert set(written) == EXPECTED_FILES
    assert {p.name for p in tmp_path.iterdir()} == EXPECTED_FILES


def test_no_secret_reaches_any_artifact(registry: PluginRegistry, tmp_path: Path) -> None:
    console = io.StringIO()
    run_exporters(registry, make_context(registry, tmp_path, console=console))
    texts = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.rglob("*") if path.is_file()}
    texts["<console>"] = console.getvalue()
    for name, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {name}"
    assert "<redacted>" in texts["profile_export.json"]


def test_json_summary_has_aiperf_layout(registry: PluginRegistry, tmp_path: Path) -> None:
    run_exporters(registry, make_context(registry, tmp_path))
    data = json.loads((tmp_path / "profile_export.json").read_text())
    assert data["schema_version"] == "1.4" and data["inferload_version"] == "0.1.0"
    assert data["benchmark_id"] == "bench-123"
    assert data["run_info"]["benchmark_id"] == "bench-123" and data["run_info"]["random_seed"] == 7
    assert "<redacted>" in data["run_info"]["cli_command"]
    assert data["input_config"]["model"] == "mock" and "api_key" not in data["input_config"]
    ttft = data["time_to_first_token"]
    assert list(ttft) == ["unit", "avg", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "min",
                          "max", "std", "count", "sum"]
    assert ttft["unit"] == "ms" and ttft["avg"] == 40.0 and ttft["count"] == 4  # warmup and error excluded
    assert data["request_count"] == {"unit": "requests", "avg": 4.0}
    assert data["error_request_count"] == {"unit": "requests", "avg": 1.0}
    assert data["request_throughput"] == {"unit": "requests/sec", "avg": 2.0}
    assert data["goodput"] == {"unit": "requests/sec", "avg": 2.0}
    assert data["error_summary"] == [{"error_details": {"code": 401, "type": "http_error",
                                                        "message": "401 Unauthorized: bad key <redacted>"},
                                      "count": 1, "hint": "the server refused the credentials; give or "
                                                          "check --api-key (or INFERLOAD_API_KEY) or the -H "
                                                          "authorization header"}]
    assert data["was_cancelled"] is False and data["is_complete"] is True
    assert data["start_time"] < data["end_time"]
    assert "T" in data["start_time"]
    assert data["client_health"]["warnings"] == ["client warning for the test"]
    assert data["client_health"]["schedule_lag"]["unit"] == "ms"


def test_cancelled_run_says_so(registry: PluginRegistry, tmp_path: Path) -> None:
    context = make_context(registry, tmp_path)
    context.state.lifecycle = Lifecycle.CANCELLED
    summary = build_summary(context.state, context.accumulator, context.metrics)
    assert summary["was_cancelled"] is True and summary["is_complete"] is False


def test_csv_has_aiperf_sections(registry: PluginRegistry, tmp_path: Path) -> None:
    run_exporters(registry, make_context(registry, tmp_path))
    text = (tmp_path / "profile_export.csv").read_text()
    per_request, run_level = text.split("\n\n")
    rows = list(csv.reader(io.StringIO(per_request)))
    assert rows[0] == ["Metric", "avg", "min", "max", "sum", "p1", "p5", "p10", "p25", "p50", "p75", "p90",
                       "p95", "p99", "std"]
    by_label = {row[0]: row[1:] for row in rows[1:]}
    assert by_label["Time to First Token (ms)"][:4] == ["40.00", "40.00", "40.00", "160.00"]
    assert [row[0] for row in rows[1:]] == sorted(row[0] for row in rows[1:])
    totals = list(csv.reader(io.StringIO(run_level)))
    assert totals[0] == ["Metric", "Value"]
    assert ["Request Count (requests)", "4"] in totals  # a count is an integer, never 4.00
    assert ["Error Request Count (requests)", "1"] in totals
    assert ["Request Throughput (requests/sec)", "2.00"] in totals


def test_jsonl_has_one_line_per_request(registry: PluginRegistry, tmp_path: Path) -> None:
    context = make_context(registry, tmp_path)
    run_exporters(registry, context)
    lines = [json.loads(line) for line in (tmp_path / "profile_export.jsonl").read_text().splitlines()]
    assert len(lines) == len(context.records)
    warm, ok, failed = lines[0], lines[1], lines[-1]
    assert warm["metadata"]["benchmark_phase"] == "warmup"
    meta = ok["metadata"]
    assert (meta["request_id"], meta["x_request_id"], meta["conversation_id"], meta["worker_id"]) == \
        (1, "xr-1", "conv-1", "worker-0")
    assert meta["benchmark_phase"] == "profiling" and meta["was_cancelled"] is False
    record = context.records[1]
    assert meta["request_start_ns"] == record.start_wall_ns
    assert meta["request_end_ns"] - meta["request_start_ns"] == record.end_ns - record.start_ns
    assert ok["metrics"]["time_to_first_token"] == {"value": 40.0, "unit": "ms"}
    assert ok["metrics"]["inter_chunk_latency"] == {"value": [10.0, 10.0, 10.0], "unit": "ms"}
    assert ok["error"] is None
    assert failed["metrics"] == {}
    assert failed["error"] == {"code": 401, "type": "http_error",
                               "message": "401 Unauthorized: bad key <redacted>"}


def test_inputs_json_holds_the_exact_payloads(registry: PluginRegistry, tmp_path: Path) -> None:
    context = make_context(registry, tmp_path)
    run_exporters(registry, context)
    data = json.loads((tmp_path / "inputs.json").read_text())
    assert [entry["payloads"][0] for entry in data["data"]] == context.inputs


def test_console_table_shows_metrics_errors_and_warnings(registry: PluginRegistry, tmp_path: Path) -> None:
    console = io.StringIO()
    run_exporters(registry, make_context(registry, tmp_path, console=console))
    text = console.getvalue()
    assert "inferload | LLM Metrics" in text
    for needle in ("Time to First Token (ms)", "p99", "Request Throughput", "N/A", "Errors: 1 failed request",
                   "http_error", "client warning for the test"):
        assert needle in text, needle
    assert (tmp_path / "profile_export_console.txt").read_text() == text


def test_console_header_names_model_redacted_url_load_and_artifacts_above_the_table(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    console = io.StringIO()
    run_exporters(registry, make_context(registry, tmp_path, console=console))
    lines = console.getvalue().splitlines()
    header = {line.split()[0]: line.split(None, 1)[1].strip() for line in lines[:4]}
    assert header == {"Model": "mock", "URL": "http://<redacted>@127.0.0.1:8000", "Load": "concurrency 1",
                      "Artifacts": str(tmp_path)}
    assert URL_PASSWORD not in console.getvalue()
    assert next(i for i, line in enumerate(lines) if "LLM Metrics" in line) > 3


def test_console_header_lists_the_targets_of_a_load_that_changed(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    from inferload_plugins.exporters.console import segments_text

    context = make_context(registry, tmp_path, console=io.StringIO())
    context.summary["load_segments"] = [{"request_rate": 4.0}, {"request_rate": 16.0},
                                        {"request_rate": 16.0, "paused": True}]
    run_exporters(registry, context)
    assert "Load 4 -> 16 -> 16 paused req/s (3 load segments)" in context.console.getvalue()
    ramp = [{"concurrency": c} for c in range(1, 9)]
    assert segments_text(ramp) == "concurrency 1 -> concurrency 2 -> … -> concurrency 8 (8 load segments)"


def test_console_table_prints_counts_as_integers_and_measures_with_decimals(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    console = io.StringIO()
    run_exporters(registry, make_context(registry, tmp_path, console=console))
    rows = {line.split("│")[1].strip(): [cell.strip() for cell in line.split("│")[2:-1]]
            for line in console.getvalue().splitlines() if line.count("│") > 2}
    assert rows["Request Count (requests)"][0] == "4"
    assert rows["Error Request Count (requests)"][0] == "1"
    assert rows["Request Throughput (requests/sec)"][0] == "2.00"
    assert rows["Time to First Token (ms)"][0] == "40.00"


class _FailingExporter:
    """A throwaway exporter plugin that always raises, carrying a secret in its message."""

    @hookimpl
    def register_exporters(self) -> list[ExporterSpec]:
        def explode(context: Any) -> list[Path]:
            raise RuntimeError(f"disk full while holding {API_KEY}")

        return [ExporterSpec(name="aaa-failing", description="always fails", export=explode)]


def test_a_failing_exporter_does_not_stop_the_others(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = load_plugins(LoadRules(strict=False))
    registry.add(_FailingExporter(), "failing-exporter-test", distribution="inferload-disk", version="1.0")
    written, failed = run_exporters(registry, make_context(registry, tmp_path))
    assert failed == ["aaa-failing"]
    assert set(written) == EXPECTED_FILES
    assert ("plugin 'failing-exporter-test' (inferload-disk 1.0) failed in exporter 'aaa-failing': "
            "RuntimeError: disk full while holding") in caplog.text
    assert API_KEY not in caplog.text
    assert registry.hooks.failure_lines()[0].endswith("its files are not written, the run went on")


def test_a_failing_exporter_in_strict_mode_is_a_plugin_error(tmp_path: Path) -> None:
    registry = load_plugins(LoadRules(strict=True))
    registry.add(_FailingExporter(), "failing-exporter-test")
    with pytest.raises(PluginError, match=r"'failing-exporter-test' .* failed in exporter 'aaa-failing'"):
        run_exporters(registry, make_context(registry, tmp_path))


class _OutsideExporter:
    """Returns a path outside the artifact directory, which must not be listed."""

    def __init__(self, outside: Path) -> None:
        self.outside = outside

    @hookimpl
    def register_exporters(self) -> list[ExporterSpec]:
        def write(context: Any) -> list[Path]:
            self.outside.write_text("x")
            return [self.outside, context.artifact_dir / "profile_export.json"]

        return [ExporterSpec(name="zzz-outside", description="writes outside", export=write)]


def test_paths_outside_the_artifact_dir_are_not_listed(tmp_path: Path) -> None:
    registry = load_plugins(LoadRules())
    registry.add(_OutsideExporter(tmp_path / "elsewhere.txt"), "outside-exporter-test")
    artifacts = tmp_path / "artifacts"
    written, failed = run_exporters(registry, make_context(registry, artifacts))
    assert failed == [] and set(written) == EXPECTED_FILES


def test_narrow_terminal_gets_fewer_columns_not_cropped_numbers(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    from rich.console import Console

    output = io.StringIO()
    narrow = Console(file=output, width=80, force_terminal=True, color_system=None)
    run_exporters(registry, make_context(registry, tmp_path, console=narrow))
    lines = output.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if line.startswith("┃") and "Metric" in line)
    assert "p99" in header and "std" not in header
    assert any("Time to First Token (ms)" in line and "40.00" in line for line in lines)
    # The artifact copy keeps every column whatever the terminal.
    assert "std" in (tmp_path / "profile_export_console.txt").read_text()


def test_whole_counts_print_as_integers_everywhere_and_other_figures_keep_decimals() -> None:
    from inferload.export import compact_stat, format_stat

    assert format_stat(100.0, "requests") == "100" and format_stat(12345.0, "tokens") == "12,345"
    assert format_stat(12345.0, "tokens", grouping=False) == "12345"
    assert format_stat(7.5, "tokens", "p50") == "7.50"  # a median between two counts is not a count
    assert format_stat(0.0, "tokens", "std") == "0.00"  # a spread is never a count
    assert format_stat(100.0, "ms") == "100.00" and format_stat(None, "requests") == ""
    assert compact_stat(12345.0, "tokens") == "12,345"  # the report and compare tables: not 1.234e+04
    assert compact_stat(0.12345, "ms") == "0.1235" and compact_stat(1234.5, "tokens") == "1,234"
