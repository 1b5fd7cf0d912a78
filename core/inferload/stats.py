"""Summary statistics and unit conversion: the one place that turns raw values into reported numbers.

Percentiles use linear interpolation between closest ranks (numpy's default ``method="linear"``), and
``std`` is the population standard deviation (``ddof=0``): both reproduce AIPerf's published numbers
(e.g. its ``usage_prompt_tokens`` p95 of 28.05 over integer samples), so results stay comparable.

Times inside inferload are integer nanoseconds from ``time.perf_counter_ns()``; every conversion to a
reported unit (ms, sec, tokens/sec …) goes through :func:`ns_to` or :func:`per_second` so that no other
module carries its own ``1e6`` or ``1e9``.
"""

from __future__ import annotations

import math
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


SUM_SCALE_BITS = 1126
"""Every finite float64 is an integer multiple of ``2**-1126`` once split by :func:`numpy.frexp` into a
53-bit integer mantissa and an exponent (``2**-1074`` is the smallest subnormal, less 53 mantissa bits), so
sums kept as Python integers in that unit are exact; see :func:`fixed_point_sum`."""

_CHUNK = 1 << 24
"""Values summed per bincount: 27-bit half-mantissas stay exact in float64 partial sums below 2**26 values."""


def fixed_point_sum(values: Sequence[float] | np.ndarray) -> tuple[int, float]:
    """The exact sum of ``values`` as ``(scaled, nonfinite)``: ``scaled`` is the sum of the finite values
    in units of ``2**-SUM_SCALE_BITS`` (a Python int, no rounding at all), ``nonfinite`` the float sum of
    any inf/NaN values (0.0 when there are none).

    Vectorised: each value's mantissa is split into two halves that numpy sums per binary exponent
    without rounding; Python touches only one integer per distinct exponent. Two such results add
    exactly, so a running total over batches equals the total over the whole column bit for bit.
    """
    import numpy as np

    x = np.asarray(values, dtype=np.float64).ravel()
    nonfinite = 0.0
    finite = np.isfinite(x)
    if not finite.all():
        with np.errstate(invalid="ignore"):  # inf + -inf is NaN, as numpy's own sum says
            nonfinite = float(x[~finite].sum())
        x = x[finite]
    return _scaled_sum(x, None, SUM_SCALE_BITS), nonfinite


def _scaled_sum(x: np.ndarray, extra_exponent: np.ndarray | None, scale_bits: int) -> int:
    """The exact sum of finite ``x * 2**extra_exponent`` in units of ``2**-scale_bits`` (see
    :func:`fixed_point_sum`; ``scale_bits`` must keep every shift non-negative)."""
    import numpy as np

    scaled = 0
    for start in range(0, x.size, _CHUNK):
        mantissa, exponent = np.frexp(x[start:start + _CHUNK])
        if extra_exponent is not None:
            exponent = exponent + extra_exponent[start:start + _CHUNK]
        whole = mantissa * 9007199254740992.0  # 2**53: an exact integer below 2**53 in magnitude
        high = np.floor(whole * (1.0 / 67108864.0))  # 2**26
        low = whole - high * 67108864.0  # 0 <= low < 2**26, exact
        base = int(exponent.min())
        bins = exponent - base
        high_sums = np.bincount(bins, weights=high)
        low_sums = np.bincount(bins, weights=low)
        for k in np.flatnonzero((high_sums != 0) | (low_sums != 0)).tolist():
            shift = k + base - 53 + scale_bits  # x = whole * 2**(exponent - 53); >= 0 for every double
            scaled += (int(high_sums[k]) << (shift + 26)) + (int(low_sums[k]) << shift)
    return scaled


_VARIANCE_SAFE_BITS = 1000
"""A variance within ``2**±1000`` is a normal double: divided and rooted as is."""

_DIRECT_SPLIT_LIMIT = 2.0**400
"""Values within ``2**±400`` split directly: their squares' pieces neither overflow nor underflow."""

