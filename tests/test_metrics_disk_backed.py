"""Bounded memory: records and per-request metric values go to disk as they arrive, and the final
statistics computed from the files equal the in-memory computation exactly."""

from __future__ import annotations

import math
import random
import threading
from typing import Any

import numpy as np
import pytest

from inferload import value_column
from inferload.metrics_engine import MetricsAccumulator
from inferload.record_store import RecordStore
from inferload.records import ERROR_HTTP, ERROR_TIMEOUT, PROFILING, WARMUP, RequestError, RequestRecord
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.stats import ExactMoments, compute_stats, exact_std
from inferload.value_column import ValueColumn

MS = 1_000_000


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins(LoadRules())


def random_record(rng: random.Random, request_id: int) -> RequestRecord:
    """A streamed request with random timings (log-normal TTFT, jittered gaps, 1 to 40 chunks), some warmup,
    some failed."""
    start = 10_000 * MS + request_id * 3 * MS
    ttft = int(rng.lognormvariate(3.5, 0.6) * MS)
    chunks = rng.randint(1, 40)
    chunk_ns = [start + ttft]
    for _ in range(chunks - 1):
        chunk_ns.append(chunk_ns[-1] + int(rng.uniform(2, 30) * MS))
    error = None
    roll = rng.random()
    if roll < 0.03:
        error = RequestError(ERROR_HTTP, f"server said no #{request_id}", code=503)
    elif roll < 0.04:
        error = RequestError(ERROR_TIMEOUT, "no complete response within 1 s")
    return RequestRecord(
        request_id=request_id, phase=WARMUP if request_id < 20 else PROFILING, worker_id=f"w{request_id % 3}",
        conversation_id=f"c{request_id}", x_request_id=f"x{request_id}", scheduled_ns=start - 1000,
        start_ns=start, end_ns=chunk_ns[-1] + 2 * MS, start_wall_ns=1_700_000_000_000_000_000 + start,
        input_tokens=rng.randint(10, 500), status=200 if error is None else error.code, chunk_ns=chunk_ns,
        first_answer_ns=chunk_ns[0], usage_prompt_tokens=100, usage_completion_tokens=chunks,
        usage_total_tokens=100 + chunks, error=error, client_lag_ns=rng.randint(0, 400_000),
    )


