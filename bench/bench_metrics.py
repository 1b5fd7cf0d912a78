"""Parent-side cost of the metrics engine: ingestion per record, live snapshot and final stats.

The engine's parent process ingests every record and snapshots live stats once a second, so these costs
bound how many requests per second one parent can account for. Prints figures; asserts nothing.

    python bench/bench_metrics.py [--records 100000] [--chunks 4 64]
"""

from __future__ import annotations

import argparse
import time

from inferload.metrics_engine import MetricsAccumulator
from inferload.records import PROFILING, RequestRecord
from inferload.registry import load_plugins

MS = 1_000_000


def make_records(count: int, chunks: int) -> list[RequestRecord]:
    records = []
    for i in range(count):
        start = 10**12 + i * 10 * MS
        chunk_ns = [start + (50 + k * 10) * MS for k in range(chunks)]
        records.append(RequestRecord(
            request_id=i, phase=PROFILING, worker_id="w0", conversation_id=f"c{i}", x_request_id=f"x{i}",
            scheduled_ns=start, start_ns=start, end_ns=chunk_ns[-1] + 5 * MS, start_wall_ns=start,
            input_tokens=32, status=200, chunk_ns=chunk_ns, usage_prompt_tokens=32,
            usage_completion_tokens=chunks, usage_total_tokens=32 + chunks,
        ))
    return records


def measure(records: int, chunks: int) -> dict[str, float]:
    registry = load_plugins()
    batch = make_records(1000, chunks)
    acc = MetricsAccumulator(registry)
    started = time.perf_counter()
    for _ in range(records // len(batch)):
        acc.add(batch)
    ingest = time.perf_counter() - started
    started = time.perf_counter()
    acc.snapshot()
    snapshot = time.perf_counter() - started
    started = time.perf_counter()
    acc.final()
    final = time.perf_counter() - started
    return {"ingest_us": ingest / records * 1e6, "snapshot_ms": snapshot * 1e3, "final_ms": final * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, nargs="+", default=[4, 64])
    args = parser.parse_args()
    print(f"metrics engine, {args.records:,} records")
    print(f"{'chunks/request':>15} {'ingest µs/rec':>14} {'snapshot ms':>12} {'final ms':>9}")
    for chunks in args.chunks:
        r = measure(args.records, chunks)
        print(f"{chunks:>15} {r['ingest_us']:>14.1f} {r['snapshot_ms']:>12.1f} {r['final_ms']:>9.1f}")


if __name__ == "__main__":
    main()