SQUARE_SCALE_BITS = 3300
"""Units (``2**-SQUARE_SCALE_BITS``) of the exact sum of squares: a square of a double may lie far outside
the float range (``2**-2148`` … ``2**2048``), so it is summed as pieces ``p * 2**(2e)``."""


class ExactMoments:
    """Exact running sums of ``x`` and ``x**2`` over finite values, plus a count of the others: the
    sum and the population std of a column, independent of the order or batching of values.

    ``x`` splits (Veltkamp) into two 26-bit halves whose three products are exact doubles, so ``x**2`` is
    summed without rounding as those pieces; beyond ``2**±400`` the split is of the mantissa ``m`` of
    ``x = m * 2**e`` (``frexp``), the pieces then scaled by ``2**(2e)`` as they are summed. The std is
    the square root of the variance ``(n·Σx² - (Σx)²) / n²`` rounded once from exact integers (within one
    ulp of the true std, where numpy's two-pass figure depends on summation order).
    """

    __slots__ = ("count", "nonfinite", "nonfinite_sum", "scaled_squares", "scaled_sum")

    def __init__(self) -> None:
        self.count = 0
        self.nonfinite = 0
        self.nonfinite_sum = 0.0
        self.scaled_sum = 0
        self.scaled_squares = 0

    def copy(self) -> ExactMoments:
        other = ExactMoments()
        for name in self.__slots__:
            setattr(other, name, getattr(self, name))
        return other

    def subtract(self, other: ExactMoments) -> None:
        """Take out the finite values ``other`` took in (a sub-multiset of this one's): exact, as the sums
        are integers. ``other`` must hold no inf or NaN (their float sum cannot be taken back out)."""
        if other.nonfinite:
            raise ValueError("cannot subtract moments that include inf or NaN values")
        self.count -= other.count
        self.scaled_sum -= other.scaled_sum
        self.scaled_squares -= other.scaled_squares

    def add(self, values: Sequence[float] | np.ndarray) -> None:
        """Take in a batch of values."""
        import numpy as np

        x = np.asarray(values, dtype=np.float64).ravel()
        if not x.size:
            return
        self.count += int(x.size)
        scaled, nonfinite_sum = fixed_point_sum(x)
        self.scaled_sum += scaled
        finite = np.isfinite(x)
        if not finite.all():
            self.nonfinite += int(x.size - int(finite.sum()))
            self.nonfinite_sum += nonfinite_sum
            x = x[finite]
        if not x.size:
            return
        magnitude = np.abs(x)
        smallest = magnitude[magnitude > 0].min(initial=1.0)
        if magnitude.max() < _DIRECT_SPLIT_LIMIT and smallest > 1.0 / _DIRECT_SPLIT_LIMIT:
            # every metric's values: split x itself, no exponent bookkeeping, one summing pass
            split = x * 134217729.0  # 2**27 + 1
            high = split - (split - x)
            low = x - high
            pieces = np.concatenate((high * high, 2.0 * high * low, low * low))
            self.scaled_squares += _scaled_sum(pieces, None, SQUARE_SCALE_BITS)
            return
        mantissa, exponent = np.frexp(x)
        split = mantissa * 134217729.0
        high = split - (split - mantissa)
        low = mantissa - high
        twice = np.concatenate((2 * exponent,) * 3)
        pieces = np.concatenate((high * high, 2.0 * high * low, low * low))
        self.scaled_squares += _scaled_sum(pieces, twice, SQUARE_SCALE_BITS)

    @property
    def sum(self) -> float:
        """The correctly rounded sum."""
        return fixed_point_to_float(self.scaled_sum, self.nonfinite_sum)

    @property
    def std(self) -> float:
        """The population std (ddof 0); NaN with any inf or NaN among the values, as numpy's."""
        if self.nonfinite or not self.count:
            return float("nan")
        n = self.count
        numerator = self.scaled_squares * n - (self.scaled_sum * self.scaled_sum << (SQUARE_SCALE_BITS - 2 *
                                                                                   SUM_SCALE_BITS))
        if numerator <= 0:
            return 0.0
        denominator = (n * n) << SQUARE_SCALE_BITS
        # scaled by an even power of two when the variance itself is outside the float range (values near
        # 1e±300), so that the std, which is inside it, still comes out right
        scale = (numerator.bit_length() - denominator.bit_length()) // 2 // 2 * 2
        if -_VARIANCE_SAFE_BITS < 2 * scale < _VARIANCE_SAFE_BITS:
            return math.sqrt(numerator / denominator)
        if scale > 0:
            return math.sqrt(numerator / (denominator << 2 * scale)) * 2.0 ** scale
        return math.sqrt((numerator << -2 * scale) / denominator) * 2.0 ** scale


