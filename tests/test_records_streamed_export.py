"""The record path of a long run: each record's metrics computed once, on arrival; the JSONL lines, the
steady-state window, the session report and the load segments read from what was stored then, and equal,
record for record, what recomputing every metric from the records gives (the path before issue 17)."""

from __future__ import annotations

import logging
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from inferload import hookimpl, record_columns
from inferload.config import ProfileConfig
from inferload.engine.aggregator import RecordAggregator
from inferload.engine.messages import decode_batch, encode_batch
from inferload.engine.post_run_checks import log_timeouts
from inferload.export import ExportContext, _scrub_files
from inferload.load_control import CONCURRENCY, LoadSegment, LoadTarget
from inferload.metrics_engine import MetricsAccumulator
from inferload.record_lines import encode_lines, encode_measured_lines
from inferload.record_store import RecordStore
from inferload.records import (
    ERROR_HTTP,
    ERROR_METRIC,
    ERROR_REQUEST_CANCELLED,
    ERROR_TIMEOUT,
    PROFILING,
    WARMUP,
    RequestError,
    RequestRecord,
)
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.runstate import PhaseProgress, RunInfo, RunState
from inferload.steady_window import steady_window
from inferload.types import MetricSpec
from inferload_plugins.exporters import sessions as sessions_exporter
from inferload_plugins.exporters.jsonl_records import export_jsonl
from inferload_plugins.exporters.sessions import session_report
from inferload_plugins.summaries import steady_state as steady_state_module
from inferload_plugins.summaries.load_segments import segment_report
from inferload_plugins.summaries.output_length import check_output_length
from inferload_plugins.summaries.steady_state import _less_outside, steady_state

MS = 1_000_000
API_KEY = "sk-streamed-SECRET-424242"
RECORDS = 3000


def mixed_record(rng: random.Random, request_id: int) -> RequestRecord:
    """A streamed request of a multi-turn run: 1 to 12 chunks, some warmup, some failed (one echoing the
    API key), some cancelled on purpose, every third session five turns long."""
    start = 10_000 * MS + request_id * 2 * MS
    chunks = [start + int(rng.lognormvariate(3.0, 0.5) * MS)]
    for _ in range(rng.randint(0, 11)):
        chunks.append(chunks[-1] + int(rng.uniform(1, 20) * MS))
    error = None
    roll = rng.random()
    if roll < 0.03:
        error = RequestError(ERROR_HTTP, f"401 bad key {API_KEY} on #{request_id}", code=401)
    elif roll < 0.05:
        error = RequestError(ERROR_TIMEOUT, "no complete response within 1 s")
    elif roll < 0.07:
        error = RequestError(ERROR_REQUEST_CANCELLED, "cancelled after 5 ms by --request-cancellation-rate")
    session = request_id // 5
    return RequestRecord(
        request_id=request_id, phase=WARMUP if request_id < 30 else PROFILING,
        worker_id=f"worker_{request_id % 2}",
        conversation_id=f"conv-{session}", x_request_id=f"x-{request_id}", scheduled_ns=start - 500,
        start_ns=start, end_ns=chunks[-1] + MS, start_wall_ns=1_790_000_000_000_000_000 + start,
        input_tokens=rng.randint(8, 300), requested_output_tokens=16,
        status=200 if error is None else error.code,
        ack_ns=start + MS, chunk_ns=chunks if error is None else [], usage_prompt_tokens=50,
        usage_completion_tokens=None if error else len(chunks),
        usage_total_tokens=None if error else 50 + len(chunks),
        error=error, cancelled=error is not None and error.type == ERROR_REQUEST_CANCELLED,
        client_lag_ns=rng.randint(0, 300_000), session_id=f"s-{session}" if session % 3 == 0 else None,
        turn_index=request_id % 5 if session % 3 == 0 else None,
    )


class FailsOnEveryHundredth:
    """A metric plugin that raises on request ids divisible by 100: those requests are metric errors."""

    @hookimpl
    def register_metrics(self) -> list[MetricSpec]:
        def compute(record: RequestRecord) -> float:
            if record.request_id % 100 == 0:
                raise ValueError("no value for this one")
            return float(record.input_tokens)

        return [MetricSpec(name="picky_metric", kind="record", unit="tokens", header="Picky",
                           description="fails on every hundredth request", compute=compute,
                           display_order=999)]


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    registry = load_plugins(LoadRules())
    registry.add(FailsOnEveryHundredth(), "picky-metric")
    assert "picky_metric" in registry.all("metric")
    return registry


