"""The ``load_segments`` summary section's arithmetic on real records, segments, metric plugins and
config: a request counts in the segment it started in, in-flight time is split across the segments a
request spans, and the records are read in one streamed pass (a one-shot iterator gives the same figures
as a list), so a long dynamic run never holds its records in memory."""

from __future__ import annotations

from collections.abc import Iterator

from inferload.config import ProfileConfig
from inferload.load_control import LoadSegment, LoadTarget
from inferload.records import PROFILING, WARMUP, RequestError, RequestRecord
from inferload.registry import LoadRules, load_plugins
from inferload_plugins.summaries.load_segments import segment_report

MS = 1_000_000


def record(request_id: int, start_ms: int, end_ms: int, phase: str = PROFILING, status: int = 200
           ) -> RequestRecord:
    error = None if status == 200 else RequestError(type="http", message="server error", code=status)
    return RequestRecord(
        request_id=request_id, phase=phase, worker_id="w0", conversation_id=str(request_id),
        x_request_id=str(request_id), scheduled_ns=start_ms * MS, start_ns=start_ms * MS, end_ns=end_ms * MS,
        start_wall_ns=start_ms * MS, input_tokens=8, status=status, usage_completion_tokens=4,
        chunk_ns=[end_ms * MS], error=error,
    )


RECORDS = [
    record(0, 900, 1100),            # before the first segment: in no segment, 100 ms in flight in the first
    record(1, 1100, 1500),           # first segment
    record(2, 1200, 1300, WARMUP),   # warmup: in none
    record(3, 1900, 2400),           # starts in the first, 400 ms in flight in the second
    record(4, 2100, 2900, status=500),  # second (open) segment, failed
]
SEGMENTS = [
    LoadSegment(index=0, start_mono_ns=1000 * MS, target=LoadTarget("request_rate", 4.0), source="initial",
                end_mono_ns=2000 * MS),
    LoadSegment(index=1, start_mono_ns=2000 * MS, target=LoadTarget("request_rate", 8.0), source="control"),
]


def test_segments_count_requests_by_start_split_in_flight_time_and_read_the_records_once() -> None:
    registry = load_plugins(LoadRules(strict=False))
    config = ProfileConfig(model="m", request_rate=4.0)

    def once() -> Iterator[RequestRecord]:
        yield from RECORDS

    first, second = segment_report(SEGMENTS, once(), config, registry, end_mono_ns=3000 * MS)
    assert (first["request_rate"], first["source"], second["request_rate"]) == (4.0, "initial", 8.0)
    assert first["requests_sent"] == 2 and second["requests_sent"] == 1
    assert first["duration_sec"] == 1.0 and second["duration_sec"] == 1.0  # the open one closed at the end
    assert first["achieved_request_rate"] == 2.0
    assert first["average_concurrency"] == (100 + 400 + 100) / 1000
    assert second["average_concurrency"] == (400 + 800) / 1000
    assert (first["error_count"], second["error_count"]) == (0, 1)
    assert first["metrics"]["request_count"]["avg"] == 2 and second["metrics"]["request_count"]["avg"] == 0
    assert second["metrics"]["error_request_count"]["avg"] == 1
    assert segment_report(SEGMENTS, list(RECORDS), config, registry, end_mono_ns=3000 * MS) == [first, second]
