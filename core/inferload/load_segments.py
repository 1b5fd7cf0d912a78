"""Metrics per load segment: ``load_segments`` in profile_export.json, beside the whole run's figures
(definitions: docs/metrics.md, "Load segments"; what starts a segment: docs/control.md).

A request belongs to the segment in which it **started** (its start in ``[start, end)`` on the monotonic
clock every process stamps with, so the workers' and the parent's instants compare exactly), so
the figures of a segment describe the load that segment sent, whenever the responses came back. The last
segment ends when the profiling phase stopped sending. Each segment's metrics are computed by the run's
metric plugins over its own requests, with the segment's duration as the benchmark duration.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from inferload.load_control import wall_ns
from inferload.records import PROFILING, RequestRecord

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.load_control import LoadSegment
    from inferload.registry import PluginRegistry


def segment_report(
    segments: Sequence[LoadSegment],
    records: Sequence[RequestRecord],
    config: ProfileConfig,
    registry: PluginRegistry,
    end_mono_ns: int,
) -> list[dict[str, Any]]:
    """One dict per segment: the segment (``index``, ``start_ns``, ``end_ns``, ``request_rate`` or
    ``concurrency``, ``paused``, ``source``), ``duration_sec``, ``requests_sent`` (started in it, failed
    ones included), ``error_count``, ``achieved_request_rate`` (requests/s), ``average_concurrency``
    (mean requests in flight) and ``metrics`` (tag -> stats block, as at the top level).
    ``end_mono_ns`` (``perf_counter_ns``) closes a segment still open."""
    from inferload.export import summary_block
    from inferload.metrics_engine import MetricsAccumulator

    profiling = [r for r in records if r.phase == PROFILING]
    report = []
    for segment in segments:
        start = segment.start_mono_ns
        end = segment.end_mono_ns if segment.end_mono_ns is not None else end_mono_ns
        span = max(0, end - start)
        started = [r for r in profiling if start <= r.start_ns < end]
        accumulator = MetricsAccumulator(registry, config)
        accumulator.add(started)
        metrics = accumulator.final(span) if started and span else {}
        busy = sum(_overlap(r, start, end) for r in profiling)
        report.append({
            **segment.as_dict(),
            "end_ns": wall_ns(end),
            "duration_sec": span / 1e9,
            "requests_sent": len(started),
            "error_count": accumulator.error_count,
            "achieved_request_rate": len(started) / (span / 1e9) if span else None,
            "average_concurrency": busy / span if span else None,
            "metrics": {tag: summary_block(block) for tag, block in metrics.items()},
        })
    return report


def _overlap(record: RequestRecord, start: int, end: int) -> int:
    """ns of ``[start, end)`` (``perf_counter_ns``) during which ``record`` was in flight."""
    return max(0, min(end, record.end_ns) - max(start, record.start_ns))