def config(**extra: Any) -> ProfileConfig:
    return ProfileConfig.load({"model": "m", "url": "http://127.0.0.1:9", "api_key": API_KEY,
                               "streaming": True, "concurrency": 8, **extra},
                              registry=load_plugins(LoadRules()))


def run_through_aggregator(
    registry: PluginRegistry, tmp_path: Path, run_config: ProfileConfig | None = None
) -> tuple[RecordAggregator, list[bytes]]:
    """Feed the records to a real aggregator as workers send them (pickled slices of 64); return it and
    the batches as sent, to rebuild the records as they left the workers."""
    state = RunState(run_info=RunInfo(benchmark_id="b", random_seed=1, cli_command=""),
                     config=run_config or config(), artifact_dir=tmp_path)
    accumulator = MetricsAccumulator(registry, state.config, spool_dir=tmp_path)
    aggregator = RecordAggregator(state, registry, accumulator)
    progress = PhaseProgress(phase=PROFILING, phase_index=0)
    rng = random.Random(17)
    records = [mixed_record(rng, i) for i in range(RECORDS)]
    sent = [encode_batch(records[i:i + 64]) for i in range(0, RECORDS, 64)]
    for count, batch in enumerate(sent, 1):
        aggregator.on_records("worker_0", progress, batch, min(RECORDS, count * 64))
    return aggregator, sent


def as_sent(sent: list[bytes]) -> list[RequestRecord]:
    return [record for batch in sent for record in decode_batch(batch)[0]]


def export_context(store: Any, accumulator: MetricsAccumulator, tmp_path: Path) -> ExportContext:
    state = RunState(run_info=RunInfo(benchmark_id="b", random_seed=1, cli_command=""), config=config(),
                     artifact_dir=tmp_path)
    return ExportContext(state=state, config=state.config, records=store, metrics={}, summary={}, inputs=[],
                         artifact_dir=tmp_path, accumulator=accumulator)


@pytest.mark.parametrize("spool_on", ["the artifacts' filesystem", "another filesystem"])
def test_streamed_jsonl_equals_recomputing_every_record_line_for_line(
    registry: PluginRegistry, tmp_path: Path, spool_on: str
) -> None:
    if spool_on == "another filesystem":
        if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("no second filesystem (/dev/shm) to spool on")
        spool = Path(tempfile.mkdtemp(dir="/dev/shm"))
    else:
        spool = tmp_path / "run"
    aggregator, _ = run_through_aggregator(registry, spool)
    streamed_dir, recomputed_dir = tmp_path / "streamed", tmp_path / "recomputed"
    streamed_dir.mkdir()
    recomputed_dir.mkdir()
    assert aggregator.records.has_lines and aggregator.records.has_values
    export_jsonl(export_context(aggregator.records, aggregator.accumulator, streamed_dir))
    # the stored lines became the file (a hard link) on the same filesystem, were copied across
    spooled = os.fstat(aggregator.records._lines.file.fileno()).st_ino
    linked = (streamed_dir / "profile_export.jsonl").stat().st_ino == spooled
    assert linked == (spool_on == "the artifacts' filesystem" and sys.platform == "linux")
    # the path before: every metric computed again per record at export, from the records as they
    # ended up after the run's accounting (a metric that raised made its record a metric_error)
    stored = list(aggregator.records)
    fresh = MetricsAccumulator(registry, config())
    export_jsonl(export_context(stored, fresh, recomputed_dir))
    streamed = (streamed_dir / "profile_export.jsonl").read_bytes().splitlines()
    recomputed = (recomputed_dir / "profile_export.jsonl").read_bytes().splitlines()
    assert len(streamed) == RECORDS
    for index, (left, right) in enumerate(zip(streamed, recomputed, strict=True)):
        assert left == right, f"line {index} differs"
    text = b"\n".join(streamed)
    assert API_KEY.encode() not in text and b"<redacted>" in text
    assert b'"type":"request_cancelled"' in text and b'"benchmark_phase":"warmup"' in text
    assert b'"session_id":"s-0"' in text
    aggregator.records.close()  # the linked file stays, whole
    assert (streamed_dir / "profile_export.jsonl").read_bytes().splitlines() == streamed
    shutil.rmtree(spool, ignore_errors=True)