def same_stats(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Equal key for key, bit for bit (NaN equal to NaN)."""
    if left.keys() != right.keys():
        return False
    return all(a == b or (isinstance(a, float) and math.isnan(a) and math.isnan(b))
               for a, b in ((left[k], right[k]) for k in left))


@pytest.mark.parametrize(("stride", "gather_limit"), [
    (4096, value_column.GATHER_LIMIT),  # few samples: brackets as wide as the data
    (4, value_column.GATHER_LIMIT),  # narrow brackets around each rank
    (4, 10),  # brackets too wide to gather: the bisection
])
def test_disk_backed_final_stats_equal_the_in_memory_ones_exactly(
    registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, stride: int, gather_limit: int
) -> None:
    monkeypatch.setattr(value_column, "SPILL_VALUES", 257)  # many sorted runs on disk, and a tail
    monkeypatch.setattr(value_column, "SAMPLE_STRIDE", stride)
    monkeypatch.setattr(value_column, "GATHER_LIMIT", gather_limit)
    rng = random.Random(17)
    records = [random_record(rng, i) for i in range(4000)]
    acc = MetricsAccumulator(registry, spool_dir=tmp_path)
    for start in range(0, len(records), 64):
        acc.add(records[start:start + 64])
    final = acc.final()

    # in memory: every value of every metric, straight from the plugins, summarised in one array each
    columns: dict[str, list[float]] = {spec.name: [] for spec in acc.record_specs}
    for record in records:
        if record.phase != PROFILING or record.error is not None:
            continue
        for spec in acc.record_specs:
            value = spec.compute(record)
            if value is None:
                continue
            columns[spec.name].extend(value if isinstance(value, list) else [value])
    assert "inter_chunk_latency" in final and len(columns["inter_chunk_latency"]) > 10 * 257
    for tag, values in columns.items():
        if not values:
            assert tag not in final
            continue
        assert acc._columns[tag].spilled > 0, f"{tag} never reached the disk"
        expected = compute_stats(values)
        block = {key: final[tag][key] for key in expected}
        assert same_stats(block, expected), tag
    lag = [record.client_lag_ns / MS for record in records if record.phase == PROFILING]
    assert same_stats({k: v for k, v in acc.schedule_lag_stats().items() if k != "unit"}, compute_stats(lag))


@pytest.mark.parametrize("spill", [1, 3, 1000])
@pytest.mark.parametrize("stride", [2, 512])
def test_value_column_stats_match_compute_stats_with_nan_inf_and_signed_zero(
    spill: int, stride: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(value_column, "SAMPLE_STRIDE", stride)
    rng = np.random.default_rng(spill)
    values = np.concatenate([rng.normal(0, 5, 300), [np.nan, np.nan, np.inf, -np.inf, -0.0, 0.0, 1e300]])
    rng.shuffle(values)
    column = ValueColumn(spill_values=spill)
    for value in values[:50]:
        column.append(float(value))
    column.extend(values[50:].tolist())
    assert len(column) == values.size
    assert same_stats(column.stats(), compute_stats(values))


@pytest.mark.parametrize("spill", [1, 7, 1000])
def test_value_column_stats_without_some_values_equal_compute_stats_of_the_rest(spill: int) -> None:
    rng = np.random.default_rng(spill)
    ties = rng.integers(0, 20, 400).astype(np.float64)  # many equal values, some of them taken out
    values = np.concatenate([rng.normal(0, 5, 300), ties, [np.nan, np.inf, -0.0, 0.0, 0.0, 1e300, -1e-300]])
    rng.shuffle(values)
    column = ValueColumn(spill_values=spill)
    column.extend(values.tolist())
    finite = np.flatnonzero(np.isfinite(values))
    for taken in (0, 1, 37, finite.size // 2, finite.size):
        out = rng.choice(finite, size=taken, replace=False)
        kept = np.delete(values, out)
        assert same_stats(column.stats_without(values[out]), compute_stats(kept))
    only_finite = ValueColumn(spill_values=spill)
    only_finite.extend(values[finite].tolist())
    assert only_finite.stats_without(values[finite]) == {"count": 0}
    assert column.stats_without(np.array([np.nan])) is None  # an inf or NaN cannot be taken back out
    assert same_stats(column.stats_without(np.zeros(0)), column.stats())


def test_value_column_of_identical_values_and_of_one_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(value_column, "SAMPLE_STRIDE", 3)  # every bracket lands in a tie
    for values in ([7.25] * 2000, [3.0], [1.0] * 500 + [2.0] * 500 + [3.0] * 500):
        column = ValueColumn(spill_values=100)
        column.extend(values)
        assert same_stats(column.stats(), compute_stats(values))
        assert (column.stats()["std"] == 0.0) == (len(set(values)) == 1)


def test_value_column_closed_is_empty_and_reusable() -> None:
    column = ValueColumn(spill_values=4)
    column.extend([1.0, 2.0, 3.0, 4.0, 5.0])
    column.close()
    assert len(column) == 0 and column.stats() == {"count": 0}
    column.extend([9.0, 8.0, 7.0, 6.0, 5.0])
    assert column.stats()["p50"] == 7.0


def test_exact_std_does_not_depend_on_order_or_batching_and_beats_float_cancellation() -> None:
    rng = np.random.default_rng(5)
    values = rng.lognormal(0, 2, 5000)
    whole = exact_std(values)
    batched = ExactMoments()
    for part in np.array_split(rng.permutation(values), 13):
        batched.add(part)
    assert batched.std == whole
    assert whole == pytest.approx(float(np.std(values)), rel=1e-12)
    assert exact_std([0.1] * 1000) == 0.0  # numpy's two-pass figure is 1.4e-17 here
    assert exact_std([1e300, -1e300]) == 1e300  # numpy overflows to inf
    assert math.isnan(exact_std([1.0, math.inf])) and math.isnan(exact_std([1.0, math.nan]))


def test_record_store_reads_every_record_back_in_order_as_often_as_asked(tmp_path: Any) -> None:
    rng = random.Random(3)
    records = [random_record(rng, i) for i in range(1000)]
    store = RecordStore(spool_dir=tmp_path)
    for start in range(0, len(records), 37):
        store.append(records[start:start + 37])
    assert len(store) == len(records)
    for _ in range(2):
        again = list(store)
        assert [r.as_dict() for r in again] == [r.as_dict() for r in records]
    store.close()
    assert len(store) == 0 and list(store) == []


def test_record_store_reader_sees_complete_batches_while_a_writer_appends(tmp_path: Any) -> None:
    rng = random.Random(4)
    records = [random_record(rng, i) for i in range(3000)]
    store = RecordStore(records[:100], spool_dir=tmp_path)
    done = threading.Event()

    def writer() -> None:
        for start in range(100, len(records), 50):
            store.append(records[start:start + 50])
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    while not done.is_set():
        ids = [r.request_id for r in store]
        assert ids == list(range(len(ids)))  # a prefix in order: never a torn or repeated batch
    thread.join()
    assert [r.request_id for r in store] == list(range(len(records)))


def test_record_store_pairs_each_batch_with_its_values_and_copies_the_lines_bare(tmp_path: Any) -> None:
    # the store keeps no offset per batch (a 1-hour soak grew ~10 MB by them): records and values are
    # read back in step from their length-framed files, and the JSONL file holds the lines and nothing else
    rng = random.Random(5)
    records = [random_record(rng, i) for i in range(2000)]
    store = RecordStore(spool_dir=tmp_path)
    sizes = [1, 64, 3, 0, 257, 64]
    start = 0
    while start < len(records):
        size = sizes[start % len(sizes)] or 1
        batch = records[start:start + size]
        store.append(batch, values=[(r.request_id, None) for r in batch],
                     lines=b"".join(b'{"id":%d}\n' % r.request_id for r in batch))
        start += size
    for _ in range(2):
        pairs = [(r.request_id, v) for batch, values in store.measured()
                 for r, v in zip(batch, values, strict=True)]
        assert pairs == [(i, (i, None)) for i in range(len(records))]
    with open(tmp_path / "lines.jsonl", "wb") as handle:
        store.copy_lines(handle)
    expected = b"".join(b'{"id":%d}\n' % i for i in range(len(records)))
    assert (tmp_path / "lines.jsonl").read_bytes() == expected


def _event_sweep_start(spans: list[tuple[int, int]], target: int) -> int | None:
    """The steady-state start by the definition itself: sweep start (+1) and end (-1) events in time
    order, an end before a start at the same instant, and take the first instant ``target`` are in flight."""
    in_flight = 0
    for time_ns, delta in sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans]):
        in_flight += delta
        if in_flight >= target:
            return time_ns
    return None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steady_state_window_streams_and_matches_the_event_sweep(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inferload import steady_window
    from inferload.config import ProfileConfig

    monkeypatch.setattr(steady_window, "_SLICE", 192)  # slices of 192 starts: the answer may lie past one
    rng = random.Random(seed)
    records = [random_record(rng, i) for i in range(1500)]
    for record in records:  # overlapping requests, starts in random order, some ending at another's start
        record.start_wall_ns = 1_700_000_000_000_000_000 + rng.randrange(0, 10**9, 1000)
    spans = [steady_window.record_span(r) for r in records if r.phase == PROFILING]
    for concurrency in (1, 8, 64, 400):
        config = ProfileConfig(model="m", concurrency=concurrency)
        target = min(concurrency, len(spans))
        bounds = steady_window.steady_window(iter(records), config)
        expected = _event_sweep_start(spans, target)
        last_send = max(s for s, _ in spans)
        if expected is None or expected >= last_send:
            assert bounds is None
        else:
            assert bounds is not None and (bounds.start_ns, bounds.end_ns) == (expected, last_send)


@pytest.mark.parametrize("values", [
    [0.1, 2.5, 1e-3, 12345.678, -3.25, 0.0],  # the usual range: x split directly
    [1e300, 3e-310, 2.5, -7e200, 5e-324],  # beyond 2**±400: the mantissa is split
])
def test_exact_moments_hold_the_sum_of_squares_without_any_rounding(values: list[float]) -> None:
    from fractions import Fraction

    from inferload.stats import SQUARE_SCALE_BITS, SUM_SCALE_BITS

    moments = ExactMoments()
    moments.add(values)
    assert Fraction(moments.scaled_squares, 2**SQUARE_SCALE_BITS) == sum(Fraction(v) ** 2 for v in values)
    assert Fraction(moments.scaled_sum, 2**SUM_SCALE_BITS) == sum(Fraction(v) for v in values)
