"""The streaming quantile sketch behind live metrics: percentiles within alpha of numpy's, everything else
exact, and live snapshots that agree with the exact final results. No timings here (see
bench/bench_metrics.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inferload import metrics_engine
from inferload.metrics_engine import MetricsAccumulator
from inferload.records import PROFILING, RequestRecord
from inferload.registry import LoadRules, PluginRegistry, load_plugins
from inferload.sketch import DEFAULT_RELATIVE_ACCURACY, QuantileSketch
from inferload.stats import PERCENTILES, STAT_KEYS, compute_stats, exact_sum, percentile_ranks

ALPHA = DEFAULT_RELATIVE_ACCURACY
ROUNDING = 1e-12
"""Float slack on top of alpha: log/exp rounding at a bucket boundary."""
MS = 1_000_000


def distributions() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    mixed = rng.normal(0.0, 50.0, 30_000)
    return {
        "lognormal": rng.lognormal(3.0, 1.5, 50_000),
        "uniform": rng.uniform(0.0, 100.0, 40_000),
        "constant": np.full(5_000, 7.25),
        "with_zeros": np.where(rng.random(20_000) < 0.3, 0.0, rng.exponential(5.0, 20_000)),
        "signed_integers": rng.normal(0.0, 5.0, 20_000).round(),  # like usage_completion_tokens_diff
        "mixed_signs": mixed,
        "negative_only": -rng.lognormal(1.0, 2.0, 10_000),
        "tiny_and_huge": rng.lognormal(0.0, 40.0, 10_000),
        "single": np.array([42.0]),
        "two": np.array([-3.0, 5.0]),
    }


def sketch_of(values: np.ndarray, parts: int = 7) -> QuantileSketch:
    sketch = QuantileSketch()
    for part in np.array_split(values, parts):
        sketch.add(part)
    return sketch


def assert_percentiles_within_alpha(estimated: dict, values: np.ndarray) -> None:
    """Each percentile within alpha of its rank values: alpha·((1-f)|a| + f|b|), i.e. alpha relative when
    a and b share a sign (the documented guarantee)."""
    ordered = np.sort(values)
    exact = compute_stats(values)
    for p, low, high, fraction in percentile_ranks(values.size):
        a, b = float(ordered[low]), float(ordered[high])
        bound = (ALPHA + ROUNDING) * ((1 - fraction) * abs(a) + fraction * abs(b))
        assert abs(estimated[f"p{p}"] - exact[f"p{p}"]) <= bound, (p, estimated[f"p{p}"], exact[f"p{p}"])
        if a * b > 0:
            assert estimated[f"p{p}"] == pytest.approx(exact[f"p{p}"], rel=ALPHA + ROUNDING)


def assert_exact_parts_equal(estimated: dict, exact: dict) -> None:
    for key in ("count", "sum", "avg", "min", "max"):
        assert estimated[key] == exact[key], key
    assert estimated["std"] == pytest.approx(exact["std"], rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", list(distributions()))
def test_sketch_percentiles_within_alpha_of_numpy(name: str) -> None:
    values = distributions()[name]
    sketch = sketch_of(values)
    estimated = sketch.stats()
    assert tuple(estimated) == STAT_KEYS
    assert_percentiles_within_alpha(estimated, values)
    numpy_percentiles = np.percentile(values, PERCENTILES)
    for p, expected in zip(PERCENTILES, numpy_percentiles, strict=True):
        tolerance = ALPHA * np.abs(values).max()
        assert estimated[f"p{p}"] == pytest.approx(expected, rel=ALPHA + ROUNDING, abs=tolerance)
    assert_exact_parts_equal(estimated, compute_stats(values))


@pytest.mark.parametrize("name", ["lognormal", "mixed_signs", "with_zeros", "tiny_and_huge"])
def test_every_rank_value_is_within_alpha(name: str) -> None:
    values = distributions()[name]
    ordered = np.sort(values)
    ranks = [*range(0, values.size, 97), values.size - 1]
    estimates = np.array(sketch_of(values).rank_values(ranks))
    truth = ordered[ranks]
    assert np.all(np.abs(estimates - truth) <= (ALPHA + ROUNDING) * np.abs(truth))


def test_constant_values_are_reported_exactly() -> None:
    stats = sketch_of(np.full(1000, 0.125)).stats()
    assert all(stats[f"p{p}"] == 0.125 for p in PERCENTILES)


def test_other_relative_accuracy_is_honoured() -> None:
    values = distributions()["lognormal"]
    coarse, fine = QuantileSketch(0.05), QuantileSketch(0.001)
    coarse.add(values)
    fine.add(values)
    exact = np.sort(values)[[100, 25_000, 49_000]]
    assert np.all(np.abs(np.array(coarse.rank_values([100, 25_000, 49_000])) - exact) <= 0.05 * exact)
    fine_error = np.abs(np.array(fine.rank_values([100, 25_000, 49_000])) - exact)
    assert np.all(fine_error <= 0.001 * exact * 1.000001)
    assert fine.buckets > coarse.buckets
    with pytest.raises(ValueError, match="relative_accuracy"):
        QuantileSketch(0.0)


def test_merge_equals_one_sketch_of_everything() -> None:
    data = distributions()
    parts = [data["lognormal"], data["signed_integers"], data["with_zeros"]]
    merged = QuantileSketch()
    for values in parts:
        merged.merge(sketch_of(values))
    everything = np.concatenate(parts)
    whole = sketch_of(everything, parts=3)
    merged_stats, whole_stats = merged.stats(), whole.stats()
    for key in ("count", "sum", "avg", "min", "max", *(f"p{p}" for p in PERCENTILES)):
        assert merged_stats[key] == whole_stats[key], key
    assert merged_stats["std"] == pytest.approx(whole_stats["std"], rel=1e-12)
    assert_exact_parts_equal(merged_stats, compute_stats(everything))
    with pytest.raises(ValueError, match="different relative accuracy"):
        merged.merge(QuantileSketch(0.01))


def test_merge_into_and_from_empty() -> None:
    values = distributions()["uniform"]
    empty = QuantileSketch()
    empty.merge(sketch_of(values))
    full = sketch_of(values)
    full.merge(QuantileSketch())
    assert empty.stats() == full.stats()


def test_size_follows_the_range_not_the_count() -> None:
    rng = np.random.default_rng(7)
    small, large = QuantileSketch(), QuantileSketch()
    small.add(np.clip(rng.lognormal(3.0, 1.0, 10_000), 1e-3, 1e6))
    for _ in range(20):
        large.add(np.clip(rng.lognormal(3.0, 1.0, 50_000), 1e-3, 1e6))
    span_buckets = math.log(1e6 / 1e-3) / math.log(small.gamma)  # ~2,100 for nine decades at alpha = 0.5 %
    assert large.count == 100 * small.count
    assert large.buckets <= span_buckets + 4 * 64


def test_non_finite_values_are_counted_like_numpy() -> None:
    values = np.array([1.0, 2.0, np.inf, 3.0, -np.inf, 0.0])
    stats = sketch_of(values, parts=2).stats()
    with np.errstate(invalid="ignore"):  # numpy's std of an inf
        exact = compute_stats(values)
    assert (stats["count"], stats["min"], stats["max"]) == (exact["count"], exact["min"], exact["max"])
    assert math.isnan(stats["sum"]) and math.isnan(exact["sum"])  # inf + -inf
    assert math.isnan(stats["std"]) and math.isnan(exact["std"])
    with_nan = sketch_of(np.array([1.0, np.nan, 2.0]), parts=1).stats()
    assert with_nan["min"] == 1.0 and math.isnan(with_nan["max"]) and math.isnan(with_nan["p99"])


def test_empty_sketch() -> None:
    sketch = QuantileSketch()
    sketch.add([])
    assert sketch.stats() == {"count": 0}
    with pytest.raises(ValueError, match="empty"):
        sketch.quantile(0.5)


def test_quantile_matches_the_reported_percentiles() -> None:
    sketch = sketch_of(distributions()["lognormal"])
    stats = sketch.stats()
    assert sketch.quantile(0.95) == stats["p95"]
    assert sketch.quantile(0.0) == stats["min"] and sketch.quantile(1.0) == stats["max"]


def test_exact_sum_is_correctly_rounded_and_order_free() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 1.0, 20_000) * 10.0 ** rng.integers(-200, 200, 20_000)
    assert exact_sum(values) == math.fsum(values)
    assert exact_sum(values[::-1]) == exact_sum(rng.permutation(values)) == math.fsum(values)
    assert exact_sum([0.1] * 10) == 1.0  # plain float addition gives 0.9999999999999999
    assert exact_sum([5e-324, -5e-324, 1e308, 1e308]) == math.inf
    assert exact_sum([]) == 0.0


# -- the accumulator: live snapshot versus exact final ----------------------------------------------


@pytest.fixture(scope="module")
def registry() -> PluginRegistry:
    return load_plugins(LoadRules())


def varied_records(count: int, first_id: int = 0, seed: int = 0) -> list[RequestRecord]:
    """Streamed records with lognormal timings, 1-12 chunks, and client token counts off by a few either
    way so ``usage_completion_tokens_diff`` takes negative, zero and positive values."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(first_id, first_id + count):
        start = 10**12 + i * 3 * MS
        chunks = int(rng.integers(1, 13))
        gaps = np.cumsum(rng.lognormal(2.0, 0.7, chunks) * MS).astype(np.int64)
        chunk_ns = [start + int(rng.lognormal(4.0, 0.5) * MS) + int(g) for g in gaps]
        osl = chunks + int(rng.integers(0, 3))
        records.append(RequestRecord(
            request_id=i, phase=PROFILING, worker_id="w0", conversation_id=f"c{i}", x_request_id=f"x{i}",
            scheduled_ns=start, start_ns=start, end_ns=chunk_ns[-1] + int(rng.integers(0, 5 * MS)),
            start_wall_ns=start, input_tokens=int(rng.integers(10, 2000)), status=200, chunk_ns=chunk_ns,
            usage_prompt_tokens=100, usage_completion_tokens=osl, usage_total_tokens=100 + osl,
            client_output_tokens=max(1, osl + int(rng.integers(-3, 4))),
        ))
    return records