def test_a_metric_error_is_stored_as_the_run_counted_it(registry: PluginRegistry, tmp_path: Path) -> None:
    aggregator, sent = run_through_aggregator(registry, tmp_path)
    stored = {record.request_id: record for record in aggregator.records}
    original = {record.request_id: record for record in as_sent(sent)}
    marked = [rid for rid, record in stored.items()
              if record.error is not None and record.error.type == ERROR_METRIC]
    expected = [rid for rid, record in original.items()
                if rid % 100 == 0 and record.error is None and record.phase == PROFILING]
    assert marked == expected and marked
    assert aggregator.accumulator.compute_failures["picky_metric"] == len(expected)
    errors = sum(1 for r in stored.values() if r.phase == PROFILING and r.error is not None
                 and r.error.type != ERROR_REQUEST_CANCELLED)
    assert aggregator.accumulator.error_count == errors
    # every record, as sent, is in the store once, in arrival order
    assert [r.request_id for r in aggregator.records] == list(range(RECORDS))


@pytest.mark.parametrize("chunk_rows", [97, 1 << 20], ids=["chunks of 97 rows", "one chunk"])
@pytest.mark.parametrize("goodput", [None, "time_to_first_token:25 inter_chunk_latency:12"],
                         ids=["no SLO", "SLOs on TTFT and the list-valued ICL"])
def test_steady_state_sessions_and_segments_from_the_columns_equal_the_records_in_memory(
    registry: PluginRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int,
    goodput: str | None,
) -> None:
    monkeypatch.setattr(record_columns, "CHUNK_ROWS", chunk_rows)  # chunk boundaries inside the run
    monkeypatch.setattr(record_columns, "BUFFER_ROWS", 200)  # and buffers written mid-run
    monkeypatch.setattr(sessions_exporter, "TURN_SPILL_VALUES", 7)  # each turn's values in many sorted runs
    run_config = config(**({"goodput": goodput} if goodput else {}))
    aggregator, _ = run_through_aggregator(registry, tmp_path, run_config)
    store = aggregator.records
    assert store.columns is not None and len(store.columns) == RECORDS
    stored = list(store)  # the records in memory: every statistic below computed from them instead
    bounds = steady_window(store, run_config)
    assert bounds is not None and bounds == steady_window(stored, run_config)
    from_columns = steady_state(store, run_config, registry, bounds)
    assert from_columns == steady_state(stored, run_config, registry, bounds)
    # the run's own exact columns less the requests outside the window (the ramp-up and the drain: a
    # warmup, cancelled requests, metric errors and failures among them): the same section, bit for bit
    whole = aggregator.accumulator
    assert not isinstance(_less_outside(store.columns, whole, registry, run_config, bounds), str)
    assert steady_state(store, run_config, registry, bounds, whole=whole) == from_columns
    monkeypatch.setattr(steady_state_module, "_OUTSIDE_VALUES", 0)  # too many outside: the window by itself
    assert isinstance(_less_outside(store.columns, whole, registry, run_config, bounds), str)
    assert steady_state(store, run_config, registry, bounds, whole=whole) == from_columns
    assert from_columns["window"]["request_count"] > RECORDS // 2
    assert "inter_chunk_latency" in from_columns["metrics"]
    if goodput:
        window = from_columns["metrics"]
        assert 0 < window["goodput"]["avg"] < window["request_throughput"]["avg"]
    from_store = session_report(store, aggregator.accumulator)
    recomputed = session_report(stored, MetricsAccumulator(registry, run_config))
    assert from_store == recomputed
    assert from_store is not None and from_store["sessions"]["session_count"] > 100
    assert [turn["turn_index"] for turn in from_store["turns"]] == [0, 1, 2, 3, 4]
    starts = [10_000 * MS, 10_000 * MS + 2_000 * MS, 10_000 * MS + 4_500 * MS]
    ends: list[int | None] = [*starts[1:], None]
    segments = [LoadSegment(index=i, start_mono_ns=start, target=LoadTarget(CONCURRENCY, 8),
                            source="schedule", end_mono_ns=end)
                for i, (start, end) in enumerate(zip(starts, ends, strict=True))]
    closing = 10_000 * MS + 7_000 * MS
    from_store = segment_report(segments, store, run_config, registry, closing)
    assert from_store == segment_report(segments, stored, run_config, registry, closing)
    assert [segment["requests_sent"] for segment in from_store] == [
        sum(1 for r in stored if r.phase == PROFILING and start <= r.start_ns < (end or closing))
        for start, end in zip(starts, ends, strict=True)]
    assert all(segment["metrics"] and segment["error_count"] for segment in from_store)


