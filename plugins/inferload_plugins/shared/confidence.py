"""Confidence intervals for benchmark figures: Student's t over trials, bootstrap over requests.

Both are used by sweeps with ``--num-profile-runs`` (``inferload_plugins.sweeps``) and by
``inferload compare``; a shared module of the plugins package (``inferload_plugins.shared``).
Definitions are in docs/sweeps.md ("Trials") and docs/compare.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

CV_WARNING = 0.10
"""A headline metric whose coefficient of variation across trials exceeds this gets a warning."""


def t_interval(values: Sequence[float], level: float) -> dict[str, Any]:
    """Mean, sample std (n-1), Student's t confidence interval and coefficient of variation of ``values``.

    Returns ``{"n", "mean", "std", "ci_low", "ci_high", "confidence_level", "cv"}``; with one value the
    std, interval bounds and CV are None (no spread can be estimated). ``cv`` = std / |mean| (None for a
    zero mean). Raises ValueError for an empty sequence or a level outside (0, 1).
    """
    if not values:
        raise ValueError("no values")
    if not 0 < level < 1:
        raise ValueError(f"confidence level {level} is not in (0, 1)")
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    mean = float(data.mean())
    block: dict[str, Any] = {"n": n, "mean": mean, "std": None, "ci_low": None, "ci_high": None,
                             "confidence_level": level, "cv": None}
    if n < 2:
        return block
    from scipy import stats

    std = float(data.std(ddof=1))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * std / math.sqrt(n)
    block.update(std=std, ci_low=mean - half, ci_high=mean + half,
                 cv=std / abs(mean) if mean else None)
    return block


def bootstrap_change(
    baseline: Sequence[float],
    candidate: Sequence[float],
    stat: str,
    level: float,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """The relative change of the statistic ``stat`` (see :func:`statistic`), ``cand / base - 1``, and its
    percentile bootstrap interval at ``level``: both samples are resampled with replacement
    ``resamples`` times (seeded, so a comparison is reproducible). Returns ``(change, low, high)`` as
    fractions (0.05 = +5 %); NaN when the baseline statistic is 0. Raises ValueError when either sample
    is empty or ``stat`` is unknown.
    """
    base = np.asarray(baseline, dtype=float)
    cand = np.asarray(candidate, dtype=float)
    if base.size == 0 or cand.size == 0:
        raise ValueError("an empty sample")
    point_base = float(statistic(base, stat))
    if point_base == 0:
        return math.nan, math.nan, math.nan
    change = float(statistic(cand, stat)) / point_base - 1
    rng = np.random.default_rng(seed)
    boot_base = statistic(base[rng.integers(0, base.size, (resamples, base.size))], stat)
    boot_cand = statistic(cand[rng.integers(0, cand.size, (resamples, cand.size))], stat)
    with np.errstate(divide="ignore", invalid="ignore"):
        changes = boot_cand / boot_base - 1
    changes = changes[np.isfinite(changes)]
    if changes.size == 0:
        return change, math.nan, math.nan
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(changes, [tail, 100 - tail])
    return change, float(low), float(high)


def statistic(data: np.ndarray, stat: str) -> Any:
    """A stats-block statistic of ``data`` along its last axis (a float for 1-D data, an array per row
    for 2-D): ``avg``, ``min``, ``max``, ``std``, ``p50`` … ``p99``. Raises ValueError for another key."""
    if stat == "avg":
        return data.mean(axis=-1)
    if stat in ("min", "max"):
        return getattr(data, stat)(axis=-1)
    if stat == "std":
        return data.std(axis=-1)
    if stat.startswith("p") and stat[1:].replace(".", "", 1).isdigit():
        return np.percentile(data, float(stat[1:]), axis=-1)
    raise ValueError(f"{stat!r} is not a statistic (avg, min, max, std, p50, p90, p99 …)")