def assert_snapshot_matches_final(snapshot: dict, final: dict) -> None:
    assert snapshot.keys() == final.keys()
    for tag, exact in final.items():
        live = snapshot[tag]
        assert list(live) == list(exact), tag  # the same block layout
        if metrics_engine.is_aggregate(exact):
            assert live == exact, tag
            continue
        assert (live["unit"], live["header"]) == (exact["unit"], exact["header"])
        for key in ("count", "sum", "avg", "min", "max"):
            assert live[key] == exact[key], (tag, key)
        assert live["std"] == pytest.approx(exact["std"], rel=1e-9, abs=1e-12), tag
        for p in PERCENTILES:
            key = f"p{p}"
            scale = max(abs(exact[key]), 1.0) if tag == "usage_completion_tokens_diff" else abs(exact[key])
            error = abs(live[key] - exact[key])
            assert error <= (ALPHA + ROUNDING) * scale, (tag, key, live[key], exact[key])


def test_snapshot_agrees_with_final(registry: PluginRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    # A small feed threshold so add() feeds the sketches many times between snapshots.
    monkeypatch.setattr(metrics_engine, "SKETCH_FEED_VALUES", 500)
    acc = MetricsAccumulator(registry)
    for k in range(6):
        acc.add(varied_records(700, first_id=k * 700, seed=k))
        if k in (2, 5):
            duration = acc.observed_duration_ns
            assert_snapshot_matches_final(acc.snapshot(), acc.final(benchmark_duration_ns=duration))
    snapshot = acc.snapshot()
    diff = snapshot["usage_completion_tokens_diff"]
    assert diff["min"] < 0 < diff["max"]  # the signed metric crossed zero
    assert snapshot["request_count"]["avg"] == 4200


def test_final_stays_exact_after_snapshots(registry: PluginRegistry) -> None:
    records = varied_records(3000, seed=11)
    acc = MetricsAccumulator(registry)
    for start in range(0, 3000, 250):
        acc.add(records[start:start + 250])
        acc.snapshot()
    final = acc.final()
    latencies = [(r.end_ns - r.start_ns) / MS for r in records]  # to the last byte
    assert final["request_latency_last_byte"] == {"unit": "ms", **compute_stats(latencies),
                                        "header": final["request_latency_last_byte"]["header"]}
    assert final["request_latency_last_byte"]["p50"] == np.percentile(latencies, 50)
