"""Steady-state window: the run's metrics without the ramp-up and the drain (``steady_state`` in
profile_export.json, beside the whole-run figures). Definitions: docs/metrics.md ("Steady state").

The window is the core's one steady-state window (:mod:`inferload.steady_window`: from the target in
flight, or the first response end in rate mode, to the last send), the same the server-metrics block's
``steady_state`` uses. A request is in the window when it ended inside it (start <= end time <= end, wall
clock), so throughputs are the completions in the window over its duration. The metrics are computed by
the run's metric plugins over those requests alone: from the values stored when each record arrived, with
numpy over the record store's columns (a mask from the stored end times) when the store has them, so a
window of millions of requests takes seconds; else from the records read back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.engine.aggregator import spool_dir
from inferload.engine.run_log import TIMING_LOGGER
from inferload.record_columns import OK, RecordColumns
from inferload.record_columns import PROFILING as PROFILING_FLAG
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord
from inferload.types import SummarySectionSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.export import SectionContext
    from inferload.metrics_engine import MetricsAccumulator
    from inferload.registry import PluginRegistry
    from inferload.steady_window import SteadyWindow


timing_log = logging.getLogger(f"{TIMING_LOGGER}.steady_state")
"""Which way the window was computed: in the run's log file (the console only with -v)."""

_OUTSIDE_VALUES = 1 << 21
"""Metric values of the requests outside the window held (16 MiB) at most while the window is computed as
the whole run less them; a window that leaves out more is computed by itself."""


def steady_state(
    records: Iterable[RequestRecord],
    config: ProfileConfig,
    registry: PluginRegistry,
    bounds: SteadyWindow | None,
    spool_dir: Path | None = None,
    whole: MetricsAccumulator | None = None,
) -> dict[str, Any]:
    """``{"window": {...}, "metrics": {tag: stats block}}``; ``window`` has ``start_ns``, ``end_ns``
    (wall clock), ``duration_sec``, ``rule``, ``request_count`` (requests that ended in it, failed ones
    included);
    with no usable window (``bounds`` None) ``{"window": None, "reason": ..., "metrics": {}}``. ``records``
    is read once, streamed, with the metric values stored beside them when it is the run's record store;
    ``spool_dir`` is where the window's metric columns spill (None: the system's temp dir); ``whole``, the
    run's own accumulator: with the record columns, the window's statistics are its exact ones less the
    requests outside the window (:func:`_less_outside`), in about the time of the run's final statistics."""
    from inferload.metrics_engine import MetricsAccumulator

    if bounds is None:
        return {"window": None, "metrics": {},
                "reason": "the load never reached its target before the last send (run too short)"}
    start, end = bounds.start_ns, bounds.end_ns
    accumulator = MetricsAccumulator(registry, config, spool_dir=spool_dir, live=False)
    inside = 0
    columns = getattr(records, "columns", None)
    usable = isinstance(columns, RecordColumns) and columns.tags == accumulator.record_tags
    if usable and whole is not None and whole.record_tags == accumulator.record_tags:
        less = _less_outside(columns, whole, registry, config, bounds)
        if isinstance(less, str):
            timing_log.info("steady state: the window computed by itself (%s)", less)
        else:
            accumulator, inside, record_stats = less
            return _section(bounds, accumulator.final(end - start, record_stats) if inside else {}, inside)
    if usable:
        for chunk in columns.chunks():
            inside += accumulator.add_rows(chunk, (chunk.end_wall_ns >= start) & (chunk.end_wall_ns <= end))
        records = ()
    # streamed a batch at a time (the window may hold nearly every record of a long run), with the metric
    # values the run computed when each record arrived: no metric is computed again
    for batch, values in batches_with_values(records, accumulator.record_tags):
        chosen = [i for i, record in enumerate(batch)
                  if record.phase == PROFILING and bounds.contains(record)]
        accumulator.add([batch[i] for i in chosen], measured=[values[i] for i in chosen])
        inside += len(chosen)
    return _section(bounds, accumulator.final(end - start) if inside else {}, inside)


def _section(bounds: SteadyWindow, metrics: dict[str, dict[str, Any]], inside: int) -> dict[str, Any]:
    """The section of the window ``bounds`` with its final ``metrics`` and ``inside`` requests."""
    from inferload.export import summary_block

    start, end = bounds.start_ns, bounds.end_ns
    return {
        "window": {"start_ns": start, "end_ns": end, "duration_sec": (end - start) / 1e9, "rule": bounds.rule,
                   "request_count": inside},
        "metrics": {tag: summary_block(block) for tag, block in metrics.items()},
    }


def _less_outside(
    columns: RecordColumns, whole: MetricsAccumulator, registry: PluginRegistry, config: ProfileConfig,
    bounds: SteadyWindow,
) -> tuple[MetricsAccumulator, int, dict[str, dict[str, Any]]] | str:
    """The window's accumulator (counts, span, goodput from the columns' masks; no values), its request
    count and its metrics' exact stats, taken from the whole run's value columns less the values of the
    successful requests outside the window (the ramp-up and the drain: few). Else why not, in words (the
    window is then computed by itself): those are more than :data:`_OUTSIDE_VALUES`, hold an inf or NaN,
    or the whole run's columns do not hold exactly the window's values plus them."""
    import numpy as np

    from inferload.metrics_engine import MetricsAccumulator

    accumulator = MetricsAccumulator(registry, config, live=False)
    tags = accumulator.record_tags
    outside: list[list[np.ndarray]] = [[] for _ in tags]
    window_values = [0] * len(tags)
    held = inside = 0
    for chunk in columns.chunks():
        window = (chunk.end_wall_ns >= bounds.start_ns) & (chunk.end_wall_ns <= bounds.end_ns)
        inside += accumulator.add_rows(chunk, window, values=False)
        ok = chunk.has(PROFILING_FLAG) & chunk.has(OK)
        for position in range(len(tags)):
            left_out = chunk.values(position, ok & ~window)
            if left_out.size:
                outside[position].append(left_out)
                held += left_out.size
            window_values[position] += int(chunk.counts(position)[ok & window].sum())
        if held > _OUTSIDE_VALUES:
            return f"the requests outside the window hold over {_OUTSIDE_VALUES:,} values"
    excluded = {tag: np.concatenate(parts) if parts else np.zeros(0)
                for tag, parts in zip(tags, outside, strict=True)}
    if any(whole.value_count(tag) - excluded[tag].size != n
           for tag, n in zip(tags, window_values, strict=True)):
        return "the run's value columns do not hold the window's values plus those outside it"
    record_stats = whole.stats_without(excluded)
    if record_stats is None:
        return "an inf or NaN among the values outside the window"
    timing_log.info("steady state: the whole run less %s values of requests outside the window", f"{held:,}")
    return accumulator, inside, record_stats


@hookimpl
def register_summary_sections() -> list[SummarySectionSpec]:
    def compute(context: SectionContext) -> dict[str, Any]:
        return steady_state(context.records, context.config, context.registry, context.steady_window,
                            spool_dir(context.state), context.accumulator)

    return [SummarySectionSpec(
        name="steady_state", compute=compute,
        description="The run's metrics over the steady-state window (no ramp-up, no drain)",
    )]
