"""A mergeable streaming quantile sketch for live statistics (DDSketch-style, log-bucketed).

Guarantee. With relative accuracy ``alpha`` (default 0.5 %) every value ``x > 0`` falls in bucket
``i = ceil(log(x) / log(gamma))`` with ``gamma = (1 + alpha) / (1 - alpha)``, i.e. in
``(gamma**(i-1), gamma**i]``, and the bucket stands for ``2·gamma**i / (gamma + 1)``, which is within
``alpha·x`` of every value in it. Negative values go to a mirror store keyed by ``|x|``; zeros, ±inf and
NaN are counted exactly. The sketch therefore knows the value of every *rank* of the data within relative
error ``alpha`` (plus float rounding, ~1e-15), whatever the distribution and however many values it has
seen; the lowest and highest rank are the exact min and max. A percentile is numpy's "linear"
interpolation between two neighbouring ranks (:func:`inferload.stats.percentile_ranks`), so its error is
at most ``alpha·((1 - f)·|a| + f·|b|)`` for the true rank values ``a``, ``b``: within ``alpha`` relative
whenever ``a`` and ``b`` have the same sign (always, for non-negative metrics). Estimates are clamped to
the exact min/max.

Exact parts. count, min, max and sum are exact (sum through :func:`inferload.stats.fixed_point_sum`, so it
equals the sum over the whole column bit for bit); std comes from a running count/mean/M2 merged batch by
batch with Chan et al.'s parallel formula (numerically stable, equal to numpy's two-pass std up to float
rounding).

Cost. Memory and query time grow with the *range* of the data — about ``ln(max/min) / ln(gamma)`` buckets,
e.g. ~1,400 for values spanning 1 µs to 1,000 s at alpha = 0.5 % — never with the number of values. Insertion
is vectorised over a batch (one ``np.log``, one ``np.bincount``); call :meth:`add` with batches, not single
values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from inferload.stats import (
    fixed_point_sum,
    fixed_point_to_float,
    interpolate,
    percentile_ranks,
)

DEFAULT_RELATIVE_ACCURACY = 0.005
"""alpha: every rank value the sketch reports is within 0.5 % of the true one."""

_SLACK = 64
"""Spare buckets allocated on each side when a store grows, so a drifting range does not copy per batch."""


class _Store:
    """Dense bucket counts for one sign: ``counts[k]`` is the count of bucket ``offset + k``."""

    __slots__ = ("counts", "offset")

    def __init__(self) -> None:
        self.counts = np.zeros(0, dtype=np.int64)
        self.offset = 0

    def _cover(self, low: int, high: int) -> None:
        """Grow ``counts`` so that buckets ``low..high`` exist."""
        size = self.counts.size
        if size == 0:
            self.offset = low - _SLACK
            self.counts = np.zeros(high - low + 1 + 2 * _SLACK, dtype=np.int64)
            return
        first, last = self.offset, self.offset + size - 1
        if low >= first and high <= last:
            return
        new_first = min(first, low - _SLACK) if low < first else first
        new_last = max(last, high + _SLACK) if high > last else last
        grown = np.zeros(new_last - new_first + 1, dtype=np.int64)
        grown[first - new_first:first - new_first + size] = self.counts
        self.counts, self.offset = grown, new_first

    def add_indices(self, indices: np.ndarray) -> None:
        if indices.size == 0:
            return
        low, high = int(indices.min()), int(indices.max())
        self._cover(low, high)
        start = low - self.offset
        self.counts[start:start + high - low + 1] += np.bincount(indices - low, minlength=high - low + 1)

    def merge(self, other: _Store) -> None:
        if other.counts.size == 0:
            return
        nonzero = np.flatnonzero(other.counts)
        if nonzero.size == 0:
            return
        low, high = other.offset + int(nonzero[0]), other.offset + int(nonzero[-1])
        self._cover(low, high)
        start = low - self.offset
        self.counts[start:start + high - low + 1] += other.counts[low - other.offset:high - other.offset + 1]

    def total(self) -> int:
        return int(self.counts.sum())


class QuantileSketch:
    """Streaming summary of one metric's values: exact count/sum/min/max/std, percentiles within ``alpha``.

    Not thread-safe: the caller serialises :meth:`add`, :meth:`merge` and the readers.
    """

    def __init__(self, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        if not 0.0 < relative_accuracy < 1.0:
            raise ValueError(f"relative_accuracy must be in (0, 1), not {relative_accuracy!r}")
        self.relative_accuracy = float(relative_accuracy)
        self.gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._log_gamma = math.log(self.gamma)
        self._inv_log_gamma = 1.0 / self._log_gamma
        self._positive = _Store()
        self._negative = _Store()  # keyed by |x|
        self.zero_count = 0
        self._neg_inf = 0
        self._pos_inf = 0
        self._nan = 0
        self.count = 0
        self._min = math.inf  # over non-NaN values
        self._max = -math.inf
        self._scaled_sum = 0  # exact, see inferload.stats.fixed_point_sum
        self._nonfinite_sum = 0.0
        self._finite = 0  # count, mean and M2 of the finite values, for std
        self._mean = 0.0
        self._m2 = 0.0

    # -- building ----------------------------------------------------------------------------------

    def add(self, values: Sequence[float] | np.ndarray) -> None:
        """Take in a batch of values (any iterable numpy accepts as float64)."""
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.size == 0:
            return
        self.count += int(x.size)
        scaled, nonfinite = fixed_point_sum(x)
        self._scaled_sum += scaled
        self._nonfinite_sum += nonfinite
        finite_mask = np.isfinite(x)
        if not finite_mask.all():
            nan = np.isnan(x)
            self._nan += int(nan.sum())
            self._pos_inf += int((x == np.inf).sum())
            self._neg_inf += int((x == -np.inf).sum())
            if not nan.all():
                ordered = x[~nan]
                self._min = min(self._min, float(ordered.min()))
                self._max = max(self._max, float(ordered.max()))
            x = x[finite_mask]
            if x.size == 0:
                return
        else:
            self._min = min(self._min, float(x.min()))
            self._max = max(self._max, float(x.max()))
        self._merge_moments(int(x.size), float(x.mean()), float(np.square(x - x.mean()).sum()))
        positive = x[x > 0.0]
        negative = x[x < 0.0]
        self.zero_count += int(x.size - positive.size - negative.size)
        self._positive.add_indices(self._indices(positive))
        self._negative.add_indices(self._indices(-negative))

    def _indices(self, magnitudes: np.ndarray) -> np.ndarray:
        return np.ceil(np.log(magnitudes) * self._inv_log_gamma).astype(np.int64)

    def _merge_moments(self, count: int, mean: float, m2: float) -> None:
        """Chan et al.: combine (n, mean, M2) of two disjoint sets without cancellation."""
        if count == 0:
            return
        total = self._finite + count
        delta = mean - self._mean
        self._m2 += m2 + delta * delta * (self._finite * count / total)
        self._mean += delta * (count / total)
        self._finite = total

    def merge(self, other: QuantileSketch) -> None:
        """Fold ``other`` into this sketch (same relative accuracy): as if its values had been added here."""
        if other.gamma != self.gamma:
            raise ValueError("cannot merge sketches of different relative accuracy "
                             f"({self.relative_accuracy} and {other.relative_accuracy})")
        self._positive.merge(other._positive)
        self._negative.merge(other._negative)
        self.zero_count += other.zero_count
        self._neg_inf += other._neg_inf
        self._pos_inf += other._pos_inf
        self._nan += other._nan
        self.count += other.count
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)
        self._scaled_sum += other._scaled_sum
        self._nonfinite_sum += other._nonfinite_sum
        self._merge_moments(other._finite, other._mean, other._m2)

    # -- reading -----------------------------------------------------------------------------------

    @property
    def buckets(self) -> int:
        """Allocated buckets of both signs: the sketch's size, independent of :attr:`count`."""
        return int(self._positive.counts.size + self._negative.counts.size)

    @property
    def sum(self) -> float:
        """The correctly rounded sum of every value added."""
        return fixed_point_to_float(self._scaled_sum, self._nonfinite_sum)

    @property
    def min(self) -> float:
        return self._min if self.count > self._nan else math.nan

    @property
    def max(self) -> float:
        return math.nan if self._nan else self._max

    @property
    def std(self) -> float:
        """Population standard deviation (ddof = 0); NaN when an inf or NaN was added, as numpy gives."""
        if self.count == 0:
            return math.nan
        if self._finite != self.count:
            return math.nan
        return math.sqrt(max(self._m2, 0.0) / self._finite)

    def _ordered_buckets(self) -> tuple[np.ndarray, np.ndarray]:
        """(representative value, count) of every bucket in ascending value order (numpy's sort order:
        -inf, negatives, zero, positives, +inf, NaN)."""
        scale = 2.0 / (self.gamma + 1.0)
        neg, pos = self._negative, self._positive
        with np.errstate(over="ignore"):
            neg_values = -np.exp((neg.offset + np.arange(neg.counts.size)) * self._log_gamma) * scale
            pos_values = np.exp((pos.offset + np.arange(pos.counts.size)) * self._log_gamma) * scale
        values = np.concatenate(([-np.inf], neg_values[::-1], [0.0], pos_values, [np.inf, np.nan]))
        counts = np.concatenate(([self._neg_inf], neg.counts[::-1], [self.zero_count], pos.counts,
                                 [self._pos_inf, self._nan]))
        return values, counts

    def rank_values(self, ranks: Sequence[int]) -> list[float]:
        """Estimated value of each 0-based rank of the sorted data (within ``alpha`` relative, clamped to the
        exact min and max; the first and last rank are the exact min and max)."""
        if self.count == 0:
            raise ValueError("the sketch is empty")
        values, counts = self._ordered_buckets()
        cumulative = np.cumsum(counts)
        found = np.searchsorted(cumulative, np.asarray(ranks, dtype=np.int64), side="right")
        low, high = self.min, self.max
        last = self.count - 1
        estimates = []
        for rank, value in zip(ranks, values[found].tolist(), strict=True):
            if rank == 0 and self._nan < self.count:
                value = low  # the extremes are known exactly
            elif rank == last:
                value = high
            elif not math.isnan(value):
                if not math.isnan(low):
                    value = max(value, low)
                if not math.isnan(high):
                    value = min(value, high)
            estimates.append(value)
        return estimates

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (0 ≤ q ≤ 1) by numpy's "linear" rule, from the sketch."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile must be in [0, 1], not {q!r}")
        position = (self.count - 1) * q
        low = int(position)
        a, b = self.rank_values([low, min(low + 1, self.count - 1)])
        return interpolate(a, b, position - low)

    def stats(self) -> dict[str, Any]:
        """The same block as :func:`inferload.stats.compute_stats` (keys in ``STAT_KEYS`` order):
        percentiles from the sketch, everything else exact. ``{"count": 0}`` when empty."""
        if self.count == 0:
            return {"count": 0}
        ranks = percentile_ranks(self.count)
        estimates = self.rank_values([r for _, low, high, _ in ranks for r in (low, high)])
        total = self.sum
        block: dict[str, Any] = {"avg": total / self.count}
        for i, (p, _, _, fraction) in enumerate(ranks):
            block[f"p{p}"] = interpolate(estimates[2 * i], estimates[2 * i + 1], fraction)
        block.update(min=self.min, max=self.max, std=self.std, count=self.count, sum=total)
        return block
