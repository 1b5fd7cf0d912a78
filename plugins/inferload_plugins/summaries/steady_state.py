"""Steady-state window: the run's metrics without the ramp-up and the drain (``steady_state`` in
profile_export.json, beside the whole-run figures). Definitions: docs/metrics.md ("Steady state").

Window start: concurrency mode (a --concurrency cap and no --request-rate), the first instant the number
of profiling requests in flight reaches the target, ``min(concurrency, profiling requests sent)``; rate
mode, the first profiling response end (before it, nothing has gone through the server). Window end: the
start of the last profiling request sent (after it, the load only drains). A request is in the window
when it ended inside it (start <= end time <= end, wall clock), so throughputs are the completions in the
window over its duration. The metrics are computed by the run's metric plugins over those requests alone.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.engine.aggregator import spool_dir
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord
from inferload.types import SummarySectionSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.export import SectionContext
    from inferload.registry import PluginRegistry


_BATCH = 4096
"""Starts per slice when the window's start is searched."""


def _span(record: RequestRecord) -> tuple[int, int]:
    """(start, end) in wall-clock ns."""
    return record.start_wall_ns, record.start_wall_ns + (record.end_ns - record.start_ns)


def window(records: Iterable[RequestRecord], config: ProfileConfig) -> tuple[int, int, str] | None:
    """``(start_ns, end_ns, rule)`` of the steady-state window (wall clock), or None when the load never
    reached its target or the window is empty. One pass over ``records``; 16 bytes per profiling record
    (two int64 arrays), never a Python object per record."""
    import numpy as np

    starts, ends = array("q"), array("q")
    for record in records:
        if record.phase == PROFILING:
            start, end = _span(record)
            starts.append(start)
            ends.append(end)
    if not starts:
        return None
    start_ns = np.frombuffer(starts, dtype=np.int64)  # views of the arrays, sorted in place: no copies
    end_ns = np.frombuffer(ends, dtype=np.int64)
    start_ns.sort()
    end_ns.sort()
    end = int(start_ns[-1])
    if not config.timed_schedule:
        target = min(config.effective_concurrency or 1, int(start_ns.size))
        start = _first_reaching(start_ns, end_ns, target)
        rule = f"from {target} in flight (the concurrency target) to the last send"
    else:
        start = int(end_ns[0])
        rule = "from the first response end (rate mode or a fixed schedule) to the last send"
    if start is None or start >= end:
        return None
    return start, end, rule


def _first_reaching(start_ns: Any, end_ns: Any, target: int) -> int | None:
    """The first start (sorted ``start_ns``) after which ``target`` requests are in flight: starts so far
    minus ends at or before it (at one instant an end is counted before a start: in flight means strictly
    overlapping). In slices, so no temporary is as long as the run."""
    import numpy as np

    step = _BATCH * 64
    for first in range(0, start_ns.size, step):
        chunk = start_ns[first:first + step]
        started = np.arange(first + 1, first + chunk.size + 1)
        in_flight = started - np.searchsorted(end_ns, chunk, side="right")
        reached = np.flatnonzero(in_flight >= target)
        if reached.size:
            return int(chunk[reached[0]])
    return None


def steady_state(
    records: Iterable[RequestRecord],
    config: ProfileConfig,
    registry: PluginRegistry,
    spool_dir: Path | None = None,
) -> dict[str, Any]:
    """``{"window": {...}, "metrics": {tag: stats block}}``; ``window`` has ``start_ns``, ``end_ns``
    (wall clock), ``duration_sec``, ``rule``, ``request_count`` (requests that ended in it, failed ones
    included);
    with no usable window ``{"window": None, "reason": ..., "metrics": {}}``. ``records`` is read twice,
    streamed, with the metric values stored beside them when it is the run's record store;
    ``spool_dir`` is where the window's metric columns spill (None: the system's temp dir)."""
    from inferload.export import summary_block
    from inferload.metrics_engine import MetricsAccumulator

    bounds = window(records, config)
    if bounds is None:
        return {"window": None, "metrics": {},
                "reason": "the load never reached its target before the last send (run too short)"}
    start, end, rule = bounds
    accumulator = MetricsAccumulator(registry, config, spool_dir=spool_dir)
    inside = 0
    # streamed a batch at a time (the window may hold nearly every record of a long run), with the metric
    # values the run computed when each record arrived: no metric is computed again
    for batch, values in batches_with_values(records, accumulator.record_tags):
        chosen = [i for i, record in enumerate(batch)
                  if record.phase == PROFILING and start <= _span(record)[1] <= end]
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
        return steady_state(context.records, context.config, context.registry, spool_dir(context.state))

    return [SummarySectionSpec(
        name="steady_state", compute=compute,
        description="The run's metrics over the steady-state window (no ramp-up, no drain)",
    )]