def test_output_length_and_timeouts_from_the_columns_equal_the_pass_over_the_records(
    registry: PluginRegistry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    aggregator, _ = run_through_aggregator(registry, tmp_path)
    store = aggregator.records
    stored = list(store)
    for generic in (None, "gpt2"):
        from_columns = check_output_length(store, length_field="max_tokens", ignore_eos=False,
                                           generic_tokenizer=generic)
        assert from_columns == check_output_length(stored, length_field="max_tokens", ignore_eos=False,
                                                   generic_tokenizer=generic)
    assert from_columns is not None and from_columns["requests"] > RECORDS // 2
    logged = []
    for records in (store, stored):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="inferload.profile"):
            log_timeouts(records)
        logged.append([r.getMessage() for r in caplog.records])
    timeouts = sum(1 for r in stored if r.error is not None and r.error.type == ERROR_TIMEOUT)
    assert logged[0] == logged[1] == [f"{timeouts} request(s) timed out: no complete response within 1 s"]


def test_a_run_without_sessions_writes_no_session_report_from_its_columns(
    registry: PluginRegistry, tmp_path: Path
) -> None:
    aggregator, _ = run_through_aggregator(registry, tmp_path)
    store = aggregator.records
    single = RecordStore(spool_dir=tmp_path)
    single.value_tags = store.value_tags
    for batch, values in store.measured():
        for record in batch:
            record.session_id = record.turn_index = None
        single.append(batch, values=values)
    assert single.columns is not None and single.columns.session_rows == 0
    assert session_report(single, aggregator.accumulator) is None
    assert session_report(list(single), aggregator.accumulator) is None


