"""Statistics of scraped values: sampled gauges and rates (avg, min, max, p50, p99) and Prometheus
histograms (count, avg and quantiles by ``histogram_quantile``'s rule, intervals merged by adding bucket
deltas). Definitions: docs/server-metrics.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

QUANTILES: tuple[tuple[str, float], ...] = (("p50", 0.50), ("p90", 0.90), ("p99", 0.99))


def sample_stats(values: Sequence[float]) -> dict[str, Any]:
    """avg, min, max, p50, p99 and count of sampled values (linear-interpolated percentiles)."""
    finite = sorted(v for v in values if isinstance(v, (int, float)) and math.isfinite(v))
    if not finite:
        return {"count": 0, "avg": None, "min": None, "max": None, "p50": None, "p99": None}
    return {"count": len(finite), "avg": sum(finite) / len(finite), "min": finite[0], "max": finite[-1],
            "p50": _percentile(finite, 0.50), "p99": _percentile(finite, 0.99)}


def _percentile(ordered: Sequence[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def histogram_stats(buckets: Mapping[float, float], count: float, total: float, scale: float) -> dict:
    """count, avg and quantiles of observations given as cumulative bucket counts (upper bound -> count),
    scaled into the meaning's unit; ``buckets`` (exposed bounds -> count) is kept so windows can be merged."""
    stats: dict[str, Any] = {"count": count, "avg": total * scale / count if count > 0 else None,
                             "buckets": {str(le): c for le, c in sorted(buckets.items())}}
    for name, q in QUANTILES:
        value = bucket_quantile(buckets, q)
        stats[name] = None if value is None else value * scale
    stats["sum"] = total * scale
    return stats


def bucket_quantile(buckets: Mapping[float, float], q: float) -> float | None:
    """Prometheus' ``histogram_quantile``: the bucket holding rank ``q * count``, linear inside it from its
    lower bound (0 for the first); the +Inf bucket answers with the highest finite bound."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, cumulative in ordered:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower_bound
            inside = cumulative - lower_count
            if inside <= 0:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / inside
        lower_bound, lower_count = bound, cumulative
    return ordered[-1][0]


def merge_histograms(rows: Sequence[Mapping[str, Any]], scale: float) -> dict[str, Any] | None:
    """The histogram stats of several intervals' observations together (their bucket deltas added)."""
    if not rows:
        return None
    buckets: dict[float, float] = {}
    count = total = 0.0
    for row in rows:
        for le, c in row["buckets"].items():
            buckets[float(le)] = buckets.get(float(le), 0.0) + c
        count += row["count"]
        total += row["sum"] / scale if scale else 0.0
    stats = histogram_stats(buckets, count, total, scale)
    stats.pop("buckets")
    return stats
