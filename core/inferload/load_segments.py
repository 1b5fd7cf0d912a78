"""Metrics per load segment: ``load_segments`` in profile_export.json, beside the whole run's figures
(definitions: docs/metrics.md, "Load segments"; what starts a segment: docs/control.md).

A request belongs to the segment in which it **started** (its start in ``[start, end)`` on the monotonic
clock every process stamps with, so the workers' and the parent's instants compare exactly), so
the figures of a segment describe the load that segment sent, whenever the responses came back. The last
segment ends when the profiling phase stopped sending. Each segment's metrics are computed by the run's
metric plugins over its own requests, with the segment's duration as the benchmark duration.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from inferload.load_control import wall_ns
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord

if TYPE_CHECKING:
    from inferload.config import ProfileConfig
    from inferload.load_control import LoadSegment
    from inferload.registry import PluginRegistry


def segment_report(
    segments: Sequence[LoadSegment],
    records: Iterable[RequestRecord],
    config: ProfileConfig,
    registry: PluginRegistry,
    end_mono_ns: int,
) -> list[dict[str, Any]]:
    """One dict per segment: the segment (``index``, ``start_ns``, ``end_ns``, ``request_rate`` or
    ``concurrency``, ``paused``, ``source``), ``duration_sec``, ``requests_sent`` (started in it, failed
    ones included), ``error_count``, ``achieved_request_rate`` (requests/s), ``average_concurrency``
    (mean requests in flight) and ``metrics`` (tag -> stats block, as at the top level).
    ``end_mono_ns`` (``perf_counter_ns``) closes a segment still open. ``records`` is read once, streamed
    (the run's record store: with the metric values stored beside the records)."""
    from inferload.export import summary_block
    from inferload.metrics_engine import MetricsAccumulator

    bounds = [(s.start_mono_ns, end_mono_ns if s.end_mono_ns is None else s.end_mono_ns) for s in segments]
    accumulators = [MetricsAccumulator(registry, config) for _ in segments]
    sent = [0] * len(segments)
    busy = [0] * len(segments)
    tags = accumulators[0].record_tags if accumulators else ()
    # one streamed pass, with the metric values stored when each record arrived: none is computed again
    for batch, values in batches_with_values(records, tags):
        started: list[tuple[list[RequestRecord], list[Any]]] = [([], []) for _ in segments]
        for record, known in zip(batch, values, strict=True):
            if record.phase != PROFILING:
                continue
            for i, (start, end) in enumerate(bounds):
                busy[i] += _overlap(record, start, end)
                if start <= record.start_ns < end:
                    started[i][0].append(record)
                    started[i][1].append(known)
        for i, (chosen, measured) in enumerate(started):
            if chosen:
                accumulators[i].add(chosen, measured=measured)
                sent[i] += len(chosen)
    report = []
    for segment, (start, end), accumulator, count, in_flight in zip(
        segments, bounds, accumulators, sent, busy, strict=True
    ):
        span = max(0, end - start)
        metrics = accumulator.final(span) if count and span else {}
        report.append({
            **segment.as_dict(),
            "end_ns": wall_ns(end),
            "duration_sec": span / 1e9,
            "requests_sent": count,
            "error_count": accumulator.error_count,
            "achieved_request_rate": count / (span / 1e9) if span else None,
            "average_concurrency": in_flight / span if span else None,
            "metrics": {tag: summary_block(block) for tag, block in metrics.items()},
        })
    return report


def _overlap(record: RequestRecord, start: int, end: int) -> int:
    """ns of ``[start, end)`` (``perf_counter_ns``) during which ``record`` was in flight."""
    return max(0, min(end, record.end_ns) - max(start, record.start_ns))
