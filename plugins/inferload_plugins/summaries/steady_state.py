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

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.records import PROFILING, RequestRecord
from inferload.types import SummarySectionSpec

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.export import SectionContext
    from inferload.registry import PluginRegistry


def _span(record: RequestRecord) -> tuple[int, int]:
    """(start, end) in wall-clock ns."""
    return record.start_wall_ns, record.start_wall_ns + (record.end_ns - record.start_ns)


def window(records: Sequence[RequestRecord], config: ProfileConfig) -> tuple[int, int, str] | None:
    """``(start_ns, end_ns, rule)`` of the steady-state window (wall clock), or None when the load never
    reached its target or the window is empty."""
    spans = sorted(_span(r) for r in records if r.phase == PROFILING)
    if not spans:
        return None
    end = spans[-1][0]
    if config.request_rate is None and not config.fixed_schedule:
        target = min(config.effective_concurrency or 1, len(spans))
        # at one instant an end is counted before a start: in flight means strictly overlapping
        events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
        in_flight, start = 0, None
        for time_ns, delta in events:
            in_flight += delta
            if in_flight >= target:
                start = time_ns
                break
        rule = f"from {target} in flight (the concurrency target) to the last send"
    else:
        start = min(e for _, e in spans)
        rule = "from the first response end (rate mode or a fixed schedule) to the last send"
    if start is None or start >= end:
        return None
    return start, end, rule


def steady_state(
    records: Sequence[RequestRecord], config: ProfileConfig, registry: PluginRegistry
) -> dict[str, Any]:
    """``{"window": {...}, "metrics": {tag: stats block}}``; ``window`` has ``start_ns``, ``end_ns``
    (wall clock), ``duration_sec``, ``rule``, ``request_count`` (requests that ended in it, failed ones
    included);
    with no usable window ``{"window": None, "reason": ..., "metrics": {}}``."""
    from inferload.export import summary_block
    from inferload.metrics_engine import MetricsAccumulator

    bounds = window(records, config)
    if bounds is None:
        return {"window": None, "metrics": {},
                "reason": "the load never reached its target before the last send (run too short)"}
    start, end, rule = bounds
    inside = [r for r in records if r.phase == PROFILING and start <= _span(r)[1] <= end]
    accumulator = MetricsAccumulator(registry, config)
    accumulator.add(inside)
    metrics = accumulator.final(end - start) if inside else {}
    return {
        "window": {"start_ns": start, "end_ns": end, "duration_sec": (end - start) / 1e9, "rule": rule,
                   "request_count": len(inside)},
        "metrics": {tag: summary_block(block) for tag, block in metrics.items()},
    }


@hookimpl
def register_summary_sections() -> list[SummarySectionSpec]:
    def compute(context: SectionContext) -> dict[str, Any]:
        return steady_state(context.records, context.config, context.registry)

    return [SummarySectionSpec(
        name="steady_state", compute=compute,
        description="The run's metrics over the steady-state window (no ramp-up, no drain)",
    )]
