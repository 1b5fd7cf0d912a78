"""Per-metric change between two units with a confidence interval, and the verdict against thresholds.

Definitions (docs/compare.md): for a metric ``tag.stat`` the change is ``cand / base - 1`` of the
statistic. Its interval: a percentile bootstrap over per-request values when each side is one run with a
``profile_export.jsonl``; over the per-trial values of the statistic when a side has several trials; none
otherwise (aggregates of a single run such as throughput). A *regression* is the change in the worse
direction (up for latencies, down for throughputs). A threshold ``tag.stat:5%`` is breached when the
regression exceeds 5 % and its interval (when there is one) lies wholly on the regression side of 0: noise
alone never fails a gate. A regression beyond the threshold whose interval reaches 0 or past it is
*inconclusive*, not ``ok``: the samples are too few (or too spread) to tell; ``compare --strict`` fails on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from inferload.errors import UsageError
from inferload_plugins.shared.confidence import bootstrap_change

DEFAULT_STATS = ("avg", "p50", "p99")
"""The statistics compared for each per-request metric (aggregates: ``avg`` only)."""

_THRESHOLD = re.compile(r"^(?P<tag>[\w.]+)\.(?P<stat>avg|min|max|std|p\d+(?:\.\d+)?):(?P<pct>[0-9.]+)%?$")


def parse_thresholds(values: Sequence[str]) -> dict[str, float]:
    """``['time_to_first_token.p99:5%', 'request_throughput.avg:10']`` -> ``{"time_to_first_token.p99":
    0.05, ...}`` (entries may also be space-separated in one string). A UsageError names a bad entry."""
    out: dict[str, float] = {}
    for value in values:
        for entry in value.split():
            match = _THRESHOLD.match(entry)
            if match is None:
                raise UsageError(f"--max-regression {entry!r} is not 'metric.stat:PCT%' "
                                 "(e.g. 'time_to_first_token.p99:5%')")
            out[f"{match['tag']}.{match['stat']}"] = float(match["pct"]) / 100
    return out


def lower_is_better(tag: str, unit: str | None, directions: Mapping[str, bool]) -> bool:
    """From the metric plugin's ``higher_is_better`` when installed, else from the unit (rates are
    better higher, everything else lower)."""
    if tag in directions:
        return not directions[tag]
    return "/sec" not in (unit or "")


def compare_metric(
    tag: str, stat: str, base: Sequence[Any], cand: Sequence[Any], level: float
) -> dict[str, Any] | None:
    """The row of one ``tag.stat`` between two units (lists of runs); None when a side lacks it."""
    base_points = [r.blocks[tag].get(stat) for r in base if tag in r.blocks]
    cand_points = [r.blocks[tag].get(stat) for r in cand if tag in r.blocks]
    base_points = [v for v in base_points if isinstance(v, (int, float))]
    cand_points = [v for v in cand_points if isinstance(v, (int, float))]
    if not base_points or not cand_points:
        return None
    base_value, cand_value = float(np.mean(base_points)), float(np.mean(cand_points))
    row: dict[str, Any] = {"metric": f"{tag}.{stat}", "unit": base[0].blocks[tag].get("unit"),
                           "baseline": base_value, "candidate": cand_value, "ci_low": None, "ci_high": None,
                           "interval_over": None, "samples": None}
    row["change"] = cand_value / base_value - 1 if base_value else math.nan
    if len(base) == 1 and len(cand) == 1:
        base_values, cand_values = base[0].values(tag), cand[0].values(tag)
        if len(base_values) >= 2 and len(cand_values) >= 2:
            _, low, high = bootstrap_change(base_values, cand_values, stat, level)
            row.update(ci_low=low, ci_high=high, interval_over="requests",
                       samples=[len(base_values), len(cand_values)])
    elif len(base_points) >= 2 and len(cand_points) >= 2:
        _, low, high = bootstrap_change(base_points, cand_points, "avg", level)
        row.update(ci_low=low, ci_high=high, interval_over="trials",
                   samples=[len(base_points), len(cand_points)])
    return row


def verdict(row: dict[str, Any], lower_better: bool, limit: float | None) -> dict[str, Any]:
    """``row`` with ``regression`` (the change in the worse direction) and ``verdict``: ``breach`` (beyond
    ``limit`` and its interval wholly on the regression side of 0), ``inconclusive`` (beyond ``limit`` by
    the point estimate, but its interval reaches 0: too few or too spread samples to tell), ``ok`` or ``-``
    (no threshold)."""
    sign = 1 if lower_better else -1
    regression = sign * row["change"]
    bounds = [sign * row[k] for k in ("ci_low", "ci_high") if row[k] is not None and math.isfinite(row[k])]
    significant = not bounds or min(bounds) > 0
    row["regression"] = regression
    row["threshold"] = limit
    if limit is None:
        row["verdict"] = "-"
    else:
        beyond = math.isfinite(regression) and regression > limit
        row["verdict"] = "ok" if not beyond else "breach" if significant else "inconclusive"
    return row


def undecided_line(row: dict[str, Any], variation: str | None) -> str:
    """The one line of an ``inconclusive`` row: the change, its interval, the sample sizes and what would
    decide it."""
    where = f"{variation}: " if variation else ""
    n_base, n_cand = row["samples"] or (0, 0)
    over = row["interval_over"] or "requests"
    more = ("more requests per run (--request-count) on both sides, or several trials (--num-profile-runs)"
            if over == "requests" else "more trials (--num-profile-runs) on both sides")
    return (f"{where}{row['metric']} changed {row['change']:+.1%}, beyond its {row['threshold']:.0%} limit, "
            f"but its interval [{row['ci_low']:+.1%}, {row['ci_high']:+.1%}] reaches no change ({n_base} vs "
            f"{n_cand} {over}): too few samples to tell; {more} would decide it")
