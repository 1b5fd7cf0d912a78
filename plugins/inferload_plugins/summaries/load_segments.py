"""Metrics per load segment: ``load_segments`` in profile_export.json (summary section), beside the whole
run's figures (definitions: docs/metrics.md, "Load segments"; what starts a segment: docs/control.md).
Present when the load could change while the run ran (a load schedule, a ramp, live control).

A request belongs to the segment in which it **started** (its start in ``[start, end)`` on the monotonic
clock every process stamps with, so the workers' and the parent's instants compare exactly), so
the figures of a segment describe the load that segment sent, whenever the responses came back. The last
segment ends when the profiling phase stopped sending. Each segment's metrics are computed by the run's
metric plugins over its own requests, with the segment's duration as the benchmark duration.

From the record store's columns when it has them: per chunk of rows, numpy masks by start time hand each
segment's requests to that segment's accumulator with the values stored when they arrived; else one
streamed pass over the records read back. The segments' metric columns spill to disk as the run's do, so
memory grows with the number of segments (at most one in-memory tail of ``SPILL_VALUES`` values per metric
column and segment, plus a chunk of rows), never with the number of requests.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from inferload import hookimpl
from inferload.engine.aggregator import spool_dir
from inferload.load_control import wall_ns
from inferload.record_columns import PROFILING as PROFILING_FLAG
from inferload.record_columns import RecordColumns
from inferload.record_store import batches_with_values
from inferload.records import PROFILING, RequestRecord
from inferload.types import SummarySectionSpec

if TYPE_CHECKING:
    from pathlib import Path

    from inferload.config import ProfileConfig
    from inferload.export import SectionContext
    from inferload.load_control import LoadSegment
    from inferload.registry import PluginRegistry

_BATCH = 4096
"""Records handed to a segment's accumulator at a time."""


def segment_report(
    segments: Sequence[LoadSegment],
    records: Iterable[RequestRecord],
    config: ProfileConfig,
    registry: PluginRegistry,
    end_mono_ns: int,
    spool: Path | None = None,
) -> list[dict[str, Any]]:
    """One dict per segment: the segment (``index``, ``start_ns``, ``end_ns``, ``request_rate`` or
    ``concurrency``, ``paused``, ``source``), ``duration_sec``, ``requests_sent`` (started in it, failed
    ones included), ``error_count``, ``achieved_request_rate`` (requests/s), ``average_concurrency``
    (mean requests in flight) and ``metrics`` (tag -> stats block, as at the top level).
    ``end_mono_ns`` (``perf_counter_ns``) closes a segment still open; ``records`` is iterated once;
    ``spool`` is where the segments' metric columns spill (None: the system's temp dir)."""
    from inferload.export import summary_block
    from inferload.metrics_engine import MetricsAccumulator

    starts = [s.start_mono_ns for s in segments]
    ends = [s.end_mono_ns if s.end_mono_ns is not None else end_mono_ns for s in segments]
    accumulators = [MetricsAccumulator(registry, config, spool_dir=spool, live=False) for _ in segments]
    batches: list[list[RequestRecord]] = [[] for _ in segments]
    known: list[list[Any]] = [[] for _ in segments]
    sent = [0] * len(segments)
    busy = [0] * len(segments)
    tags = accumulators[0].record_tags if accumulators else ()
    columns = getattr(records, "columns", None)
    if isinstance(columns, RecordColumns) and columns.tags == tags:
        _from_columns(columns, starts, ends, accumulators, sent, busy)
        records = ()
    # with the metric values stored when each record arrived (the run's record store): none computed again
    for stored, values in batches_with_values(records, tags):
        for record, measured in zip(stored, values, strict=True):
            if record.phase != PROFILING:
                continue
            first = max(0, bisect_right(starts, record.start_ns) - 1)
            if starts and starts[first] <= record.start_ns < ends[first]:
                sent[first] += 1
                batches[first].append(record)
                known[first].append(measured)
                if len(batches[first]) >= _BATCH:
                    accumulators[first].add(batches[first], measured=known[first])
                    batches[first], known[first] = [], []
            # in-flight time: the segments the request overlaps, from the one it started in onwards
            index = first
            while index < len(segments) and starts[index] < record.end_ns:
                busy[index] += max(0, min(ends[index], record.end_ns) - max(starts[index], record.start_ns))
                index += 1
    report = []
    for segment, start, end, accumulator, batch, measured, count, in_flight in zip(
        segments, starts, ends, accumulators, batches, known, sent, busy, strict=True
    ):
        accumulator.add(batch, measured=measured)
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


def _from_columns(
    columns: RecordColumns, starts: list[int], ends: list[int], accumulators: list[Any], sent: list[int],
    busy: list[int],
) -> None:
    """What the pass over the records does, with numpy over the columns: each profiling request to the
    segment it started in (``sent``, its accumulator), and its time in flight to every segment it
    overlaps from that one on (``busy``)."""
    import numpy as np

    if not starts:
        return
    segment_starts = np.array(starts, dtype=np.int64)
    for chunk in columns.chunks():
        profiling = chunk.has(PROFILING_FLAG)
        first = np.maximum(np.searchsorted(segment_starts, chunk.start_ns, side="right") - 1, 0)
        for index, (start, end) in enumerate(zip(starts, ends, strict=True)):
            mine = profiling & (first == index) & (chunk.start_ns >= start) & (chunk.start_ns < end)
            sent[index] += accumulators[index].add_rows(chunk, mine)
            overlap = np.minimum(end, chunk.end_ns) - np.maximum(start, chunk.start_ns)
            counted = profiling & (first <= index) & (overlap > 0)
            busy[index] += int(overlap[counted].sum())


def compute(context: SectionContext) -> list[dict[str, Any]] | None:
    """The section's block, or None for a run whose load could not change (or had no segment)."""
    from inferload.load_plan import is_dynamic

    control = context.state.control
    if control is None or not control.segments or not is_dynamic(context.config):
        return None
    return segment_report(control.segments, context.records, context.config, context.registry,
                          time.perf_counter_ns(), spool_dir(context.state))


@hookimpl
def register_summary_sections() -> list[SummarySectionSpec]:
    return [SummarySectionSpec(name="load_segments", compute=compute,
                               description="Metrics per load segment of a scheduled, ramped or live-steered "
                               "run")]
