"""The ``load_segments`` summary section on a long dynamic run: time and peak Python memory of
``segment_report`` over N profiling records streamed from a generator (as the disk-backed record store
hands them), cut into S segments. The section keeps one accumulator per segment and a batch of records,
never the run's records: memory grows with N only until each segment's metric columns spill to disk
(``value_column.SPILL_VALUES`` values a column), then stays flat (``--segments 1`` shows it soonest).

Peak memory is tracemalloc's (Python allocations only); repeats print min / median / max and the machine's
load. Asserts only that every record was counted.

    python bench/bench_load_segments.py [--records 100000 200000] [--segments 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from collections.abc import Iterator

from inferload.config import ProfileConfig
from inferload.load_control import LoadSegment, LoadTarget
from inferload.records import PROFILING, RequestRecord
from inferload.registry import LoadRules, load_plugins
from inferload_plugins.summaries.load_segments import segment_report

MS = 1_000_000


def records(count: int) -> Iterator[RequestRecord]:
    """One request started per ms, each 50 ms long with two output chunks."""
    for i in range(count):
        yield RequestRecord(
            request_id=i, phase=PROFILING, worker_id="w0", conversation_id=str(i), x_request_id=str(i),
            scheduled_ns=i * MS, start_ns=i * MS, end_ns=(i + 50) * MS, start_wall_ns=i * MS, input_tokens=8,
            status=200, usage_completion_tokens=4, chunk_ns=[(i + 10) * MS, (i + 50) * MS],
        )


def segments(count: int, span_ms: int) -> list[LoadSegment]:
    step = span_ms // count
    return [LoadSegment(index=k, start_mono_ns=k * step * MS, target=LoadTarget("request_rate", 1.0 + k),
                        source="schedule", end_mono_ns=(k + 1) * step * MS if k < count - 1 else None)
            for k in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, nargs="+", default=[100_000, 200_000])
    parser.add_argument("--segments", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    registry = load_plugins(LoadRules(strict=False))
    config = ProfileConfig(model="m", request_rate=4.0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    for count in args.records:
        times, peaks = [], []
        for _ in range(args.repeats):
            tracemalloc.start()
            started = time.perf_counter()
            report = segment_report(segments(args.segments, count), records(count), config, registry,
                                    (count + 100) * MS)
            times.append(time.perf_counter() - started)
            peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
            tracemalloc.stop()
            assert sum(r["requests_sent"] for r in report) == count
        print(f"{count:>9,} records, {args.segments} segments: "
              f"time {min(times):.2f} / {statistics.median(times):.2f} / {max(times):.2f} s, "
              f"peak {min(peaks):.1f} / {statistics.median(peaks):.1f} / {max(peaks):.1f} MiB "
              "(min / median / max)")


if __name__ == "__main__":
    main()