@pytest.mark.parametrize("reached", ["late in the run", "never"])
def test_the_window_from_the_columns_equals_the_pass_over_the_records_when_the_target_comes(
    registry: PluginRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reached: str
) -> None:
    """Requests one at a time for most of the run, then 8 in flight (or never more than 7): the columns'
    search past its first horizon finds the same start as the sort of every record, or none."""
    monkeypatch.setattr(record_columns, "CHUNK_ROWS", 50)
    rng = random.Random(5)
    records = []
    for i in range(600):
        record = mixed_record(rng, i)
        overlap = 8 if reached == "late in the run" else 7
        start = 10_000 * MS + (i * 10 * MS if i < 500 else 5_000 * MS + (i - 500) // overlap * 10 * MS)
        record.start_ns, record.end_ns = start, start + 9 * MS
        record.start_wall_ns = 1_790_000_000_000_000_000 + start
        records.append(record)
    run_config = config()
    store = RecordStore(spool_dir=tmp_path)
    accumulator = MetricsAccumulator(registry, run_config)
    store.value_tags = accumulator.record_tags
    for first in range(0, len(records), 64):
        batch = records[first:first + 64]
        store.append(batch, values=accumulator.add(batch))
    assert store.columns is not None
    from_columns = steady_window(store, run_config)
    assert from_columns == steady_window(records, run_config)
    if reached == "never":
        assert from_columns is None
    else:
        assert from_columns is not None and from_columns.start_ns > records[499].start_wall_ns


def test_record_store_without_lines_for_one_batch_says_so(tmp_path: Path) -> None:
    rng = random.Random(2)
    records = [mixed_record(rng, i) for i in range(100)]
    store = RecordStore(spool_dir=tmp_path)
    store.append(records[:50], values=[None] * 50, lines=b"a\n" * 50)
    assert store.has_lines and store.has_values
    store.append(records[50:])
    assert not store.has_lines and not store.has_values
    store.append(records[:1], values=[None], lines=b"b\n")  # a later batch cannot make the set whole
    assert not store.has_lines and not store.has_values
    with pytest.raises(ValueError):
        store.copy_lines(open(tmp_path / "out", "wb"))  # noqa: SIM115 - closed with the test


def test_a_secret_across_a_scan_block_boundary_is_scrubbed_from_a_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inferload.export as export

    monkeypatch.setattr(export, "_SCAN_BLOCK", 64)
    lines = [f"line {i} " + "x" * 20 for i in range(50)]
    lines[7] = "y" * 60 + API_KEY  # starts in the first 64-byte block, ends in the second
    (tmp_path / "big.jsonl").write_text("\n".join(lines) + "\n")
    _scrub_files(tmp_path, ["big.jsonl"], [API_KEY])
    text = (tmp_path / "big.jsonl").read_text()
    assert API_KEY not in text
    assert text.splitlines()[7] == "y" * 60 + "<redacted>"
    assert text.splitlines()[:7] == lines[:7] and text.splitlines()[8:] == lines[8:]


@pytest.mark.parametrize("case", ["NaN and infinite values", "a big integer", "a lone surrogate in an error"])
def test_lines_from_measured_values_equal_the_record_line_dicts_byte_for_byte(case: str) -> None:
    rng = random.Random(3)
    records = [mixed_record(rng, i) for i in range(40, 104)]
    tag_units = [("time_to_first_token", "ms"), ("inter_chunk_latency", "ms"), ("output_sequence_length",
                                                                              "tokens")]
    values: list[tuple[Any, ...] | None] = []
    for i, record in enumerate(records):
        if record.error is not None:
            values.append(None)
            continue
        special: Any = {"NaN and infinite values": [float("nan"), float("inf"), -float("inf")][i % 3],
                        "a big integer": 2**70 + i, "a lone surrogate in an error": 1.5}[case]
        values.append((special, [1.0, special] if i % 2 else None, len(record.chunk_ns)))
    if case == "a lone surrogate in an error":
        records[0].error = RequestError(ERROR_HTTP, "bad byte \ud800 from the server", code=500)
        values[0] = None

    def metrics_of(record: RequestRecord, measured: Any) -> dict[str, Any]:
        """What MetricsAccumulator.metrics_of gives (a failed record: no metrics)."""
        if measured is None:
            return {}
        return {tag: {"value": value, "unit": unit}
                for (tag, unit), value in zip(tag_units, measured, strict=True) if value is not None}

    def scrub(text: str) -> str:
        return text.replace(API_KEY, "<redacted>")

    expected = encode_lines(records, map(metrics_of, records, values), scrub)
    assert encode_measured_lines(records, values, tag_units, metrics_of, scrub) == expected
    assert expected.count(b"\n") == len(records)


@pytest.mark.parametrize("chunk_rows", [97, 1 << 20], ids=["chunks of 97 rows", "one chunk"])
def test_report_charts_from_the_columns_equal_those_from_the_jsonl(
    registry: PluginRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_rows: int
) -> None:
    import numpy as np

    from inferload_plugins.plotting.charts import CDF_METRICS, RunData, RunSeries, per_second

    monkeypatch.setattr(record_columns, "CHUNK_ROWS", chunk_rows)
    aggregator, _ = run_through_aggregator(registry, tmp_path)
    out = tmp_path / "artifacts"
    out.mkdir()
    export_jsonl(export_context(aggregator.records, aggregator.accumulator, out))
    # --report at the end of the run reads the columns; `inferload plot` later reads the JSONL
    from_lines = RunData("r", out, {}, RunSeries.read(out / "profile_export.jsonl"))
    assert aggregator.records.columns is not None
    from_columns = RunData("r", out, {}, RunSeries.from_columns(aggregator.records.columns))
    lines, columns = per_second(from_lines), per_second(from_columns)
    assert lines.keys() == columns.keys() and lines["errors"].sum() > 0
    for key in lines:
        np.testing.assert_array_equal(columns[key], lines[key])
    for tag, _ in CDF_METRICS:
        np.testing.assert_array_equal(from_columns.cdf(tag), from_lines.cdf(tag))
    assert from_lines.cdf("time_to_first_token")[0].size > RECORDS // 2
    aggregator.records.close()
