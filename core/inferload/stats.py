"""Summary statistics and unit conversion: the one place that turns raw values into reported numbers.

Percentiles use linear interpolation between closest ranks (numpy's default ``method="linear"``), and
``std`` is the population standard deviation (``ddof=0``): both reproduce AIPerf's published numbers
(e.g. its ``usage_prompt_tokens`` p95 of 28.05 over integer samples), so results stay comparable.

Times inside inferload are integer nanoseconds from ``time.perf_counter_ns()``; every conversion to a
reported unit (ms, sec, tokens/sec …) goes through :func:`ns_to` or :func:`per_second` so that no other
module carries its own ``1e6`` or ``1e9``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

PERCENTILES: tuple[int, ...] = (1, 5, 10, 25, 50, 75, 90, 95, 99)
"""The percentiles reported for every per-request metric."""

STAT_KEYS: tuple[str, ...] = ("avg", *(f"p{p}" for p in PERCENTILES), "min", "max", "std", "count", "sum")
"""Stat names in AIPerf's order (after ``unit``): avg, p1 … p99, min, max, std, count, sum."""

NS_PER_UNIT: dict[str, float] = {"ns": 1.0, "us": 1e3, "ms": 1e6, "sec": 1e9, "s": 1e9}
"""Nanoseconds in one of each time unit a metric may be reported in."""


def ns_to(value_ns: float, unit: str) -> float:
    """Convert a duration in nanoseconds to ``unit`` (``ns``, ``us``, ``ms``, ``sec``)."""
    try:
        return value_ns / NS_PER_UNIT[unit]
    except KeyError:
        raise ValueError(f"unknown time unit {unit!r}; use one of {', '.join(NS_PER_UNIT)}") from None


def per_second(amount: float, duration_ns: float) -> float | None:
    """``amount`` per second over ``duration_ns``; None when the duration is not positive (no rate)."""
    if duration_ns <= 0:
        return None
    return amount * NS_PER_UNIT["sec"] / duration_ns


def compute_stats(values: Sequence[float] | np.ndarray) -> dict[str, Any]:
    """avg, p1…p99, min, max, std, count and sum of ``values`` (keys in :data:`STAT_KEYS` order).

    An empty input gives ``{"count": 0}``: callers omit such a metric rather than report zeros.
    Floats are plain Python floats so the result serialises as JSON without conversion. numpy is imported
    here rather than at module level so that metric plugins can use :func:`ns_to` without paying for it.
    """
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=np.float64))
    count = int(ordered.size)
    if count == 0:
        return {"count": 0}
    total = float(ordered.sum())
    stats: dict[str, Any] = {"avg": total / count}
    # One sort, then numpy's "linear" rule by hand: np.percentile would partition the data once per
    # requested rank and costs ~5x more, which matters for live snapshots taken every second.
    last = count - 1
    for p in PERCENTILES:
        position = last * (p / 100.0)
        low = int(position)
        high = min(low + 1, last)
        a, b = float(ordered[low]), float(ordered[high])
        fraction = position - low
        stats[f"p{p}"] = a + (b - a) * fraction if fraction < 0.5 else b - (b - a) * (1.0 - fraction)
    stats["min"] = float(ordered[0])
    stats["max"] = float(ordered[last])
    stats["std"] = float(ordered.std())
    stats["count"] = count
    stats["sum"] = total
    return stats
