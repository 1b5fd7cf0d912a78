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

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.engine.aggregator import spool_dir
from inferload.record_columns import RecordColumns
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord
from inferload.types import SummarySectionSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.export import SectionContext
    from inferload.registry import PluginRegistry
    from inferload.steady_window import SteadyWindow


_BATCH = 4096
"""Starts per slice when the window's start is searched."""


def steady_state(
    records: Iterable[RequestRecord],
    config: ProfileConfig,
    registry: PluginRegistry,
    bounds: SteadyWindow | None,
    spool_dir: Path | None = None,
) -> dict[str, Any]:
    """``{"window": {...}, "metrics": {tag: stats block}}``; ``window`` has ``start_ns``, ``end_ns``
    (wall clock), ``duration_sec``, ``rule``, ``request_count`` (requests that ended in it, failed ones
    included);
    with no usable window (``bounds`` None) ``{"window": None, "reason": ..., "metrics": {}}``. ``records``
    is read once, streamed, with the metric values stored beside them when it is the run's record store;
    ``spool_dir`` is where the window's metric columns spill (None: the system's temp dir)."""
    from inferload.export import summary_block
    from inferload.metrics_engine import MetricsAccumulator

    if bounds is None:
        return {"window": None, "metrics": {},
                "reason": "the load never reached its target before the last send (run too short)"}
    start, end, rule = bounds.start_ns, bounds.end_ns, bounds.rule
    accumulator = MetricsAccumulator(registry, config, spool_dir=spool_dir, live=False)
    inside = 0
    columns = getattr(records, "columns", None)
    if isinstance(columns, RecordColumns) and columns.tags == accumulator.record_tags:
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
    metrics = accumulator.final(end - start) if inside else {}
    return {
        "window": {"start_ns": start, "end_ns": end, "duration_sec": (end - start) / 1e9, "rule": rule,
                   "request_count": inside},
        "metrics": {tag: summary_block(block) for tag, block in metrics.items()},
    }


@hookimpl
def register_summary_sections() -> list[SummarySectionSpec]:
    def compute(context: SectionContext) -> dict[str, Any]:
        return steady_state(context.records, context.config, context.registry, context.steady_window,
                            spool_dir(context.state))

    return [SummarySectionSpec(
        name="steady_state", compute=compute,
        description="The run's metrics over the steady-state window (no ramp-up, no drain)",
    )]