def exact_std(values: Sequence[float] | np.ndarray) -> float:
    """The population std of ``values`` through :class:`ExactMoments` (order-independent)."""
    moments = ExactMoments()
    moments.add(values)
    return moments.std


def fixed_point_to_float(scaled: int, nonfinite: float = 0.0) -> float:
    """The correctly rounded float of a :func:`fixed_point_sum` result (±inf past the float range)."""
    try:
        total = scaled / (1 << SUM_SCALE_BITS)  # int / int is correctly rounded in Python
    except OverflowError:
        total = float("inf") if scaled > 0 else float("-inf")
    return total + nonfinite if nonfinite else total


def exact_sum(values: Sequence[float] | np.ndarray) -> float:
    """``values``' sum correctly rounded to float64 (what ``math.fsum`` gives), independent of order."""
    return fixed_point_to_float(*fixed_point_sum(values))


def percentile_ranks(count: int) -> list[tuple[int, int, int, float]]:
    """For ``count`` sorted values: ``(p, low, high, fraction)`` per reported percentile, numpy's "linear"
    rule — the percentile is ``interpolate(sorted[low], sorted[high], fraction)``."""
    last = count - 1
    ranks = []
    for p in PERCENTILES:
        position = last * (p / 100.0)
        low = int(position)
        ranks.append((p, low, min(low + 1, last), position - low))
    return ranks


def interpolate(a: float, b: float, fraction: float) -> float:
    """numpy's linear interpolation between neighbouring ranks (the same float rounding as numpy)."""
    return a + (b - a) * fraction if fraction < 0.5 else b - (b - a) * (1.0 - fraction)


def compute_stats(
    values: Sequence[float] | np.ndarray, *, total: float | None = None, is_sorted: bool = False
) -> dict[str, Any]:
    """avg, p1…p99, min, max, std, count and sum of ``values`` (keys in :data:`STAT_KEYS` order).

    An empty input gives ``{"count": 0}``: callers omit such a metric rather than report zeros.
    ``sum`` is the correctly rounded sum (:func:`exact_sum`), so it does not depend on the order values
    arrived in; a caller that already holds it (the metrics engine's running sum) passes it as ``total``.
``is_sorted=True`` says ``values`` is an ascending float64 array already (no second copy to sort).
    Floats are plain Python floats so the result serialises as JSON without conversion. numpy is imported
    here rather than at module level so that metric plugins can use :func:`ns_to` without paying for it.
    """
    import numpy as np

    ordered = np.asarray(values, dtype=np.float64)
    if not is_sorted:
        ordered = np.sort(ordered)
    count = int(ordered.size)
    if count == 0:
        return {"count": 0}
    if total is None:
        total = exact_sum(ordered)
    stats: dict[str, Any] = {"avg": total / count}
    # One sort, then numpy's "linear" rule by hand: np.percentile would partition the data once per
    # requested rank and costs ~5x more.
    for p, low, high, fraction in percentile_ranks(count):
        stats[f"p{p}"] = interpolate(float(ordered[low]), float(ordered[high]), fraction)
    stats["min"] = float(ordered[0])
    stats["max"] = float(ordered[-1])
    stats["std"] = exact_std(ordered)
    stats["count"] = count
    stats["sum"] = float(total)
    return stats
