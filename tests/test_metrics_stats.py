"""compute_stats and unit conversion: numbers that match numpy's linear percentiles and AIPerf's figures."""

from __future__ import annotations

import numpy as np
import pytest

from inferload.stats import PERCENTILES, STAT_KEYS, compute_stats, ns_to, per_second


def test_stats_keys_come_in_aiperf_order() -> None:
    stats = compute_stats([3.0, 1.0, 2.0])
    assert tuple(stats) == STAT_KEYS
    assert STAT_KEYS == ("avg", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "min", "max",
                         "std", "count", "sum")


def test_hand_computed_percentiles_interpolate_linearly() -> None:
    # Ranks run 0..4 over [10, 20, 30, 40, 50]; p25 sits on rank 1, p90 at rank 3.6, p99 at rank 3.96.
    stats = compute_stats([50, 10, 40, 20, 30])
    assert stats["p25"] == 20.0
    assert stats["p50"] == 30.0
    assert stats["p90"] == pytest.approx(46.0)
    assert stats["p99"] == pytest.approx(49.6)
    assert stats["p1"] == pytest.approx(10.4)
    assert (stats["min"], stats["max"], stats["count"], stats["sum"], stats["avg"]) == (10.0, 50.0, 5, 150.0,
                                                                                        30.0)
    # Population standard deviation (ddof=0): sqrt(mean of squared deviations) = sqrt(200).
    assert stats["std"] == pytest.approx(200 ** 0.5)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1001, 20_000])
def test_stats_match_numpy_exactly(size: int) -> None:
    rng = np.random.default_rng(size)
    for values in (rng.exponential(50.0, size), rng.integers(0, 40, size).astype(float)):
        stats = compute_stats(values)
        for p, expected in zip(PERCENTILES, np.percentile(values, PERCENTILES), strict=True):
            assert stats[f"p{p}"] == expected
        assert stats["avg"] == pytest.approx(values.mean(), rel=1e-12)
        assert stats["std"] == pytest.approx(values.std(ddof=0), rel=1e-9, abs=1e-12)
        assert stats["min"] == values.min() and stats["max"] == values.max()
        assert stats["count"] == size


def test_stats_reproduce_aiperf_integer_percentile() -> None:
    # AIPerf reported p95 = 28.05 for usage_prompt_tokens over 200 integer counts: rank 199 * 0.95 = 189.05
    # falls between a 28 and a 29, and only linear interpolation yields the fraction.
    values = [20.0] * 150 + [28.0] * 40 + [29.0] * 10
    assert compute_stats(values)["p95"] == pytest.approx(28.05)


def test_empty_input_has_only_a_zero_count() -> None:
    assert compute_stats([]) == {"count": 0}


def test_stats_are_plain_python_numbers() -> None:
    stats = compute_stats(np.array([1, 2, 3], dtype=np.int64))
    assert all(type(value) in (float, int) for value in stats.values())


def test_unit_conversion_lives_in_one_table() -> None:
    assert ns_to(1_500_000, "ms") == 1.5
    assert ns_to(2_000_000_000, "sec") == 2.0
    assert ns_to(3_000, "us") == 3.0
    assert per_second(10, 2_000_000_000) == 5.0
    assert per_second(10, 0) is None
    with pytest.raises(ValueError, match="unknown time unit 'hours'"):
        ns_to(1, "hours")
